/**
 * The parent's side of the resource server: start it as a process, learn its
 * port, and at the end have it flush its log and report its final values.
 *
 * @module
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { ResourceEntry } from './events.js';
import type { ResourceMode } from './resource-server.js';
import { within } from './time.js';

const SERVER = new URL('./resource-server.js', import.meta.url);

/** What the resource server leaves behind. */
export interface ResourceOutcome {
  /** Every operation, in the order the server handled them. */
  entries: ResourceEntry[];
  /** Final value per lock name. */
  values: Record<string, number>;
}

/**
 * A running resource server.
 *
 * @example
 * ```ts
 * const resource = await Resource.start('fenced', join(dir, 'resource.jsonl'));
 * // … workers connect to resource.port …
 * const { entries, values } = await resource.finish();
 * ```
 */
export class Resource {
  readonly #child: ChildProcess;
  readonly #log: string;
  readonly port: number;

  private constructor(child: ChildProcess, log: string, port: number) {
    this.#child = child;
    this.#log = log;
    this.port = port;
  }

  /** Start a server in `mode`, logging to `log`; resolves once it listens. */
  static async start(mode: ResourceMode, log: string): Promise<Resource> {
    const child = fork(SERVER, [JSON.stringify({ mode, log })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (message: { type: string; port: number }) => resolve(message.port));
      child.once('exit', (code, signal) => reject(new Error(`resource server exited before it listened (${code ?? signal})`)));
    });
    return new Resource(child, log, port);
  }

  /** Stop taking requests, flush the log, and return everything it recorded. */
  async finish(): Promise<ResourceOutcome> {
    const finished = new Promise<Record<string, number>>((resolve, reject) => {
      this.#child.on('message', (message: { type: string; values: Record<string, number> }) => {
        if (message.type === 'finished') resolve(message.values);
      });
      this.#child.once('exit', () => reject(new Error('resource server exited before reporting its values')));
    });
    this.#child.send({ type: 'finish' });
    const values = await finished;
    const entries = readFileSync(this.#log, 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as ResourceEntry);
    return { entries, values };
  }

  /** Kill it if it is still running (cleanup after a failure). */
  async kill(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.#child.once('exit', resolve));
    this.#child.kill('SIGKILL');
    await within(exited, 5_000, undefined);
  }
}

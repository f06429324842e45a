/**
 * The holder's half of a cross-process steal on a lock directory: this
 * thread's watch on the directory's steal requests (src/file/steal-request.ts).
 *
 * While a manager created with `allowSteal` holds locks in a directory, one
 * `fs.watch` (inotify) on the directory's `.deadbolt-steal` folder wakes this
 * thread when a request is written: no polling, and nothing at all while no
 * such lock is held. The watch is only a hint: it is set up by path, so what
 * it reports is read again through the directory's descriptor and proven
 * (owner uid, shape, the holder's token) before anyone gives anything up. A
 * request refused is published on `deadbolt:web-locks:steal-refused` with our
 * reason (never the file's text). The watch does not keep the process alive.
 *
 * @internal
 * @module
 */
import { watch, type FSWatcher } from 'node:fs';
import { channels, publish } from '../diagnostics.js';
import { DirectoryHandle } from '../file/directory-handle.js';
import { STEAL_REQUESTS } from '../file/lock-name.js';
import { readStealRequest, type StealRequest } from '../file/steal-request.js';

/** One held lock that a proven request may take. */
interface Watched {
  readonly name: string;
  readonly token: string;
  readonly onSteal: (request: StealRequest) => void;
}

/** This thread's watches, one per lock directory. */
const watches = new Map<string, StealWatch>();

/**
 * Call `onSteal` once if a proven steal request for lock file `file` of the
 * directory at `path` names `token`. Returns the function that stops watching.
 *
 * @internal
 * @example
 * ```ts
 * const stop = watchSteal(dir.path, 'jobs', 'jobs', 42n, (r) => giveUp(r));
 * ```
 */
export function watchSteal(path: string, file: string, name: string, token: bigint, onSteal: (request: StealRequest) => void): () => void {
  let w = watches.get(path);
  if (w === undefined) watches.set(path, (w = new StealWatch(path)));
  return w.add(file, { name, token: token.toString(), onSteal });
}

class StealWatch {
  readonly #path: string;
  readonly #entries = new Map<string, Set<Watched>>();
  #folder: DirectoryHandle | undefined;
  #watcher: FSWatcher | undefined;

  constructor(path: string) {
    this.#path = path;
  }

  add(file: string, entry: Watched): () => void {
    let set = this.#entries.get(file);
    if (set === undefined) this.#entries.set(file, (set = new Set()));
    set.add(entry);
    this.#start();
    // A request written before the watch began raises no event: look once.
    this.#check(file);
    return () => this.#remove(file, entry);
  }

  #remove(file: string, entry: Watched): void {
    const set = this.#entries.get(file);
    if (set?.delete(entry) !== true) return;
    if (set.size === 0) this.#entries.delete(file);
    if (this.#entries.size === 0) this.#stop();
  }

  #start(): void {
    if (this.#watcher !== undefined) return;
    const handle = DirectoryHandle.open(this.#path, { fileMode: 0o600, cleanup: false });
    try {
      this.#folder = handle.subdirectory(STEAL_REQUESTS, true);
    } finally {
      handle.close();
    }
    this.#watcher = watch(`${this.#path}/${STEAL_REQUESTS}`, { persistent: false }, (_event, file) => {
      if (typeof file === 'string') this.#check(file);
      else for (const f of [...this.#entries.keys()]) this.#check(f);
    });
    // A watch that fails (the folder removed) is set up again by the next grant.
    this.#watcher.on('error', () => this.#stop());
  }

  #stop(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
    this.#folder?.close();
    this.#folder = undefined;
  }

  #check(file: string): void {
    const set = this.#entries.get(file);
    if (set === undefined || this.#folder === undefined) return;
    let seen;
    try {
      seen = readStealRequest(this.#folder, file, process.geteuid?.() ?? -1);
    } catch {
      return; // the folder itself is gone or unreadable: nothing proven
    }
    if (seen === undefined) return;
    const first = set.values().next().value as Watched;
    if (seen.refused !== undefined) {
      publish(channels.webLocksStealRefused, { directory: this.#path, name: first.name, why: seen.refused });
      return;
    }
    for (const entry of [...set]) {
      if (seen.request.tokens.includes(entry.token)) {
        this.#remove(file, entry);
        entry.onSteal(seen.request);
      }
    }
  }
}

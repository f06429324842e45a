/**
 * A chaos worker as its own process (forked by process-worker.ts): the
 * ChaosWorker loop, reporting over IPC. It exits when its task is done, when
 * asked to stop (`{type:'stop'}`), or when its parent goes away.
 *
 * Run as: `node worker-process.js '<json WorkerConfig>'`.
 *
 * @module
 */
import type { WorkerEvent } from './events.js';
import { ChaosWorker, type WorkerConfig } from './worker.js';
import { monotonicMs } from './time.js';

const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
const send = (event: WorkerEvent): void => void process.send?.(event);

const worker = new ChaosWorker(config, {
  emit: (event) => send({ ...event, worker: config.id } as WorkerEvent),
  checkpoint: () => Promise.resolve(),
});
process.on('message', (message: { type?: string }) => {
  if (message.type === 'stop') worker.stop();
});
// An orphaned worker must not keep contending for locks.
process.on('disconnect', () => process.exit(1));

/** Exit once every report sent so far is written to the channel (messages keep their order). */
function flushAndExit(code: number): void {
  if (process.send === undefined) process.exit(code);
  process.send({ type: 'bye' }, undefined, {}, () => process.exit(code));
}

try {
  await worker.run();
  flushAndExit(0);
} catch (err) {
  send({ type: 'error', worker: config.id, t: monotonicMs(), message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  flushAndExit(1);
}

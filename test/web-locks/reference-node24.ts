/**
 * The conformance suite against Node 24's own navigator.locks, the reference:
 * run by node24.test.ts with the Node 24 binary CI fetches. Not a `.test.ts`
 * file, so the default runner (Node 20) never runs it.
 */
import { webLocksConformance } from './suite.js';
import { workerClient } from './remote.js';

const locks = (globalThis as unknown as { navigator: { locks: never } }).navigator.locks;

webLocksConformance({
  label: `Node ${process.version} navigator.locks (reference)`,
  locks,
  remote: () => workerClient('navigator'),
  fenced: false,
  differences: {
    'the callback runs after request() has returned (the spec enqueues it as a task)':
      'Node 24 calls the callback synchronously inside request() when the lock is free (deadbolt follows the spec: after request() returned)',
    'a callback that throws: request() rejects with that error, and the lock is released':
      'Node 24 rejects request() but never releases the lock when a callback it called synchronously (the lock was free) throws',
    "abort while waiting: rejects with the signal's reason (default AbortError, or any value), leaves the queue":
      'Node 24 rejects the aborted request but still lists it in query().pending',
    "query shows another client's lock with a different clientId":
      "Node 24's query() reports only the calling thread's requests, not those of the process's other threads",
    'a client that ends while holding (worker terminated, process killed, session closed) releases its locks':
      'Node 24 does not grant a waiting request when the holding worker is terminated while it listens on parentPort (a worker that only holds is fine)',
  },
  crashes: {
    "steal from another client: its request() rejects with AbortError (and, fenced, its lock's signal aborts)":
      "stealing a lock held by another worker thread aborts Node 24 (FATAL ERROR: HandleScope::CreateHandle in LockManager::ProcessQueue)",
  },
});

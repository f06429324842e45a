/**
 * Property-based model test of the wait queue through its public face, Semaphore.
 * fast-check drives random sequences of acquire / release / abort / clock ticks
 * against a plain-array model of a strict-FIFO weighted semaphore, and after every
 * step compares: who holds what (permit conservation), who waits in which order,
 * and that every request settled at most once and exactly as the model says.
 * Timers are node:test's mock timers, so timeouts fire deterministically.
 */
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LockTimeoutError, Semaphore, type Guard } from '../../src/index.js';

interface ModelWaiter { id: number; weight: number; deadline: number | undefined; seq: number }

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

function commands(capacity: number) {
  return fc.array(
    fc.oneof(
      fc.record({
        kind: fc.constant('acquire' as const),
        weight: fc.integer({ min: 1, max: capacity }),
        timeout: fc.option(fc.integer({ min: 1, max: 50 }), { nil: undefined }),
        abortable: fc.boolean(),
      }),
      fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('abort' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 30 }) }),
    ),
    { maxLength: 60 },
  );
}

test('Semaphore behaves like a strict-FIFO weighted model under random acquire/release/abort/timeout', async () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }).chain((capacity) => fc.tuple(fc.constant(capacity), commands(capacity))),
        async ([capacity, cmds]) => {
          const sem = new Semaphore(capacity);
          // Model state.
          let now = 0;
          let seq = 0;
          let available = capacity;
          const queue: ModelWaiter[] = [];
          const held = new Map<number, number>(); // id -> weight, in the model
          const expected = new Map<number, 'granted' | 'aborted' | 'timeout'>();
          const grantOrder: number[] = [];
          // Real side.
          const settlements = new Map<number, string[]>();
          const guards = new Map<number, Guard>();
          const controllers = new Map<number, AbortController>();
          const realGrantOrder: number[] = [];

          const drain = () => {
            while (queue.length > 0 && available >= queue[0]!.weight) {
              const w = queue.shift()!;
              available -= w.weight;
              held.set(w.id, w.weight);
              expected.set(w.id, 'granted');
              grantOrder.push(w.id);
            }
          };
          const settle = (id: number, how: string) => {
            const list = settlements.get(id) ?? [];
            list.push(how);
            settlements.set(id, list);
          };

          for (const cmd of cmds) {
            if (cmd.kind === 'acquire') {
              const id = seq++;
              const controller = cmd.abortable ? new AbortController() : undefined;
              if (controller) controllers.set(id, controller);
              sem.acquire({ weight: cmd.weight, timeout: cmd.timeout, signal: controller?.signal }).then(
                (g) => { guards.set(id, g); realGrantOrder.push(id); settle(id, 'granted'); },
                (e) => settle(id, e instanceof LockTimeoutError ? 'timeout' : 'aborted'),
              );
              queue.push({ id, weight: cmd.weight, deadline: cmd.timeout === undefined ? undefined : now + cmd.timeout, seq: id });
              drain();
            } else if (cmd.kind === 'release') {
              const ids = [...held.keys()];
              if (ids.length === 0) continue;
              const id = ids[cmd.pick % ids.length]!;
              await turn();
              const guard = guards.get(id);
              assert.ok(guard, `model says ${id} is held, but it was never granted`);
              await guard.release();
              await guard.release(); // idempotent
              available += held.get(id)!;
              held.delete(id);
              drain();
            } else if (cmd.kind === 'abort') {
              const abortable = queue.filter((w) => controllers.has(w.id));
              if (abortable.length === 0) continue;
              const w = abortable[cmd.pick % abortable.length]!;
              controllers.get(w.id)!.abort(new Error('abort'));
              queue.splice(queue.indexOf(w), 1);
              expected.set(w.id, 'aborted');
              drain();
            } else {
              const until = now + cmd.ms;
              // Timers fire in deadline order (ties: creation order); each leaver may let others in.
              for (;;) {
                const due = queue.filter((w) => w.deadline !== undefined && w.deadline <= until)
                  .sort((a, b) => a.deadline! - b.deadline! || a.seq - b.seq)[0];
                if (!due) break;
                queue.splice(queue.indexOf(due), 1);
                expected.set(due.id, 'timeout');
                drain();
              }
              now = until;
              mock.timers.tick(cmd.ms);
            }
            await turn();
            // Permit conservation and queue shape after every step.
            assert.equal(sem.available, available, 'available permits');
            assert.equal(sem.waiting, queue.length, 'waiting count');
          }
          await turn();
          for (const [id, list] of settlements) {
            assert.equal(list.length, 1, `request ${id} settled ${list.length} times`);
            assert.equal(list[0], expected.get(id), `request ${id}`);
          }
          for (const w of queue) assert.equal(settlements.has(w.id), false, `waiting request ${w.id} must be unsettled`);
          assert.deepEqual(realGrantOrder, grantOrder, 'grants in FIFO order');
          // Clean up: release all, abort the rest by closing.
          for (const id of held.keys()) await guards.get(id)!.release();
          sem.close();
          await turn();
        },
      ),
      { numRuns: 300 },
    );
  } finally {
    mock.timers.reset();
  }
});

// A process-wide lock table shared by every Node environment (the main thread
// and each worker thread) that loads the addon: the addon's static state exists
// once per process, while each worker has its own isolate and cannot see
// another's JavaScript objects. src/threads/lock-table.ts is its only user.
//
// Protocol:
// - A name's entry has a capacity and, in grant order, its held requests and
//   its queue of pending ones. A request has a weight (exclusive = the whole
//   capacity). The head of the queue is granted while its weight fits: strict
//   FIFO, no barging, so shared requests behind a waiting exclusive one wait
//   (the Web Locks "grantable" rule). Entries exist only while held or waited for.
// - Every call takes the one table mutex for a few map operations; nothing
//   blocks while holding it except napi_call_threadsafe_function in
//   non-blocking mode.
// - Grants and steals for a client (one env) are appended to its event list.
//   The caller's own events are returned synchronously (release() hands them
//   back in the same call); another client is woken by its thread-safe function,
//   called once per empty -> non-empty transition of its list (no polling).
// - A client that goes away (env cleanup hook: thread exit or termination)
//   leaves the table under the mutex: its held requests are released (waiters
//   elsewhere are granted), its pending ones withdrawn. The hook is
//   registered after the thread-safe function, so it runs before that
//   function's own teardown (cleanup hooks run in reverse order): no thread can
//   call a function that is already gone.
#ifndef DEADBOLT_THREAD_LOCKS_H_
#define DEADBOLT_THREAD_LOCKS_H_

#include <napi.h>

namespace deadbolt {

// Adds the thread-lock functions (tl*) to `exports` and registers this env as a
// client of the table. Returns false with a JavaScript exception pending on failure.
bool RegisterThreadLocks(Napi::Env env, Napi::Object exports);

}  // namespace deadbolt

#endif  // DEADBOLT_THREAD_LOCKS_H_

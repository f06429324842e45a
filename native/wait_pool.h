// Blocking lock waits, each on a dedicated native thread.
//
// Protocol (one WaitPool per Node environment):
// - Submit (JS thread): a Waiter (one grant job, grant.h) is handed to a parked worker
//   thread, or to a new one; the pool grows on demand, with no fixed cap, so
//   hundreds of concurrent waits are hundreds of threads (256 KiB stacks).
//   libuv's threadpool is never used: four blocked waits there would stall
//   every fs call of the process.
// - The worker runs the grant, blocking in fcntl(F_OFD_SETLKW): granted,
//   cancelled (nothing new is held) or failed.
// - Results cross to JS through one thread-safe function (a uv_async under
//   the hood: no polling); the JS thread settles the wait's promise. The thread-safe function is ref'd while any wait is pending (a
//   pending wait keeps the event loop alive, like pending I/O) and unref'd
//   otherwise.
// - Cancel (JS thread): set the waiter's flag, pthread_kill its thread with
//   the wake signal (wake_signal.h), and hand it to the canceller thread,
//   which re-sends the signal every 2 ms until the worker acknowledges by
//   finishing. The repeat closes the race where the signal lands after the
//   flag check but before the thread enters fcntl. A grant that wins the race
//   against a cancel is reported as granted: the caller must then unlock.
// - Idle workers park on their own condition variable (most recently used
//   first, so the hot ones stay hot) and exit after kIdleTimeout.
// - Shutdown (environment cleanup hook): cancel every wait, wake and join every
//   thread; a grant that raced the shutdown is unlocked, since no JS code will
//   ever learn of it.
#ifndef DEADBOLT_WAIT_POOL_H_
#define DEADBOLT_WAIT_POOL_H_

#include <node_api.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "grant.h"

namespace deadbolt {

struct Worker;

// One grant (grant.h: acquireWait / tokenWait). Owned by the pool from
// Submit until its result is handed to JS (then by the thread-safe function's
// queue, then freed on the JS thread).
struct Waiter {
  uint32_t id = 0;
  std::unique_ptr<GrantJob> grant;
  std::atomic<bool> cancelled{false};  // set by Cancel/Shutdown, read by worker
  napi_deferred deferred = nullptr;    // JS thread only
  Worker* worker = nullptr;            // guarded by WaitPool::mu_
  bool in_cancel_list = false;         // guarded by WaitPool::mu_
};

// Counters for nativeInfo() and the tests.
struct PoolStats {
  uint32_t threads;   // live worker threads
  uint32_t idle;      // of which parked
  uint32_t pending;   // waits whose promise has not settled yet
};

class WaitPool {
 public:
  static constexpr std::chrono::seconds kIdleTimeout{5};
  static constexpr std::chrono::milliseconds kResignalEvery{2};
  static constexpr size_t kStackSize = 256 * 1024;

  explicit WaitPool(napi_env env);
  ~WaitPool();
  WaitPool(const WaitPool&) = delete;
  WaitPool& operator=(const WaitPool&) = delete;

  // JS thread. Creates the thread-safe function and registers the cleanup
  // hook after it (hooks run last-registered-first, so ours runs while the
  // thread-safe function still accepts calls). Returns napi_ok on success.
  napi_status Init();

  // JS thread. Starts waiting; returns 0, or an errno if no thread could be
  // started (the waiter is then not owned by the pool). On success the caller
  // must create waiter->deferred before returning to the event loop.
  int Submit(Waiter* w);

  // JS thread, after a successful Submit: counts the wait as pending.
  void AddPending();

  // JS thread. Idempotent; unknown or finished ids are ignored.
  void Cancel(uint32_t id);

  // JS thread (environment cleanup). Idempotent.
  void Shutdown();

  uint32_t NextId() { return ++next_id_; }
  PoolStats Stats();

 private:
  static void* WorkerMain(void* arg);
  static void* CancellerMain(void* arg);
  static void CallJs(napi_env env, napi_value js_cb, void* context, void* data);
  static void CleanupHook(void* arg);
  static void RunWait(Waiter* w);
  static void Discard(Waiter* w);
  int StartThread(pthread_t* tid, void* (*fn)(void*), void* arg);
  void Completed(napi_env env, Waiter* w);

  napi_env env_;
  napi_threadsafe_function tsfn_ = nullptr;
  uint32_t next_id_ = 0;
  uint32_t pending_ = 0;  // JS thread only
  bool shut_down_ = false;  // JS thread only

  std::mutex mu_;
  // Everything below is guarded by mu_.
  bool shutting_down_ = false;
  std::vector<Worker*> idle_;                        // LIFO
  std::unordered_map<uint32_t, Waiter*> active_;     // submitted, unfinished
  std::vector<Waiter*> cancelling_;                  // cancelled, unacknowledged
  uint32_t live_ = 0;                                // live worker threads
  std::condition_variable exited_cv_;                // live_ reached 0
  bool has_zombie_ = false;                          // last exited worker,
  pthread_t zombie_{};                               //   joined by the next
  bool canceller_started_ = false;
  bool canceller_stop_ = false;
  pthread_t canceller_{};
  std::condition_variable canceller_cv_;
};

}  // namespace deadbolt

#endif  // DEADBOLT_WAIT_POOL_H_

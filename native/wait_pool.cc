// See wait_pool.h for the protocol.
#if defined(__linux__)

#include "wait_pool.h"

#include <errno.h>
#include <signal.h>

#include <algorithm>

#include "js_error.h"
#include "wake_signal.h"

namespace deadbolt {

struct Worker {
  WaitPool* pool = nullptr;
  pthread_t tid{};
  Waiter* job = nullptr;  // guarded by pool->mu_
  std::condition_variable cv;
};

constexpr std::chrono::seconds WaitPool::kIdleTimeout;
constexpr std::chrono::milliseconds WaitPool::kResignalEvery;
constexpr size_t WaitPool::kStackSize;

WaitPool::WaitPool(napi_env env) : env_(env) {}

WaitPool::~WaitPool() { Shutdown(); }

napi_status WaitPool::Init() {
  napi_value name;
  napi_status st = napi_create_string_utf8(env_, "deadbolt:lock-wait",
                                           NAPI_AUTO_LENGTH, &name);
  if (st != napi_ok) return st;
  st = napi_create_threadsafe_function(env_, nullptr, nullptr, name,
                                       /*max_queue_size=*/0,
                                       /*initial_thread_count=*/1,
                                       nullptr, nullptr, this, CallJs, &tsfn_);
  if (st != napi_ok) return st;
  // Idle pool: must not keep the process alive.
  st = napi_unref_threadsafe_function(env_, tsfn_);
  if (st != napi_ok) return st;
  return napi_add_env_cleanup_hook(env_, CleanupHook, this);
}

void WaitPool::CleanupHook(void* arg) {
  static_cast<WaitPool*>(arg)->Shutdown();
}

int WaitPool::StartThread(pthread_t* tid, void* (*fn)(void*), void* arg) {
  // Threads start with every signal blocked: process-directed signals
  // (SIGINT, SIGCHLD, …) must go to Node's threads, not to ours. A worker
  // then unblocks only the wake signal.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kStackSize);
  int rc = pthread_create(tid, &attr, fn, arg);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return rc;
}

int WaitPool::Submit(Waiter* w) {
  std::unique_lock<std::mutex> lk(mu_);
  if (shutting_down_) return ESHUTDOWN;
  Worker* worker;
  if (!idle_.empty()) {
    worker = idle_.back();
    idle_.pop_back();
  } else {
    worker = new Worker();
    worker->pool = this;
    worker->job = w;  // before the thread can look at it
    int rc = StartThread(&worker->tid, WorkerMain, worker);
    if (rc != 0) {
      delete worker;
      return rc;
    }
    ++live_;
  }
  worker->job = w;
  w->worker = worker;
  active_.emplace(w->id, w);
  worker->cv.notify_one();
  return 0;
}

void WaitPool::AddPending() {
  if (pending_++ == 0) napi_ref_threadsafe_function(env_, tsfn_);
}

// Lock() checks the flag before every attempt: a cancel that lands before
// fcntl is seen there; one that lands during fcntl makes it return EINTR.
void WaitPool::RunWait(Waiter* w) { RunGrant(w->grant.get(), &w->cancelled); }

// A finished wait whose result no JS code will ever see (the environment is
// going away): release a lock it may have been granted, then free it.
void WaitPool::Discard(Waiter* w) {
  GrantJob* job = w->grant.get();
  // An acquired lock file is ours to give back; a token job's fd is not.
  if (job->kind == GrantJob::kAcquire && job->outcome == Outcome::kDone) close(job->fd);
  delete w;
}

void* WaitPool::WorkerMain(void* arg) {
  Worker* self = static_cast<Worker*>(arg);
  WaitPool* p = self->pool;
  sigset_t wake;
  sigemptyset(&wake);
  sigaddset(&wake, WakeSignal());
  pthread_sigmask(SIG_UNBLOCK, &wake, nullptr);

  std::unique_lock<std::mutex> lk(p->mu_);
  for (;;) {
    while (self->job == nullptr && !p->shutting_down_) {
      if (self->cv.wait_for(lk, kIdleTimeout) == std::cv_status::timeout) break;
    }
    if (self->job == nullptr) {
      // Idle timeout or shutdown: leave the idle list and exit. (Submit only
      // hands jobs out under mu_, which we hold, so none can arrive now.)
      auto it = std::find(p->idle_.begin(), p->idle_.end(), self);
      if (it != p->idle_.end()) p->idle_.erase(it);
      break;
    }
    Waiter* w = self->job;
    lk.unlock();
    RunWait(w);
    lk.lock();
    // Acknowledge: from here on Cancel() no longer finds it.
    self->job = nullptr;
    p->active_.erase(w->id);
    if (w->in_cancel_list) {
      auto it = std::find(p->cancelling_.begin(), p->cancelling_.end(), w);
      if (it != p->cancelling_.end()) p->cancelling_.erase(it);
    }
    bool deliver = !p->shutting_down_;
    if (deliver) p->idle_.push_back(self);
    lk.unlock();
    // The thread-safe function outlives this call: during environment
    // teardown our cleanup hook (which joins this thread) runs before the
    // thread-safe function is deleted. If it is already closing, the call
    // fails and the result is discarded.
    if (!deliver ||
        napi_call_threadsafe_function(p->tsfn_, w, napi_tsfn_nonblocking) !=
            napi_ok) {
      Discard(w);
    }
    lk.lock();
  }
  // Exit. The previous exiting worker is joined by this one, and the last one
  // by Shutdown(), so no thread is left unjoined and the JS thread never waits
  // for a thread that is merely on its way out.
  --p->live_;
  bool join_prev = p->has_zombie_;
  pthread_t prev = p->zombie_;
  p->zombie_ = pthread_self();
  p->has_zombie_ = true;
  if (p->live_ == 0) p->exited_cv_.notify_all();
  lk.unlock();
  if (join_prev) pthread_join(prev, nullptr);
  delete self;
  return nullptr;
}

void WaitPool::Cancel(uint32_t id) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = active_.find(id);
  if (it == active_.end()) return;  // finished, or never existed
  Waiter* w = it->second;
  if (w->cancelled.exchange(true)) return;  // already cancelling
  pthread_kill(w->worker->tid, WakeSignal());
  w->in_cancel_list = true;
  cancelling_.push_back(w);
  if (!canceller_started_) {
    if (StartThread(&canceller_, CancellerMain, this) == 0) {
      canceller_started_ = true;
    }
    // If the canceller cannot start, the first signal usually suffices; the
    // next Cancel() (or Shutdown) tries again.
  }
  canceller_cv_.notify_one();
}

void* WaitPool::CancellerMain(void* arg) {
  WaitPool* p = static_cast<WaitPool*>(arg);
  std::unique_lock<std::mutex> lk(p->mu_);
  while (!p->canceller_stop_) {
    if (p->cancelling_.empty()) {
      p->canceller_cv_.wait(lk);
      continue;
    }
    p->canceller_cv_.wait_for(lk, kResignalEvery);
    // Still unacknowledged: the signal may have landed just before the worker
    // entered fcntl. Send it again.
    for (Waiter* w : p->cancelling_) pthread_kill(w->worker->tid, WakeSignal());
  }
  return nullptr;
}

void WaitPool::CallJs(napi_env env, napi_value, void* context, void* data) {
  Waiter* w = static_cast<Waiter*>(data);
  if (env == nullptr) {  // thread-safe function torn down with items queued
    Discard(w);
    return;
  }
  static_cast<WaitPool*>(context)->Completed(env, w);
}

// A grant's promise: resolved with [fd, token] (token a BigInt, or null
// when the job took none), resolved with null when cancelled, rejected with
// an Error carrying the Failure's fields (errno, syscall, counter, …).
static bool SettleGrant(napi_env env, napi_deferred deferred, const GrantJob& job) {
  napi_value value;
  if (job.outcome == Outcome::kDone) {
    napi_value fd, token;
    if (napi_create_array_with_length(env, 2, &value) != napi_ok ||
        napi_create_int32(env, job.fd, &fd) != napi_ok ||
        (job.has_token ? napi_create_bigint_uint64(env, job.token, &token)
                       : napi_get_null(env, &token)) != napi_ok ||
        napi_set_element(env, value, 0, fd) != napi_ok ||
        napi_set_element(env, value, 1, token) != napi_ok) {
      return false;
    }
    return napi_resolve_deferred(env, deferred, value) == napi_ok;
  }
  if (job.outcome == Outcome::kCancelled) {
    return napi_get_null(env, &value) == napi_ok &&
           napi_resolve_deferred(env, deferred, value) == napi_ok;
  }
  return FailureError(env, job.failure, &value) == napi_ok &&
         napi_reject_deferred(env, deferred, value) == napi_ok;
}

void WaitPool::Completed(napi_env env, Waiter* w) {
  bool settled = false;
  if (w->deferred != nullptr) {
    settled = SettleGrant(env, w->deferred, *w->grant);
  }
  if (settled) {
    delete w;
  } else {
    Discard(w);  // nobody can learn of a grant: release it
  }
  if (--pending_ == 0 && !shut_down_) napi_unref_threadsafe_function(env, tsfn_);
}

PoolStats WaitPool::Stats() {
  std::lock_guard<std::mutex> lk(mu_);
  return PoolStats{live_, static_cast<uint32_t>(idle_.size()), pending_};
}

void WaitPool::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  std::unique_lock<std::mutex> lk(mu_);
  shutting_down_ = true;
  int sig = WakeSignal();
  for (auto& entry : active_) {
    entry.second->cancelled.store(true);
    pthread_kill(entry.second->worker->tid, sig);
  }
  for (Worker* worker : idle_) worker->cv.notify_one();
  while (live_ > 0) {
    exited_cv_.wait_for(lk, kResignalEvery);
    for (auto& entry : active_) pthread_kill(entry.second->worker->tid, sig);
  }
  canceller_stop_ = true;
  canceller_cv_.notify_one();
  bool join_canceller = canceller_started_;
  canceller_started_ = false;
  bool join_zombie = has_zombie_;
  has_zombie_ = false;
  lk.unlock();
  if (join_canceller) pthread_join(canceller_, nullptr);
  if (join_zombie) pthread_join(zombie_, nullptr);
}

}  // namespace deadbolt

#endif  // __linux__

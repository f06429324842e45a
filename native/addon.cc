// deadbolt's native addon: whole-file OFD locks for src/file/native.ts (its
// only loader, which turns the plain errors thrown here into NativeError with
// advice). Every function except lock() is a few system calls that never wait
// on another process, so they run synchronously on the JS thread; lock() waits
// on a dedicated native thread (wait_pool.h).
//
// Errors: a failed system call throws an Error carrying `errno` (a positive
// number) and `syscall`; a bad argument throws TypeError. lock()'s promise
// resolves with 1 (granted), 0 (cancelled) or -errno.
#include <napi.h>

#if defined(__linux__)

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <limits.h>

#include <memory>
#include <string>

#include "grant.h"
#include "js_error.h"
#include "ofd.h"
#include "wait_pool.h"
#include "wake_signal.h"

namespace deadbolt {
namespace {

// Results shared with src/file/native.ts (Identity is in grant.h).
enum State { kFree = 0, kShared = 1, kExclusive = 2, kAbsent = 3 };

Napi::Value ThrowFailure(Napi::Env env, const Failure& f) {
  napi_value error;
  if (FailureError(env, f, &error) == napi_ok) napi_throw(env, error);
  return env.Undefined();
}

Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall) {
  Failure f;
  f.err = err;
  f.syscall = syscall;
  return ThrowFailure(env, f);
}

Napi::Value ThrowType(Napi::Env env, const char* message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

bool GetFd(const Napi::CallbackInfo& info, size_t i, int* fd) {
  if (!info[i].IsNumber()) {
    ThrowType(info.Env(), "fd must be a number");
    return false;
  }
  *fd = info[i].As<Napi::Number>().Int32Value();
  if (*fd < 0) {
    ThrowType(info.Env(), "fd must be a non-negative integer");
    return false;
  }
  return true;
}

// A path argument, converted into a stack buffer (no heap allocation: these
// calls are on the hot path of every lock and release).
struct PathArg {
  char buf[PATH_MAX];
  const char* c_str() const { return buf; }
};

// Returns 0, or ENAMETOOLONG for a path longer than PATH_MAX (after throwing
// nothing: the caller reports it as its system call would). Throws TypeError
// for a non-string, an empty string or one containing NUL.
bool GetPath(const Napi::CallbackInfo& info, size_t i, PathArg* path, const char* syscall) {
  napi_env env = info.Env();
  napi_value value = info[i];
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_string) {
    ThrowType(info.Env(), "path must be a string");
    return false;
  }
  size_t len = 0;
  if (napi_get_value_string_utf8(env, value, path->buf, sizeof path->buf, &len) != napi_ok) {
    return false;  // an exception is pending
  }
  if (len + 1 >= sizeof path->buf) {
    size_t full = 0;
    napi_get_value_string_utf8(env, value, nullptr, 0, &full);
    if (full + 1 > sizeof path->buf) {
      ThrowErrno(info.Env(), ENAMETOOLONG, syscall);
      return false;
    }
  }
  // A NUL would silently cut the path short at the system call.
  if (len == 0 || strlen(path->buf) != len) {
    ThrowType(info.Env(), "path must be a non-empty string without NUL bytes");
    return false;
  }
  return true;
}

// F_WRLCK when info[i] is true (exclusive), F_RDLCK when false (shared).
bool GetType(const Napi::CallbackInfo& info, size_t i, short* type) {
  if (!info[i].IsBoolean()) {
    ThrowType(info.Env(), "exclusive must be a boolean");
    return false;
  }
  *type = info[i].As<Napi::Boolean>().Value() ? F_WRLCK : F_RDLCK;
  return true;
}

bool GetMode(const Napi::CallbackInfo& info, size_t i, mode_t* mode) {
  if (!info[i].IsNumber()) {
    ThrowType(info.Env(), "mode must be a number");
    return false;
  }
  *mode = static_cast<mode_t>(info[i].As<Napi::Number>().Uint32Value() & 07777);
  return true;
}

// A holder record template: info[i] (head) and info[i + 1] (tail) are both
// strings, or info[i] is null/undefined for no record.
bool GetRecord(const Napi::CallbackInfo& info, size_t i, RecordTemplate* record) {
  if (info[i].IsNull() || info[i].IsUndefined()) return true;
  if (!info[i].IsString() || !info[i + 1].IsString()) {
    ThrowType(info.Env(), "record head and tail must be strings");
    return false;
  }
  record->present = true;
  record->head = info[i].As<Napi::String>().Utf8Value();
  record->tail = info[i + 1].As<Napi::String>().Utf8Value();
  return true;
}

// [fd, token]: token a BigInt, or null when none was taken.
Napi::Value Granted(Napi::Env env, int fd, bool has_token, uint64_t token) {
  Napi::Array pair = Napi::Array::New(env, 2);
  pair.Set(0u, Napi::Number::New(env, fd));
  pair.Set(1u, has_token ? Napi::Value(Napi::BigInt::New(env, token)) : env.Null());
  return pair;
}

// openLockFile(path, mode) -> fd
Napi::Value JsOpenLockFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PathArg path;
  mode_t mode;
  if (!GetPath(info, 0, &path, "open") || !GetMode(info, 1, &mode)) return env.Undefined();
  Failure f;
  int fd = deadbolt::OpenLockFile(path.c_str(), mode, &f);
  if (fd < 0) return ThrowFailure(env, f);
  return Napi::Number::New(env, fd);
}

// tryLock(fd, exclusive) -> granted
Napi::Value TryLock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  short type;
  if (!GetFd(info, 0, &fd) || !GetType(info, 1, &type)) return env.Undefined();
  Failure f;
  Outcome locked = Lock(fd, WholeFile(type), Waiting{}, &f);
  if (locked == Outcome::kFailed) return ThrowFailure(env, f);
  return Napi::Boolean::New(env, locked == Outcome::kDone);
}

// unlock(fd)
Napi::Value Unlock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!GetFd(info, 0, &fd)) return env.Undefined();
  struct flock fl = WholeFile(F_UNLCK);
  if (fcntl(fd, F_OFD_SETLK, &fl) != 0) return ThrowErrno(env, errno, "fcntl(F_OFD_SETLK)");
  return env.Undefined();
}

// closeFd(fd)
Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!GetFd(info, 0, &fd)) return env.Undefined();
  // Linux releases the fd even when close() reports EINTR: never retry.
  if (close(fd) != 0 && errno != EINTR) return ThrowErrno(env, errno, "close");
  return env.Undefined();
}

// checkIdentity(fd, path) -> Identity
Napi::Value JsCheckIdentity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  PathArg path;
  if (!GetFd(info, 0, &fd) || !GetPath(info, 1, &path, "lstat")) return env.Undefined();
  Failure f;
  int identity = deadbolt::CheckIdentity(fd, path.c_str(), &f);
  if (identity < 0) return ThrowFailure(env, f);
  return Napi::Number::New(env, identity);
}

// acquireNow(path, exclusive, mode, skipCheck, counterFd, head, tail)
//   -> undefined (held by another) | [fd, token | null]
// The whole grant on the JS thread, never waiting: open, lock, re-check (and
// retry on an orphan); then, with counterFd >= 0, the token and the record.
// The token is null if the counter is busy this instant (another process is
// inside its few-microsecond increment): the caller finishes with tokenWait.
Napi::Value AcquireNow(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PathArg path;
  short type;
  mode_t mode;
  int counter_fd = -1;
  RecordTemplate record;
  if (!GetPath(info, 0, &path, "open") || !GetType(info, 1, &type) || !GetMode(info, 2, &mode) ||
      !info[4].IsNumber() || !GetRecord(info, 5, &record)) {
    if (!env.IsExceptionPending()) ThrowType(env, "counterFd must be a number");
    return env.Undefined();
  }
  counter_fd = info[4].As<Napi::Number>().Int32Value();
  bool skip_check = info[3].ToBoolean().Value();
  Failure f;
  int fd = -1;
  Outcome locked = LockAtPath(path.c_str(), type, mode, skip_check, false, Waiting{}, &fd, &f);
  if (locked == Outcome::kBusy) return env.Undefined();
  if (locked != Outcome::kDone) return ThrowFailure(env, f);
  if (counter_fd < 0) return Granted(env, fd, false, 0);
  uint64_t token = 0;
  Outcome granted = Grant(counter_fd, fd, record, Waiting{}, &token, &f);
  if (granted == Outcome::kFailed) {
    close(fd);  // nothing stays locked after a failed call
    return ThrowFailure(env, f);
  }
  return Granted(env, fd, granted == Outcome::kDone, token);
}

// tokenNow(counterFd, fd, head, tail) -> token | null (counter busy)
// The next token, and the record (if any) written into the held fd.
Napi::Value TokenNow(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int counter_fd;
  RecordTemplate record;
  if (!GetFd(info, 0, &counter_fd) || !info[1].IsNumber() || !GetRecord(info, 2, &record)) {
    if (!env.IsExceptionPending()) ThrowType(env, "fd must be a number");
    return env.Undefined();
  }
  int fd = info[1].As<Napi::Number>().Int32Value();
  Failure f;
  uint64_t token = 0;
  Outcome granted = Grant(counter_fd, fd, record, Waiting{}, &token, &f);
  if (granted == Outcome::kBusy) return env.Null();
  if (granted != Outcome::kDone) return ThrowFailure(env, f);
  return Napi::BigInt::New(env, token);
}

// releaseFile(fd, path, exclusive, cleanup) -> Identity found at the path
// With cleanup, unlink while holding (a shared holder only if it is the
// last), then close. The fd is closed whatever happens.
Napi::Value ReleaseFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  PathArg path;
  short type;
  if (!GetFd(info, 0, &fd) || !GetPath(info, 1, &path, "lstat") || !GetType(info, 2, &type)) {
    return env.Undefined();
  }
  Failure f;
  int finding = ReleaseAtPath(fd, path.c_str(), type == F_WRLCK, info[3].ToBoolean().Value(), &f);
  if (finding < 0) return ThrowFailure(env, f);
  return Napi::Number::New(env, finding);
}

// unlinkPath(path)
Napi::Value UnlinkPath(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PathArg path;
  if (!GetPath(info, 0, &path, "unlink")) return env.Undefined();
  if (unlink(path.c_str()) != 0) return ThrowErrno(env, errno, "unlink");
  return env.Undefined();
}

// lockState(path) -> State
Napi::Value LockState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PathArg path;
  if (!GetPath(info, 0, &path, "open")) return env.Undefined();
  int fd;
  do {
    fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return Napi::Number::New(env, kAbsent);
    return ThrowErrno(env, err, "open");
  }
  // Our own OFD locks on other fds conflict with this new description, so
  // they are reported too. Closing this fd drops nothing (OFD semantics).
  // Only the lock range: waiters announcing themselves (ofd.h) hold nothing.
  struct flock fl = LockRange(F_WRLCK);
  int rc = fcntl(fd, F_OFD_GETLK, &fl);
  int err = errno;
  close(fd);
  if (rc != 0) return ThrowErrno(env, err, "fcntl(F_OFD_GETLK)");
  State state = fl.l_type == F_UNLCK ? kFree : fl.l_type == F_RDLCK ? kShared : kExclusive;
  return Napi::Number::New(env, state);
}

// probeOfd(path) -> 0 or errno: can this kernel do F_OFD_GETLK on that file?
Napi::Value ProbeOfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PathArg path;
  if (!GetPath(info, 0, &path, "open")) return env.Undefined();
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return Napi::Number::New(env, errno);
  struct flock fl = WholeFile(F_RDLCK);
  int rc = fcntl(fd, F_OFD_GETLK, &fl);
  int err = rc == 0 ? 0 : errno;
  close(fd);
  return Napi::Number::New(env, err);
}

// Hands `w` to a wait thread; returns [Promise, id] (see wait_pool.h).
Napi::Value Submit(Napi::Env env, Waiter* w) {
  WaitPool* pool = env.GetInstanceData<WaitPool>();
  if (pool == nullptr) {
    delete w;
    return ThrowErrno(env, ENOSYS, "lock wait pool");
  }
  if (WakeSignal() == 0) {
    delete w;
    return ThrowErrno(env, EBUSY, "sigaction");
  }
  w->id = pool->NextId();
  int rc = pool->Submit(w);
  if (rc != 0) {
    delete w;
    return ThrowErrno(env, rc, "pthread_create");
  }
  // Safe after Submit: the result can only be delivered on this thread, after
  // we return to the event loop.
  pool->AddPending();
  napi_value promise;
  if (napi_create_promise(env, &w->deferred, &promise) != napi_ok) {
    pool->Cancel(w->id);  // w->deferred stays null: the result is dropped
    return env.Undefined();
  }
  Napi::Array pair = Napi::Array::New(env, 2);
  pair.Set(0u, Napi::Value(env, promise));
  pair.Set(1u, Napi::Number::New(env, w->id));
  return pair;
}

// lock(fd, exclusive) -> [Promise<number>, id]
Napi::Value JsLock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  short type;
  if (!GetFd(info, 0, &fd) || !GetType(info, 1, &type)) return env.Undefined();
  Waiter* w = new Waiter();
  w->fd = fd;
  w->type = type;
  return Submit(env, w);
}

// acquireWait(path, exclusive, mode, skipCheck, cleanup, counterPath | null, head, tail, announce)
//   -> [Promise<[fd, token | null] | null>, id]
// acquireNow's work on a wait thread, waiting in the kernel: the thread the
// kernel wakes finishes the grant and JavaScript is called once. Resolves
// null when cancelled (nothing held; a file it held is released as a
// release would, unlinked with cleanup).
Napi::Value AcquireWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PathArg path;
  auto job = std::make_unique<GrantJob>();
  if (!GetPath(info, 0, &path, "open") || !GetType(info, 1, &job->type) ||
      !GetMode(info, 2, &job->file_mode) || !GetRecord(info, 6, &job->record)) {
    return env.Undefined();
  }
  if (info[5].IsString()) {
    job->counter_path = info[5].As<Napi::String>().Utf8Value();
  } else if (!info[5].IsNull()) {
    return ThrowType(env, "counterPath must be a string or null");
  }
  job->kind = GrantJob::kAcquire;
  job->path = path.c_str();
  job->skip_check = info[3].ToBoolean().Value();
  job->cleanup = info[4].ToBoolean().Value();
  job->announce = job->cleanup && info[8].ToBoolean().Value();
  Waiter* w = new Waiter();
  w->grant = std::move(job);
  return Submit(env, w);
}

// tokenWait(counterPath, mode, fd, head, tail) -> [Promise<[fd, token]>, id]
// tokenNow's work on a wait thread, for when the counter was busy; the
// record (if any) goes into the held fd, which stays the caller's.
Napi::Value TokenWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PathArg counter;
  auto job = std::make_unique<GrantJob>();
  if (!GetPath(info, 0, &counter, "open") || !GetMode(info, 1, &job->file_mode) ||
      !info[2].IsNumber() || !GetRecord(info, 3, &job->record)) {
    if (!env.IsExceptionPending()) ThrowType(env, "fd must be a number");
    return env.Undefined();
  }
  job->kind = GrantJob::kToken;
  job->counter_path = counter.c_str();
  job->fd = info[2].As<Napi::Number>().Int32Value();
  Waiter* w = new Waiter();
  w->grant = std::move(job);
  return Submit(env, w);
}

// cancel(id)
Napi::Value Cancel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) return ThrowType(env, "id must be a number");
  WaitPool* pool = env.GetInstanceData<WaitPool>();
  if (pool != nullptr) pool->Cancel(info[0].As<Napi::Number>().Uint32Value());
  return env.Undefined();
}

// info() -> { signal, threads, idleThreads, pendingWaits }
Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("signal", Napi::Number::New(env, WakeSignal()));
  WaitPool* pool = env.GetInstanceData<WaitPool>();
  PoolStats stats = pool != nullptr ? pool->Stats() : PoolStats{0, 0, 0};
  out.Set("threads", Napi::Number::New(env, stats.threads));
  out.Set("idleThreads", Napi::Number::New(env, stats.idle));
  out.Set("pendingWaits", Napi::Number::New(env, stats.pending));
  return out;
}

}  // namespace
}  // namespace deadbolt

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  using namespace deadbolt;
  InstallWakeSignal();  // once per process; 0 means lock() will throw EBUSY
  WaitPool* pool = new WaitPool(env);
  if (pool->Init() != napi_ok) {
    delete pool;
    Napi::Error::New(env, "deadbolt: could not set up the lock wait pool")
        .ThrowAsJavaScriptException();
    return exports;
  }
  env.SetInstanceData<WaitPool>(pool);  // deleted (after Shutdown) with the env
  exports.Set("openLockFile", Napi::Function::New(env, JsOpenLockFile, "openLockFile"));
  exports.Set("tryLock", Napi::Function::New(env, TryLock, "tryLock"));
  exports.Set("unlock", Napi::Function::New(env, Unlock, "unlock"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("checkIdentity", Napi::Function::New(env, JsCheckIdentity, "checkIdentity"));
  exports.Set("unlinkPath", Napi::Function::New(env, UnlinkPath, "unlinkPath"));
  exports.Set("lockState", Napi::Function::New(env, LockState, "lockState"));
  exports.Set("probeOfd", Napi::Function::New(env, ProbeOfd, "probeOfd"));
  exports.Set("acquireNow", Napi::Function::New(env, AcquireNow, "acquireNow"));
  exports.Set("tokenNow", Napi::Function::New(env, TokenNow, "tokenNow"));
  exports.Set("releaseFile", Napi::Function::New(env, ReleaseFile, "releaseFile"));
  exports.Set("lock", Napi::Function::New(env, JsLock, "lock"));
  exports.Set("acquireWait", Napi::Function::New(env, AcquireWait, "acquireWait"));
  exports.Set("tokenWait", Napi::Function::New(env, TokenWait, "tokenWait"));
  exports.Set("cancel", Napi::Function::New(env, Cancel, "cancel"));
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("supported", Napi::Boolean::New(env, true));
  return exports;
}

#else  // !__linux__: a stub, so installing on other platforms does not fail.

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("supported", Napi::Boolean::New(env, false));
  return exports;
}

#endif

NODE_API_MODULE(deadbolt, Init)

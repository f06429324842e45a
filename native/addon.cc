// deadbolt's native addon: whole-file OFD locks in lock directories, for
// src/file/addon.ts (its only loader). The class LockDir (lock_dir.h) does
// everything that names a file, through one directory descriptor; the free
// functions here work on descriptors it returned. Everything except a wait is
// a few system calls that never wait on another process, so it runs
// synchronously on the JS thread; waits run on dedicated native threads
// (wait_pool.h).
//
// Errors: a failed system call or a refused file throws an Error described in
// js_error.h; a bad argument throws TypeError.
#include <napi.h>

#if defined(__linux__)

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "args.h"
#include "grant.h"
#include "lock_dir.h"
#include "thread_locks.h"
#include "ofd.h"
#include "wait_pool.h"
#include "wake_signal.h"

namespace deadbolt {
namespace {

// tryLock(fd, exclusive) -> granted: the lock range of a lock file (ofd.h),
// never waiting; a conversion of a lock the fd holds is allowed.
Napi::Value TryLock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  bool exclusive;
  if (!GetFd(info[0], &fd) || !GetBool(info[1], &exclusive)) return env.Undefined();
  Failure f;
  Outcome locked = Lock(fd, WholeFile(exclusive ? F_WRLCK : F_RDLCK), Waiting{}, &f);
  if (locked == Outcome::kFailed) return ThrowFailure(env, f);
  return Napi::Boolean::New(env, locked == Outcome::kDone);
}

// unlock(fd)
Napi::Value Unlock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!GetFd(info[0], &fd)) return env.Undefined();
  struct flock fl = WholeFile(F_UNLCK);
  if (fcntl(fd, F_OFD_SETLK, &fl) != 0) return ThrowErrno(env, errno, "fcntl(F_OFD_SETLK)");
  return env.Undefined();
}

// closeFd(fd)
Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!GetFd(info[0], &fd)) return env.Undefined();
  // Linux releases the fd even when close() reports EINTR: never retry.
  if (close(fd) != 0 && errno != EINTR) return ThrowErrno(env, errno, "close");
  return env.Undefined();
}

// readFd(fd, max, offset) -> Buffer of at most `max` bytes read at `offset`.
Napi::Value ReadFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!GetFd(info[0], &fd) || !info[1].IsNumber() || !info[2].IsNumber()) {
    if (!env.IsExceptionPending()) ThrowType(env, "readFd(fd, max, offset)");
    return env.Undefined();
  }
  size_t max = info[1].As<Napi::Number>().Uint32Value();
  off_t offset = static_cast<off_t>(info[2].As<Napi::Number>().Int64Value());
  std::string data(max, '\0');
  ssize_t n;
  do {
    n = pread(fd, data.data(), max, offset);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ThrowErrno(env, errno, "pread");
  return Napi::Buffer<char>::Copy(env, data.data(), static_cast<size_t>(n));
}

// writeFd(fd, text): one write(2) of the whole text (an O_APPEND fd appends
// it atomically with respect to other appenders).
Napi::Value WriteFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!GetFd(info[0], &fd) || !info[1].IsString()) {
    if (!env.IsExceptionPending()) ThrowType(env, "writeFd(fd, text)");
    return env.Undefined();
  }
  std::string text = info[1].As<Napi::String>().Utf8Value();
  ssize_t n;
  do {
    n = write(fd, text.data(), text.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ThrowErrno(env, errno, "write");
  if (static_cast<size_t>(n) != text.size()) return ThrowErrno(env, ENOSPC, "write");
  return env.Undefined();
}

// probeOfd(path) -> 0 or errno: can this kernel do F_OFD_GETLK on that file?
Napi::Value ProbeOfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) return ThrowType(env, "path must be a string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return Napi::Number::New(env, errno);
  struct flock fl = WholeFile(F_RDLCK);
  int rc = fcntl(fd, F_OFD_GETLK, &fl);
  int err = rc == 0 ? 0 : errno;
  close(fd);
  return Napi::Number::New(env, err);
}

// cancel(id)
Napi::Value Cancel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) return ThrowType(env, "id must be a number");
  WaitPool* pool = env.GetInstanceData<WaitPool>();
  if (pool != nullptr) pool->Cancel(info[0].As<Napi::Number>().Uint32Value());
  return env.Undefined();
}

// setTestHooks({ skipCheck, silentWait }): test-only switches (grant.h).
Napi::Value SetTestHooks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) return ThrowType(env, "setTestHooks({ skipCheck, silentWait })");
  Napi::Object o = info[0].As<Napi::Object>();
  Hooks().skip_check.store(o.Get("skipCheck").ToBoolean().Value());
  Hooks().silent_wait.store(o.Get("silentWait").ToBoolean().Value());
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
  InstallWakeSignal();  // once per process; 0 means a wait will throw EBUSY
  WaitPool* pool = new WaitPool(env);
  if (pool->Init() != napi_ok) {
    delete pool;
    Napi::Error::New(env, "deadbolt: could not set up the lock wait pool").ThrowAsJavaScriptException();
    return exports;
  }
  env.SetInstanceData<WaitPool>(pool);  // deleted (after Shutdown) with the env
  exports.Set("LockDir", LockDir::Define(env));
  exports.Set("tryLock", Napi::Function::New(env, TryLock, "tryLock"));
  exports.Set("unlock", Napi::Function::New(env, Unlock, "unlock"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("readFd", Napi::Function::New(env, ReadFd, "readFd"));
  exports.Set("writeFd", Napi::Function::New(env, WriteFd, "writeFd"));
  exports.Set("probeOfd", Napi::Function::New(env, ProbeOfd, "probeOfd"));
  exports.Set("cancel", Napi::Function::New(env, Cancel, "cancel"));
  exports.Set("setTestHooks", Napi::Function::New(env, SetTestHooks, "setTestHooks"));
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  if (!RegisterThreadLocks(env, exports)) return exports;
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

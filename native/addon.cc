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

#include <string>

#include "ofd.h"
#include "wait_pool.h"
#include "wake_signal.h"

namespace deadbolt {
namespace {

// Results shared with src/file/native.ts.
enum Identity { kSame = 0, kMissing = 1, kReplaced = 2, kUnlinked = 3, kNotRegular = 4 };
enum State { kFree = 0, kShared = 1, kExclusive = 2, kAbsent = 3 };

Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall) {
  std::string message = std::string(syscall) + ": " + strerror(err);
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("syscall", Napi::String::New(env, syscall));
  error.ThrowAsJavaScriptException();
  return env.Undefined();
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

// openLockFile(path, mode) -> fd
Napi::Value OpenLockFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PathArg path;
  if (!GetPath(info, 0, &path, "open")) return env.Undefined();
  if (!info[1].IsNumber()) return ThrowType(env, "mode must be a number");
  mode_t mode = static_cast<mode_t>(info[1].As<Napi::Number>().Uint32Value() & 07777);
  int fd;
  do {
    fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ThrowErrno(env, errno, "open");
  return Napi::Number::New(env, fd);
}

// tryLock(fd, exclusive) -> granted
Napi::Value TryLock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  short type;
  if (!GetFd(info, 0, &fd) || !GetType(info, 1, &type)) return env.Undefined();
  struct flock fl = WholeFile(type);
  if (fcntl(fd, F_OFD_SETLK, &fl) == 0) return Napi::Boolean::New(env, true);
  int err = errno;
  if (err == EAGAIN || err == EACCES) return Napi::Boolean::New(env, false);
  return ThrowErrno(env, err, "fcntl(F_OFD_SETLK)");
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
Napi::Value CheckIdentity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  PathArg path;
  if (!GetFd(info, 0, &fd) || !GetPath(info, 1, &path, "lstat")) return env.Undefined();
  // lstat: a symlink planted at the path is a different inode ("replaced").
  // Path first, fd second: an unlink racing between the two shows as
  // "unlinked" instead of passing unnoticed.
  struct stat at_path, of_fd;
  if (lstat(path.c_str(), &at_path) != 0) {
    int err = errno;
    if (err == ENOENT) return Napi::Number::New(env, kMissing);
    return ThrowErrno(env, err, "lstat");
  }
  if (fstat(fd, &of_fd) != 0) return ThrowErrno(env, errno, "fstat");
  if (at_path.st_dev != of_fd.st_dev || at_path.st_ino != of_fd.st_ino) {
    return Napi::Number::New(env, kReplaced);
  }
  if (of_fd.st_nlink == 0) return Napi::Number::New(env, kUnlinked);
  // A FIFO or device planted at the path opens fine with O_RDWR; never lock one.
  if (!S_ISREG(of_fd.st_mode)) return Napi::Number::New(env, kNotRegular);
  return Napi::Number::New(env, kSame);
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
  struct flock fl = WholeFile(F_WRLCK);
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

// lock(fd, exclusive) -> [Promise<number>, id]
Napi::Value Lock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  short type;
  if (!GetFd(info, 0, &fd) || !GetType(info, 1, &type)) return env.Undefined();
  WaitPool* pool = env.GetInstanceData<WaitPool>();
  if (pool == nullptr) return ThrowErrno(env, ENOSYS, "lock wait pool");
  if (WakeSignal() == 0) return ThrowErrno(env, EBUSY, "sigaction");
  Waiter* w = new Waiter();
  w->id = pool->NextId();
  w->fd = fd;
  w->type = type;
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
  exports.Set("openLockFile", Napi::Function::New(env, OpenLockFile, "openLockFile"));
  exports.Set("tryLock", Napi::Function::New(env, TryLock, "tryLock"));
  exports.Set("unlock", Napi::Function::New(env, Unlock, "unlock"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("checkIdentity", Napi::Function::New(env, CheckIdentity, "checkIdentity"));
  exports.Set("unlinkPath", Napi::Function::New(env, UnlinkPath, "unlinkPath"));
  exports.Set("lockState", Napi::Function::New(env, LockState, "lockState"));
  exports.Set("probeOfd", Napi::Function::New(env, ProbeOfd, "probeOfd"));
  exports.Set("lock", Napi::Function::New(env, Lock, "lock"));
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

// See lock_dir.h.
#if defined(__linux__)

#include "lock_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "ofd.h"
#include "wait_pool.h"
#include "wake_signal.h"

namespace deadbolt {
namespace {

// State answers, shared with src/file/addon.ts.
enum State { kFree = 0, kShared = 1, kExclusive = 2, kAbsent = 3 };

constexpr int kOpenFlags[] = {
    O_RDONLY,                     // 0 read
    O_RDWR,                       // 1 read-write (never creating)
    O_WRONLY | O_APPEND | O_CREAT,  // 2 append, creating
    O_WRONLY | O_CREAT | O_EXCL,  // 3 a new file
};

int OpenDirectoryAt(int at, const char* path, Failure* f) {
  int fd;
  do {
    fd = openat(at, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) Fail(f, errno, "open");
  return fd;
}

// Hands `job` to a wait thread; returns [Promise, id] (see wait_pool.h).
Napi::Value Submit(Napi::Env env, std::unique_ptr<GrantJob> job) {
  WaitPool* pool = env.GetInstanceData<WaitPool>();
  if (pool == nullptr) return ThrowErrno(env, ENOSYS, "lock wait pool");
  if (WakeSignal() == 0) return ThrowErrno(env, EBUSY, "sigaction");
  Waiter* w = new Waiter();
  w->grant = std::move(job);
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

// A record template from two arguments: both strings, or head null for none.
bool GetRecord(const Napi::Value& head, const Napi::Value& tail, RecordTemplate* record) {
  if (head.IsNull() || head.IsUndefined()) return true;
  if (!head.IsString() || !tail.IsString()) {
    ThrowType(head.Env(), "record head and tail must be strings");
    return false;
  }
  record->present = true;
  record->head = head.As<Napi::String>().Utf8Value();
  record->tail = tail.As<Napi::String>().Utf8Value();
  return true;
}

}  // namespace

Napi::Function LockDir::Define(Napi::Env env) {
  return DefineClass(env, "LockDir",
                     {
                         InstanceMethod<&LockDir::Info>("info"),
                         InstanceMethod<&LockDir::OpenCounterFile>("openCounter"),
                         InstanceMethod<&LockDir::AcquireNow>("acquireNow"),
                         InstanceMethod<&LockDir::AcquireWait>("acquireWait"),
                         InstanceMethod<&LockDir::TokenNow>("tokenNow"),
                         InstanceMethod<&LockDir::TokenWait>("tokenWait"),
                         InstanceMethod<&LockDir::Release>("release"),
                         InstanceMethod<&LockDir::IdentityOf>("identity"),
                         InstanceMethod<&LockDir::State>("state"),
                         InstanceMethod<&LockDir::Stat>("stat"),
                         InstanceMethod<&LockDir::Open>("open"),
                         InstanceMethod<&LockDir::Names>("names"),
                         InstanceMethod<&LockDir::Unlink>("unlink"),
                         InstanceMethod<&LockDir::Close>("close"),
                     });
}

LockDir::LockDir(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LockDir>(info) {
  bool ok = info[0].IsString() ? OpenPath(info) : OpenSubdir(info);
  if (!ok && dir_.fd >= 0) {
    close(dir_.fd);
    dir_.fd = -1;
  }
}

LockDir::~LockDir() {
  if (counter_ >= 0) close(counter_);
  if (dir_.fd >= 0) close(dir_.fd);
}

// new LockDir(path, { fileMode, cleanup })
bool LockDir::OpenPath(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  if (path.empty() || path.find('\0') != std::string::npos || !info[1].IsObject()) {
    ThrowType(env, "new LockDir(path, { fileMode, cleanup })");
    return false;
  }
  Napi::Object policy = info[1].As<Napi::Object>();
  if (!GetMode(policy.Get("fileMode"), &policy_.file_mode) || !GetBool(policy.Get("cleanup"), &policy_.cleanup)) {
    return false;
  }
  Failure f;
  dir_.fd = OpenDirectoryAt(AT_FDCWD, path.c_str(), &f);
  if (dir_.fd < 0) {
    ThrowFailure(env, f);
    return false;
  }
  if (fstat(dir_.fd, &st_) != 0) {
    ThrowErrno(env, errno, "fstat");
    return false;
  }
  dir_.trust = Trust{st_.st_uid, st_.st_gid, (st_.st_mode & S_IWGRP) != 0};
  return true;
}

// new LockDir(parent, name, create): a subdirectory, trusted as its parent is.
bool LockDir::OpenSubdir(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) {
    ThrowType(env, "new LockDir(parent, name, create)");
    return false;
  }
  LockDir* parent = Napi::ObjectWrap<LockDir>::Unwrap(info[0].As<Napi::Object>());
  std::string name;
  bool create;
  if (parent == nullptr || !parent->Usable(env) || !GetName(info[1], &name) || !GetBool(info[2], &create)) return false;
  policy_ = parent->policy_;
  dir_.trust = parent->dir_.trust;
  // Same permissions as the parent (a group layout stays one).
  if (create && mkdirat(parent->dir_.fd, name.c_str(), parent->st_.st_mode & 07777) != 0 && errno != EEXIST) {
    ThrowErrno(env, errno, "mkdirat");
    return false;
  }
  Failure f;
  f.file = name;
  dir_.fd = OpenDirectoryAt(parent->dir_.fd, name.c_str(), &f);
  if (dir_.fd < 0) {
    // Something planted where our subdirectory belongs: a symlink, or a file.
    if (f.err == ELOOP) f.kind = Failure::kSymlink;
    if (f.err == ENOTDIR) f.kind = Failure::kNotRegular;
    ThrowFailure(env, f);
    return false;
  }
  if (fstat(dir_.fd, &st_) != 0) {
    ThrowErrno(env, errno, "fstat");
    return false;
  }
  if ((st_.st_mode & S_IWOTH) != 0 || !Accepted(dir_.trust, st_)) {
    f.kind = (st_.st_mode & S_IWOTH) != 0 ? Failure::kWorldWritable : Failure::kForeignOwner;
    f.uid = st_.st_uid;
    f.mode = st_.st_mode & 07777;
    ThrowFailure(env, f);
    return false;
  }
  return true;
}

bool LockDir::Usable(Napi::Env env) {
  if (dir_.fd >= 0) return true;
  ThrowErrno(env, EBADF, "lock directory (closed)");
  return false;
}

bool LockDir::GetRequest(const Napi::Value& value, GrantRequest* req) {
  if (!value.IsObject()) {
    ThrowType(value.Env(), "request must be an object");
    return false;
  }
  Napi::Object o = value.As<Napi::Object>();
  bool exclusive;
  if (!GetName(o.Get("name"), &req->name) || !GetBool(o.Get("exclusive"), &exclusive) ||
      !GetBool(o.Get("token"), &req->token) || !GetRecord(o.Get("head"), o.Get("tail"), &req->record)) {
    return false;
  }
  req->type = exclusive ? F_WRLCK : F_RDLCK;
  return true;
}

std::unique_ptr<GrantJob> LockDir::NewJob(Napi::Env env, GrantJob::Kind kind) {
  auto job = std::make_unique<GrantJob>();
  job->kind = kind;
  job->policy = policy_;
  job->dir.trust = dir_.trust;
  job->dir.fd = fcntl(dir_.fd, F_DUPFD_CLOEXEC, 0);
  if (job->dir.fd < 0) {
    ThrowErrno(env, errno, "dup");
    return nullptr;
  }
  return job;
}

Napi::Value LockDir::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("dev", Napi::Number::New(env, static_cast<double>(st_.st_dev)));
  out.Set("ino", Napi::Number::New(env, static_cast<double>(st_.st_ino)));
  out.Set("uid", Napi::Number::New(env, st_.st_uid));
  out.Set("gid", Napi::Number::New(env, st_.st_gid));
  out.Set("mode", Napi::Number::New(env, st_.st_mode & 07777));
  return out;
}

Napi::Value LockDir::OpenCounterFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usable(env)) return env.Undefined();
  if (counter_ >= 0) return env.Undefined();
  Failure f;
  counter_ = OpenCounter(dir_, policy_.file_mode, &f);
  if (counter_ < 0) return ThrowFailure(env, f);
  return env.Undefined();
}

// The whole grant on the JS thread, never waiting: open, lock, re-check (and
// retry on an orphan); then, with req.token, the token and the record. The
// token is null if the counter is busy this instant (another process is
// inside its few-microsecond increment): the caller finishes with tokenWait.
Napi::Value LockDir::AcquireNow(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GrantRequest req;
  if (!Usable(env) || !GetRequest(info[0], &req)) return env.Undefined();
  if (req.token && counter_ < 0) return ThrowType(env, "openCounter() first");
  Failure f;
  int fd = -1;
  Outcome locked = LockAt(dir_, req, policy_, Waiting{}, &fd, &f);
  if (locked == Outcome::kBusy) return env.Undefined();
  if (locked != Outcome::kDone) return ThrowFailure(env, f);
  if (!req.token) return Granted(env, fd, false, 0);
  uint64_t token = 0;
  Outcome granted = TakeToken(counter_, fd, req.record, Waiting{}, &token, &f);
  if (granted == Outcome::kFailed) {
    Failure ignored;
    ReleaseAt(fd, dir_, req.name.c_str(), req.type == F_WRLCK, policy_.cleanup, &ignored);  // nothing stays locked
    return ThrowFailure(env, f);
  }
  return Granted(env, fd, granted == Outcome::kDone, token);
}

// acquireNow's work on a wait thread, waiting in the kernel: the thread the
// kernel wakes finishes the grant and JavaScript is called once. Resolves
// null when cancelled (nothing held; a file it held is released as a
// release would).
Napi::Value LockDir::AcquireWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usable(env)) return env.Undefined();
  auto job = NewJob(env, GrantJob::kAcquire);
  if (job == nullptr || !GetRequest(info[0], &job->request)) return env.Undefined();
  return Submit(env, std::move(job));
}

// The next token, and the record (if any) written into the held fd.
Napi::Value LockDir::TokenNow(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  RecordTemplate record;
  if (!Usable(env) || !GetFdOrNone(info[0], &fd) || !GetRecord(info[1], info[2], &record)) return env.Undefined();
  if (counter_ < 0) return ThrowType(env, "openCounter() first");
  Failure f;
  uint64_t token = 0;
  Outcome granted = TakeToken(counter_, fd, record, Waiting{}, &token, &f);
  if (granted == Outcome::kBusy) return env.Null();
  if (granted != Outcome::kDone) return ThrowFailure(env, f);
  return Napi::BigInt::New(env, token);
}

// tokenNow's work on a wait thread, cancellable like every wait.
Napi::Value LockDir::TokenWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usable(env)) return env.Undefined();
  auto job = NewJob(env, GrantJob::kToken);
  if (job == nullptr || !GetFdOrNone(info[0], &job->fd) || !GetRecord(info[1], info[2], &job->request.record)) {
    return env.Undefined();
  }
  job->request.token = true;
  return Submit(env, std::move(job));
}

Napi::Value LockDir::Release(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  std::string name;
  bool exclusive;
  if (!GetFd(info[0], &fd) || !GetName(info[1], &name) || !GetBool(info[2], &exclusive)) return env.Undefined();
  if (dir_.fd < 0) {
    close(fd);  // the lock is given back even so; only the unlink is lost
    return ThrowErrno(env, EBADF, "lock directory (closed)");
  }
  Failure f;
  int finding = ReleaseAt(fd, dir_, name.c_str(), exclusive, policy_.cleanup, &f);
  if (finding < 0) return ThrowFailure(env, f);
  return Napi::Number::New(env, finding);
}

Napi::Value LockDir::IdentityOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  std::string name;
  if (!Usable(env) || !GetFd(info[0], &fd) || !GetName(info[1], &name)) return env.Undefined();
  Failure f;
  int identity = IdentityAt(fd, dir_, name.c_str(), &f);
  if (identity < 0) return ThrowFailure(env, f);
  return Napi::Number::New(env, identity);
}

// Who holds the file, seen from a fresh description. Our own OFD locks on
// other descriptors conflict with it, so they are reported too; closing it
// drops nothing (OFD semantics). Only the lock range: waiters announcing
// themselves (ofd.h) hold nothing. Never blocks: a FIFO is refused by Verify.
Napi::Value LockDir::State(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!Usable(env) || !GetName(info[0], &name)) return env.Undefined();
  Failure f;
  int fd = OpenIn(dir_, name.c_str(), O_RDONLY, 0, &f);
  if (fd < 0) {
    if (f.kind == Failure::kErrno && f.err == ENOENT) return Napi::Number::New(env, kAbsent);
    return ThrowFailure(env, f);
  }
  struct flock fl = LockRange(F_WRLCK);
  int rc = fcntl(fd, F_OFD_GETLK, &fl);
  int err = errno;
  close(fd);
  if (rc != 0) return ThrowErrno(env, err, "fcntl(F_OFD_GETLK)");
  return Napi::Number::New(env, fl.l_type == F_UNLCK ? kFree : fl.l_type == F_RDLCK ? kShared : kExclusive);
}

// fstatat without following: what is at the name, without opening it.
Napi::Value LockDir::Stat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!Usable(env) || !GetName(info[0], &name)) return env.Undefined();
  struct stat st;
  if (fstatat(dir_.fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return env.Undefined();
    return ThrowErrno(env, errno, "fstatat");
  }
  Napi::Array out = Napi::Array::New(env, 9);
  out.Set(0u, Napi::Number::New(env, st.st_mode & S_IFMT));
  out.Set(1u, Napi::Number::New(env, st.st_mode & 07777));
  out.Set(2u, Napi::Number::New(env, st.st_uid));
  out.Set(3u, Napi::Number::New(env, st.st_gid));
  out.Set(4u, Napi::Number::New(env, static_cast<double>(st.st_nlink)));
  out.Set(5u, Napi::Number::New(env, static_cast<double>(st.st_size)));
  out.Set(6u, Napi::Number::New(env, st.st_mtim.tv_sec * 1e3 + st.st_mtim.tv_nsec / 1e6));
  out.Set(7u, Napi::Number::New(env, static_cast<double>(st.st_dev)));
  out.Set(8u, Napi::Number::New(env, static_cast<double>(st.st_ino)));
  return out;
}

Napi::Value LockDir::Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  mode_t mode;
  if (!Usable(env) || !GetName(info[0], &name) || !info[1].IsNumber() || !GetMode(info[2], &mode)) {
    if (!env.IsExceptionPending()) ThrowType(env, "open(name, how, mode)");
    return env.Undefined();
  }
  uint32_t how = info[1].As<Napi::Number>().Uint32Value();
  if (how >= sizeof kOpenFlags / sizeof kOpenFlags[0]) return ThrowType(env, "open: unknown how");
  Failure f;
  int fd = OpenIn(dir_, name.c_str(), kOpenFlags[how], mode, &f);
  if (fd < 0) return ThrowFailure(env, f);
  return Napi::Number::New(env, fd);
}

Napi::Value LockDir::Names(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usable(env)) return env.Undefined();
  // fdopendir takes the descriptor over: give it a dup, and rewind, since the
  // dup shares the offset of an earlier listing.
  int fd = fcntl(dir_.fd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, errno, "dup");
  DIR* d = fdopendir(fd);
  if (d == nullptr) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, err, "fdopendir");
  }
  rewinddir(d);
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* entry = readdir(d)) {
    std::string name(entry->d_name);
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  int err = errno;
  closedir(d);
  if (err != 0) return ThrowErrno(env, err, "readdir");
  Napi::Array out = Napi::Array::New(env, names.size());
  for (size_t i = 0; i < names.size(); ++i) out.Set(static_cast<uint32_t>(i), Napi::String::New(env, names[i]));
  return out;
}

Napi::Value LockDir::Unlink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!Usable(env) || !GetName(info[0], &name)) return env.Undefined();
  if (unlinkat(dir_.fd, name.c_str(), 0) != 0) {
    Failure f;
    Fail(&f, errno, "unlinkat");
    f.file = name;
    return ThrowFailure(env, f);
  }
  return env.Undefined();
}

// Idempotent. Waits already started keep their own duplicate descriptor.
Napi::Value LockDir::Close(const Napi::CallbackInfo& info) {
  if (counter_ >= 0) close(counter_);
  if (dir_.fd >= 0) close(dir_.fd);
  counter_ = dir_.fd = -1;
  return info.Env().Undefined();
}

}  // namespace deadbolt

#endif  // __linux__

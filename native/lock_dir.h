// The JavaScript class LockDir (src/file/addon.ts): one lock directory's
// descriptor and everything done through it. Constructed from a path (the
// lock directory) or from another LockDir and a name (a subdirectory such as
// .deadbolt-shared); see directory.h for why every operation goes through
// the one descriptor.
//
// Methods (errors are thrown as described in js_error.h; requests are one
// object, read in one place, so JavaScript and C++ cannot disagree on the
// order of positional arguments):
//   info()                      -> { dev, ino, uid, gid, mode }
//   openCounter()               opens (creates) .deadbolt-tokens, verified
//   acquireNow(req)             -> undefined (held by another) | [fd, token | null]
//   acquireWait(req)            -> [Promise<[fd, token | null] | null>, id]
//   tokenNow(fd, head, tail)    -> token | null (the counter is busy this instant)
//   tokenWait(fd, head, tail)   -> [Promise<[fd, token]>, id]
//   release(fd, name, exclusive) -> Identity (directory.h); always closes fd
//   identity(fd, name)          -> Identity
//   state(name)                 -> 0 free, 1 shared, 2 exclusive, 3 absent
//   stat(name)                  -> undefined (absent) | [type, mode, uid, gid, nlink, size, mtimeMs, dev, ino]
//   open(name, how, mode)       -> fd, verified; how: 0 read, 1 read-write, 2 append (creating), 3 create new
//   names()                     -> every entry's name but . and ..
//   unlink(name)
//   close()
// where req = { name, exclusive, token, head, tail } (head/tail: strings, or
// null for no holder record).
#ifndef DEADBOLT_LOCK_DIR_H_
#define DEADBOLT_LOCK_DIR_H_

#include <napi.h>

#if defined(__linux__)

#include "directory.h"
#include "grant.h"

namespace deadbolt {

class LockDir : public Napi::ObjectWrap<LockDir> {
 public:
  static Napi::Function Define(Napi::Env env);
  // new LockDir(path, policy) or new LockDir(parent, name, create)
  // policy = { fileMode, cleanup, create?: dirMode } — see src/file/addon.ts.
  explicit LockDir(const Napi::CallbackInfo& info);
  ~LockDir() override;

 private:
  bool OpenPath(const Napi::CallbackInfo& info);
  bool OpenSubdir(const Napi::CallbackInfo& info);
  bool Usable(Napi::Env env);
  bool GetRequest(const Napi::Value& value, GrantRequest* req);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value OpenCounterFile(const Napi::CallbackInfo& info);
  Napi::Value AcquireNow(const Napi::CallbackInfo& info);
  Napi::Value AcquireWait(const Napi::CallbackInfo& info);
  Napi::Value TokenNow(const Napi::CallbackInfo& info);
  Napi::Value TokenWait(const Napi::CallbackInfo& info);
  Napi::Value Release(const Napi::CallbackInfo& info);
  Napi::Value IdentityOf(const Napi::CallbackInfo& info);
  Napi::Value State(const Napi::CallbackInfo& info);
  Napi::Value Stat(const Napi::CallbackInfo& info);
  Napi::Value Open(const Napi::CallbackInfo& info);
  Napi::Value Names(const Napi::CallbackInfo& info);
  Napi::Value Unlink(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  // A job on a dup of our descriptor, so that close() cannot pull it away.
  std::unique_ptr<GrantJob> NewJob(Napi::Env env, GrantJob::Kind kind);

  Dir dir_;
  FilePolicy policy_;
  int counter_ = -1;
  struct stat st_ {};
};

}  // namespace deadbolt

#endif  // __linux__
#endif  // DEADBOLT_LOCK_DIR_H_

// How a native step failed, in one shape for every caller: synchronous throws
// (addon.cc) and rejected waits (wait_pool.cc) both become the same plain
// JavaScript Error (js_error.h), which src/file/native-errors.ts turns into
// NativeError, UnsafeFileError or ConfigurationError with advice.
#ifndef DEADBOLT_FAILURE_H_
#define DEADBOLT_FAILURE_H_

#if defined(__linux__)

#include <sys/types.h>

#include <string>

namespace deadbolt {

// How a step ended.
enum class Outcome { kDone, kBusy, kCancelled, kFailed };

struct Failure {
  enum Kind {
    kErrno,           // a system call failed: err, syscall
    kSymlink,         // a symbolic link is where a file should be (openat with O_NOFOLLOW: ELOOP)
    kNotRegular,      // a FIFO, socket, device or directory is where a file should be
    kHardLinked,      // the file has more than one link: nlink
    kForeignOwner,    // owned by a user the directory does not trust: uid
    kWorldWritable,   // anyone may write it (mode o+w): mode
    kNotLockFile,     // the file holds data that is not a deadbolt holder record
    kCorruptCounter,  // the token counter holds `corrupt`
  };
  Kind kind = kErrno;
  int err = 0;
  const char* syscall = "";
  bool counter = false;   // the token counter failed, not the lock file
  std::string file;       // the file (a name in the directory) the failure is about
  unsigned long nlink = 0;
  uid_t uid = 0;
  mode_t mode = 0;
  std::string corrupt;
};

inline Outcome Fail(Failure* f, int err, const char* syscall) {
  f->kind = Failure::kErrno;
  f->err = err;
  f->syscall = syscall;
  return Outcome::kFailed;
}

}  // namespace deadbolt

#endif  // __linux__
#endif  // DEADBOLT_FAILURE_H_

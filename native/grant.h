// The steps of the lock-directory protocol (src/file/file-lock.ts, DESIGN.md
// §3) in C++: open + lock + inode re-check (retrying on an orphan), the
// fencing token, the holder record, and release with delete-on-release.
//
// Why here and not in JavaScript: after a hand-off, the woken process's
// JavaScript is cold, and running the re-check, the retry, the token and the
// record there cost 67-100 µs per grant (docs/performance.md). Finishing the
// grant on the wait thread the kernel woke, and calling JavaScript once with
// { fd, token }, leaves only the unavoidable thread-to-event-loop hop. The
// same functions serve the fast path on the JS thread (one call instead of a
// dozen), so there is one implementation of the protocol.
//
// Nothing here touches N-API: addon.cc converts arguments and results.
#ifndef DEADBOLT_GRANT_H_
#define DEADBOLT_GRANT_H_

#if defined(__linux__)

#include <fcntl.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>

namespace deadbolt {

// What checkIdentity() and release find at a lock path (shared with
// src/file/native.ts).
enum Identity { kSame = 0, kMissing = 1, kReplaced = 2, kUnlinked = 3, kNotRegular = 4 };

// How a step ended.
enum class Outcome { kDone, kBusy, kCancelled, kFailed };

// Why a step failed.
struct Failure {
  enum Kind { kErrno, kNotRegular, kCorruptCounter };
  Kind kind = kErrno;
  int err = 0;                // kErrno: the errno
  const char* syscall = "";   // kErrno: the failed call
  bool counter = false;       // the token counter failed, not the lock file
  std::string corrupt;        // kCorruptCounter: what the counter file holds
};

// How to lock: once (`wait` false: kBusy when another holder conflicts), or
// waiting in F_OFD_SETLKW, interruptibly: `cancelled` (may be null) is checked
// before every attempt and the wake signal makes the kernel wait return EINTR.
struct Waiting {
  bool wait = false;
  const std::atomic<bool>* cancelled = nullptr;
};

// A holder record to write into the held lock file once the token is known:
// the line is `deadbolt1 <fnv1a-32 of json> <json>\n` with
// json = head + token + tail + ISO-8601 time of the grant + "\"}".
// JavaScript (holder-record.ts) builds head and tail, so the format lives in
// one place.
struct RecordTemplate {
  bool present = false;
  std::string head;
  std::string tail;
};

// The lock file at `path`, opened O_RDWR|O_CREAT|O_CLOEXEC|O_NOFOLLOW with
// permission bits `mode`. Returns the fd, or -1 with `f` filled.
int OpenLockFile(const char* path, mode_t mode, Failure* f);

// The OFD lock `request` (a range and F_RDLCK/F_WRLCK, ofd.h) on `fd`.
Outcome Lock(int fd, struct flock request, const Waiting& how, Failure* f);

// Compares fstat(fd) with lstat(path): an Identity, or -1 with `f` filled.
int CheckIdentity(int fd, const char* path, Failure* f);

// Open, lock, re-check; on an orphan (the file was unlinked or replaced
// between our open and our grant) close and start over on the file now at the
// path. kDone: *fd_out is locked and is the file at `path`. Any other
// outcome holds nothing.
//
// With `announce` (files are deleted on release) a waiter announces itself on
// the waiting byte (ofd.h) while it waits, and a releaser that sees someone
// waiting does not unlink: the waiter is then granted the file it waits on,
// instead of waking on an orphan, creating a fresh file and locking that
// (about half of a hand-off's cost, docs/performance.md). It is only a hint:
// a waiter that comes too late to be seen still finds the orphan and
// retries, and a cancelled waiter leaves as a releaser would, deleting the
// file if it is the last one there.
Outcome LockAtPath(const char* path, short type, mode_t mode, bool skip_check, bool announce,
                   const Waiting& how, int* fd_out, Failure* f);

// The next fencing token from the counter file open at `counter_fd`, under
// the counter's own OFD lock (held for one pread and one pwrite).
Outcome TakeToken(int counter_fd, const Waiting& how, uint64_t* token, Failure* f);

// Writes the record for `token` at offset 0 of `fd` with one pwrite.
bool WriteRecord(int fd, const RecordTemplate& record, uint64_t token, Failure* f);

// Token, then record (if any) into `fd`. The caller keeps `fd` either way.
Outcome Grant(int counter_fd, int fd, const RecordTemplate& record,
              const Waiting& how, uint64_t* token, Failure* f);

// Release: with `cleanup`, unlink while still holding (a shared holder only if
// a non-blocking upgrade shows it is the last; nobody if another process is
// waiting for the file, see LockAtPath), then close. Returns the
// Identity found at the path (kSame unless someone broke the protocol), or
// -1 with `f` filled. Always closes `fd`.
int ReleaseAtPath(int fd, const char* path, bool exclusive, bool cleanup, Failure* f);

// A whole grant, run on a wait thread (wait_pool.h).
struct GrantJob {
  // kAcquire: open, lock (waiting), re-check, then the token and the record.
  // kToken: only the token, and the record into the already locked `fd`.
  enum Kind { kAcquire, kToken };
  Kind kind = kAcquire;
  std::string path;          // kAcquire: the lock file
  short type = 0;            // kAcquire: F_RDLCK or F_WRLCK
  mode_t file_mode = 0644;
  bool skip_check = false;   // test-only: proves the stress test can fail
  bool cleanup = false;      // kAcquire: unlink the file if cancelled while held
  bool announce = false;     // kAcquire: announce the wait (LockAtPath); off only in tests
  std::string counter_path;  // empty: no token
  RecordTemplate record;
  int fd = -1;               // kToken: input; kAcquire: output
  // Results.
  Outcome outcome = Outcome::kCancelled;
  uint64_t token = 0;
  bool has_token = false;
  Failure failure;
};

// Runs `job` to completion, cancellation or failure. On anything but kDone,
// a kAcquire job holds nothing (its fd is closed).
void RunGrant(GrantJob* job, const std::atomic<bool>* cancelled);

}  // namespace deadbolt

#endif  // __linux__
#endif  // DEADBOLT_GRANT_H_

// The steps of the lock-directory protocol (src/file/grant.ts, DESIGN.md §3)
// in C++: open + lock + inode re-check (retrying on an orphan), the fencing
// token, the holder record, and release with delete-on-release. Every file is
// reached through the directory descriptor (directory.h).
//
// Why here and not in JavaScript: after a hand-off, the woken process's
// JavaScript is cold, and running the re-check, the retry, the token and the
// record there cost 67-100 µs per grant (docs/performance.md). Finishing the
// grant on the wait thread the kernel woke, and calling JavaScript once with
// [fd, token], leaves only the unavoidable thread-to-event-loop hop. The same
// functions serve the fast path on the JS thread, so there is one
// implementation of the protocol, and the token is taken in one place
// (TakeToken).
//
// Nothing here touches N-API: addon.cc converts requests and results.
#ifndef DEADBOLT_GRANT_H_
#define DEADBOLT_GRANT_H_

#if defined(__linux__)

#include <fcntl.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "directory.h"
#include "failure.h"

namespace deadbolt {

// The token counter's name in every lock directory (src/file/lock-name.ts).
constexpr const char* kTokenFile = ".deadbolt-tokens";

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
// JavaScript (holder-record.ts) builds head and tail, so the JSON is defined
// in one place; test/file/record-format.test.ts proves both sides agree.
struct RecordTemplate {
  bool present = false;
  std::string head;
  std::string tail;
};

// One acquire, as JavaScript asks for it (addon.cc reads it from one object).
struct GrantRequest {
  std::string name;          // the lock file's name in the directory
  short type = F_WRLCK;      // F_RDLCK (shared) or F_WRLCK (exclusive)
  bool token = false;        // take a fencing token (and write `record`)
  RecordTemplate record;
};

// How a directory's lock files are made and given back (fixed per LockDirectory).
struct FilePolicy {
  mode_t file_mode = 0600;
  bool cleanup = true;       // delete on release; waiters then announce themselves
};

// Test-only switches, set through the addon's setTestHooks() and never passed
// through a production signature: skip the inode re-check (proves the stress
// test can fail) and wait without announcing (every hand-off goes through the
// orphan retry).
struct TestHooks {
  std::atomic<bool> skip_check{false};
  std::atomic<bool> silent_wait{false};
};
TestHooks& Hooks();

// The OFD lock `request` (a range and F_RDLCK/F_WRLCK, ofd.h) on `fd`.
Outcome Lock(int fd, struct flock request, const Waiting& how, Failure* f);

// Open (creating), lock, re-check; on an orphan (the file was unlinked or
// replaced between our open and our grant) close and start over on the file
// now at the name. kDone: *fd_out is locked, is the file at the name, and
// holds nothing or a holder record; a file holding anything else is refused
// (kFailed, Failure::kNotLockFile) and left exactly as it was. Any other
// outcome holds nothing.
//
// With cleanup a waiter announces itself on the waiting byte (ofd.h) while it
// waits, and a releaser that sees someone waiting does not unlink: the waiter
// is then granted the file it waits on, instead of waking on an orphan,
// creating a fresh file and locking that. It is only a hint: a waiter that
// comes too late to be seen still finds the orphan and retries, and a
// cancelled waiter leaves as a releaser would, deleting the file if it is the
// last one there.
Outcome LockAt(const Dir& dir, const GrantRequest& req, const FilePolicy& policy, const Waiting& how,
               int* fd_out, Failure* f);

// The token counter of `dir`, opened (created) and verified.
int OpenCounter(const Dir& dir, mode_t mode, Failure* f);

// The next fencing token from the counter open at `counter_fd`, under the
// counter's own OFD lock (held for one pread and one pwrite); then, if the
// request has a record, that record written into the held `fd`.
Outcome TakeToken(int counter_fd, int fd, const RecordTemplate& record, const Waiting& how,
                  uint64_t* token, Failure* f);

// Release: with cleanup, unlink while still holding (a shared holder only if
// a non-blocking upgrade shows it is the last; nobody if another process is
// waiting for the file), then close. Returns the Identity found at the name
// (kSame unless someone broke the protocol), or -1 with `f` filled. Always
// closes `fd`.
int ReleaseAt(int fd, const Dir& dir, const char* name, bool exclusive, bool cleanup, Failure* f);

// A whole grant, run on a wait thread (wait_pool.h). Owns `dir.fd` (a dup
// made on the JS thread, so that closing the LockDirectory meanwhile cannot
// turn the number into some other file).
struct GrantJob {
  // kAcquire: open, lock (waiting), re-check, then the token and the record.
  // kToken: only the token, and the record into the already locked `fd`.
  enum Kind { kAcquire, kToken };
  Kind kind = kAcquire;
  Dir dir;
  FilePolicy policy;
  GrantRequest request;
  int fd = -1;               // kToken: input; kAcquire: output
  // Results.
  Outcome outcome = Outcome::kCancelled;
  uint64_t token = 0;
  bool has_token = false;
  Failure failure;

  ~GrantJob();
};

// Runs `job` to completion, cancellation or failure. On anything but kDone,
// a kAcquire job holds nothing (its fd is closed).
void RunGrant(GrantJob* job, const std::atomic<bool>* cancelled);

}  // namespace deadbolt

#endif  // __linux__
#endif  // DEADBOLT_GRANT_H_

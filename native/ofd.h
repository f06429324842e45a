// Open-file-description (OFD) lock helpers shared by the addon's sources.
//
// OFD locks (Linux 3.15+) belong to the open file description, not to the
// process: two fds opened separately in one process exclude each other, and
// closing an unrelated fd of the same file drops nothing. They conflict with
// classic POSIX fcntl/lockf locks (so Python's fcntl.lockf interoperates) and
// are unrelated to flock(2). Every lock here covers the whole file.
#ifndef DEADBOLT_OFD_H_
#define DEADBOLT_OFD_H_

#if defined(__linux__)

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

// Older C libraries lack the names; the kernel numbers are fixed.
#ifndef F_OFD_GETLK
#define F_OFD_GETLK 36
#endif
#ifndef F_OFD_SETLK
#define F_OFD_SETLK 37
#endif
#ifndef F_OFD_SETLKW
#define F_OFD_SETLKW 38
#endif

namespace deadbolt {

// A whole-file lock request of `type` (F_RDLCK, F_WRLCK or F_UNLCK).
// l_pid must be 0 for the F_OFD_* commands, or the kernel answers EINVAL.
inline struct flock WholeFile(short type) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0;
  fl.l_len = 0;
  fl.l_pid = 0;
  return fl;
}

// A lock file's two ranges. The lock itself covers [0, kWaitingByte); while a
// deadbolt process waits for it, it also holds a shared lock on the one byte
// at kWaitingByte, so that a releaser can see someone is waiting and leave the
// file in place for them instead of unlinking it (grant.h). Whole-file
// requests (l_len 0), such as Python's fcntl.lockf or deadbolt's clean(),
// cover both ranges, so they conflict with holders and waiters alike.
constexpr off_t kWaitingByte = static_cast<off_t>(1) << 62;

// The lock range of a lock file, as `type`.
inline struct flock LockRange(short type) {
  struct flock fl = WholeFile(type);
  fl.l_len = kWaitingByte;
  return fl;
}

// The byte where waiters announce themselves, as `type`.
inline struct flock WaitingRange(short type) {
  struct flock fl = WholeFile(type);
  fl.l_start = kWaitingByte;
  fl.l_len = 1;
  return fl;
}

}  // namespace deadbolt

#endif  // __linux__
#endif  // DEADBOLT_OFD_H_

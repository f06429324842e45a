// A lock directory as the native layer sees it: one directory descriptor,
// opened O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC once, and whom it trusts.
//
// Why: a lock directory may be writable (or readable) by people the caller
// does not trust (docs/security.md). Re-resolving a path string for every
// operation lets whoever owns a parent swap the directory for a symlink
// between two calls; so every open, stat and unlink here is *at() relative to
// the one descriptor, never follows a symlink (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW)
// and never blocks on a FIFO (O_NONBLOCK). After every open, fstat proves what
// was opened: a regular file, one link (a hard link could be anyone's file),
// not writable by everyone, owned by someone the directory trusts.
#ifndef DEADBOLT_DIRECTORY_H_
#define DEADBOLT_DIRECTORY_H_

#if defined(__linux__)

#include <sys/stat.h>
#include <sys/types.h>

#include "failure.h"

namespace deadbolt {

// Whose files a directory accepts: its owner's, this process's (euid), and,
// when the directory is group-writable (the documented group layout), files
// of the directory's group.
struct Trust {
  uid_t dir_uid = 0;
  gid_t dir_gid = 0;
  bool group_writable = false;
};

struct Dir {
  int fd = -1;
  Trust trust;
};

// Does `dir` trust a file with this owner and mode?
bool Accepted(const Trust& trust, const struct stat& st);

// fstat(fd) proves a regular file, at most one link (0: unlinked meanwhile,
// which the caller's identity check turns into a retry), not world-writable,
// an accepted owner. Fills `st`; false with `f` (naming `name`) otherwise.
bool Verify(const Dir& dir, int fd, const char* name, struct stat* st, Failure* f);

// openat(dir, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode), then
// Verify; with O_CREAT, a file this process owns is given exactly `mode`
// (whatever the umask). Returns the fd (st filled if not null), or -1 with
// `f` filled (nothing left open).
int OpenIn(const Dir& dir, const char* name, int flags, mode_t mode, Failure* f, struct stat* st = nullptr);

// What checkIdentity() and release find at a name (shared with src/file/grant.ts).
enum Identity { kSame = 0, kMissing = 1, kReplaced = 2, kUnlinked = 3 };

// Compares fstat(fd) with fstatat(dir, name, AT_SYMLINK_NOFOLLOW): an
// Identity, or -1 with `f` filled.
int IdentityAt(int fd, const Dir& dir, const char* name, Failure* f);

}  // namespace deadbolt

#endif  // __linux__
#endif  // DEADBOLT_DIRECTORY_H_

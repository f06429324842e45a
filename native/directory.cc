// See directory.h.
#if defined(__linux__)

#include "directory.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

namespace deadbolt {

bool Accepted(const Trust& trust, const struct stat& st) {
  if (st.st_uid == trust.dir_uid || st.st_uid == geteuid()) return true;
  return trust.group_writable && st.st_gid == trust.dir_gid;
}

bool Verify(const Dir& dir, int fd, const char* name, struct stat* st, Failure* f) {
  if (fstat(fd, st) != 0) {
    Fail(f, errno, "fstat");
  } else if (!S_ISREG(st->st_mode)) {
    f->kind = Failure::kNotRegular;
  } else if (st->st_nlink > 1) {
    f->kind = Failure::kHardLinked;
    f->nlink = st->st_nlink;
  } else if ((st->st_mode & S_IWOTH) != 0) {
    f->kind = Failure::kWorldWritable;
    f->mode = st->st_mode & 07777;
  } else if (!Accepted(dir.trust, *st)) {
    f->kind = Failure::kForeignOwner;
    f->uid = st->st_uid;
  } else {
    return true;
  }
  f->file = name;
  return false;
}

int OpenIn(const Dir& dir, const char* name, int flags, mode_t mode, Failure* f, struct stat* st) {
  int fd;
  do {
    fd = openat(dir.fd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    int err = errno;
    Fail(f, err, "openat");
    // ELOOP: O_NOFOLLOW met a symlink at the name. ENXIO: opening for writing
    // without blocking found a FIFO with no reader (or a socket, or a device
    // without a driver). Both are refused as what they are, with advice,
    // rather than as an unexplained errno.
    if (err == ELOOP) f->kind = Failure::kSymlink;
    if (err == ENXIO) f->kind = Failure::kNotRegular;
    f->file = name;
    return -1;
  }
  struct stat local;
  struct stat* seen = st != nullptr ? st : &local;
  if (!Verify(dir, fd, name, seen, f)) {
    close(fd);
    return -1;
  }
  // A file of ours gets exactly the permissions asked for: the umask would
  // turn a group layout's 0660 into 0640 (other members could not lock), and
  // a file left 0644 by an older release would let readers block writers.
  mode_t wanted = mode & 0777;
  if ((flags & O_CREAT) != 0 && seen->st_uid == geteuid() && (seen->st_mode & 0777) != wanted && fchmod(fd, wanted) == 0) {
    seen->st_mode = (seen->st_mode & ~0777) | wanted;
  }
  return fd;
}

int IdentityAt(int fd, const Dir& dir, const char* name, Failure* f) {
  // The name first, the fd second: an unlink racing between the two shows as
  // "unlinked" instead of passing unnoticed. A symlink planted at the name is
  // a different inode ("replaced").
  struct stat at_name, of_fd;
  if (fstatat(dir.fd, name, &at_name, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return kMissing;
    Fail(f, errno, "fstatat");
    return -1;
  }
  if (fstat(fd, &of_fd) != 0) {
    Fail(f, errno, "fstat");
    return -1;
  }
  if (at_name.st_dev != of_fd.st_dev || at_name.st_ino != of_fd.st_ino) return kReplaced;
  if (of_fd.st_nlink == 0) return kUnlinked;
  return kSame;
}

}  // namespace deadbolt

#endif  // __linux__

// See grant.h.
#if defined(__linux__)

#include "grant.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

#include "ofd.h"

namespace deadbolt {
namespace {

// The counter file holds the last token handed out as 20 decimal digits and a
// newline (any unsigned 64-bit value fits; a fixed width needs no truncation).
constexpr size_t kCounterWidth = 20;

Outcome Fail(Failure* f, int err, const char* syscall) {
  f->kind = Failure::kErrno;
  f->err = err;
  f->syscall = syscall;
  return Outcome::kFailed;
}

void Unlock(int fd) {
  struct flock fl = WholeFile(F_UNLCK);
  fcntl(fd, F_OFD_SETLK, &fl);
}

// Linux releases the fd even when close() reports EINTR: never retry.
void Close(int fd) { close(fd); }

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// An empty file is 0; otherwise 1 to 20 digits, surrounding blanks allowed.
bool ParseCounter(const char* text, size_t n, uint64_t* value) {
  size_t begin = 0, end = n;
  while (begin < end && IsSpace(text[begin])) ++begin;
  while (end > begin && IsSpace(text[end - 1])) --end;
  if (n == 0) {
    *value = 0;
    return true;
  }
  if (end == begin || end - begin > kCounterWidth) return false;
  uint64_t v = 0;
  for (size_t i = begin; i < end; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    uint64_t digit = static_cast<uint64_t>(text[i] - '0');
    if (v > (UINT64_MAX - digit) / 10) return false;  // overflow
    v = v * 10 + digit;
  }
  *value = v;
  return true;
}

// Read, increment and write; the caller holds the counter's lock.
Outcome IncrementLocked(int fd, uint64_t* token, Failure* f) {
  char text[kCounterWidth + 12];
  ssize_t n;
  do {
    n = pread(fd, text, sizeof text, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Fail(f, errno, "pread");
  uint64_t value;
  // UINT64_MAX cannot be followed: as corrupt as garbage.
  if (!ParseCounter(text, static_cast<size_t>(n), &value) || value == UINT64_MAX) {
    f->kind = Failure::kCorruptCounter;
    f->corrupt.assign(text, std::min<size_t>(static_cast<size_t>(n), 40));
    return Outcome::kFailed;
  }
  char out[kCounterWidth + 2];
  snprintf(out, sizeof out, "%020llu\n", static_cast<unsigned long long>(value + 1));
  ssize_t w;
  do {
    w = pwrite(fd, out, kCounterWidth + 1, 0);
  } while (w < 0 && errno == EINTR);
  if (w < 0) return Fail(f, errno, "pwrite");
  if (static_cast<size_t>(w) != kCounterWidth + 1) return Fail(f, ENOSPC, "pwrite");
  *token = value + 1;
  return Outcome::kDone;
}

// FNV-1a, 32 bits, over the UTF-8 bytes (holder-record.ts computes the same).
uint32_t Fnv1a(const std::string& bytes) {
  uint32_t hash = 0x811c9dc5u;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x01000193u;
  }
  return hash;
}

// Now, as JavaScript's Date#toISOString() writes it: 2026-11-22T10:00:00.123Z.
void AppendIsoNow(std::string* out) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  struct tm utc;
  gmtime_r(&now.tv_sec, &utc);
  char text[32];
  size_t n = strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  snprintf(text + n, sizeof text - n, ".%03ldZ", now.tv_nsec / 1000000);
  out->append(text);
}

// Whether another open file description holds the waiting byte (ofd.h):
// someone is waiting for this lock file, or about to. Our own announcement
// does not count (OFD locks never conflict with their own description). If
// the kernel cannot tell, say no: unlinking is always safe, only slower.
bool OthersWaiting(int fd) {
  struct flock fl = WaitingRange(F_WRLCK);
  if (fcntl(fd, F_OFD_GETLK, &fl) != 0) return false;
  return fl.l_type != F_UNLCK;
}

// A cancelled waiter leaves: a releaser may have left the file in place for
// it, so if the file is free now and nobody else waits, delete it as a
// release would. Closes `fd`.
void LeaveWaiting(int fd, const char* path);

}  // namespace

int OpenLockFile(const char* path, mode_t mode, Failure* f) {
  int fd;
  do {
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) Fail(f, errno, "open");
  return fd;
}

Outcome Lock(int fd, struct flock request, const Waiting& how, Failure* f) {
  for (;;) {
    if (how.cancelled != nullptr && how.cancelled->load()) return Outcome::kCancelled;
    struct flock fl = request;  // the kernel may write into it
    if (fcntl(fd, how.wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) == 0) return Outcome::kDone;
    int err = errno;
    if (err == EINTR) continue;  // a cancel, or a stray signal: check the flag
    if (!how.wait && (err == EAGAIN || err == EACCES)) return Outcome::kBusy;
    return Fail(f, err, how.wait ? "fcntl(F_OFD_SETLKW)" : "fcntl(F_OFD_SETLK)");
  }
}

int CheckIdentity(int fd, const char* path, Failure* f) {
  // lstat: a symlink planted at the path is a different inode ("replaced").
  // Path first, fd second: an unlink racing between the two shows as
  // "unlinked" instead of passing unnoticed.
  struct stat at_path, of_fd;
  if (lstat(path, &at_path) != 0) {
    if (errno == ENOENT) return kMissing;
    Fail(f, errno, "lstat");
    return -1;
  }
  if (fstat(fd, &of_fd) != 0) {
    Fail(f, errno, "fstat");
    return -1;
  }
  if (at_path.st_dev != of_fd.st_dev || at_path.st_ino != of_fd.st_ino) return kReplaced;
  if (of_fd.st_nlink == 0) return kUnlinked;
  // A FIFO or device planted at the path opens fine with O_RDWR; never lock one.
  if (!S_ISREG(of_fd.st_mode)) return kNotRegular;
  return kSame;
}

Outcome LockAtPath(const char* path, short type, mode_t mode, bool skip_check, bool announce,
                   const Waiting& how, int* fd_out, Failure* f) {
  announce = announce && how.wait;
  for (;;) {
    int fd = OpenLockFile(path, mode, f);
    if (fd < 0) return Outcome::kFailed;
    // Best effort: it fails only while someone holds the whole file (an oslo
    // process, or clean()), who never deletes it on release anyway.
    if (announce) Lock(fd, WaitingRange(F_RDLCK), Waiting{}, f);
    Outcome locked = Lock(fd, LockRange(type), how, f);
    if (locked != Outcome::kDone) {
      if (locked == Outcome::kCancelled && announce) {
        LeaveWaiting(fd, path);
      } else {
        Close(fd);
      }
      return locked;
    }
    int identity = skip_check ? kSame : CheckIdentity(fd, path, f);
    if (identity == kSame) {
      *fd_out = fd;
      return Outcome::kDone;
    }
    Close(fd);  // drops our lock on the orphan inode (or the foreign file)
    if (identity < 0) return Outcome::kFailed;
    if (identity == kNotRegular) {
      f->kind = Failure::kNotRegular;
      return Outcome::kFailed;
    }
    // Orphan: the holder we waited for unlinked it on release. Start over on
    // the file now at the path (or create it).
  }
}

Outcome TakeToken(int counter_fd, const Waiting& how, uint64_t* token, Failure* f) {
  Outcome locked = Lock(counter_fd, WholeFile(F_WRLCK), how, f);
  if (locked == Outcome::kDone) {
    locked = IncrementLocked(counter_fd, token, f);
    Unlock(counter_fd);
  }
  if (locked == Outcome::kFailed) f->counter = true;
  return locked;
}

bool WriteRecord(int fd, const RecordTemplate& record, uint64_t token, Failure* f) {
  std::string json;
  json.reserve(record.head.size() + record.tail.size() + 48);
  json.append(record.head).append(std::to_string(token)).append(record.tail);
  AppendIsoNow(&json);
  json.append("\"}");
  char prefix[24];
  snprintf(prefix, sizeof prefix, "deadbolt1 %08x ", Fnv1a(json));
  std::string line(prefix);
  line.append(json).push_back('\n');
  ssize_t w;
  do {
    w = pwrite(fd, line.data(), line.size(), 0);
  } while (w < 0 && errno == EINTR);
  if (w < 0) {
    Fail(f, errno, "pwrite");
    return false;
  }
  return true;
}

Outcome Grant(int counter_fd, int fd, const RecordTemplate& record,
              const Waiting& how, uint64_t* token, Failure* f) {
  Outcome taken = TakeToken(counter_fd, how, token, f);
  if (taken != Outcome::kDone) return taken;
  if (record.present && fd >= 0 && !WriteRecord(fd, record, *token, f)) return Outcome::kFailed;
  return Outcome::kDone;
}

int ReleaseAtPath(int fd, const char* path, bool exclusive, bool cleanup, Failure* f) {
  int finding = CheckIdentity(fd, path, f);
  if (finding == kSame && cleanup) {
    Outcome last = exclusive ? Outcome::kDone : Lock(fd, LockRange(F_WRLCK), Waiting{}, f);
    if (last == Outcome::kFailed) {
      finding = -1;
    } else if (last == Outcome::kDone && !OthersWaiting(fd) && unlink(path) != 0) {
      // Deleted between our check and our unlink: a protocol breach too.
      if (errno == ENOENT) {
        finding = kMissing;
      } else {
        Fail(f, errno, "unlink");
        finding = -1;
      }
    }
  }
  Close(fd);
  return finding;
}

namespace {

void LeaveWaiting(int fd, const char* path) {
  Failure ignored;
  if (Lock(fd, LockRange(F_WRLCK), Waiting{}, &ignored) == Outcome::kDone) {
    ReleaseAtPath(fd, path, true, true, &ignored);
  } else {
    Close(fd);  // someone holds it: they will delete it (or leave it to the next waiter)
  }
}

// The token for a job, with its own fd on the counter: an OFD lock belongs to
// the open file description, so sharing the JS thread's fd would let both
// "hold" the counter at once.
// Opened before the wait, so that after the grant only the increment is left.
// Returns false (with the failure) if it cannot be opened.
bool OpenCounter(GrantJob* job, int* counter) {
  *counter = -1;
  if (job->counter_path.empty()) return true;
  *counter = OpenLockFile(job->counter_path.c_str(), job->file_mode, &job->failure);
  job->failure.counter = *counter < 0;
  return *counter >= 0;
}

Outcome JobToken(GrantJob* job, int counter, const Waiting& how) {
  if (counter < 0) return Outcome::kDone;
  Outcome granted = Grant(counter, job->fd, job->record, how, &job->token, &job->failure);
  job->has_token = granted == Outcome::kDone;
  return granted;
}

Outcome RunAcquire(GrantJob* job, int counter, const Waiting& how) {
  Outcome locked = LockAtPath(job->path.c_str(), job->type, job->file_mode, job->skip_check,
                              job->announce, how, &job->fd, &job->failure);
  if (locked != Outcome::kDone) return locked;
  Outcome granted = JobToken(job, counter, how);
  if (granted == Outcome::kDone) return granted;
  // Cancelled (or failed) while holding the lock file: give it back, deleting
  // it as a release would, so an abandoned wait leaves no file behind.
  Failure ignored;
  ReleaseAtPath(job->fd, job->path.c_str(), job->type == F_WRLCK, job->cleanup, &ignored);
  job->fd = -1;
  return granted;
}

}  // namespace

void RunGrant(GrantJob* job, const std::atomic<bool>* cancelled) {
  Waiting how{true, cancelled};
  int counter;
  if (!OpenCounter(job, &counter)) {
    job->outcome = Outcome::kFailed;
    return;
  }
  job->outcome = job->kind == GrantJob::kToken ? JobToken(job, counter, how) : RunAcquire(job, counter, how);
  if (counter >= 0) Close(counter);
}

}  // namespace deadbolt

#endif  // __linux__

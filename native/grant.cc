// See grant.h.
#if defined(__linux__)

#include "grant.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
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

// What every holder record starts with (holder-record.ts).
constexpr const char kMagic[] = "deadbolt1 ";
constexpr size_t kMagicLength = sizeof kMagic - 1;

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

// A record is written only over nothing or over an older record: a file that
// holds anything else is somebody's data, planted or misplaced at a lock name.
bool HoldsOnlyRecords(int fd, Failure* f) {
  char head[kMagicLength];
  ssize_t n;
  do {
    n = pread(fd, head, sizeof head, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    Fail(f, errno, "pread");
    return false;
  }
  if (n == 0 || (static_cast<size_t>(n) == kMagicLength && memcmp(head, kMagic, kMagicLength) == 0)) return true;
  f->kind = Failure::kNotLockFile;
  return false;
}

// Writes the record for `token` at offset 0 of `fd` with one pwrite. `fd`
// was granted by LockAt, which proved it holds nothing but records.
bool WriteRecord(int fd, const RecordTemplate& record, uint64_t token, Failure* f) {
  std::string json;
  json.reserve(record.head.size() + record.tail.size() + 48);
  json.append(record.head).append(std::to_string(token)).append(record.tail);
  AppendIsoNow(&json);
  json.append("\"}");
  char prefix[24];
  snprintf(prefix, sizeof prefix, "%s%08x ", kMagic, Fnv1a(json));
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
void LeaveWaiting(int fd, const Dir& dir, const char* name) {
  Failure ignored;
  if (Lock(fd, LockRange(F_WRLCK), Waiting{}, &ignored) == Outcome::kDone) {
    // Never delete what is not a lock file (somebody's data planted at the name).
    if (!HoldsOnlyRecords(fd, &ignored)) {
      Close(fd);
      return;
    }
    ReleaseAt(fd, dir, name, true, true, &ignored);
  } else {
    Close(fd);  // someone holds it: they will delete it (or leave it to the next waiter)
  }
}

}  // namespace

TestHooks& Hooks() {
  static TestHooks hooks;
  return hooks;
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

Outcome LockAt(const Dir& dir, const GrantRequest& req, const FilePolicy& policy, const Waiting& how,
               int* fd_out, Failure* f) {
  const char* name = req.name.c_str();
  bool announce = policy.cleanup && how.wait && !Hooks().silent_wait.load();
  bool check = !Hooks().skip_check.load();
  for (;;) {
    int fd = OpenIn(dir, name, O_RDWR | O_CREAT, policy.file_mode, f);
    if (fd < 0) return Outcome::kFailed;
    // Best effort: it fails only while someone holds the whole file (an oslo
    // process, or clean()), who never deletes it on release anyway.
    if (announce) Lock(fd, WaitingRange(F_RDLCK), Waiting{}, f);
    Outcome locked = Lock(fd, LockRange(req.type), how, f);
    if (locked != Outcome::kDone) {
      if (locked == Outcome::kCancelled && announce) {
        LeaveWaiting(fd, dir, name);
      } else {
        Close(fd);
      }
      return locked;
    }
    int identity = check ? IdentityAt(fd, dir, name, f) : kSame;
    if (identity == kSame) {
      // A lock file holds nothing or a holder record. Anything else is
      // somebody's data at a lock name: refuse it now, before a token is
      // taken or a record written, and give it back without unlinking (a
      // release would delete it).
      if (!HoldsOnlyRecords(fd, f)) {
        f->file = req.name;
        Close(fd);
        return Outcome::kFailed;
      }
      *fd_out = fd;
      return Outcome::kDone;
    }
    Close(fd);  // drops our lock on the orphan inode (or the foreign file)
    if (identity < 0) return Outcome::kFailed;
    // Orphan: the holder we waited for unlinked it on release. Start over on
    // the file now at the name (or create it).
  }
}

int OpenCounter(const Dir& dir, mode_t mode, Failure* f) {
  int fd = OpenIn(dir, kTokenFile, O_RDWR | O_CREAT, mode, f);
  if (fd < 0) f->counter = true;
  return fd;
}

Outcome TakeToken(int counter_fd, int fd, const RecordTemplate& record, const Waiting& how,
                  uint64_t* token, Failure* f) {
  Outcome locked = Lock(counter_fd, WholeFile(F_WRLCK), how, f);
  if (locked == Outcome::kDone) {
    locked = IncrementLocked(counter_fd, token, f);
    Unlock(counter_fd);
  }
  if (locked == Outcome::kFailed) {
    // The failure is the counter's, not the lock file's: name it, so that the
    // error tells which file to repair (src/file/native-errors.ts).
    f->counter = true;
    f->file = kTokenFile;
    return locked;
  }
  if (locked == Outcome::kDone && record.present && fd >= 0 && !WriteRecord(fd, record, *token, f)) {
    return Outcome::kFailed;
  }
  return locked;
}

int ReleaseAt(int fd, const Dir& dir, const char* name, bool exclusive, bool cleanup, Failure* f) {
  int finding = IdentityAt(fd, dir, name, f);
  if (finding == kSame && cleanup) {
    Outcome last = exclusive ? Outcome::kDone : Lock(fd, LockRange(F_WRLCK), Waiting{}, f);
    if (last == Outcome::kFailed) {
      finding = -1;
    } else if (last == Outcome::kDone && !OthersWaiting(fd) && unlinkat(dir.fd, name, 0) != 0) {
      // Deleted between our check and our unlink: a protocol breach too.
      if (errno == ENOENT) {
        finding = kMissing;
      } else {
        Fail(f, errno, "unlinkat");
        finding = -1;
      }
    }
  }
  Close(fd);
  return finding;
}

GrantJob::~GrantJob() {
  if (dir.fd >= 0) Close(dir.fd);
}

namespace {

// The token for a job, with its own descriptor on the counter: an OFD lock
// belongs to the open file description, so sharing the JS thread's would let
// both "hold" the counter at once. Opened before the wait, so that after the
// grant only the increment is left. Returns false (with the failure) if it
// cannot be opened.
bool OpenJobCounter(GrantJob* job, int* counter) {
  *counter = -1;
  if (!job->request.token) return true;
  *counter = OpenCounter(job->dir, job->policy.file_mode, &job->failure);
  return *counter >= 0;
}

Outcome JobToken(GrantJob* job, int counter, const Waiting& how) {
  if (counter < 0) return Outcome::kDone;
  Outcome granted = TakeToken(counter, job->fd, job->request.record, how, &job->token, &job->failure);
  job->has_token = granted == Outcome::kDone;
  return granted;
}

Outcome RunAcquire(GrantJob* job, int counter, const Waiting& how) {
  Outcome locked = LockAt(job->dir, job->request, job->policy, how, &job->fd, &job->failure);
  if (locked != Outcome::kDone) return locked;
  Outcome granted = JobToken(job, counter, how);
  if (granted == Outcome::kDone) return granted;
  // Cancelled (or failed) while holding the lock file: give it back, deleting
  // it as a release would, so an abandoned wait leaves no file behind.
  Failure ignored;
  ReleaseAt(job->fd, job->dir, job->request.name.c_str(), job->request.type == F_WRLCK, job->policy.cleanup,
            &ignored);
  job->fd = -1;
  return granted;
}

}  // namespace

void RunGrant(GrantJob* job, const std::atomic<bool>* cancelled) {
  Waiting how{true, cancelled};
  int counter;
  if (!OpenJobCounter(job, &counter)) {
    job->outcome = Outcome::kFailed;
    return;
  }
  job->outcome = job->kind == GrantJob::kToken ? JobToken(job, counter, how) : RunAcquire(job, counter, how);
  if (counter >= 0) Close(counter);
}

}  // namespace deadbolt

#endif  // __linux__

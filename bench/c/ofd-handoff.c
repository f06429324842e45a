/*
 * C baseline for cross-process OFD lock handoff latency (see DESIGN.md §3):
 * the time from the holder's F_UNLCK to the waiter's F_OFD_SETLKW returning
 * in another process.
 *
 * Two processes, one lock file, each with its own open file description.
 * Each round: the parent holds the lock; the child blocks in F_OFD_SETLKW;
 * the parent makes sure the child is really asleep in the kernel (it reads
 * /proc/<child>/syscall), stores t0 = CLOCK_MONOTONIC in shared memory and
 * unlocks (in the protocol modes: starts its release); the child, once granted
 * (in the protocol modes: once its grant is complete), reads the clock (t1) and
 * records t1 - t0, releases and tells the parent, which re-locks for the next round.
 *
 * Build:  cc -O2 -Wall -Wextra -o ofd-handoff ofd-handoff.c   (or: make -C bench/c)
 *
 * Modes (the third or later argument; the default is the bare hand-off above):
 *   protocol         both sides run deadbolt's LockDirectory protocol (DESIGN.md §3) as the
 *                    native grant does it (native/grant.cc), instead of a bare lock/unlock. The
 *                    lock is an OFD write lock on [0, 2^62); the byte at 2^62 is the "waiting
 *                    byte". The waiter opens the counter file, opens (creating) the lock file,
 *                    announces itself with a non-blocking shared lock on the waiting byte, waits
 *                    in F_OFD_SETLKW on [0, 2^62), re-checks (lstat+fstat), takes a fencing
 *                    token from the counter file (lock, pread, pwrite 21 B, unlock), writes a
 *                    ~200-byte holder record, closes the counter fd, and only then reads t1. The
 *                    holder releases by lstat+fstat, F_OFD_GETLK for a write lock on the waiting
 *                    byte, and, since the waiter holds it, close without unlinking: the waiter is
 *                    granted the file it waits on. (The waiter, releasing with nobody waiting,
 *                    does unlink, so the holder re-creates the file each round, as acquireNow
 *                    does: open, F_OFD_SETLK, re-check, token with its kept-open counter fd,
 *                    record.) The floor for a LockDirectory hand-off done natively.
 *   protocol-silent  the same without the announcement (the protocol before the waiting byte):
 *                    every release unlinks (lstat+fstat, unlink, close; no F_OFD_GETLK), so the
 *                    woken waiter finds an orphan inode, closes it, opens (creating) the fresh
 *                    file, locks it, re-checks, and only then takes its token and writes its
 *                    record. protocol ÷ protocol-silent is what the announcement saves.
 *
 * Usage:  ofd-handoff [ITERATIONS] [DIR] [samples] [protocol|protocol-silent]
 *         (defaults: 2000, /dev/shm, the bare hand-off)
 * Prints one JSON line: mode, median, p99 and max in microseconds; with `samples`, also
 * every sample ("samples":[...], in run order), so a caller can pool several runs.
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64 /* the waiting byte is at 2^62 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef F_OFD_GETLK
#define F_OFD_GETLK 36
#endif
#ifndef F_OFD_SETLK
#define F_OFD_SETLK 37
#endif
#ifndef F_OFD_SETLKW
#define F_OFD_SETLKW 38
#endif

struct shared {
  volatile double t0;
  double samples[];
};

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int lk(int fd, int cmd, short type) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  int rc;
  do rc = fcntl(fd, cmd, &fl); while (rc != 0 && errno == EINTR);
  return rc;
}

static void die(const char *what) {
  fprintf(stderr, "ofd-handoff: %s: %s\n", what, strerror(errno));
  exit(1);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Is `pid` asleep in fcntl(_, F_OFD_SETLKW, _)? */
static int blocked_in_setlkw(pid_t pid) {
  char path[64], buf[256];
  snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  long nr;
  unsigned long arg0, arg1;
  if (sscanf(buf, "%ld 0x%lx 0x%lx", &nr, &arg0, &arg1) != 3) return 0;
  return nr == SYS_fcntl && arg1 == F_OFD_SETLKW;
}


/* ---- the LockDirectory protocol, in C (modes `protocol` and `protocol-silent`) ----
 * As native/grant.cc runs it: the lock is an OFD lock on [0, 2^62) (LockRange, native/ofd.h);
 * the byte at 2^62 is the waiting byte, where a waiter announces itself with a shared lock. */
#define WAITING_BYTE ((off_t)1 << 62)

enum mode { BARE, PROTOCOL, SILENT };
static enum mode mode = BARE;
static const char *const mode_names[] = {"bare", "protocol", "protocol-silent"};
static int holder_counter = -1; /* the holder's counter fd, kept open (as TokenCounter.fd) */
static char counter_path[4096];
static char record[205];

static int lk_range(int fd, int cmd, short type, off_t start, off_t len) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = start;
  fl.l_len = len;
  int rc;
  do rc = fcntl(fd, cmd, &fl); while (rc != 0 && errno == EINTR);
  return rc;
}

static int same_file(int fd, const char *path) {
  struct stat sp, sf;
  if (lstat(path, &sp) != 0) return 0;
  if (fstat(fd, &sf) != 0) die("fstat");
  return sf.st_dev == sp.st_dev && sf.st_ino == sp.st_ino && sf.st_nlink > 0;
}

static int open_lock_file(const char *path) {
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) die("open");
  return fd;
}

static void init_protocol(const char *dir) {
  snprintf(counter_path, sizeof counter_path, "%s/.ofd-handoff-tokens", dir);
  memset(record, 'r', sizeof record - 1);
  record[sizeof record - 2] = '\n';
}

/* Token from the counter open at `cfd` (lock the whole counter file, pread, parse, pwrite
   21 bytes, unlock), then the holder record into the lock file `fd`. */
static void token_and_record(int cfd, int fd) {
  char buf[22];
  if (lk(cfd, F_OFD_SETLKW, F_WRLCK) != 0) die("counter lock");
  ssize_t n = pread(cfd, buf, 21, 0);
  if (n < 0) die("pread");
  buf[n > 0 ? n : 0] = '\0';
  unsigned long long v = n > 0 ? strtoull(buf, NULL, 10) : 0;
  snprintf(buf, sizeof buf, "%020llu\n", v + 1);
  if (pwrite(cfd, buf, 21, 0) != 21) die("pwrite counter");
  if (lk(cfd, F_OFD_SETLK, F_UNLCK) != 0) die("counter unlock");
  if (pwrite(fd, record, sizeof record - 1, 0) != (ssize_t)(sizeof record - 1)) die("pwrite record");
}

/* Open (creating), announce (`protocol`, waiting only: a non-blocking shared lock on the
   waiting byte, best effort), lock the lock range, re-check; on an orphan close and start over
   on the file now at the path. `cmd`: F_OFD_SETLKW (the waiter) or F_OFD_SETLK (the holder,
   which only re-locks once the waiter has released). */
static int lock_at_path(const char *path, int cmd) {
  int announce = mode == PROTOCOL && cmd == F_OFD_SETLKW;
  for (;;) {
    int fd = open_lock_file(path);
    if (announce) lk_range(fd, F_OFD_SETLK, F_RDLCK, WAITING_BYTE, 1);
    if (lk_range(fd, cmd, F_WRLCK, 0, WAITING_BYTE) != 0) die(cmd == F_OFD_SETLKW ? "F_OFD_SETLKW" : "F_OFD_SETLK");
    if (same_file(fd, path)) return fd;
    close(fd); /* orphan: the holder unlinked it on release */
  }
}

/* Does another open file description hold the waiting byte (someone waits)? */
static int others_waiting(int fd) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = WAITING_BYTE;
  fl.l_len = 1;
  if (fcntl(fd, F_OFD_GETLK, &fl) != 0) return 0;
  return fl.l_type != F_UNLCK;
}

/* Identity check, then unlink while holding (`protocol`: only if nobody waits), then close. */
static void proto_release(int fd, const char *path) {
  if (!same_file(fd, path)) { fprintf(stderr, "ofd-handoff: protocol breach\n"); exit(1); }
  if ((mode == SILENT || !others_waiting(fd)) && unlink(path) != 0) die("unlink");
  close(fd);
}

/* The waiter's whole grant, as a native wait thread runs it: the counter fd is opened before
   the wait and closed after the token. */
static int proto_wait(const char *path) {
  int cfd = open(counter_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (cfd < 0) die("open counter");
  int fd = lock_at_path(path, F_OFD_SETLKW);
  token_and_record(cfd, fd);
  close(cfd);
  return fd;
}

/* The holder's grant without waiting (acquireNow), with its kept-open counter fd. */
static int proto_now(const char *path) {
  int fd = lock_at_path(path, F_OFD_SETLK);
  token_and_record(holder_counter, fd);
  return fd;
}

int main(int argc, char **argv) {
  long iterations = argc > 1 ? atol(argv[1]) : 2000;
  const char *dir = argc > 2 ? argv[2] : "/dev/shm";
  int with_samples = 0;
  for (int a = 3; a < argc; a++) {
    if (strcmp(argv[a], "samples") == 0) with_samples = 1;
    else if (strcmp(argv[a], "protocol") == 0) mode = PROTOCOL;
    else if (strcmp(argv[a], "protocol-silent") == 0) mode = SILENT;
    else { fprintf(stderr, "usage: %s [ITERATIONS] [DIR] [samples] [protocol|protocol-silent]\n", argv[0]); return 2; }
  }
  if (iterations < 1) iterations = 1;
  char path[4096];
  snprintf(path, sizeof path, "%s/ofd-handoff-%d.lock", dir, (int)getpid());

  struct shared *sh = mmap(NULL, sizeof *sh + (size_t)iterations * sizeof(double),
                           PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (sh == MAP_FAILED) die("mmap");
  int to_parent[2], to_child[2];
  if (pipe(to_parent) != 0 || pipe(to_child) != 0) die("pipe");

  int pfd;
  if (mode == BARE) {
    pfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (pfd < 0) die("open");
    if (lk(pfd, F_OFD_SETLK, F_WRLCK) != 0) die("initial lock");
  } else {
    init_protocol(dir);
    holder_counter = open(counter_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (holder_counter < 0) die("open counter");
    pfd = proto_now(path);
  }

  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    /* Its own open file descriptions: an inherited copy of the holder's fd would keep the
       holder's lock alive after the holder closes its fd. */
    int cfd = -1;
    if (mode == BARE) {
      cfd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
      if (cfd < 0) die("child open");
    } else {
      close(pfd);
      close(holder_counter);
    }
    char byte = 'r';
    for (long i = 0; i < iterations; i++) {
      if (read(to_child[0], &byte, 1) != 1) _exit(1); /* "go wait" */
      if (mode != BARE) {
        cfd = proto_wait(path);
        double t1 = now_us();
        sh->samples[i] = t1 - sh->t0;
        proto_release(cfd, path);
        if (write(to_parent[1], &byte, 1) != 1) _exit(1);
        continue;
      }
      if (lk(cfd, F_OFD_SETLKW, F_WRLCK) != 0) die("F_OFD_SETLKW");
      double t1 = now_us();
      sh->samples[i] = t1 - sh->t0;
      if (lk(cfd, F_OFD_SETLK, F_UNLCK) != 0) die("child unlock");
      if (write(to_parent[1], &byte, 1) != 1) _exit(1); /* "released" */
    }
    _exit(0);
  }

  close(to_child[0]);
  close(to_parent[1]); /* a waiter that dies is then EOF, not a hang */
  char byte = 'g';
  int status;
  for (long i = 0; i < iterations; i++) {
    if (write(to_child[1], &byte, 1) != 1) die("write");
    while (!blocked_in_setlkw(child)) {
      if (waitpid(child, &status, WNOHANG) == child) { fprintf(stderr, "ofd-handoff: the waiter died\n"); return 1; }
      usleep(50);
    }
    sh->t0 = now_us();
    if (mode != BARE) {
      proto_release(pfd, path);
      if (read(to_parent[0], &byte, 1) != 1) { fprintf(stderr, "ofd-handoff: the waiter died\n"); return 1; }
      pfd = proto_now(path);
      continue;
    }
    if (lk(pfd, F_OFD_SETLK, F_UNLCK) != 0) die("unlock");
    if (read(to_parent[0], &byte, 1) != 1) { fprintf(stderr, "ofd-handoff: the waiter died\n"); return 1; }
    if (lk(pfd, F_OFD_SETLK, F_WRLCK) != 0) die("relock");
  }
  waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) { fprintf(stderr, "ofd-handoff: the waiter failed\n"); return 1; }
  if (mode != BARE) close(pfd), close(holder_counter), unlink(counter_path);
  unlink(path);

  double *s = sh->samples;
  if (with_samples) {
    printf("{\"samples\":[");
    for (long i = 0; i < iterations; i++) printf("%s%.3f", i ? "," : "", s[i]);
    printf("],");
  } else {
    printf("{");
  }
  qsort(s, (size_t)iterations, sizeof *s, cmp_double);
  printf("\"bench\":\"ofd-handoff-c\",\"mode\":\"%s\",\"dir\":\"%s\",\"iterations\":%ld,"
         "\"median_us\":%.2f,\"p99_us\":%.2f,\"max_us\":%.2f}\n",
         mode_names[mode], dir, iterations, s[iterations / 2], s[(size_t)((double)(iterations - 1) * 0.99)],
         s[iterations - 1]);
  return 0;
}

/*
 * C baseline for cross-process OFD lock handoff latency (see DESIGN.md §3):
 * the time from the holder's F_UNLCK to the waiter's F_OFD_SETLKW returning
 * in another process.
 *
 * Two processes, one lock file, each with its own open file description.
 * Each round: the parent holds the lock; the child blocks in F_OFD_SETLKW;
 * the parent makes sure the child is really asleep in the kernel (it reads
 * /proc/<child>/syscall), stores t0 = CLOCK_MONOTONIC in shared memory and
 * unlocks; the child, once granted, reads the clock (t1) and records t1 - t0,
 * unlocks and tells the parent, which re-locks for the next round.
 *
 * Build:  cc -O2 -Wall -Wextra -o ofd-handoff ofd-handoff.c   (or: make -C bench/c)
 * With `protocol`, both sides run deadbolt's LockDirectory protocol (DESIGN.md §3)
 * in C instead of a bare lock/unlock: the holder releases by lstat+fstat, unlink,
 * close; the waiter, woken on the now-orphan inode, re-checks (lstat+fstat), closes,
 * opens (creating) the fresh file, locks it, re-checks, takes a fencing token from a
 * counter file (lock, pread, pwrite, unlock) and writes a ~200-byte holder record,
 * and only then reads t1: the floor for a LockDirectory hand-off done natively.
 *
 * Usage:  ofd-handoff [ITERATIONS] [DIR] [samples] [protocol]   (defaults: 2000, /dev/shm)
 * Prints one JSON line: median, p99 and max in microseconds; with `samples`, also
 * every sample ("samples":[...], in run order), so a caller can pool several runs.
 */
#define _GNU_SOURCE
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


/* ---- the LockDirectory protocol, in C (mode `protocol`) ---- */
static int counter_fd = -1;
static char record[205];

static int same_file(int fd, const char *path) {
  struct stat sp, sf;
  if (lstat(path, &sp) != 0) return 0;
  if (fstat(fd, &sf) != 0) die("fstat");
  return sf.st_dev == sp.st_dev && sf.st_ino == sp.st_ino && sf.st_nlink > 0;
}

static void open_counter(const char *dir) {
  char cpath[4096];
  snprintf(cpath, sizeof cpath, "%s/.ofd-handoff-tokens", dir);
  counter_fd = open(cpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (counter_fd < 0) die("open counter");
  memset(record, 'r', sizeof record - 1);
  record[sizeof record - 2] = '\n';
}

static void token_and_record(int fd) {
  char buf[22];
  if (lk(counter_fd, F_OFD_SETLKW, F_WRLCK) != 0) die("counter lock");
  ssize_t n = pread(counter_fd, buf, 21, 0);
  if (n < 0) die("pread");
  buf[n > 0 ? n : 0] = '\0';
  unsigned long long v = n > 0 ? strtoull(buf, NULL, 10) : 0;
  snprintf(buf, sizeof buf, "%020llu\n", v + 1);
  if (pwrite(counter_fd, buf, 21, 0) != 21) die("pwrite counter");
  if (lk(counter_fd, F_OFD_SETLK, F_UNLCK) != 0) die("counter unlock");
  if (pwrite(fd, record, sizeof record - 1, 0) != (ssize_t)(sizeof record - 1)) die("pwrite record");
}

static int open_lock_file(const char *path) {
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) die("open");
  return fd;
}

/* `fd` was just granted: make sure it is the file at `path` (else retry), then token + record. */
static int proto_granted(int fd, const char *path) {
  while (!same_file(fd, path)) {
    close(fd);
    fd = open_lock_file(path);
    if (lk(fd, F_OFD_SETLKW, F_WRLCK) != 0) die("F_OFD_SETLKW (retry)");
  }
  token_and_record(fd);
  return fd;
}

static void proto_release(int fd, const char *path) {
  if (!same_file(fd, path)) { fprintf(stderr, "ofd-handoff: protocol breach\\n"); exit(1); }
  if (unlink(path) != 0) die("unlink");
  close(fd);
}

int main(int argc, char **argv) {
  long iterations = argc > 1 ? atol(argv[1]) : 2000;
  const char *dir = argc > 2 ? argv[2] : "/dev/shm";
  int with_samples = 0, protocol = 0;
  for (int a = 3; a < argc; a++) {
    if (strcmp(argv[a], "samples") == 0) with_samples = 1;
    else if (strcmp(argv[a], "protocol") == 0) protocol = 1;
    else { fprintf(stderr, "usage: %s [ITERATIONS] [DIR] [samples] [protocol]\n", argv[0]); return 2; }
  }
  if (iterations < 1) iterations = 1;
  char path[4096];
  snprintf(path, sizeof path, "%s/ofd-handoff-%d.lock", dir, (int)getpid());

  struct shared *sh = mmap(NULL, sizeof *sh + (size_t)iterations * sizeof(double),
                           PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (sh == MAP_FAILED) die("mmap");
  int to_parent[2], to_child[2];
  if (pipe(to_parent) != 0 || pipe(to_child) != 0) die("pipe");

  int pfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (pfd < 0) die("open");
  if (lk(pfd, F_OFD_SETLK, F_WRLCK) != 0) die("initial lock");
  if (protocol) open_counter(dir), token_and_record(pfd);

  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    int cfd = protocol ? -1 : open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (!protocol && cfd < 0) die("child open");
    /* Its own open file descriptions: an inherited copy of the holder's fd would keep the
       holder's lock alive after the holder closes its fd. */
    if (protocol) { close(pfd); close(counter_fd); open_counter(dir); }
    char byte = 'r';
    for (long i = 0; i < iterations; i++) {
      if (read(to_child[0], &byte, 1) != 1) _exit(1); /* "go wait" */
      if (protocol) {
        cfd = open_lock_file(path);
        if (lk(cfd, F_OFD_SETLKW, F_WRLCK) != 0) die("F_OFD_SETLKW");
        cfd = proto_granted(cfd, path);
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

  char byte = 'g';
  for (long i = 0; i < iterations; i++) {
    if (write(to_child[1], &byte, 1) != 1) die("write");
    while (!blocked_in_setlkw(child)) usleep(50);
    sh->t0 = now_us();
    if (protocol) {
      proto_release(pfd, path);
      if (read(to_parent[0], &byte, 1) != 1) die("read");
      pfd = open_lock_file(path);
      if (lk(pfd, F_OFD_SETLK, F_WRLCK) != 0) die("relock");
      pfd = proto_granted(pfd, path);
      continue;
    }
    if (lk(pfd, F_OFD_SETLK, F_UNLCK) != 0) die("unlock");
    if (read(to_parent[0], &byte, 1) != 1) die("read");
    if (lk(pfd, F_OFD_SETLK, F_WRLCK) != 0) die("relock");
  }
  int status;
  waitpid(child, &status, 0);
  unlink(path);
  if (protocol) {
    char cpath[4096];
    snprintf(cpath, sizeof cpath, "%s/.ofd-handoff-tokens", dir);
    unlink(cpath);
  }

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
         protocol ? "protocol" : "bare", dir, iterations, s[iterations / 2], s[(size_t)((double)(iterations - 1) * 0.99)],
         s[iterations - 1]);
  return 0;
}

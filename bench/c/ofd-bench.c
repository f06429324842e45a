/*
 * C baseline for deadbolt's OFD lock costs (see DESIGN.md §3).
 *
 *   (a) lock_unlock: F_OFD_SETLK write lock + F_UNLCK on an already open fd,
 *       timed in batches of 100 (a clock read is ~20 ns, the op ~1 µs);
 *   (b) named_cycle: the full delete-on-release cycle on a fresh name:
 *       open(O_RDWR|O_CREAT|O_CLOEXEC|O_NOFOLLOW), F_OFD_SETLK write,
 *       fstat(fd) + lstat(path) compare (dev, ino, nlink), unlink, F_UNLCK,
 *       close — each cycle timed on its own;
 *   (c) lockdir_cycle: the system calls deadbolt's LockDirectory.acquire +
 *       release make (strace'd from dist/, see docs/performance.md): open,
 *       F_OFD_SETLK, lstat + fstat; the fencing token (F_OFD_SETLK on the
 *       directory's counter file, kept open, pread 21 B, pwrite 21 B, F_UNLCK);
 *       the holder record (pwrite ~200 B at offset 0); at release lstat + fstat,
 *       unlink, close (which drops the lock) — the floor for what (c) costs.
 *   Then both cycles once more with a clock read between steps: the median of
 *   each step (steps_b, steps_c) says which system call costs what.
 *
 * Build:  cc -O2 -Wall -Wextra -o ofd-bench ofd-bench.c   (or: make -C bench/c)
 * Usage:  ofd-bench DIR [ITERATIONS]     e.g. ofd-bench /dev/shm 20000
 * Prints one JSON line; times are medians (and p99) in microseconds.
 * Step medians include one clock read (~20-30 ns) each.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#ifndef F_OFD_SETLK
#define F_OFD_SETLK 37
#endif

#define BATCH 100

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p) {
  qsort(v, n, sizeof *v, cmp_double);
  size_t i = (size_t)(p * (double)(n - 1));
  return v[i];
}

static int setlk(int fd, short type) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  return fcntl(fd, F_OFD_SETLK, &fl);
}

static void die(const char *what) {
  fprintf(stderr, "ofd-bench: %s: %s\n", what, strerror(errno));
  exit(1);
}

static const char *fs_name(const char *dir) {
  struct statfs sf;
  if (statfs(dir, &sf) != 0) return "unknown";
  switch ((unsigned long)sf.f_type) {
    case 0x01021994UL: return "tmpfs";
    case 0xEF53UL: return "ext4";
    case 0x9123683EUL: return "btrfs";
    case 0x58465342UL: return "xfs";
    case 0x794c7630UL: return "overlayfs";
    default: return "other";
  }
}


static double median_of(double *v, size_t n) { return pct(v, n, 0.5); }

static void check_identity(int f, const char *path) {
  struct stat sf, sp;
  if (lstat(path, &sp) != 0 || fstat(f, &sf) != 0) die("stat");
  if (sf.st_dev != sp.st_dev || sf.st_ino != sp.st_ino || sf.st_nlink == 0) {
    fprintf(stderr, "ofd-bench: identity mismatch\n");
    exit(1);
  }
}

/* A holder record of the size deadbolt writes (~204 bytes for a short name). */
static char record[205];
static char counter_buf[22];

/* The fencing token: lock the counter, read, increment, write, unlock. */
static void next_token(int cfd) {
  if (setlk(cfd, F_WRLCK) != 0) die("counter F_OFD_SETLK");
  ssize_t n = pread(cfd, counter_buf, 21, 0);
  if (n < 0) die("pread");
  counter_buf[n > 0 ? n : 0] = '\0';
  unsigned long long v = n > 0 ? strtoull(counter_buf, NULL, 10) : 0;
  snprintf(counter_buf, sizeof counter_buf, "%020llu\n", v + 1);
  if (pwrite(cfd, counter_buf, 21, 0) != 21) die("pwrite");
  if (setlk(cfd, F_UNLCK) != 0) die("counter F_UNLCK");
}

/* (c) one LockDirectory-equivalent cycle; `t` (if not NULL) gets step times. */
enum { C_OPEN, C_LOCK, C_CHECK, C_TOKEN, C_RECORD, C_RECHECK, C_UNLINK, C_CLOSE, C_STEPS };
static const char *c_step_names[C_STEPS] = {"open", "lock", "lstat+fstat", "token(lock,pread,pwrite,unlock)",
                                            "record pwrite", "lstat+fstat (release)", "unlink", "close"};
static void lockdir_cycle(const char *path, int cfd, double *t) {
  double s = t ? now_us() : 0, e;
#define STEP(i) do { if (t) { e = now_us(); t[i] = e - s; s = e; } } while (0)
  int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (f < 0) die("open");
  STEP(C_OPEN);
  if (setlk(f, F_WRLCK) != 0) die("F_OFD_SETLK");
  STEP(C_LOCK);
  check_identity(f, path);
  STEP(C_CHECK);
  next_token(cfd);
  STEP(C_TOKEN);
  if (pwrite(f, record, sizeof record - 1, 0) != (ssize_t)(sizeof record - 1)) die("pwrite record");
  STEP(C_RECORD);
  check_identity(f, path);
  STEP(C_RECHECK);
  if (unlink(path) != 0) die("unlink");
  STEP(C_UNLINK);
  close(f);
  STEP(C_CLOSE);
}

/* (b) one named cycle; `t` (if not NULL) gets step times. */
enum { B_OPEN, B_LOCK, B_CHECK, B_UNLINK, B_UNLOCK, B_CLOSE, B_STEPS };
static const char *b_step_names[B_STEPS] = {"open", "lock", "fstat+lstat", "unlink", "unlock", "close"};
static void named_cycle(const char *path, double *t) {
  double s = t ? now_us() : 0, e;
  int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (f < 0) die("open");
  STEP(B_OPEN);
  if (setlk(f, F_WRLCK) != 0) die("F_OFD_SETLK");
  STEP(B_LOCK);
  check_identity(f, path);
  STEP(B_CHECK);
  if (unlink(path) != 0) die("unlink");
  STEP(B_UNLINK);
  if (setlk(f, F_UNLCK) != 0) die("F_UNLCK");
  STEP(B_UNLOCK);
  close(f);
  STEP(B_CLOSE);
#undef STEP
}

/* Print {"name":median,...} of per-step samples (steps x iterations, step-major). */
static void print_steps(const char *key, const char **names, int steps, double *v, size_t n) {
  printf(",\"%s\":{", key);
  for (int i = 0; i < steps; i++) printf("%s\"%s\":%.3f", i ? "," : "", names[i], median_of(v + (size_t)i * n, n));
  printf("}");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s DIR [ITERATIONS]\n", argv[0]);
    return 2;
  }
  const char *dir = argv[1];
  long iterations = argc > 2 ? atol(argv[2]) : 20000;
  if (iterations < BATCH) iterations = BATCH;
  char path[4096];

  /* (a) lock + unlock on an open fd */
  snprintf(path, sizeof path, "%s/ofd-bench-%d.lock", dir, (int)getpid());
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) die("open");
  size_t batches = (size_t)(iterations / BATCH);
  double *a = malloc(batches * sizeof *a);
  for (size_t w = 0; w < 1000; w++) { setlk(fd, F_WRLCK); setlk(fd, F_UNLCK); }
  for (size_t b = 0; b < batches; b++) {
    double t0 = now_us();
    for (int i = 0; i < BATCH; i++) {
      if (setlk(fd, F_WRLCK) != 0) die("F_OFD_SETLK");
      if (setlk(fd, F_UNLCK) != 0) die("F_UNLCK");
    }
    a[b] = (now_us() - t0) / BATCH;
  }
  close(fd);
  unlink(path);

  /* (b) the named cycle, a fresh name each time (as a lock directory sees it) */
  double *c = malloc((size_t)iterations * sizeof *c);
  for (long i = -1000; i < iterations; i++) { /* 1000 warm-up cycles */
    snprintf(path, sizeof path, "%s/ofd-bench-%d-%ld.lock", dir, (int)getpid(), i & 63);
    double t0 = now_us();
    named_cycle(path, NULL);
    if (i >= 0) c[i] = now_us() - t0;
  }

  /* (c) LockDirectory's system calls: named cycle + token counter + holder record */
  memset(record, 'r', sizeof record - 1);
  record[sizeof record - 2] = '\n';
  char counter_path[4096];
  snprintf(counter_path, sizeof counter_path, "%s/.ofd-bench-tokens-%d", dir, (int)getpid());
  int cfd = open(counter_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (cfd < 0) die("open counter");
  double *d = malloc((size_t)iterations * sizeof *d);
  for (long i = -1000; i < iterations; i++) {
    snprintf(path, sizeof path, "%s/ofd-bench-%d-%ld.lock", dir, (int)getpid(), i & 63);
    double t0 = now_us();
    lockdir_cycle(path, cfd, NULL);
    if (i >= 0) d[i] = now_us() - t0;
  }

  /* Step breakdowns (separate pass: the clock reads would inflate the totals) */
  size_t ns = (size_t)(iterations < 5000 ? iterations : 5000);
  double *sb = malloc(B_STEPS * ns * sizeof *sb), *sc = malloc(C_STEPS * ns * sizeof *sc);
  double tb[B_STEPS], tc[C_STEPS];
  for (size_t i = 0; i < ns; i++) {
    snprintf(path, sizeof path, "%s/ofd-bench-%d-%zu.lock", dir, (int)getpid(), i & 63);
    named_cycle(path, tb);
    lockdir_cycle(path, cfd, tc);
    for (int k = 0; k < B_STEPS; k++) sb[(size_t)k * ns + i] = tb[k];
    for (int k = 0; k < C_STEPS; k++) sc[(size_t)k * ns + i] = tc[k];
  }
  close(cfd);
  unlink(counter_path);

  double a50 = pct(a, batches, 0.5);
  double c50 = pct(c, (size_t)iterations, 0.5), c99 = pct(c, (size_t)iterations, 0.99);
  double d50 = pct(d, (size_t)iterations, 0.5), d99 = pct(d, (size_t)iterations, 0.99);
  printf("{\"bench\":\"ofd-c\",\"dir\":\"%s\",\"fs\":\"%s\",\"iterations\":%ld,"
         "\"lock_unlock_us\":%.3f,\"named_cycle_us\":%.3f,\"named_cycle_p99_us\":%.3f,"
         "\"lockdir_cycle_us\":%.3f,\"lockdir_cycle_p99_us\":%.3f",
         dir, fs_name(dir), iterations, a50, c50, c99, d50, d99);
  print_steps("steps_b", b_step_names, B_STEPS, sb, ns);
  print_steps("steps_c", c_step_names, C_STEPS, sc, ns);
  printf("}\n");
  free(a);
  free(c);
  free(d);
  free(sb);
  free(sc);
  return 0;
}

/*
 * C baseline for deadbolt's OFD lock costs (see DESIGN.md §3).
 *
 *   (a) lock_unlock: F_OFD_SETLK write lock + F_UNLCK on an already open fd,
 *       timed in batches of 100 (a clock read is ~20 ns, the op ~1 µs);
 *   (b) named_cycle: the full delete-on-release cycle on a fresh name:
 *       open(O_RDWR|O_CREAT|O_CLOEXEC|O_NOFOLLOW), F_OFD_SETLK write,
 *       fstat(fd) + lstat(path) compare (dev, ino, nlink), unlink, F_UNLCK,
 *       close — each cycle timed on its own.
 *
 * Build:  cc -O2 -Wall -Wextra -o ofd-bench ofd-bench.c   (or: make -C bench/c)
 * Usage:  ofd-bench DIR [ITERATIONS]     e.g. ofd-bench /dev/shm 20000
 * Prints one JSON line; times are medians (and p99) in microseconds.
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
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (f < 0) die("open");
    if (setlk(f, F_WRLCK) != 0) die("F_OFD_SETLK");
    struct stat sf, sp;
    if (fstat(f, &sf) != 0 || lstat(path, &sp) != 0) die("stat");
    if (sf.st_dev != sp.st_dev || sf.st_ino != sp.st_ino || sf.st_nlink == 0) {
      fprintf(stderr, "ofd-bench: identity mismatch\n");
      return 1;
    }
    if (unlink(path) != 0) die("unlink");
    if (setlk(f, F_UNLCK) != 0) die("F_UNLCK");
    close(f);
    if (i >= 0) c[i] = now_us() - t0;
  }

  double a50 = pct(a, batches, 0.5);
  double c50 = pct(c, (size_t)iterations, 0.5), c99 = pct(c, (size_t)iterations, 0.99);
  printf("{\"bench\":\"ofd-c\",\"dir\":\"%s\",\"fs\":\"%s\",\"iterations\":%ld,"
         "\"lock_unlock_us\":%.3f,\"named_cycle_us\":%.3f,\"named_cycle_p99_us\":%.3f}\n",
         dir, fs_name(dir), iterations, a50, c50, c99);
  free(a);
  free(c);
  return 0;
}

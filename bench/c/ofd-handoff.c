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
 * Usage:  ofd-handoff [ITERATIONS] [DIR] [samples]   (defaults: 2000, /dev/shm)
 * Prints one JSON line: median, p99 and max in microseconds; with a third
 * argument `samples`, also every sample ("samples":[...], in run order), so a
 * caller can pool several runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

int main(int argc, char **argv) {
  long iterations = argc > 1 ? atol(argv[1]) : 2000;
  const char *dir = argc > 2 ? argv[2] : "/dev/shm";
  int with_samples = argc > 3 && strcmp(argv[3], "samples") == 0;
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

  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    int cfd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (cfd < 0) die("child open");
    char byte = 'r';
    for (long i = 0; i < iterations; i++) {
      if (read(to_child[0], &byte, 1) != 1) _exit(1); /* "go wait" */
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
    if (lk(pfd, F_OFD_SETLK, F_UNLCK) != 0) die("unlock");
    if (read(to_parent[0], &byte, 1) != 1) die("read");
    if (lk(pfd, F_OFD_SETLK, F_WRLCK) != 0) die("relock");
  }
  int status;
  waitpid(child, &status, 0);
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
  printf("\"bench\":\"ofd-handoff-c\",\"dir\":\"%s\",\"iterations\":%ld,"
         "\"median_us\":%.2f,\"p99_us\":%.2f,\"max_us\":%.2f}\n",
         dir, iterations, s[iterations / 2], s[(size_t)((double)(iterations - 1) * 0.99)],
         s[iterations - 1]);
  return 0;
}

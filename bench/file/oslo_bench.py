"""Python peers for bench/file.mjs: the real oslo.concurrency and fasteners.

Run with Debian's interpreter (/usr/bin/python3, packages python3-oslo.concurrency
and python3-fasteners), not a pyenv python3 that may be first on PATH.

  cycle   DIR N          N lock+release cycles of each, interleaved in chunks:
                         oslo:      with lockutils.lock(name, external=True, lock_path=DIR): pass
                         fasteners: with fasteners.InterProcessLock(DIR/name): pass   (one object, reused)
                         prints {"oslo": {...}, "fasteners": {...}} with median_us, p99_us.
  handoff DIR N WHICH [HOLD_MS]
                         cross-process hand-off latency, WHICH = oslo | fasteners:
                         the parent holds the lock; the forked child starts acquiring (it
                         polls: fasteners retries after 10 ms, 20 ms, ... up to 100 ms); once
                         the child is seen asleep between polls (/proc/<pid>/syscall), the
                         parent holds on for a uniformly random 0-HOLD_MS ms (default 10: the
                         release falls at a random point of the child's first 10 ms sleep;
                         0: right after the child's first failed try, the worst phase), reads
                         t0 = CLOCK_MONOTONIC and releases; the child reads t1 when granted.
                         prints {"samples": [us...], "median_us", "p99_us", "max_us"}.
"""
import json
import os
import random
import sys
import time

import fasteners
from oslo_concurrency import lockutils


def pct(values, p):
    s = sorted(values)
    if not s:
        return None
    rank = p / 100 * (len(s) - 1)
    lo = int(rank)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (rank - lo)


def summary(samples):
    return {"median_us": pct(samples, 50), "p99_us": pct(samples, 99), "n": len(samples)}


def cycle(directory, n):
    ipl = fasteners.InterProcessLock(os.path.join(directory, "fasteners-bench"))
    clock = time.perf_counter_ns

    def oslo(k, out):
        for _ in range(k):
            t = clock()
            with lockutils.lock("oslo-bench", external=True, lock_path=directory):
                pass
            out.append((clock() - t) / 1e3)

    def fast(k, out):
        for _ in range(k):
            t = clock()
            with ipl:
                pass
            out.append((clock() - t) / 1e3)

    oslo(200, [])  # warm-up
    fast(200, [])
    a, b = [], []
    chunk = 250
    while len(a) < n:
        k = min(chunk, n - len(a))
        oslo(k, a)
        fast(k, b)
    print(json.dumps({"oslo": summary(a), "fasteners": summary(b), "python": sys.version.split()[0]}))


SLEEPS = {35, 230, 23, 270, 7, 271}  # x86_64: nanosleep, clock_nanosleep, select, pselect6, poll, ppoll


def asleep(pid):
    try:
        with open(f"/proc/{pid}/syscall") as f:
            nr = f.read().split(" ", 1)[0]
        return nr.isdigit() and int(nr) in SLEEPS
    except OSError:
        return False


def handoff(directory, n, which, hold_ms=10.0):
    if which == "oslo":
        def lock():
            return lockutils.lock("handoff", external=True, lock_path=directory)
    else:
        path = os.path.join(directory, "fasteners-handoff")

        def lock(ipl=[]):
            # one InterProcessLock per process (as an application would keep it)
            if not ipl:
                ipl.append(fasteners.InterProcessLock(path))
            return ipl[0]

    go_r, go_w = os.pipe()
    back_r, back_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the waiter
        os.close(go_w)
        os.close(back_r)
        with os.fdopen(go_r, "rb", buffering=0) as go, os.fdopen(back_w, "wb", buffering=0) as back:
            while go.read(1) == b"g":
                with lock():
                    t1 = time.monotonic_ns()
                back.write(b"%d\n" % t1)
        os._exit(0)
    os.close(go_r)
    os.close(back_w)
    back = os.fdopen(back_r, "rb")
    rng = random.Random(1)
    samples = []
    for _ in range(n):
        with lock():
            os.write(go_w, b"g")
            while not asleep(pid):
                time.sleep(0.00005)
            time.sleep(rng.uniform(0, hold_ms / 1000))
            t0 = time.monotonic_ns()
        t1 = int(back.readline())
        samples.append((t1 - t0) / 1e3)
    os.write(go_w, b"x")
    os.close(go_w)
    os.waitpid(pid, 0)
    out = summary(samples)
    out.update({"samples": [round(s, 3) for s in samples], "max_us": max(samples), "which": which})
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1] == "cycle":
        cycle(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "handoff":
        handoff(sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5]) if len(sys.argv) > 5 else 10.0)
    else:
        sys.exit("usage: oslo_bench.py cycle DIR N | handoff DIR N oslo|fasteners [HOLD_MS]")

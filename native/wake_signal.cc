#include "wake_signal.h"

#if defined(__linux__)

#include <signal.h>

#include <atomic>
#include <mutex>

namespace deadbolt {
namespace {

// Process-wide: the addon's .so is loaded once per process, and every Node
// environment (main thread, worker_threads) shares this one handler.
std::mutex install_mutex;  // trivially destructible in libstdc++: safe at exit
std::atomic<int> installed_signal{0};

// Does nothing: its only job is to exist, so that the signal interrupts the
// blocked fcntl (EINTR) instead of killing the process. errno is untouched.
void OnWake(int) {}

bool IsFree(int sig) {
  struct sigaction old;
  if (sigaction(sig, nullptr, &old) != 0) return false;
  if (old.sa_flags & SA_SIGINFO) return false;  // someone's siginfo handler
  return old.sa_handler == SIG_DFL;              // not ignored, not handled
}

}  // namespace

int InstallWakeSignal() {
  int sig = installed_signal.load(std::memory_order_acquire);
  if (sig != 0) return sig;
  std::lock_guard<std::mutex> guard(install_mutex);
  sig = installed_signal.load(std::memory_order_relaxed);
  if (sig != 0) return sig;
  // SIGRTMAX-7 down to SIGRTMAX-14: eight candidates, all well above the
  // conventional SIGRTMIN+n picks and below Valgrind's SIGRTMAX.
  for (int candidate = SIGRTMAX - 7; candidate >= SIGRTMAX - 14; --candidate) {
    if (candidate < SIGRTMIN || !IsFree(candidate)) continue;
    struct sigaction sa;
    sa.sa_handler = OnWake;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: fcntl(F_OFD_SETLKW) must return EINTR
    if (sigaction(candidate, &sa, nullptr) != 0) continue;
    installed_signal.store(candidate, std::memory_order_release);
    return candidate;
  }
  return 0;
}

int WakeSignal() { return installed_signal.load(std::memory_order_acquire); }

}  // namespace deadbolt

#else  // !__linux__

namespace deadbolt {
int InstallWakeSignal() { return 0; }
int WakeSignal() { return 0; }
}  // namespace deadbolt

#endif

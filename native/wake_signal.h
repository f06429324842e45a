// The signal that interrupts a lock wait blocked in fcntl(F_OFD_SETLKW).
//
// Why a signal: a thread blocked in F_OFD_SETLKW is woken only by a grant or a
// signal (closing the fd does not wake it). Cancelling a wait sends this
// signal to the waiting thread with pthread_kill; its handler does nothing and
// is installed WITHOUT SA_RESTART, so the kernel returns EINTR from fcntl
// instead of restarting the wait, and the thread sees its cancel flag.
//
// Which signal: a real-time signal near the top of the range, SIGRTMAX-7 by
// default (57 on glibc/x86-64). Real-time signals have no name in Node
// (`process.on` cannot claim them), glibc reserves the two below SIGRTMIN,
// applications and librt timers conventionally take SIGRTMIN, SIGRTMIN+1, …,
// and Valgrind uses SIGRTMAX itself. If another library already installed a
// handler for (or ignores) a candidate, the next one down is tried; the chosen
// number is reported by nativeInfo(). Side effect: once installed, that signal
// sent to the whole process is harmless instead of fatal.
#ifndef DEADBOLT_WAKE_SIGNAL_H_
#define DEADBOLT_WAKE_SIGNAL_H_

namespace deadbolt {

// Installs the handler once per process (thread-safe, idempotent). Returns the
// signal number, or 0 when every candidate signal was already taken.
int InstallWakeSignal();

// The installed signal number, or 0 if InstallWakeSignal() has not succeeded.
int WakeSignal();

}  // namespace deadbolt

#endif  // DEADBOLT_WAKE_SIGNAL_H_

// Turns a Failure (grant.h) into the plain JavaScript Error that
// src/file/native.ts converts into NativeError / ConfigurationError with
// advice. Used for synchronous throws (addon.cc) and rejected grants
// (wait_pool.cc), so both carry the same fields.
#ifndef DEADBOLT_JS_ERROR_H_
#define DEADBOLT_JS_ERROR_H_

#if defined(__linux__)

#include <node_api.h>

#include "failure.h"

namespace deadbolt {

// An Error whose message is "<syscall>: <strerror>" (or the kind of refusal)
// and whose properties are: errno (number) and syscall (string) for a failed
// system call; unsafe ('symlink' | 'notRegular' | 'hardLinked' | 'foreignOwner' |
// 'worldWritable' | 'notLockFile') with nlink, uid or mode for a file the
// directory refuses to use; corrupt (the counter's content) for an unreadable
// token counter; file (the name in the directory) when known; and counter
// (true) when the token counter, not the lock file, failed.
napi_status FailureError(napi_env env, const Failure& f, napi_value* error);

}  // namespace deadbolt

#endif  // __linux__
#endif  // DEADBOLT_JS_ERROR_H_

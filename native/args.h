// Reading and answering N-API arguments, shared by addon.cc and lock_dir.cc.
// Every reader returns false with a JavaScript exception pending when an
// argument has the wrong type, so callers can simply return.
#ifndef DEADBOLT_ARGS_H_
#define DEADBOLT_ARGS_H_

#include <napi.h>

#if defined(__linux__)

#include <string.h>
#include <sys/types.h>

#include <cstdint>
#include <string>

#include "failure.h"
#include "js_error.h"

namespace deadbolt {

inline Napi::Value ThrowFailure(Napi::Env env, const Failure& f) {
  napi_value error;
  if (FailureError(env, f, &error) == napi_ok) napi_throw(env, error);
  return env.Undefined();
}

inline Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall) {
  Failure f;
  Fail(&f, err, syscall);
  return ThrowFailure(env, f);
}

inline Napi::Value ThrowType(Napi::Env env, const char* message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

inline bool GetFd(const Napi::Value& value, int* fd) {
  if (!value.IsNumber() || value.As<Napi::Number>().Int32Value() < 0) {
    ThrowType(value.Env(), "fd must be a non-negative integer");
    return false;
  }
  *fd = value.As<Napi::Number>().Int32Value();
  return true;
}

// A descriptor, or -1 for none.
inline bool GetFdOrNone(const Napi::Value& value, int* fd) {
  if (!value.IsNumber() || value.As<Napi::Number>().Int32Value() < -1) {
    ThrowType(value.Env(), "fd must be a non-negative integer or -1");
    return false;
  }
  *fd = value.As<Napi::Number>().Int32Value();
  return true;
}

// A file name in a directory: a non-empty string without NUL or '/', so that
// it can never reach outside the directory descriptor it is used with.
inline bool GetName(const Napi::Value& value, std::string* name) {
  if (!value.IsString()) {
    ThrowType(value.Env(), "name must be a string");
    return false;
  }
  *name = value.As<Napi::String>().Utf8Value();
  if (name->empty() || name->find('\0') != std::string::npos || name->find('/') != std::string::npos ||
      *name == "." || *name == "..") {
    ThrowType(value.Env(), "name must be a file name (non-empty, no NUL or '/', not . or ..)");
    return false;
  }
  return true;
}

inline bool GetBool(const Napi::Value& value, bool* out) {
  if (!value.IsBoolean()) {
    ThrowType(value.Env(), "expected a boolean");
    return false;
  }
  *out = value.As<Napi::Boolean>().Value();
  return true;
}

inline bool GetMode(const Napi::Value& value, mode_t* mode) {
  if (!value.IsNumber()) {
    ThrowType(value.Env(), "mode must be a number");
    return false;
  }
  *mode = static_cast<mode_t>(value.As<Napi::Number>().Uint32Value() & 07777);
  return true;
}

// [fd, token]: token a BigInt, or null when none was taken.
inline Napi::Value Granted(Napi::Env env, int fd, bool has_token, uint64_t token) {
  Napi::Array pair = Napi::Array::New(env, 2);
  pair.Set(0u, Napi::Number::New(env, fd));
  pair.Set(1u, has_token ? Napi::Value(Napi::BigInt::New(env, token)) : env.Null());
  return pair;
}

}  // namespace deadbolt

#endif  // __linux__
#endif  // DEADBOLT_ARGS_H_

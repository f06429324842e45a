// See js_error.h.
#if defined(__linux__)

#include "js_error.h"

#include <string.h>

#include <string>

namespace deadbolt {
namespace {

napi_status SetString(napi_env env, napi_value object, const char* key, const std::string& text) {
  napi_value value;
  napi_status st = napi_create_string_utf8(env, text.data(), text.size(), &value);
  return st == napi_ok ? napi_set_named_property(env, object, key, value) : st;
}

napi_status SetTrue(napi_env env, napi_value object, const char* key) {
  napi_value value;
  napi_status st = napi_get_boolean(env, true, &value);
  return st == napi_ok ? napi_set_named_property(env, object, key, value) : st;
}

}  // namespace

napi_status FailureError(napi_env env, const Failure& f, napi_value* error) {
  std::string message;
  switch (f.kind) {
    case Failure::kErrno:
      message = std::string(f.syscall) + ": " + strerror(f.err);
      break;
    case Failure::kNotRegular:
      message = "not a regular file";
      break;
    case Failure::kCorruptCounter:
      message = "corrupt token counter";
      break;
  }
  napi_value text;
  napi_status st = napi_create_string_utf8(env, message.data(), message.size(), &text);
  if (st == napi_ok) st = napi_create_error(env, nullptr, text, error);
  if (st != napi_ok) return st;
  if (f.kind == Failure::kErrno) {
    napi_value err;
    st = napi_create_int32(env, f.err, &err);
    if (st == napi_ok) st = napi_set_named_property(env, *error, "errno", err);
    if (st == napi_ok) st = SetString(env, *error, "syscall", f.syscall);
  } else if (f.kind == Failure::kNotRegular) {
    st = SetTrue(env, *error, "notRegular");
  } else {
    st = SetString(env, *error, "corrupt", f.corrupt);
  }
  if (st == napi_ok && f.counter) st = SetTrue(env, *error, "counter");
  return st;
}

}  // namespace deadbolt

#endif  // __linux__

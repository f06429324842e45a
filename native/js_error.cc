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

napi_status SetNumber(napi_env env, napi_value object, const char* key, double number) {
  napi_value value;
  napi_status st = napi_create_double(env, number, &value);
  return st == napi_ok ? napi_set_named_property(env, object, key, value) : st;
}

napi_status SetTrue(napi_env env, napi_value object, const char* key) {
  napi_value value;
  napi_status st = napi_get_boolean(env, true, &value);
  return st == napi_ok ? napi_set_named_property(env, object, key, value) : st;
}

// The `unsafe` word of a refusal, or null for the other kinds.
const char* UnsafeWord(Failure::Kind kind) {
  switch (kind) {
    case Failure::kSymlink: return "symlink";
    case Failure::kNotRegular: return "notRegular";
    case Failure::kHardLinked: return "hardLinked";
    case Failure::kForeignOwner: return "foreignOwner";
    case Failure::kWorldWritable: return "worldWritable";
    case Failure::kNotLockFile: return "notLockFile";
    default: return nullptr;
  }
}

napi_status SetDetails(napi_env env, napi_value error, const Failure& f) {
  napi_status st = napi_ok;
  if (f.kind == Failure::kErrno) {
    st = SetNumber(env, error, "errno", f.err);
    if (st == napi_ok) st = SetString(env, error, "syscall", f.syscall);
  } else if (f.kind == Failure::kCorruptCounter) {
    st = SetString(env, error, "corrupt", f.corrupt);
  } else {
    st = SetString(env, error, "unsafe", UnsafeWord(f.kind));
    if (st == napi_ok && f.kind == Failure::kHardLinked) st = SetNumber(env, error, "nlink", static_cast<double>(f.nlink));
    if (st == napi_ok && f.kind == Failure::kForeignOwner) st = SetNumber(env, error, "uid", f.uid);
    if (st == napi_ok && f.kind == Failure::kWorldWritable) st = SetNumber(env, error, "mode", f.mode);
  }
  if (st == napi_ok && !f.file.empty()) st = SetString(env, error, "file", f.file);
  if (st == napi_ok && f.counter) st = SetTrue(env, error, "counter");
  return st;
}

}  // namespace

napi_status FailureError(napi_env env, const Failure& f, napi_value* error) {
  std::string message;
  if (f.kind == Failure::kErrno) {
    message = std::string(f.syscall) + ": " + strerror(f.err);
  } else if (f.kind == Failure::kCorruptCounter) {
    message = "corrupt token counter";
  } else {
    message = std::string("refused: ") + UnsafeWord(f.kind);
  }
  napi_value text;
  napi_status st = napi_create_string_utf8(env, message.data(), message.size(), &text);
  if (st == napi_ok) st = napi_create_error(env, nullptr, text, error);
  if (st != napi_ok) return st;
  return SetDetails(env, *error, f);
}

}  // namespace deadbolt

#endif  // __linux__

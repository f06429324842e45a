// The process-wide lock table (protocol in thread_locks.h).
#include "thread_locks.h"

#include <node_api.h>

#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace deadbolt {
namespace {

struct Client;

struct Request {
  double id;
  Client* client;
  std::string key;
  int64_t weight;
  bool held = false;
  std::list<Request*>::iterator pos;  // in its entry's held list or queue
};

struct Entry {
  int64_t capacity;
  int64_t used = 0;
  std::list<Request*> held;   // grant order
  std::list<Request*> queue;  // FIFO
};

// One per Node environment. Freed by its thread-safe function's finalizer,
// after it left the table.
struct Client {
  uint32_t id = 0;  // set by tlClientId
  napi_threadsafe_function tsfn = nullptr;
  napi_ref listener = nullptr;
  std::vector<double> events;  // +id granted, -id stolen; guarded by the table mutex
  bool woken = false;          // a thread-safe call is on its way; guarded by the table mutex
};

struct Table {
  std::mutex mu;
  std::unordered_map<std::string, Entry> entries;
  std::unordered_map<double, Request*> requests;
  double next_id = 1;
};

// Never destroyed: a worker's cleanup hook may run while the process exits.
Table& T() {
  static Table* table = new Table;
  return *table;
}

// Append an event for `to`; wake it unless it is the caller, who drains its own.
void Deliver(Client* to, double event, Client* self) {
  to->events.push_back(event);
  if (to != self && !to->woken) {
    to->woken = true;
    napi_call_threadsafe_function(to->tsfn, nullptr, napi_tsfn_nonblocking);
  }
}

// Grant the head of the queue while it fits (FIFO: a head that does not fit stops everyone behind it).
void Process(Entry& e, Client* self) {
  while (!e.queue.empty()) {
    Request* r = e.queue.front();
    if (e.used + r->weight > e.capacity) return;
    e.queue.pop_front();
    r->held = true;
    e.used += r->weight;
    r->pos = e.held.insert(e.held.end(), r);
    Deliver(r->client, r->id, self);
  }
}

// Take `r` out of its entry (held or queued), then let the queue move; drop an entry nobody uses.
void Remove(Table& t, Request* r, Client* self) {
  auto it = t.entries.find(r->key);
  Entry& e = it->second;
  if (r->held) {
    e.held.erase(r->pos);
    e.used -= r->weight;
  } else {
    e.queue.erase(r->pos);
  }
  t.requests.erase(r->id);
  delete r;
  Process(e, self);
  if (e.held.empty() && e.queue.empty()) t.entries.erase(it);
}

Client* Self(const Napi::CallbackInfo& info) { return static_cast<Client*>(info.Data()); }

double Ready(Client* self) { return static_cast<double>(self->events.size()); }

// tlRequest(key, capacity, weight, how) -> id > 0 granted, -id queued, 0 refused.
// how: 0 wait, 1 ifAvailable (never queued), 2 steal (every holder is displaced).
Napi::Value Request_(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsNumber()) {
    Napi::TypeError::New(env, "tlRequest(key, capacity, weight, how)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string key = info[0].As<Napi::String>().Utf8Value();
  int64_t capacity = info[1].As<Napi::Number>().Int64Value();
  int64_t weight = info[2].As<Napi::Number>().Int64Value();
  int how = info[3].As<Napi::Number>().Int32Value();
  Client* self = Self(info);
  Table& t = T();
  std::lock_guard<std::mutex> lock(t.mu);
  auto [it, created] = t.entries.try_emplace(key);
  Entry& e = it->second;
  if (created) {
    e.capacity = capacity;
  } else if (e.capacity != capacity) {
    // Several threads naming one semaphore with different permits is a bug in the caller.
    std::string message = "this name is in use with capacity " + std::to_string(e.capacity) + ", not " + std::to_string(capacity);
    Napi::RangeError::New(env, message).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  bool grantable = e.queue.empty() && e.used + weight <= capacity;
  if (how == 1 && !grantable) {
    if (created) t.entries.erase(it);
    return Napi::Number::New(env, 0);
  }
  Request* r = new Request{t.next_id++, self, key, weight, false, {}};
  t.requests.emplace(r->id, r);
  if (how == 2) {
    // The Web Locks steal: holders lose the lock at once (their callbacks go on running).
    for (Request* h : e.held) {
      Deliver(h->client, -h->id, self);
      t.requests.erase(h->id);
      delete h;
    }
    e.held.clear();
    e.used = 0;
    r->pos = e.queue.insert(e.queue.begin(), r);
  } else {
    r->pos = e.queue.insert(e.queue.end(), r);
  }
  // Grants that happen now are not also reported as events to the caller: it learns from the result.
  size_t before = self->events.size();
  Process(e, self);
  if (r->held) {
    for (size_t i = before; i < self->events.size(); i++) {
      if (self->events[i] == r->id) {
        self->events.erase(self->events.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      }
    }
  }
  return Napi::Number::New(env, r->held ? r->id : -r->id);
}

// The caller's events as a JS array (taken out of the table: the caller dispatches them now).
Napi::Value TakeEvents(Napi::Env env, std::vector<double>& events) {
  Napi::Array out = Napi::Array::New(env, events.size());
  for (size_t i = 0; i < events.size(); i++) out.Set(static_cast<uint32_t>(i), Napi::Number::New(env, events[i]));
  return out;
}

// tlRelease(id) -> 0 when the caller has no events, the event itself when it
// has one, else its events (as tlDrain returns them): a release that hands the
// lock to a request of the same thread (the queued path) then costs one call
// into the addon and no array, not two calls.
Napi::Value Release(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double id = info[0].As<Napi::Number>().DoubleValue();
  Client* self = Self(info);
  Table& t = T();
  std::vector<double> events;
  {
    std::lock_guard<std::mutex> lock(t.mu);
    auto it = t.requests.find(id);
    // Unknown: already released, or stolen (the holder learns that from its event).
    if (it != t.requests.end() && it->second->held && it->second->client == self) Remove(t, it->second, self);
    if (self->events.empty()) return Napi::Number::New(env, 0);
    self->woken = false;
    if (self->events.size() == 1) {
      double event = self->events.front();
      self->events.clear();  // keeps its capacity: the next grant appends without allocating
      return Napi::Number::New(env, event);
    }
    events.swap(self->events);
  }
  return TakeEvents(env, events);
}

// tlCancel(id) -> -1 when it was not waiting (granted meanwhile, or unknown), else
// how many events of the caller are ready to drain.
Napi::Value Cancel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double id = info[0].As<Napi::Number>().DoubleValue();
  Client* self = Self(info);
  Table& t = T();
  std::lock_guard<std::mutex> lock(t.mu);
  auto it = t.requests.find(id);
  if (it == t.requests.end() || it->second->held || it->second->client != self) return Napi::Number::New(env, -1);
  Remove(t, it->second, self);
  return Napi::Number::New(env, Ready(self));
}

// tlDrain() -> the caller's events (+id granted, -id stolen), oldest first.
Napi::Value Drain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Client* self = Self(info);
  std::vector<double> events;
  {
    std::lock_guard<std::mutex> lock(T().mu);
    events.swap(self->events);
    self->woken = false;
  }
  return TakeEvents(env, events);
}

// tlQuery(prefix) -> [key, weight == capacity, clientId, held] for every request whose key starts with prefix.
Napi::Value Query(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string prefix = info[0].As<Napi::String>().Utf8Value();
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  Table& t = T();
  std::lock_guard<std::mutex> lock(t.mu);
  auto add = [&](const Entry& e, const Request* r) {
    Napi::Array row = Napi::Array::New(env, 4);
    row.Set(0u, Napi::String::New(env, r->key));
    row.Set(1u, Napi::Boolean::New(env, r->weight == e.capacity));
    row.Set(2u, Napi::Number::New(env, r->client->id));
    row.Set(3u, Napi::Boolean::New(env, r->held));
    out.Set(n++, row);
  };
  for (const auto& [key, e] : t.entries) {
    if (key.compare(0, prefix.size(), prefix) != 0) continue;
    for (const Request* r : e.held) add(e, r);
    for (const Request* r : e.queue) add(e, r);
  }
  return out;
}

// tlListen(fn): fn() is called on this thread when events arrived from another thread.
Napi::Value Listen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Client* self = Self(info);
  if (!info[0].IsFunction()) {
    Napi::TypeError::New(env, "tlListen(fn)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (self->listener != nullptr) napi_delete_reference(env, self->listener);
  napi_create_reference(env, info[0], 1, &self->listener);
  return env.Undefined();
}

// tlKeepAlive(bool): while requests of this thread wait, its event loop stays alive.
Napi::Value KeepAlive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Client* self = Self(info);
  // napi_get_value_bool, not ToBoolean(): coercion runs JS, which a worker being
  // terminated can no longer do (and the failure would have to be thrown).
  bool keep = false;
  napi_get_value_bool(env, info[0], &keep);
  if (keep) napi_ref_threadsafe_function(env, self->tsfn);
  else napi_unref_threadsafe_function(env, self->tsfn);
  return env.Undefined();
}

// tlClientId(id): name this client in snapshots (the thread's threadId, unique in the process).
Napi::Value ClientId(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) return env.Undefined();
  std::lock_guard<std::mutex> lock(T().mu);
  Self(info)->id = info[0].As<Napi::Number>().Uint32Value();
  return env.Undefined();
}

void CallListener(napi_env env, napi_value /*js_cb*/, void* context, void* /*data*/) {
  Client* self = static_cast<Client*>(context);
  if (env == nullptr || self->listener == nullptr) return;
  napi_value fn, global, result;
  if (napi_get_reference_value(env, self->listener, &fn) != napi_ok || fn == nullptr) return;
  napi_get_global(env, &global);
  napi_call_function(env, global, fn, 0, nullptr, &result);  // a throw is an uncaught exception, as it should be
}

void FinalizeClient(napi_env /*env*/, void* data, void* /*hint*/) { delete static_cast<Client*>(data); }

// Environment cleanup (thread exit or termination): everything this thread held
// or waited for leaves the table, so that other threads move on.
void LeaveTable(void* arg) {
  Client* self = static_cast<Client*>(arg);
  Table& t = T();
  {
    std::lock_guard<std::mutex> lock(t.mu);
    // Ids, not pointers: removing one request may grant (and a later step remove) another.
    std::vector<double> waiting, held;
    for (const auto& [id, r] : t.requests) {
      if (r->client == self) (r->held ? held : waiting).push_back(id);
    }
    // Waiting ones first, so that releasing a held one never grants to this leaving thread;
    // one that a removal granted meanwhile is released with the held ones.
    for (double id : waiting) {
      auto it = t.requests.find(id);
      if (it != t.requests.end() && !it->second->held) Remove(t, it->second, self);
      else if (it != t.requests.end()) held.push_back(id);
    }
    for (double id : held) {
      auto it = t.requests.find(id);
      if (it != t.requests.end()) Remove(t, it->second, self);
    }
    self->events.clear();
  }
  napi_release_threadsafe_function(self->tsfn, napi_tsfn_abort);
}

}  // namespace

bool RegisterThreadLocks(Napi::Env env, Napi::Object exports) {
  Client* self = new Client;
  napi_value name;
  napi_create_string_utf8(env, "deadbolt:thread-locks", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, self, FinalizeClient, self, CallListener, &self->tsfn) != napi_ok) {
    delete self;
    Napi::Error::New(env, "deadbolt: could not set up thread-lock wake-ups").ThrowAsJavaScriptException();
    return false;
  }
  napi_unref_threadsafe_function(env, self->tsfn);
  // After the thread-safe function, so that this hook runs before its teardown.
  napi_add_env_cleanup_hook(env, LeaveTable, self);
  auto add = [&](const char* fname, Napi::Function::Callback cb) {
    exports.Set(fname, Napi::Function::New(env, cb, fname, self));
  };
  add("tlRequest", Request_);
  add("tlRelease", Release);
  add("tlCancel", Cancel);
  add("tlDrain", Drain);
  add("tlQuery", Query);
  add("tlListen", Listen);
  add("tlKeepAlive", KeepAlive);
  add("tlClientId", ClientId);
  return true;
}

}  // namespace deadbolt

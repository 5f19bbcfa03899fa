// CircuitBreakerSource: a per-remote "known down" state in front of an ObjectSource, so that a
// hung or unreachable server costs one timeout, not one per request (a FUSE `ls` over a hung
// server would otherwise wait out a timeout for every lookup, stat, open and read).
//
// States:
//   up    requests pass through. A request that ends in kUnavailable (after the inner source's
//         own retries: timeout, connection refused or dropped) trips the breaker: the remote is
//         down (logged once, at warn).
//   down  requests fail at once with kUnavailable naming the remote (Describe()), how long it
//         has been down and the error that tripped it; the inner source is not called. Once the
//         probe interval has passed since the trip (or the last failed probe), exactly one caller
//         is let through as a probe while the others keep failing at once. The probe's
//         kUnavailable keeps the remote down and doubles the interval (from
//         RemoteOptions::down_retry up to down_retry_max); any answer of the server closes the
//         breaker (logged once, at info).
// What counts:
//   kUnavailable                                       the remote is down
//   OK, kNotFound, kPermissionDenied, kCorruption,     the server answered: the remote is up
//   kFailedPrecondition
//   anything else (kInvalidArgument, ...)              says nothing about the remote (a probe
//                                                      that ends so frees the slot at once)
// For ReadV, a call whose every range failed kUnavailable counts as kUnavailable.
// Requests already in flight when the breaker trips are not cut short: they finish (retries
// included) and report like any other; one that succeeds while the remote is down closes the
// breaker, as a probe would.
//
// Why a decorator and not the retry layer: RetryTransient() is a stateless helper called per
// request inside each backend, while the breaker's state belongs to one remote and is shared by
// all its requests. As an ObjectSource wrapped around the backend by OpenObjectSource(), one
// implementation covers every backend (file://, XRootD, and the HTTP/S3 ones to come) without
// each of them threading state through its retries. The cost: the breaker sees a request only
// once the backend has given up, so the request that trips it and each probe take the full
// timeout x attempts (plus backoff); every other request during an outage fails in microseconds.
//
// Stats: Stats() (= Health(), so the layers above read it through the ObjectSource they hold).
//
// Thread-safety: thread-safe (see ObjectSource); Stats() may be
// called from any thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "remote/object_source.h"

namespace hoardfs {

struct CircuitBreakerOptions {
  std::chrono::milliseconds probe_interval{5000};       // first probe after a trip; > 0
  std::chrono::milliseconds max_probe_interval{60000};  // cap of the doubling interval

  static CircuitBreakerOptions From(const RemoteOptions& options);
};

using CircuitBreakerStats = RemoteHealth;

namespace circuit_breaker_internal {

// One breaker's counters (atomics: read without the breaker's lock).
struct Counters {
  std::atomic<uint64_t> trips{0};
  std::atomic<uint64_t> fast_failures{0};
  std::atomic<uint64_t> probes{0};
  std::atomic<int64_t> down_since_ns{0};  // steady_clock, ns since its epoch; 0 while up
};

inline CircuitBreakerStats Snapshot(const Counters& c) {
  CircuitBreakerStats s;
  s.trips = c.trips.load(std::memory_order_relaxed);
  s.fast_failures = c.fast_failures.load(std::memory_order_relaxed);
  s.probes = c.probes.load(std::memory_order_relaxed);
  const int64_t since = c.down_since_ns.load(std::memory_order_relaxed);
  if (since != 0) {
    s.down = true;
    const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count();
    s.down_seconds = static_cast<double>(now > since ? now - since : 0) / 1e9;
  }
  return s;
}

}  // namespace circuit_breaker_internal

class CircuitBreakerSource final : public ObjectSource {
 public:
  // REQUIRES: inner != nullptr; options.probe_interval > 0 (a smaller value is taken as 1 ms,
  // max_probe_interval below probe_interval as probe_interval).
  CircuitBreakerSource(std::unique_ptr<ObjectSource> inner, const CircuitBreakerOptions& options);
  ~CircuitBreakerSource() override = default;

  Result<ObjectInfo> Stat(const std::string& path) override;
  Result<ListPage> List(const std::string& dir, const std::string& page_token) override;
  bool lists_names_cheaply() const override { return inner_->lists_names_cheaply(); }
  Result<std::vector<std::string>> ListNames(const std::string& dir) override;
  Result<size_t> Read(const ObjectRef& ref, uint64_t offset, std::span<std::byte> out) override;
  Status ReadV(const ObjectRef& ref, std::span<ReadRange> ranges) override;
  // The inner source's description (the breaker is invisible in names and metrics labels).
  std::string Describe() const override { return description_; }

  CircuitBreakerStats Stats() const { return circuit_breaker_internal::Snapshot(counters_); }
  RemoteHealth Health() const override { return Stats(); }

 private:
  using Clock = std::chrono::steady_clock;
  enum class Pass { kNormal, kProbe };

  // Lets a request through (kNormal while up, kProbe for the one probe while down), or returns
  // the fast failure.
  Result<Pass> Admit();
  // Records the outcome of a request that Admit() let through.
  void Done(Pass pass, const Status& status);

  const std::unique_ptr<ObjectSource> inner_;
  const CircuitBreakerOptions options_;
  const std::string description_;
  circuit_breaker_internal::Counters counters_;

  mutable std::mutex mu_;                  // never held while calling inner_ or logging
  bool down_ = false;                      // GUARDED_BY(mu_)
  bool probing_ = false;                   // GUARDED_BY(mu_): a probe is in flight
  Clock::time_point down_since_;           // GUARDED_BY(mu_)
  Clock::time_point next_probe_;           // GUARDED_BY(mu_)
  std::chrono::milliseconds interval_{0};  // GUARDED_BY(mu_): the current probe interval
  Status trip_status_;                     // GUARDED_BY(mu_): the error that tripped it
  uint64_t fast_failures_at_trip_ = 0;     // GUARDED_BY(mu_): for the "back" log line
};

}  // namespace hoardfs

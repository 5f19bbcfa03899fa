#include "remote/circuit_breaker.h"

#include <spdlog/fmt/fmt.h>

#include <utility>

#include "common/log.h"

namespace hoardfs {
namespace {

using std::chrono::milliseconds;

enum class Outcome { kDown, kUp, kNeither };

Outcome Classify(const Status& status) {
  switch (status.code()) {
    case StatusCode::kUnavailable:
      return Outcome::kDown;
    case StatusCode::kOk:
    case StatusCode::kNotFound:
    case StatusCode::kPermissionDenied:
    case StatusCode::kCorruption:
    case StatusCode::kFailedPrecondition:
      return Outcome::kUp;
    default:
      return Outcome::kNeither;
  }
}

// ReadV reports per range: a call whose every range failed kUnavailable never reached a live
// server, even when the call itself is OK (the backend opened the file, then lost it).
Status ReadVOutcome(const Status& call, std::span<const ReadRange> ranges) {
  if (!call.ok() || ranges.empty()) return call;
  for (const ReadRange& r : ranges) {
    if (r.status.code() != StatusCode::kUnavailable) return call;
  }
  return ranges.front().status;
}

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

CircuitBreakerOptions CircuitBreakerOptions::From(const RemoteOptions& options) {
  CircuitBreakerOptions out;
  out.probe_interval = options.down_retry;
  out.max_probe_interval = options.down_retry_max;
  return out;
}

CircuitBreakerSource::CircuitBreakerSource(std::unique_ptr<ObjectSource> inner,
                                           const CircuitBreakerOptions& options)
    : inner_(std::move(inner)),
      options_([&] {
        CircuitBreakerOptions o = options;
        o.probe_interval = std::max(o.probe_interval, milliseconds(1));
        o.max_probe_interval = std::max(o.max_probe_interval, o.probe_interval);
        return o;
      }()),
      description_(inner_->Describe()) {}

Result<CircuitBreakerSource::Pass> CircuitBreakerSource::Admit() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!down_) return Pass::kNormal;
  const Clock::time_point now = Clock::now();
  if (!probing_ && now >= next_probe_) {
    probing_ = true;
    counters_.probes.fetch_add(1, std::memory_order_relaxed);
    return Pass::kProbe;
  }
  counters_.fast_failures.fetch_add(1, std::memory_order_relaxed);
  const std::string next = probing_
                               ? std::string("a probe is in flight")
                               : fmt::format("next probe in {:.1f} s", Seconds(next_probe_ - now));
  return Status::Unavailable(fmt::format("{}: remote down for {:.1f} s ({}); failing at once, {}",
                                         description_, Seconds(now - down_since_),
                                         trip_status_.message(), next));
}

void CircuitBreakerSource::Done(Pass pass, const Status& status) {
  const Outcome outcome = Classify(status);
  enum class Event { kNone, kTripped, kBack, kProbeFailed } event = Event::kNone;
  double down_for = 0;
  uint64_t failed_fast = 0;
  milliseconds interval{0};
  {
    std::lock_guard<std::mutex> lock(mu_);
    const Clock::time_point now = Clock::now();
    if (pass == Pass::kProbe) probing_ = false;
    if (outcome == Outcome::kUp && down_) {
      down_ = false;
      counters_.down_since_ns.store(0, std::memory_order_relaxed);
      event = Event::kBack;
      down_for = Seconds(now - down_since_);
      failed_fast =
          counters_.fast_failures.load(std::memory_order_relaxed) - fast_failures_at_trip_;
    } else if (outcome == Outcome::kDown && !down_) {
      down_ = true;
      down_since_ = now;
      interval_ = options_.probe_interval;
      next_probe_ = now + interval_;
      trip_status_ = status;
      fast_failures_at_trip_ = counters_.fast_failures.load(std::memory_order_relaxed);
      counters_.trips.fetch_add(1, std::memory_order_relaxed);
      const int64_t since_ns =
          std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
      counters_.down_since_ns.store(std::max<int64_t>(since_ns, 1), std::memory_order_relaxed);
      event = Event::kTripped;
      interval = interval_;
    } else if (outcome == Outcome::kDown && pass == Pass::kProbe) {
      // Still down: back off. A failure of a request that was in flight before the trip does
      // not move the schedule (it says nothing new).
      interval_ = std::min(interval_ * 2, options_.max_probe_interval);
      next_probe_ = now + interval_;
      event = Event::kProbeFailed;
      interval = interval_;
      down_for = Seconds(now - down_since_);
    }
  }
  switch (event) {
    case Event::kTripped:
      Logger("remote")->warn(
          "{} is down ({}); failing its requests at once, probing it after {:.1f} s, then at "
          "growing intervals up to {:.1f} s",
          description_, status.ToString(), Seconds(interval), Seconds(options_.max_probe_interval));
      break;
    case Event::kBack:
      Logger("remote")->info("{} is back after {:.1f} s down ({} requests failed at once)",
                             description_, down_for, failed_fast);
      break;
    case Event::kProbeFailed:
      Logger("remote")->debug("{} still down after {:.1f} s ({}); next probe in {:.1f} s",
                              description_, down_for, status.ToString(), Seconds(interval));
      break;
    case Event::kNone:
      break;
  }
}

Result<ObjectInfo> CircuitBreakerSource::Stat(const std::string& path) {
  HOARDFS_ASSIGN_OR_RETURN(const Pass pass, Admit());
  Result<ObjectInfo> r = inner_->Stat(path);
  Done(pass, r.status());
  return r;
}

Result<ListPage> CircuitBreakerSource::List(const std::string& dir, const std::string& page_token) {
  HOARDFS_ASSIGN_OR_RETURN(const Pass pass, Admit());
  Result<ListPage> r = inner_->List(dir, page_token);
  Done(pass, r.status());
  return r;
}

Result<std::vector<std::string>> CircuitBreakerSource::ListNames(const std::string& dir) {
  HOARDFS_ASSIGN_OR_RETURN(const Pass pass, Admit());
  Result<std::vector<std::string>> r = inner_->ListNames(dir);
  Done(pass, r.status());
  return r;
}

Result<size_t> CircuitBreakerSource::Read(const ObjectRef& ref, uint64_t offset,
                                          std::span<std::byte> out) {
  HOARDFS_ASSIGN_OR_RETURN(const Pass pass, Admit());
  Result<size_t> r = inner_->Read(ref, offset, out);
  Done(pass, r.status());
  return r;
}

Status CircuitBreakerSource::ReadV(const ObjectRef& ref, std::span<ReadRange> ranges) {
  Result<Pass> pass = Admit();
  if (!pass.ok()) {
    for (ReadRange& r : ranges) {
      r.bytes_read = 0;
      r.status = pass.status();
    }
    return pass.status();
  }
  const Status status = inner_->ReadV(ref, ranges);
  Done(*pass, ReadVOutcome(status, ranges));
  return status;
}

}  // namespace hoardfs

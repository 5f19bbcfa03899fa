// Bounded retries with exponential backoff and jitter, shared by the backends.
//
// Only kUnavailable is retried (server unreachable, timed out, connection dropped): NotFound,
// PermissionDenied, Corruption and the rest describe the request, not the moment, and are
// returned at once. Attempt k (k >= 1) that fails transiently sleeps
//   min(initial_backoff * 2^(k-1), max_backoff) * uniform(0.5, 1.5)
// before attempt k+1, up to max_attempts attempts in all. The last status is returned, with the
// number of attempts added to its message when more than one was made.
//
// Thread-safety: RetryPolicy is a value; RetryTransient() may run on any number of threads (the
// jitter generator is thread-local).
#pragma once

#include <chrono>
#include <string_view>
#include <type_traits>
#include <utility>

#include "common/result.h"
#include "remote/object_source.h"

namespace hoardfs {

struct RetryPolicy {
  unsigned max_attempts = 3;                       // >= 1 (0 is treated as 1)
  std::chrono::milliseconds initial_backoff{200};  // sleep after the first failure (before jitter)
  std::chrono::milliseconds max_backoff{10000};    // cap on one sleep (before jitter)

  static RetryPolicy From(const RemoteOptions& options);
};

// True for the codes RetryTransient() retries.
inline bool IsTransient(const Status& status) { return status.code() == StatusCode::kUnavailable; }

// The sleep before attempt `attempt + 1` after attempt `attempt` (1-based) failed, jitter included.
std::chrono::milliseconds BackoffDelay(const RetryPolicy& policy, unsigned attempt);

namespace retry_internal {
inline const Status& StatusOf(const Status& s) { return s; }
template <typename T>
const Status& StatusOf(const Result<T>& r) {
  return r.status();
}
// Sleeps and logs (at debug) that `what` failed transiently and will be retried.
void BeforeRetry(const RetryPolicy& policy, unsigned attempt, std::string_view what,
                 const Status& status);
Status Exhausted(unsigned attempts, const Status& status);
}  // namespace retry_internal

// Calls fn() (returning Status or Result<T>) until it succeeds, fails non-transiently, or
// policy.max_attempts attempts were made. `what` names the operation for logs ("stat /a").
template <typename Fn>
auto RetryTransient(const RetryPolicy& policy, std::string_view what, Fn&& fn)
    -> std::invoke_result_t<Fn&> {
  const unsigned attempts = policy.max_attempts == 0 ? 1 : policy.max_attempts;
  for (unsigned attempt = 1;; ++attempt) {
    auto result = fn();
    const Status& status = retry_internal::StatusOf(result);
    if (status.ok() || !IsTransient(status)) return result;
    if (attempt >= attempts) {
      if (attempts == 1) return result;
      return retry_internal::Exhausted(attempts, status);
    }
    retry_internal::BeforeRetry(policy, attempt, what, status);
  }
}

}  // namespace hoardfs

#include "remote/retry.h"

#include <algorithm>
#include <random>
#include <thread>

#include "common/log.h"

namespace hoardfs {

RetryPolicy RetryPolicy::From(const RemoteOptions& options) {
  RetryPolicy policy;
  policy.max_attempts = std::max(1u, options.max_attempts);
  policy.initial_backoff = options.initial_backoff;
  return policy;
}

std::chrono::milliseconds BackoffDelay(const RetryPolicy& policy, unsigned attempt) {
  // Doubling capped at max_backoff; the shift is bounded so it cannot overflow.
  const unsigned shift = std::min(attempt == 0 ? 0u : attempt - 1, 20u);
  const auto base = std::min(policy.initial_backoff * (int64_t{1} << shift), policy.max_backoff);
  // Jitter de-synchronises the clients of one recovering server (no thundering herd).
  thread_local std::minstd_rand rng(std::random_device{}());
  std::uniform_real_distribution<double> jitter(0.5, 1.5);
  return std::chrono::milliseconds(
      static_cast<int64_t>(static_cast<double>(base.count()) * jitter(rng)));
}

namespace retry_internal {

void BeforeRetry(const RetryPolicy& policy, unsigned attempt, std::string_view what,
                 const Status& status) {
  const auto delay = BackoffDelay(policy, attempt);
  Logger("remote")->debug("{}: attempt {} failed ({}); retrying in {} ms", what, attempt,
                          status.ToString(), delay.count());
  std::this_thread::sleep_for(delay);
}

Status Exhausted(unsigned attempts, const Status& status) {
  return status.WithContext("after " + std::to_string(attempts) + " attempts");
}

}  // namespace retry_internal
}  // namespace hoardfs

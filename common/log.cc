#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <atomic>
#include <mutex>

namespace hoardfs {
namespace {
std::mutex g_mu;
std::atomic<int> g_level{spdlog::level::info};
}  // namespace

std::shared_ptr<spdlog::logger> Logger(const std::string& subsystem) {
  if (auto existing = spdlog::get(subsystem)) return existing;
  std::lock_guard<std::mutex> lock(g_mu);
  if (auto existing = spdlog::get(subsystem)) return existing;
  auto logger = spdlog::stderr_color_mt(subsystem);
  logger->set_level(static_cast<spdlog::level::level_enum>(g_level.load()));
  return logger;
}

void SetLogLevel(spdlog::level::level_enum level) {
  g_level.store(level);
  spdlog::set_level(level);
}

}  // namespace hoardfs

// Logging: one spdlog logger per subsystem ("cache", "store", "remote", "fuse", "daemon"), all
// writing to the sink the daemon configures (stderr by default). Never log a secret.
// Thread-safety: loggers are thread-safe; Logger() may be called from any thread.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace hoardfs {

// The logger of a subsystem, created on first use with the current default sink and level.
std::shared_ptr<spdlog::logger> Logger(const std::string& subsystem);

// Sets the level of every existing and future subsystem logger ("trace".."off").
void SetLogLevel(spdlog::level::level_enum level);

}  // namespace hoardfs

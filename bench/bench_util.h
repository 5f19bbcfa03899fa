// Helpers shared by the cache benchmarks: timing, page-cache dropping, running a command (dd),
// parsing dd's summary, median/min/max. Header-only; bench/ code only.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace hoardfs::bench {

// The program name Die() prints; each benchmark's main sets it.
inline const char* g_program = "bench";

inline double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

[[noreturn]] inline void Die(const std::string& msg) {
  std::fprintf(stderr, "%s: %s\n", g_program, msg.c_str());
  std::exit(1);
}

inline std::string Fmt(const char* format, auto... args) {
  const int n = std::snprintf(nullptr, 0, format, args...);
  std::string out(n > 0 ? static_cast<size_t>(n) : 0, '\0');
  std::snprintf(out.data(), out.size() + 1, format, args...);
  return out;
}

inline std::string LoadAvg() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

inline bool DropPageCache() {
  if (geteuid() != 0) return false;
  sync();
  const int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = write(fd, "3", 1) == 1;
  close(fd);
  return ok;
}

inline std::string RunCommand(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

inline bool ParseDd(const std::string& out, double* bytes, double* seconds) {
  const size_t pos = out.rfind(" copied, ");
  if (pos == std::string::npos) return false;
  size_t line = out.rfind('\n', pos);
  line = line == std::string::npos ? 0 : line + 1;
  *bytes = std::strtod(out.c_str() + line, nullptr);
  *seconds = std::strtod(out.c_str() + pos + 9, nullptr);
  return *bytes > 0 && *seconds > 0;
}

struct Spread {
  double median = 0, min = 0, max = 0;
};

inline Spread Summarize(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  const double med = n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  return {med, v.front(), v.back()};
}

}  // namespace hoardfs::bench

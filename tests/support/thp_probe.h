// Test helpers: what backs a mapping of this process with transparent huge pages.
//   AnonHugeKb(start): kB of AnonHugePages of the mapping that starts at `start` (/proc/self/smaps;
//   0 when there is no such mapping).
//   ThpMode(): the first line of /sys/kernel/mm/transparent_hugepage/enabled ("" when absent);
//   ThpOff(mode): huge pages cannot back anything here (no sysfs entry, or "[never]").
#pragma once

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace hoardfs {

inline uint64_t AnonHugeKb(const void* start) {
  std::ifstream smaps("/proc/self/smaps");
  char head[32];
  std::snprintf(head, sizeof(head), "%lx-",
                static_cast<unsigned long>(reinterpret_cast<uintptr_t>(start)));
  std::string line;
  bool in = false;
  while (std::getline(smaps, line)) {
    if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) &&
        line.find('-') != std::string::npos && line.find(':') > line.find(' ')) {
      in = line.rfind(head, 0) == 0;
    } else if (in && line.rfind("AnonHugePages:", 0) == 0) {
      return std::strtoull(line.c_str() + 14, nullptr, 10);
    }
  }
  return 0;
}

inline std::string ThpMode() {
  std::ifstream thp("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string mode;
  std::getline(thp, mode);
  return mode;
}

inline bool ThpOff(const std::string& mode) {
  return mode.empty() || mode.find("[never]") != std::string::npos;
}

}  // namespace hoardfs

#include "remote/http/http_time.h"

#include <array>
#include <charconv>
#include <chrono>

namespace hoardfs::http {
namespace {

bool Number(std::string_view s, int* out) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

// Nanoseconds since the epoch of a UTC civil time, or nullopt if a field is out of range.
std::optional<int64_t> CivilToNs(int year, int month, int day, int hour, int minute, int second,
                                 int64_t nanos) {
  using namespace std::chrono;
  const year_month_day ymd{std::chrono::year(year),
                           std::chrono::month(static_cast<unsigned>(month)),
                           std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok() || hour > 23 || minute > 59 || second > 60 || hour < 0 || minute < 0 ||
      second < 0) {
    return std::nullopt;
  }
  const int64_t days = sys_days(ymd).time_since_epoch().count();
  return ((days * 24 + hour) * 60 + minute) * 60 * int64_t{1000000000} +
         int64_t{second} * 1000000000 + nanos;
}

}  // namespace

std::optional<int64_t> ParseHttpDate(std::string_view t) {
  // "Sun, 06 Nov 1994 08:49:37 GMT": fixed width, 29 characters.
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (t.size() != 29 || t[3] != ',' || t[4] != ' ' || t[7] != ' ' || t[11] != ' ' || t[16] != ' ' ||
      t[19] != ':' || t[22] != ':' || t.substr(25) != " GMT") {
    return std::nullopt;
  }
  int day = 0, year = 0, hour = 0, minute = 0, second = 0, month = 0;
  for (size_t i = 0; i < kMonths.size(); ++i) {
    if (t.substr(8, 3) == kMonths[i]) month = static_cast<int>(i) + 1;
  }
  if (month == 0 || !Number(t.substr(5, 2), &day) || !Number(t.substr(12, 4), &year) ||
      !Number(t.substr(17, 2), &hour) || !Number(t.substr(20, 2), &minute) ||
      !Number(t.substr(23, 2), &second)) {
    return std::nullopt;
  }
  return CivilToNs(year, month, day, hour, minute, second, 0);
}

std::optional<int64_t> ParseIso8601Utc(std::string_view t) {
  // "2009-10-12T17:50:30[.fff...]Z"
  if (t.size() < 20 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' || t[16] != ':' ||
      t.back() != 'Z') {
    return std::nullopt;
  }
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!Number(t.substr(0, 4), &year) || !Number(t.substr(5, 2), &month) ||
      !Number(t.substr(8, 2), &day) || !Number(t.substr(11, 2), &hour) ||
      !Number(t.substr(14, 2), &minute) || !Number(t.substr(17, 2), &second)) {
    return std::nullopt;
  }
  int64_t nanos = 0;
  std::string_view rest = t.substr(19, t.size() - 20);
  if (!rest.empty()) {
    if (rest[0] != '.' || rest.size() < 2 || rest.size() > 10) return std::nullopt;
    int64_t scale = 100000000;
    for (char c : rest.substr(1)) {
      if (c < '0' || c > '9') return std::nullopt;
      nanos += (c - '0') * scale;
      scale /= 10;
    }
  }
  return CivilToNs(year, month, day, hour, minute, second, nanos);
}

}  // namespace hoardfs::http

#include "remote/url.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace hoardfs {
namespace {

constexpr uint16_t kXRootDDefaultPort = 1094;

// Schemes ParseRemoteUrl() understands. Not all have a backend yet (OpenObjectSource decides).
bool IsKnownScheme(std::string_view s) {
  return IsXRootDScheme(s) || s == "file" || s == "s3" || s == "http" || s == "https" ||
         s == "dav" || s == "davs";
}

// What a message may show of the URL: everything but userinfo and query.
std::string Redacted(std::string_view url) {
  std::string out(url.substr(0, url.find('?')));
  const size_t scheme_end = out.find("://");
  if (scheme_end != std::string::npos) {
    const size_t auth_begin = scheme_end + 3;
    const size_t auth_end = out.find('/', auth_begin);
    const size_t at = out.rfind('@', auth_end == std::string::npos ? out.size() : auth_end);
    if (at != std::string::npos && at >= auth_begin) out.erase(auth_begin, at + 1 - auth_begin);
  }
  return out;
}

Status Bad(std::string_view url, std::string_view what) {
  std::string msg = Redacted(url);
  msg += ": ";
  msg += what;
  return Status::InvalidArgument(std::move(msg));
}

// Collapses repeated '/', drops a trailing '/', rejects "." and "..". `path` starts with '/'.
Result<std::string> NormalisePath(std::string_view url, std::string_view path) {
  std::string out;
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    if (i == path.size()) break;
    const size_t end = std::min(path.find('/', i), path.size());
    const std::string_view part = path.substr(i, end - i);
    if (part == "." || part == "..") return Bad(url, "'.' and '..' are not allowed in the path");
    out += '/';
    out += part;
    i = end;
  }
  if (out.empty()) out = "/";
  return out;
}

}  // namespace

bool IsXRootDScheme(std::string_view scheme) {
  return scheme == "root" || scheme == "xroot" || scheme == "roots" || scheme == "xroots";
}

uint16_t RemoteUrl::DefaultPort() const { return IsXRootDScheme(scheme) ? kXRootDDefaultPort : 0; }

uint16_t RemoteUrl::EffectivePort() const { return port != 0 ? port : DefaultPort(); }

std::string RemoteUrl::Describe() const {
  std::string out = scheme + "://" + host;
  const uint16_t p = EffectivePort();
  if (!host.empty() && p != 0) out += ":" + std::to_string(p);
  if (IsXRootDScheme(scheme)) out += "/";
  out += path;
  return out;
}

std::string RedactCredentials(std::string_view text) {
  auto ends_token = [](char c) {
    return std::isspace(static_cast<unsigned char>(c)) != 0 || c == '"' || c == '\'';
  };
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 3, "://") == 0) {
      // Userinfo password: "://user:password@host".
      out += "://";
      i += 3;
      size_t end = i;
      while (end < text.size() && text[end] != '/' && !ends_token(text[end])) ++end;
      const std::string_view authority = text.substr(i, end - i);
      const size_t at = authority.rfind('@');
      const size_t colon = authority.find(':');
      if (at != std::string_view::npos && colon != std::string_view::npos && colon < at) {
        out += authority.substr(0, colon + 1);
        out += "<redacted>";
        out += authority.substr(at);
      } else {
        out += authority;
      }
      i = end;
    } else if (text[i] == '?' && i + 1 < text.size() && !ends_token(text[i + 1])) {
      out += "?<redacted>";
      ++i;
      while (i < text.size() && !ends_token(text[i])) ++i;
    } else {
      out += text[i++];
    }
  }
  return out;
}

Result<RemoteUrl> ParseRemoteUrl(std::string_view url) {
  if (url.find('\0') != std::string_view::npos) return Bad(url, "contains a NUL byte");
  const size_t sep = url.find("://");
  if (sep == std::string_view::npos || sep == 0) return Bad(url, "missing 'scheme://'");
  RemoteUrl out;
  out.scheme = std::string(url.substr(0, sep));
  std::transform(out.scheme.begin(), out.scheme.end(), out.scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!IsKnownScheme(out.scheme)) return Bad(url, "unknown scheme '" + out.scheme + "'");

  std::string_view rest = url.substr(sep + 3);
  if (const size_t q = rest.find('?'); q != std::string_view::npos) {
    out.query = std::string(rest.substr(q + 1));
    rest = rest.substr(0, q);
  }
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);

  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    out.user = std::string(authority.substr(0, at));
    authority = authority.substr(at + 1);
  }
  // host[:port], host may be a bracketed IPv6 literal.
  std::string_view host = authority;
  std::string_view port;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return Bad(url, "unterminated '[' in the host");
    host = authority.substr(0, close + 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Bad(url, "unexpected text after ']'");
      has_port = true;
      port = after.substr(1);
    }
  } else if (const size_t colon = authority.find(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    has_port = true;
  }
  out.host = std::string(host);
  if (has_port) {
    if (port.empty()) return Bad(url, "empty port after ':'");
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size()) {
      return Bad(url, "port '" + std::string(port) + "' is not a number");
    }
    if (value == 0 || value > 65535) {
      return Bad(url, "port " + std::string(port) + " is out of range 1-65535");
    }
    out.port = static_cast<uint16_t>(value);
  }

  if (out.scheme == "file") {
    if (!out.user.empty() || has_port) return Bad(url, "file:// URLs take no user or port");
    if (!out.host.empty() && out.host != "localhost") {
      return Bad(url, "file:// URLs name no host other than localhost (use file:///path)");
    }
    out.host.clear();
    if (!out.query.empty()) return Bad(url, "file:// URLs take no query");
    if (path.empty()) return Bad(url, "missing the absolute path (file:///path)");
  } else {
    if (out.host.empty()) return Bad(url, "missing the host");
    if (IsXRootDScheme(out.scheme)) {
      // root://host//abs: the authority ends at the first '/', the path starts at the second.
      if (path.size() > 1 && path.substr(0, 2) != "//") {
        return Bad(url, "missing '//' before the path (root://host:port//path)");
      }
    }
    if (path.empty()) path = "/";
  }
  HOARDFS_ASSIGN_OR_RETURN(out.path, NormalisePath(url, path));
  return out;
}

}  // namespace hoardfs

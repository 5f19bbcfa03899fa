#include "remote/s3/s3_credentials.h"

#include <cerrno>
#include <fstream>
#include <iterator>
#include <sstream>

namespace hoardfs::s3 {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

Result<SigV4Credentials> ParseS3Credentials(std::string_view text, std::string_view name) {
  SigV4Credentials out;
  bool in_default = true;  // keys before any section belong to the default profile
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const std::string_view line = Trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      if (line.back() != ']') {
        return Status::InvalidArgument(std::string(name) + ":" + std::to_string(line_no) +
                                       ": unterminated [section]");
      }
      in_default = Trim(line.substr(1, line.size() - 2)) == "default";
      continue;
    }
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      return Status::InvalidArgument(std::string(name) + ":" + std::to_string(line_no) +
                                     ": expected 'key = value'");
    }
    if (!in_default) continue;
    const std::string_view key = Trim(line.substr(0, eq));
    const std::string_view value = Trim(line.substr(eq + 1));
    if (key == "aws_access_key_id") {
      out.access_key_id = value;
    } else if (key == "aws_secret_access_key") {
      out.secret_access_key = value;
    } else if (key == "aws_session_token") {
      out.session_token = value;
    }
  }
  if (out.access_key_id.empty() || out.secret_access_key.empty()) {
    return Status::InvalidArgument(std::string(name) +
                                   ": no aws_access_key_id and aws_secret_access_key in the "
                                   "[default] profile");
  }
  return out;
}

Result<SigV4Credentials> LoadS3CredentialsFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::FromErrno(errno, "S3 credentials file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > (1 << 20)) {
    return Status::InvalidArgument("S3 credentials file " + path + " is larger than 1 MiB");
  }
  return ParseS3Credentials(text.str(), path);
}

}  // namespace hoardfs::s3

// S3 credentials from a file, in the AWS shared `credentials` INI format (the file the AWS CLI
// writes), profile "default":
//
//   [default]
//   aws_access_key_id = AKIA...
//   aws_secret_access_key = ...
//   aws_session_token = ...        (optional)
//
// Lines starting with '#' or ';' are comments; keys before any [section] header count as the
// default profile, so a file holding only the two key lines works too. Other profiles and keys
// are ignored. Errors (unreadable file, missing keys, a line that is not `key = value`) are
// kInvalidArgument naming the file and the line number, never a value from it.
// The daemon reads the AWS_* environment variables itself (only daemon/ reads the environment)
// and passes them in S3Options.
//
// Thread-safety: pure functions (LoadS3CredentialsFile reads the file on each call).
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "remote/s3/sigv4.h"

namespace hoardfs::s3 {

// `name` is what messages call the text (the file's path).
Result<SigV4Credentials> ParseS3Credentials(std::string_view text, std::string_view name);
Result<SigV4Credentials> LoadS3CredentialsFile(const std::string& path);

}  // namespace hoardfs::s3

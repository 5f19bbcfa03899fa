// Streaming parsers of the two S3 documents hoardfs reads (S3 API reference: ListObjectsV2,
// Error responses), over the hardened XmlStream (remote/http/xml_stream.h: no DTDs or entities,
// size and depth limits, truncation detected).
//
// ListObjectsV2Parser reads <ListBucketResult> in the S3 namespace
// (http://s3.amazonaws.com/doc/2006-03-01/) or in none (some servers omit it); any other root or
// namespace is kCorruption. It keeps Contents (Key, Size, ETag with its quotes stripped,
// LastModified), CommonPrefixes/Prefix, IsTruncated and NextContinuationToken. A Contents without
// Key or with a Size that is not a number, a LastModified that is not ISO 8601, more than
// `max_entries` entries, or IsTruncated=true without a NextContinuationToken is kCorruption.
//
// S3ErrorCode() extracts <Error><Code> from an error body: a short token such as "AccessDenied"
// or "SignatureDoesNotMatch" ("" if the body is not such a document; characters other than
// letters and digits are dropped, at most 64 kept), safe to put in a message. The rest of an
// error document (Message, StringToSign, ...) is not used.
//
// Thread-safety: none; one parser per response.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "remote/http/xml_stream.h"

namespace hoardfs::s3 {

struct S3ListEntry {
  std::string key;
  uint64_t size = 0;
  std::string etag;      // quotes stripped
  int64_t mtime_ns = 0;  // 0 if absent
};

struct S3ListResult {
  std::vector<S3ListEntry> contents;
  std::vector<std::string> common_prefixes;
  bool is_truncated = false;
  std::string next_continuation_token;
};

class ListObjectsV2Parser {
 public:
  static constexpr size_t kDefaultMaxEntries = 100000;
  explicit ListObjectsV2Parser(size_t max_entries = kDefaultMaxEntries,
                               const http::XmlLimits& limits = {});
  ~ListObjectsV2Parser();
  ListObjectsV2Parser(const ListObjectsV2Parser&) = delete;
  ListObjectsV2Parser& operator=(const ListObjectsV2Parser&) = delete;

  Status Feed(std::string_view chunk);
  // The page, or the first error of the parse.
  Result<S3ListResult> Finish();

 private:
  class Handler;
  std::unique_ptr<Handler> handler_;
  std::unique_ptr<http::XmlStream> stream_;
};

std::string S3ErrorCode(std::string_view body);

// `etag` without surrounding double quotes (and without a weak "W/" prefix).
std::string StripETagQuotes(std::string_view etag);

}  // namespace hoardfs::s3

// HTTP status codes as Status kinds, shared by the HTTP-based backends so that every backend
// reports the same kind for the same answer:
//   2xx                             OK
//   401, 403                        kPermissionDenied (never retried)
//   404, 410                        kNotFound (never retried: a missing object costs one request)
//   412                             kFailedPrecondition (If-Match: the object changed)
//   408, 429, 5xx                   kUnavailable (retried with backoff by RetryTransient)
//   416                             kFailedPrecondition (the range lies past the object's end)
//   3xx (not followed)              kNotSupported (a redirect the backend cannot follow, e.g. an
//                                   S3 bucket in another region)
//   other 4xx                       kInvalidArgument (a request the server does not accept)
//   anything else (1xx, garbage)    kCorruption
// Thread-safety: pure functions.
#pragma once

#include <string_view>

#include "common/status.h"

namespace hoardfs::http {

// `what` says which request ("HEAD s3://bucket/key"); `detail` (may be empty) is added in
// parentheses, e.g. an S3 error code. The message is "<what>: HTTP <status> (<detail>)": it never
// contains a header value or a query string.
Status StatusFromHttp(long status, std::string_view what, std::string_view detail);

}  // namespace hoardfs::http

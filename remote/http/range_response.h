// The check of a ranged GET's response, shared by the HTTP backends (S3, WebDAV). It is two steps
// so that a backend can check the object's version where it needs to: S3 between them (its
// If-Match answer), WebDAV after both (ETag or size and Last-Modified).
//
// - CheckRangeStatus(): 412 and 416 are kFailedPrecondition ("<what>: HTTP <n>: the object
//   changed since it was opened"); 200 and 206 are OK; any other status is what the backend's
//   `error_of` makes of it (each backend reads its own error body).
// - CheckRangeBytes(), for a 200 or 206 to a GET of [offset, offset + length) of an object of
//   `size` bytes:
//     200 not for the whole object (offset 0, length == size == body bytes)  → kCorruption
//     206 without a Content-Range "bytes a-b/total" starting at `offset`     → kCorruption
//     206 whose total is not `size` (the object was replaced)                → kFailedPrecondition
//     206 whose range or body is not `length` bytes                          → kCorruption
//   Messages start with `what`; of the headers they show only the Content-Range (64 bytes).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/status.h"
#include "remote/http/http_client.h"

namespace hoardfs::http {

// The Status of a response that is not a success, as one backend reports it.
using ErrorOfResponse = Status (*)(std::string_view what, const HttpResponse& resp);

Status CheckRangeStatus(std::string_view what, const HttpResponse& resp, ErrorOfResponse error_of);

// REQUIRES: resp.status is 200 or 206 (CheckRangeStatus() was OK); length > 0.
Status CheckRangeBytes(std::string_view what, const HttpResponse& resp, uint64_t offset,
                       uint64_t length, uint64_t size);

}  // namespace hoardfs::http

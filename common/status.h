// Status: the outcome of an operation, as a value. Errors never cross layers as exceptions or
// errno; errno enters through FromErrno() at a syscall and leaves through ToErrno() at a FUSE reply.
//
// A Status is cheap to copy when OK (no allocation) and carries a code plus a human message
// otherwise. Thread-safety: a Status is a value; distinct objects may be used from any thread.
#pragma once

#include <string>
#include <string_view>

namespace hoardfs {

enum class StatusCode : unsigned char {
  kOk = 0,
  kNotFound,            // the object does not exist
  kInvalidArgument,     // bad input from the caller (config, URL, option)
  kIOError,             // a local I/O failure (disk, file)
  kCorruption,          // data or metadata failed verification
  kUnavailable,         // transient: remote unreachable, try again later
  kPermissionDenied,    // credentials refused
  kResourceExhausted,   // no space, limit reached, queue full
  kFailedPrecondition,  // the system is not in a state to do this (e.g. incompatible cache)
  kNotSupported,        // the operation is not available here
  kAborted,             // the operation was cancelled (e.g. shutdown)
  kInternal,            // a bug
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status InvalidArgument(std::string msg) {
    return {StatusCode::kInvalidArgument, std::move(msg)};
  }
  static Status IOError(std::string msg) { return {StatusCode::kIOError, std::move(msg)}; }
  static Status Corruption(std::string msg) { return {StatusCode::kCorruption, std::move(msg)}; }
  static Status Unavailable(std::string msg) { return {StatusCode::kUnavailable, std::move(msg)}; }
  static Status PermissionDenied(std::string msg) {
    return {StatusCode::kPermissionDenied, std::move(msg)};
  }
  static Status ResourceExhausted(std::string msg) {
    return {StatusCode::kResourceExhausted, std::move(msg)};
  }
  static Status FailedPrecondition(std::string msg) {
    return {StatusCode::kFailedPrecondition, std::move(msg)};
  }
  static Status NotSupported(std::string msg) {
    return {StatusCode::kNotSupported, std::move(msg)};
  }
  static Status Aborted(std::string msg) { return {StatusCode::kAborted, std::move(msg)}; }
  static Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }

  // The one place errno becomes a Status. `context` says what was being done ("open /x").
  static Status FromErrno(int err, std::string_view context);

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "NotFound: open /x: No such file or directory"
  std::string ToString() const;

  // Prefixes the message with more context, keeping the code.
  Status WithContext(std::string_view context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// The one place a Status becomes errno (FUSE replies). OK maps to 0.
int ToErrno(const Status& status);

}  // namespace hoardfs

// Returns early from the enclosing function when `expr` is not OK.
#define HOARDFS_RETURN_IF_ERROR(expr)             \
  do {                                            \
    ::hoardfs::Status hoardfs_status_ = (expr);   \
    if (!hoardfs_status_.ok()) return hoardfs_status_; \
  } while (0)

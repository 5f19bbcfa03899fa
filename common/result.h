// Result<T>: either a value of T or a non-OK Status. The return type of every fallible function
// that produces something (style: errors as values; construction through static Open()).
//
//   Result<std::unique_ptr<Foo>> r = Foo::Open(opts);
//   if (!r.ok()) return r.status();
//   std::unique_ptr<Foo> foo = std::move(r).value();
//
// REQUIRES: value() only when ok(). A Result built from an OK Status is a bug (becomes kInternal).
#pragma once

#include <cassert>
#include <optional>
#include <utility>

#include "common/status.h"

namespace hoardfs {

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : status_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (status_.ok()) status_ = Status::Internal("Result constructed from an OK status");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::optional<T> value_;
  Status status_;  // OK iff value_ is set
};

}  // namespace hoardfs

// Evaluates a Result expression; on error returns its Status, else moves the value into `lhs`.
#define HOARDFS_CONCAT_INNER(a, b) a##b
#define HOARDFS_CONCAT(a, b) HOARDFS_CONCAT_INNER(a, b)
#define HOARDFS_ASSIGN_OR_RETURN(lhs, expr)                         \
  auto HOARDFS_CONCAT(hoardfs_result_, __LINE__) = (expr);          \
  if (!HOARDFS_CONCAT(hoardfs_result_, __LINE__).ok())              \
    return HOARDFS_CONCAT(hoardfs_result_, __LINE__).status();      \
  lhs = std::move(HOARDFS_CONCAT(hoardfs_result_, __LINE__)).value()

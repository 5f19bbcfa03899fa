// Object paths as ObjectSource takes them: absolute within the source's root ("/" or "/a/b"),
// '/'-separated, no trailing '/', no empty, "." or ".." components, no NUL. Backends check every
// path they receive with ValidateObjectPath() before touching the remote, so a bad path is
// kInvalidArgument and can never name something outside the source's root.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace hoardfs {

// OK if `path` is a valid object path, else kInvalidArgument naming the path and the problem.
Status ValidateObjectPath(std::string_view path);

// "/a/b" → "b"; "/" → "". REQUIRES: a valid object path.
std::string_view BaseName(std::string_view path);

// "/a/b" → "/a"; "/a" → "/"; "/" → "/". REQUIRES: a valid object path.
std::string_view ParentPath(std::string_view path);

// JoinPath("/a", "b") → "/a/b"; JoinPath("/", "b") → "/b". REQUIRES: `dir` a valid object path,
// `name` one component.
std::string JoinPath(std::string_view dir, std::string_view name);

}  // namespace hoardfs

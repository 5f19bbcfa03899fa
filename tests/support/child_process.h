// Child processes of the test server harnesses (xrootd, Ceph, nginx, s3rver): finding a binary on
// $PATH, starting a server or tool with posix_spawn(), waiting for a child, and stopping one the
// harness started (and only that one).
//
// posix_spawn() (glibc: clone(CLONE_VM | CLONE_VFORK), no pthread_atfork handlers, the child only
// execs) is safe even after XrdCl objects exist in the test process, unlike fork().
//
// Thread-safety: functions of their arguments; a child pid is driven by one thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/status.h"

namespace hoardfs::testing {

// The absolute path of executable `name` on $PATH (a default PATH if unset); "" if none.
std::string FindOnPath(const std::string& name);

// posix_spawn() of `argv` (argv[0] an absolute path) with environment `envp`: stdin from
// /dev/null, stdout and stderr appended to `output` ("" = /dev/null), working directory `cwd`
// ("" = ours), descriptors above 2 closed, signal mask and handlers reset, in its own process
// group (a ^C to the test is the test's). Returns the child's pid.
Result<pid_t> SpawnChild(const std::vector<std::string>& argv, char* const* envp,
                         const std::string& output, const std::string& cwd = "");

// Waits up to `timeout` for child `pid` to exit and reaps it: its wait status, or 0 if it is not
// our child (any more); nullopt if it is still running.
std::optional<int> WaitForChild(pid_t pid, std::chrono::milliseconds timeout);

// Stops child `pid`: SIGCONT (a paused child cannot act on SIGTERM), SIGTERM, up to `grace` for
// it to exit, then SIGKILL; reaps it. Internal (naming `what`) if it survives SIGKILL for 5 s.
Status StopChild(pid_t pid, const std::string& what,
                 std::chrono::milliseconds grace = std::chrono::seconds(5));

}  // namespace hoardfs::testing

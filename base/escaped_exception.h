// any program's main() (its own privilege): the last resort for an exception no one caught — the
// libraries we use (Boost, the standard library's allocations) can throw where our code returns
// Status, and an escape would otherwise end in std::terminate with no word of why.
#ifndef BACKUPD_BASE_ESCAPED_EXCEPTION_H_
#define BACKUPD_BASE_ESCAPED_EXCEPTION_H_

#include <string>
#include <string_view>

namespace backupd {

// What main() returns after an escaped exception: sysexits' EX_SOFTWARE, "an internal software
// error", distinct from every documented exit status of our programs.
inline constexpr int kExitInternalError = 70;

// The exception being handled, in one line for a person: "out of memory (std::bad_alloc)", a
// std::exception's what(), or "an exception that is not a std::exception". Only inside a catch.
std::string DescribeCurrentException();

// Test builds only (BACKUPD_TEST_HOOKS): when the environment variable kThrowHookEnv is
// "WHERE:WHAT" and WHERE is `where` ("main", "worker"), throws WHAT ("bad_alloc",
// "runtime_error" or "int"), so a test can prove each last resort; otherwise, and in every
// shipped build, does nothing.
inline constexpr char kThrowHookEnv[] = "BACKUPD_TEST_THROW";
void ThrowIfTestHookAsks(std::string_view where);

}  // namespace backupd

#endif  // BACKUPD_BASE_ESCAPED_EXCEPTION_H_

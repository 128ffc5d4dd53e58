// any program's main() (its own privilege): describing an escaped exception, and the test hook
// that throws one.
#include "base/escaped_exception.h"

#include <cstdlib>
#include <exception>
#include <new>
#include <stdexcept>
#include <string_view>

namespace backupd {

std::string DescribeCurrentException() {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    return "out of memory (std::bad_alloc)";
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

void ThrowIfTestHookAsks() {
#ifdef BACKUPD_TEST_HOOKS
  const char* what = std::getenv(kThrowHookEnv);
  if (what == nullptr) return;
  const std::string_view w(what);
  if (w == "bad_alloc") throw std::bad_alloc();
  if (w == "runtime_error") throw std::runtime_error("thrown by the test hook");
  if (w == "int") throw 42;
#endif
}

}  // namespace backupd

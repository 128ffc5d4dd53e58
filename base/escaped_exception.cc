// any program's main() (its own privilege): describing an escaped exception, and the test hook
// that throws one.
#include "base/escaped_exception.h"

#include <cstdlib>
#include <exception>
#include <new>
#include <stdexcept>

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

void ThrowIfTestHookAsks([[maybe_unused]] std::string_view where) {
#ifdef BACKUPD_TEST_HOOKS
  const char* hook = std::getenv(kThrowHookEnv);
  if (hook == nullptr) return;
  const std::string_view h(hook);
  const size_t colon = h.find(':');
  if (colon == std::string_view::npos || h.substr(0, colon) != where) return;
  const std::string_view what = h.substr(colon + 1);
  if (what == "bad_alloc") throw std::bad_alloc();
  if (what == "runtime_error") throw std::runtime_error("thrown by the test hook");
  if (what == "int") throw 42;
#endif
}

}  // namespace backupd

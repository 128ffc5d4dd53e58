// test process (any privilege): creates and removes the tests' temporary folders.
#include "tests/harness/temp_dir.h"

#include <stdlib.h>

#include <filesystem>

namespace backupd::testing {

TempDir::TempDir() {
  char tmpl[] = "/tmp/backupd-test-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) abort();
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace backupd::testing

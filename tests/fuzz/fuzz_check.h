// tests (unprivileged): the invariant check the fuzz targets share.
#ifndef BACKUPD_TESTS_FUZZ_FUZZ_CHECK_H_
#define BACKUPD_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

// A broken invariant must crash the target so libFuzzer, or the standalone driver under ctest,
// reports the input; assert() would vanish in release builds.
#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (false)

#endif  // BACKUPD_TESTS_FUZZ_FUZZ_CHECK_H_

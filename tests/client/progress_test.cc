// tests: the progress bar's text and when it is drawn.
#include "client/progress.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace backupd::client {
namespace {

TEST(FormatProgressTest, Exact) {
  constexpr uint64_t kMiB = 1024 * 1024;
  EXPECT_EQ(FormatProgress("f", 0, 4 * kMiB, 4), "f [----]   0%  0.0/4.0 MiB");
  EXPECT_EQ(FormatProgress("f", 2 * kMiB, 4 * kMiB, 4), "f [##--]  50%  2.0/4.0 MiB");
  EXPECT_EQ(FormatProgress("f", 4 * kMiB - 1, 4 * kMiB, 4), "f [###-]  99%  4.0/4.0 MiB");
  EXPECT_EQ(FormatProgress("f", 4 * kMiB, 4 * kMiB, 4), "f [####] 100%  4.0/4.0 MiB");
}

TEST(FormatProgressTest, ClampsAndHandlesZeroTotal) {
  EXPECT_EQ(FormatProgress("f", 9, 3, 2), "f [##] 100%  0.0/0.0 MiB");
  EXPECT_EQ(FormatProgress("f", 0, 0, 2), "f [##] 100%  0.0/0.0 MiB");
}

std::string Drawn(bool enabled, uint64_t total) {
  std::FILE* f = std::tmpfile();
  {
    ProgressBar bar("x", enabled, f);
    bar.Update(total, total);
  }
  std::rewind(f);
  std::string out;
  for (int c = std::fgetc(f); c != EOF; c = std::fgetc(f)) out.push_back(static_cast<char>(c));
  std::fclose(f);
  return out;
}

TEST(ProgressBarTest, DrawsOnlyWhenEnabledAndBig) {
  EXPECT_EQ(Drawn(false, 10 * kProgressMinBytes), "");
  EXPECT_EQ(Drawn(true, kProgressMinBytes), "");
  EXPECT_EQ(Drawn(true, 2 * kProgressMinBytes),
            "\r" + FormatProgress("x", 2 * kProgressMinBytes, 2 * kProgressMinBytes, 30) + "\n");
}

}  // namespace
}  // namespace backupd::client

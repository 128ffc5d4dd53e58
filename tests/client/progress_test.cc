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

TEST(RunProgressTest, FilesBytesRateAndEta) {
  constexpr uint64_t kMiB = 1024 * 1024;
  EXPECT_EQ(FormatRunProgress(3, 10, 2 * kMiB, 10 * kMiB, 2.0),
            "3/10 files  2.0/10.0 MiB  1.0 MiB/s  ETA 0:08");
  EXPECT_EQ(FormatRunProgress(0, 10, 0, 10 * kMiB, 0.5),
            "0/10 files  0.0/10.0 MiB  0.0 MiB/s  ETA -");
  EXPECT_EQ(FormatRunProgress(1, 1, 120 * kMiB, 240 * kMiB, 60.0),
            "1/1 files  120.0/240.0 MiB  2.0 MiB/s  ETA 1:00");
}

TEST(RunProgressTest, DrawsOnlyWhenEnabled) {
  for (bool enabled : {false, true}) {
    std::FILE* f = std::tmpfile();
    ASSERT_NE(f, nullptr);
    {
      RunProgress progress(enabled, f);
      progress.Update(1, 2, 10, 20);
    }
    std::rewind(f);
    std::string out;
    for (int c = std::fgetc(f); c != EOF; c = std::fgetc(f)) out.push_back(static_cast<char>(c));
    std::fclose(f);
    if (enabled) {
      EXPECT_EQ(out.rfind("\r1/2 files  0.0/0.0 MiB  ", 0), 0u) << out;
      EXPECT_EQ(out.back(), '\n');
    } else {
      EXPECT_EQ(out, "");
    }
  }
}

}  // namespace
}  // namespace backupd::client

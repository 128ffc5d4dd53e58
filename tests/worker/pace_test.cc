// tests (any privilege): the deadline arithmetic of header_timeout and min_rate (worker/pace.h).
#include "worker/pace.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>

namespace backupd::worker {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const Deadline kStart = Clock::time_point() + std::chrono::hours(1);
const Deadline kFarCap = kStart + std::chrono::hours(24 * 365 * 200);

TEST(PaceTest, NothingMovedHasTheGraceOnly) {
  EXPECT_EQ(PaceDeadline(kStart, {seconds(20), 500}, 0, kFarCap), kStart + seconds(20));
}

TEST(PaceTest, EachMinRateBytesEarnOneSecond) {
  const MinRate rate{seconds(20), 500};
  EXPECT_EQ(PaceDeadline(kStart, rate, 500, kFarCap), kStart + seconds(21));
  EXPECT_EQ(PaceDeadline(kStart, rate, 250, kFarCap), kStart + seconds(20) + milliseconds(500));
  EXPECT_EQ(PaceDeadline(kStart, rate, 1'000'000, kFarCap), kStart + seconds(20 + 2000));
}

TEST(PaceTest, NeverLaterThanTheCap) {
  const Deadline cap = kStart + seconds(300);
  EXPECT_EQ(PaceDeadline(kStart, {seconds(20), 500}, 140'000, cap), cap);
  EXPECT_EQ(PaceDeadline(kStart, {seconds(20), 500}, 139'999, cap),
            kStart + seconds(299) + milliseconds(998));
  EXPECT_EQ(PaceDeadline(kStart, {seconds(400), 500}, 0, cap), cap);
}

TEST(PaceTest, ZeroRateMeansOnlyTheCap) {
  const Deadline cap = kStart + seconds(300);
  EXPECT_EQ(PaceDeadline(kStart, {seconds(1), 0}, 0, cap), cap);
  EXPECT_EQ(PaceDeadline(kStart, {seconds(1), 0}, UINT64_MAX, cap), cap);
}

TEST(PaceTest, HugeCountsDoNotOverflow) {
  // 2^63 bytes at 1 byte/s is 292 billion years: past any cap, and no wrap-around before it.
  EXPECT_EQ(PaceDeadline(kStart, {seconds(20), 1}, uint64_t{1} << 63, kFarCap), kFarCap);
  EXPECT_EQ(PaceDeadline(kStart, {seconds(20), 1}, UINT64_MAX, kFarCap), kFarCap);
  EXPECT_EQ(
      PaceDeadline(kStart, {seconds(20), UINT32_MAX}, UINT64_MAX - 1, kFarCap),
      kStart + seconds(20) + seconds((UINT64_MAX - 1) / UINT32_MAX) +
          std::chrono::nanoseconds((UINT64_MAX - 1) % UINT32_MAX * 1'000'000'000 / UINT32_MAX));
}

TEST(PaceTest, AWaitLastsAtMostTheGraceWithNoByteMoving) {
  const MinRate rate{seconds(20), 500};
  // 4 MB taken by socket buffers earn 8000 s; a single wait still ends 20 s after it began.
  const Deadline now = kStart + seconds(30);
  EXPECT_EQ(PacedWait(kStart, rate, 4'000'000, now, kFarCap), now + seconds(20));
  // Behind the average, the average's deadline comes first.
  EXPECT_EQ(PacedWait(kStart, rate, 1000, now, kFarCap), kStart + seconds(22));
  EXPECT_EQ(PacedWait(kStart, rate, 4'000'000, now, now + seconds(5)), now + seconds(5));
  EXPECT_EQ(PacedWait(kStart, {seconds(20), 0}, 0, now, kFarCap), kFarCap);
}

TEST(PaceTest, HeaderOrRequestIsTheEarlier) {
  EXPECT_EQ((RequestDeadlines{kStart + seconds(20), kStart + seconds(300)}.HeaderOrRequest()),
            kStart + seconds(20));
  EXPECT_EQ((RequestDeadlines{kStart + seconds(20), kStart + seconds(2)}.HeaderOrRequest()),
            kStart + seconds(2));
}

}  // namespace
}  // namespace backupd::worker

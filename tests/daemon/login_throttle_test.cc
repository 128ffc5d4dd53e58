// test process (any privilege): the failed-login throttle's arithmetic, on a made-up clock.
#include "daemon/login_throttle.h"

#include <gtest/gtest.h>

namespace backupd::daemon {
namespace {

using std::chrono::seconds;
using Clock = LoginThrottle::Clock;

ipc::PeerAddress V4(uint8_t last) {
  return {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, last};
}
ipc::PeerAddress V6(uint8_t subnet, uint8_t host) {
  return {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, subnet, 0, 0, 0, 0, 0, 0, 0, host};
}

TEST(LoginThrottleTest, FifthFailureInAMinuteStartsACoolDown) {
  LoginThrottle t;
  const Clock::time_point t0{};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(t.Fail(V4(1), t0 + seconds(i)), seconds(0));
  EXPECT_EQ(t.Wait(V4(1), t0 + seconds(4)), seconds(0));
  EXPECT_EQ(t.Fail(V4(1), t0 + seconds(4)), seconds(60));
  EXPECT_EQ(t.Wait(V4(1), t0 + seconds(4)), seconds(60));
  EXPECT_EQ(t.Wait(V4(1), t0 + seconds(34)), seconds(30));
  EXPECT_EQ(t.Wait(V4(1), t0 + seconds(64)), seconds(0));
  // Another address is not slowed down.
  EXPECT_EQ(t.Wait(V4(2), t0 + seconds(4)), seconds(0));
}

TEST(LoginThrottleTest, FailuresSpreadBeyondTheWindowNeverBlock) {
  LoginThrottle t;
  Clock::time_point now{};
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(t.Fail(V4(1), now), seconds(0)) << i;
    now += seconds(15);
    if (i % 4 == 3) now += seconds(60);
  }
}

TEST(LoginThrottleTest, CoolDownDoublesUpToFifteenMinutesAndResetsAfterQuiet) {
  LoginThrottle t;
  Clock::time_point now{};
  auto episode = [&] {
    seconds got{0};
    for (int i = 0; i < 5; ++i) got = t.Fail(V4(1), now);
    now += got;
    return got;
  };
  EXPECT_EQ(episode(), seconds(60));
  EXPECT_EQ(episode(), seconds(120));
  EXPECT_EQ(episode(), seconds(240));
  EXPECT_EQ(episode(), seconds(480));
  EXPECT_EQ(episode(), seconds(900));
  EXPECT_EQ(episode(), seconds(900));
  now += seconds(900);
  EXPECT_EQ(episode(), seconds(60));
}

TEST(LoginThrottleTest, AnIpv6SourceIsCountedPerSlash64) {
  LoginThrottle t;
  const Clock::time_point now{};
  for (uint8_t host = 1; host <= 5; ++host) t.Fail(V6(1, host), now);
  EXPECT_EQ(t.Wait(V6(1, 200), now), seconds(60));
  EXPECT_EQ(t.Wait(V6(2, 1), now), seconds(0));
}

TEST(LoginThrottleTest, TheTableIsBoundedAndForgetsTheOldestSource) {
  LoginThrottle::Limits limits;
  limits.max_sources = 3;
  LoginThrottle t(limits);
  Clock::time_point now{};
  for (int i = 0; i < 5; ++i) t.Fail(V4(1), now);
  ASSERT_GT(t.Wait(V4(1), now).count(), 0);
  for (uint8_t a = 2; a <= 4; ++a) t.Fail(V4(a), now += seconds(1));
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.Wait(V4(1), now), seconds(0));
}

}  // namespace
}  // namespace backupd::daemon

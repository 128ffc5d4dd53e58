// tests (unprivileged): backup-client's version commands' pure parts — the times --before reads
// and list --versions prints, and which version --before picks.
#include "client/versions_command.h"

#include <gtest/gtest.h>

#include <vector>

namespace backupd::client {
namespace {

namespace v2 = protocol::v2;

constexpr int64_t kSecond = 1000000000;

TEST(ParseTime, EpochSecondsAndIso8601InUtc) {
  EXPECT_EQ(*ParseTime("@0"), 0);
  EXPECT_EQ(*ParseTime("@1700000000"), 1700000000 * kSecond);
  EXPECT_EQ(*ParseTime("2023-11-14T22:13:20Z"), 1700000000 * kSecond);
  EXPECT_EQ(*ParseTime("2023-11-14T22:13:20"), 1700000000 * kSecond);
  EXPECT_EQ(*ParseTime("2023-11-14 22:13:20"), 1700000000 * kSecond);
  EXPECT_EQ(*ParseTime("2023-11-14"), (1700000000 - 22 * 3600 - 13 * 60 - 20) * kSecond);
  for (const char* bad : {"", "@", "@-1", "@1e9", "yesterday", "2023-11-14T22:13", "2023-13-01",
                          "2023-11-14T22:13:20+01:00", "2023-11-14X22:13:20"}) {
    EXPECT_EQ(ParseTime(bad).status().code(), Status::Code::kInvalid) << bad;
  }
}

TEST(FormatUtc, ToTheSecond) {
  EXPECT_EQ(FormatUtc(1700000000 * kSecond + 999999999), "2023-11-14T22:13:20Z");
  EXPECT_EQ(FormatUtc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatUtc(-1), "1969-12-31T23:59:59Z");
  EXPECT_EQ(DigestHex(protocol::Digest{}), "-");
}

TEST(VersionBefore, TheNewestStoredByThen) {
  std::vector<v2::VersionEntry> v(3);
  v[0].version = 1;
  v[0].stored_ns = 100;
  v[1].version = 2;
  v[1].stored_ns = 200;
  v[2].version = 5;
  v[2].stored_ns = 300;
  EXPECT_EQ(VersionBefore(v, 99), std::nullopt);
  EXPECT_EQ(VersionBefore(v, 100), 1u);
  EXPECT_EQ(VersionBefore(v, 299), 2u);
  EXPECT_EQ(VersionBefore(v, 300), 5u);
  EXPECT_EQ(VersionBefore({}, 300), std::nullopt);
}

}  // namespace
}  // namespace backupd::client

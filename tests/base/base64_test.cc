// Unit tests for base/base64 and base/random: RFC 4648 vectors, strict decoding, random tokens.
#include "base/base64.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "base/random.h"

namespace backupd {
namespace {

TEST(Base64Test, EncodesRfc4648Vectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode("\xfb\xff"), "+/8=");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
}

TEST(Base64Test, DecodesWhatItEncodes) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t n = 0; n < 8; ++n) {
    std::optional<std::string> back = Base64Decode(Base64Encode(all.substr(n)));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, all.substr(n));
  }
}

TEST(Base64Test, RefusesEverythingButTheCanonicalSpelling) {
  for (const char* bad : {"Zg", "Zg=", "Zh==", "Zm9=", "Z===", "====", "Zm9v\n", " Zm9v", "Zm-v",
                          "Zm_v", "Zg==Zg==", "Z=g=", "Zm9vYmFy="}) {
    EXPECT_FALSE(Base64Decode(bad).has_value()) << bad;
  }
}

TEST(RandomTest, TokensArePrintableDistinctAndOfTheRightLength) {
  std::set<std::string> seen;
  for (int i = 0; i < 16; ++i) {
    Result<std::string> t = RandomToken(24);
    ASSERT_TRUE(t.ok()) << t.status().message();
    EXPECT_EQ(t->size(), 32u);
    EXPECT_EQ(
        t->find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        std::string::npos);
    seen.insert(*t);
  }
  EXPECT_EQ(seen.size(), 16u);
}

}  // namespace
}  // namespace backupd

// tests (unprivileged): NormalizeName, the name rules every request goes through.
#include <gtest/gtest.h>

#include <string>

#include "protocol/wire.h"

namespace backupd::protocol {
namespace {

using namespace std::string_literals;

void ExpectName(std::string_view raw, std::string_view want) {
  const Result<std::string> r = NormalizeName(raw);
  ASSERT_TRUE(r.ok()) << "'" << raw << "': " << r.status().ToString();
  EXPECT_EQ(*r, want) << "'" << raw << "'";
}

void ExpectRefused(std::string_view raw) {
  const Result<std::string> r = NormalizeName(raw);
  EXPECT_FALSE(r.ok()) << "'" << raw << "' became '" << (r.ok() ? *r : "") << "'";
  EXPECT_EQ(r.status().code(), Status::Code::kInvalid) << "'" << raw << "'";
}

TEST(NormalizeName, PlainNamesAreKept) {
  ExpectName("a", "a");
  ExpectName("report.pdf", "report.pdf");
  ExpectName("d/e/f.txt", "d/e/f.txt");
  ExpectName("..a", "..a");
  ExpectName("a..", "a..");
  ExpectName(".hidden", ".hidden");
  ExpectName("...", "...");
  ExpectName(".backupd", ".backupd");
  ExpectName("backupd-x", "backupd-x");
  ExpectName("x.backupd-y", "x.backupd-y");
  ExpectName("with space\tand\nnewline\xff", "with space\tand\nnewline\xff");
}

TEST(NormalizeName, LeadingSlashesAreStripped) {
  ExpectName("/a", "a");
  ExpectName("/etc/passwd", "etc/passwd");
  ExpectName("///a/b", "a/b");
}

TEST(NormalizeName, EmptyOrOnlySlashesIsRefused) {
  ExpectRefused("");
  ExpectRefused("/");
  ExpectRefused("//");
}

TEST(NormalizeName, EmptyComponentsAreRefusedNotFolded) {
  ExpectRefused("a//b");
  ExpectRefused("a/");
  ExpectRefused("a/b/");
  ExpectRefused("/a//");
}

TEST(NormalizeName, DotAndDotDotComponentsAreRefused) {
  ExpectRefused(".");
  ExpectRefused("..");
  ExpectRefused("/..");
  ExpectRefused("../a");
  ExpectRefused("a/..");
  ExpectRefused("a/../b");
  ExpectRefused("a/./b");
  ExpectRefused("./a");
  ExpectRefused("a/.");
}

TEST(NormalizeName, NulAnywhereIsRefused) {
  ExpectRefused("\0"s);
  ExpectRefused("a\0"s);
  ExpectRefused("a\0b"s);
  ExpectRefused("\0a"s);
  ExpectRefused("d/\0/e"s);
}

TEST(NormalizeName, ReservedPrefixInAnyComponentIsRefused) {
  ExpectRefused(".backupd-tmp-x");
  ExpectRefused(".backupd-");
  ExpectRefused("d/.backupd-x");
  ExpectRefused(".backupd-x/f");
  ExpectRefused("/a/.backupd-tmp-123/b");
}

TEST(NormalizeName, ComponentLengthBoundary) {
  const std::string c255(255, 'c');
  const std::string c256(256, 'c');
  ExpectName(c255, c255);
  ExpectName("d/" + c255, "d/" + c255);
  ExpectName(c255 + "/f", c255 + "/f");
  ExpectRefused(c256);
  ExpectRefused("d/" + c256);
  ExpectRefused(c256 + "/f");
}

TEST(NormalizeName, TotalLengthBoundary) {
  // 16 components of 254 bytes and a 16-byte one, joined by 16 slashes: exactly 4096 bytes.
  std::string name;
  for (int i = 0; i < 16; ++i) name += std::string(254, 'a') + "/";
  name += std::string(16, 'b');
  ASSERT_EQ(name.size(), 4096u);
  ExpectName(name, name);
  ExpectRefused(name + "c");
  // The limit is on the raw bytes, before a leading '/' is stripped.
  ExpectRefused("/" + name);
}

}  // namespace
}  // namespace backupd::protocol

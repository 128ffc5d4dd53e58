// test process (any privilege): the SCRAM key cache beside the secret file — written 0600 and
// read back, and never read from a file someone else could have written or read.
#include "client/scram_cache.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>

#include "tests/harness/temp_dir.h"

namespace backupd::client {
namespace {

constexpr char kSecret[] = "Qm9ndXMgc2VjcmV0IGZvciB0ZXN0cyE";

protocol::ScramClientKeys SomeKeys() {
  protocol::ScramClientKeys keys;
  keys.salt = "0123456789abcdef";
  keys.iterations = protocol::kScramIterations;
  for (size_t i = 0; i < keys.client_key.size(); ++i) {
    keys.client_key[i] = static_cast<unsigned char>(i);
    keys.server_key[i] = static_cast<unsigned char>(255 - i);
  }
  return keys;
}

TEST(ScramCacheTest, KeysAreKeptInA0600FileBesideTheSecretAndComeBack) {
  testing::TempDir dir;
  const ScramCache cache(dir.Sub("secret"), "127.0.0.1:1337");
  EXPECT_EQ(cache.path, dir.Sub("secret.scram-cache"));
  EXPECT_FALSE(cache.Load(7, kSecret).has_value());
  ::umask(0);  // the file's mode must not depend on the caller's umask
  cache.Save(7, kSecret, SomeKeys());
  ::umask(022);
  struct stat sb {};
  ASSERT_EQ(::stat(cache.path.c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 07777, 0600u);
  EXPECT_EQ(sb.st_uid, ::geteuid());
  std::optional<protocol::ScramClientKeys> back = cache.Load(7, kSecret);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->salt, SomeKeys().salt);
  EXPECT_EQ(back->client_key, SomeKeys().client_key);
  EXPECT_EQ(back->server_key, SomeKeys().server_key);
  // Another user, server or secret: nothing.
  EXPECT_FALSE(cache.Load(8, kSecret).has_value());
  EXPECT_FALSE(ScramCache(dir.Sub("secret"), "127.0.0.1:1338").Load(7, kSecret).has_value());
  EXPECT_FALSE(cache.Load(7, "another secret").has_value());
}

TEST(ScramCacheTest, AFileOthersCouldReadOrWriteOrALinkIsNotRead) {
  testing::TempDir dir;
  const ScramCache cache(dir.Sub("secret"), "127.0.0.1:1337");
  cache.Save(7, kSecret, SomeKeys());
  ASSERT_TRUE(cache.Load(7, kSecret).has_value());
  for (mode_t mode : {0640, 0604, 0620, 0602}) {
    ASSERT_EQ(::chmod(cache.path.c_str(), mode), 0);
    EXPECT_FALSE(cache.Load(7, kSecret).has_value()) << std::oct << mode;
  }
  ASSERT_EQ(::chmod(cache.path.c_str(), 0600), 0);
  ASSERT_EQ(::rename(cache.path.c_str(), dir.Sub("elsewhere").c_str()), 0);
  ASSERT_EQ(::symlink(dir.Sub("elsewhere").c_str(), cache.path.c_str()), 0);
  EXPECT_FALSE(cache.Load(7, kSecret).has_value());
}

// In a folder others may write to (a sticky /tmp), another user could make the temp file first
// and read the keys from it: no cache there.
TEST(ScramCacheTest, NoKeysAreWrittenIntoAFolderOthersMayWriteTo) {
  testing::TempDir dir;
  const ScramCache cache(dir.Sub("secret"), "127.0.0.1:1337");
  for (mode_t mode : {01777, 0770, 0702}) {
    ASSERT_EQ(::chmod(dir.path().c_str(), mode), 0);
    cache.Save(7, kSecret, SomeKeys());
    EXPECT_NE(::access(cache.path.c_str(), F_OK), 0) << std::oct << mode;
  }
  ASSERT_EQ(::chmod(dir.path().c_str(), 0700), 0);
  cache.Save(7, kSecret, SomeKeys());
  EXPECT_EQ(::access(cache.path.c_str(), F_OK), 0);
}

TEST(ScramCacheTest, ASaveThatCannotBeWrittenIsNoError) {
  const ScramCache cache("/nonexistent-folder/secret", "127.0.0.1:1337");
  cache.Save(7, kSecret, SomeKeys());
  EXPECT_FALSE(cache.Load(7, kSecret).has_value());
}

}  // namespace
}  // namespace backupd::client

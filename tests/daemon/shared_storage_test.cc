// tests (no privileges): recognising GlusterFS and NFS storage from statfs's type and mountinfo,
// and the read-after-write warnings `backupd -t` prints for them.
#include "daemon/shared_storage.h"

#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace backupd::daemon {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr long kFuse = 0x65735546;
constexpr long kNfs = 0x6969;
constexpr long kExt4 = 0xEF53;

// As tests/nodes/run.sh's two mounts and the root file system show up in /proc/self/mountinfo.
const std::string kMountinfo =
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "42 27 0:39 / /var/tmp/n/mnt-a rw,relatime - fuse.glusterfs backupd-brick:/vol-1 "
    "rw,user_id=0,group_id=0,default_permissions,allow_other,max_read=131072\n"
    "43 27 0:40 / /var/tmp/n/mnt-b rw,relatime shared:7 - fuse.sshfs me@host:/x rw\n"
    "44 27 0:41 / /srv/nfs rw,relatime - nfs4 nas:/export rw,vers=4.2,nocto,hard,proto=tcp\n"
    "45 27 0:42 / /srv/nfs2 rw,relatime - nfs nas:/b rw,vers=3,lookupcache=pos,hard\n";

TEST(SharedStorageTest, GlusterIsAFuseMountOfTypeFuseGlusterfs) {
  StorageMount m = ParseStorageMount(kFuse, "0:39", kMountinfo);
  EXPECT_EQ(m.kind, StorageKind::kGluster);
  EXPECT_EQ(m.source, "backupd-brick:/vol-1");
  // Another FUSE file system is not GlusterFS; a local disk is local whatever mountinfo says.
  EXPECT_EQ(ParseStorageMount(kFuse, "0:40", kMountinfo).kind, StorageKind::kLocal);
  EXPECT_EQ(ParseStorageMount(kExt4, "0:39", kMountinfo).kind, StorageKind::kLocal);
  EXPECT_EQ(ParseStorageMount(kFuse, "9:9", kMountinfo).kind, StorageKind::kLocal);
}

TEST(SharedStorageTest, NfsIsRecognisedByItsMagic) {
  StorageMount m = ParseStorageMount(kNfs, "0:41", kMountinfo);
  EXPECT_EQ(m.kind, StorageKind::kNfs);
  EXPECT_EQ(m.source, "nas:/export");
}

TEST(SharedStorageTest, GlusterOptionsThatAreNotOffAreNamedWithTheCommandThatTurnsThemOff) {
  StorageMount m = ParseStorageMount(kFuse, "0:39", kMountinfo);
  std::string asked;
  const std::string listing =
      "Option                                  Value\n"
      "------                                  -----\n"
      "performance.quick-read                  on\n"
      "performance.io-cache                    off\n"
      "performance.stat-prefetch               off\n"
      "performance.read-ahead                  off\n"
      "performance.open-behind                 on (DEFAULT)\n";
  std::vector<std::string> w = SharedStorageWarnings(m, [&](const std::string& volume) {
    asked = volume;
    return std::optional<std::string>(listing);
  });
  EXPECT_EQ(asked, "vol-1");
  ASSERT_THAT(w, SizeIs(2));
  EXPECT_THAT(w[0], AllOf(HasSubstr("performance.quick-read = on"),
                          HasSubstr("gluster volume set vol-1 performance.quick-read off")));
  EXPECT_THAT(w[1], HasSubstr("performance.open-behind = on"));
}

TEST(SharedStorageTest, GlusterWithEveryOptionOffIsNotWarnedAbout) {
  StorageMount m = ParseStorageMount(kFuse, "0:39", kMountinfo);
  std::string listing;
  for (const std::string& o : GlusterReadAfterWriteOptions()) listing += o + "  off\n";
  EXPECT_THAT(SharedStorageWarnings(m, [&](const std::string&) { return listing; }), IsEmpty());
}

TEST(SharedStorageTest, WithoutTheGlusterCommandEveryOptionIsNamedToCheck) {
  StorageMount m = ParseStorageMount(kFuse, "0:39", kMountinfo);
  std::vector<std::string> w =
      SharedStorageWarnings(m, [](const std::string&) { return std::nullopt; });
  ASSERT_THAT(w, SizeIs(1));
  for (const std::string& o : GlusterReadAfterWriteOptions()) EXPECT_THAT(w[0], HasSubstr(o));
}

TEST(SharedStorageTest, NfsWarnsAboutNoctoAndTheNegativeLookupCache) {
  auto never = [](const std::string&) -> std::optional<std::string> {
    ADD_FAILURE() << "gluster asked about NFS";
    return std::nullopt;
  };
  std::vector<std::string> w =
      SharedStorageWarnings(ParseStorageMount(kNfs, "0:41", kMountinfo), never);
  ASSERT_THAT(w, SizeIs(2));
  EXPECT_THAT(w[0], HasSubstr("nocto"));
  EXPECT_THAT(w[1], HasSubstr("lookupcache=positive"));
  EXPECT_THAT(SharedStorageWarnings(ParseStorageMount(kNfs, "0:42", kMountinfo), never), IsEmpty());
  EXPECT_THAT(SharedStorageWarnings(ParseStorageMount(kExt4, "8:1", kMountinfo), never), IsEmpty());
}

}  // namespace
}  // namespace backupd::daemon

// test process (root): confinement against the real daemon — users cannot see each other's files,
// and no name or planted symlink reaches outside the user's folder.
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tests/integration/daemon_test.h"

namespace backupd::testing {
namespace {

using protocol::Op;

using ConfinementTest = DaemonTest;

TEST_F(ConfinementTest, UsersCannotReachEachOthersFiles) {
  ASSERT_TRUE(HasStatus(CallOnce(1, Op::kBackup, "secret.txt", "user one only"), kOk));

  Result<Response> r = CallOnce(2, Op::kRestore, "secret.txt");
  EXPECT_TRUE(HasStatus(r, kNotFound));
  EXPECT_TRUE(HasStatus(CallOnce(2, Op::kDelete, "secret.txt"), kNotFound));
  r = CallOnce(2, Op::kList, "");
  EXPECT_TRUE(HasStatus(r, kNoFiles));
  EXPECT_EQ(r.ok() ? r->payload : "", "");

  // User 1 still has it, untouched.
  r = CallOnce(1, Op::kRestore, "secret.txt");
  ASSERT_TRUE(HasStatus(r, kRestoreOk));
  EXPECT_EQ(r->payload, "user one only");
  r = CallOnce(1, Op::kList, "");
  ASSERT_TRUE(HasStatus(r, kListOk));
  EXPECT_EQ(r->payload, "secret.txt\n");
  EXPECT_EQ(ReadFile(UserDir(1) + "/secret.txt"), "user one only");
  EXPECT_FALSE(PathExists(UserDir(2) + "/secret.txt"));
}

TEST_F(ConfinementTest, TraversalNamesAreRefused) {
  ASSERT_TRUE(HasStatus(CallOnce(2, Op::kBackup, "target", "user two's file"), kOk));
  const std::vector<std::string> names = {
      "../x", "a/../../x", "..", ".", "./x", "a/./x", "a//x", "x/", "../2/target", "a/..",
  };
  for (const std::string& name : names) {
    SCOPED_TRACE("name '" + name + "'");
    EXPECT_TRUE(HasStatus(CallOnce(3, Op::kBackup, name, "escaped"), kError));
    EXPECT_TRUE(HasStatus(CallOnce(3, Op::kRestore, name), kError));
    EXPECT_TRUE(HasStatus(CallOnce(3, Op::kDelete, name), kError));
  }
  EXPECT_FALSE(PathExists(daemon_.storage() + "/x"));
  EXPECT_FALSE(PathExists(daemon_.dir() + "/x"));
  EXPECT_FALSE(PathExists(UserDir(3) + "/x"));
  EXPECT_FALSE(PathExists(UserDir(3) + "/a"));
  EXPECT_EQ(ReadFile(UserDir(2) + "/target"), "user two's file");
}

TEST_F(ConfinementTest, LeadingSlashIsStrippedAndStaysInUserFolder) {
  const std::optional<std::string> passwd_before = ReadFile("/etc/passwd");
  ASSERT_TRUE(passwd_before.has_value());
  Result<Response> r = CallOnce(4, Op::kBackup, "/etc/passwd", "not the real passwd");
  ASSERT_TRUE(HasStatus(r, kOk));
  EXPECT_EQ(ReadFile(UserDir(4) + "/etc/passwd"), "not the real passwd");
  EXPECT_EQ(ReadFile("/etc/passwd"), passwd_before);
  EXPECT_FALSE(PathExists(daemon_.storage() + "/etc"));

  r = CallOnce(4, Op::kList, "");
  ASSERT_TRUE(HasStatus(r, kListOk));
  EXPECT_EQ(r->payload, "etc/passwd\n");
  for (const char* name : {"/etc/passwd", "etc/passwd"}) {
    r = CallOnce(4, Op::kRestore, name);
    ASSERT_TRUE(HasStatus(r, kRestoreOk)) << name;
    EXPECT_EQ(r->payload, "not the real passwd") << name;
  }
}

TEST_F(ConfinementTest, NulInNameIsRefused) {
  const std::string name("a\0b", 3);
  EXPECT_TRUE(HasStatus(CallOnce(5, Op::kBackup, name, "nul"), kError));
  EXPECT_TRUE(HasStatus(CallOnce(5, Op::kRestore, name), kError));
  EXPECT_FALSE(PathExists(UserDir(5) + "/a"));
}

TEST_F(ConfinementTest, ReservedNamesAreRefusedAndTempFilesNeverListed) {
  for (const char* name : {".backupd-tmp-x", ".backupd-", "dir/.backupd-tmp-1", ".backupd-meta"}) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(HasStatus(CallOnce(6, Op::kBackup, name, "reserved"), kError));
    EXPECT_FALSE(PathExists(UserDir(6) + "/" + name));
  }
  // A temp file left by a crash (planted here as root) is neither listed nor served nor deletable.
  ASSERT_TRUE(HasStatus(CallOnce(6, Op::kBackup, "real", "real file"), kOk));
  const std::string planted = UserDir(6) + "/.backupd-tmp-crashed";
  ASSERT_TRUE(WriteFile(planted, "half an upload"));
  ASSERT_EQ(chown(planted.c_str(), NobodyUid(), NogroupGid()), 0);
  Result<Response> r = CallOnce(6, Op::kList, "");
  ASSERT_TRUE(HasStatus(r, kListOk));
  EXPECT_EQ(r->payload, "real\n");
  EXPECT_TRUE(HasStatus(CallOnce(6, Op::kRestore, ".backupd-tmp-crashed"), kError));
  EXPECT_TRUE(HasStatus(CallOnce(6, Op::kDelete, ".backupd-tmp-crashed"), kError));
  EXPECT_TRUE(PathExists(planted));
}

// Symlinks planted in storage (as root, as a compromised or careless admin could) point at another
// user's file, at a decoy /etc/passwd inside the chroot and at the real one outside it.
class SymlinkTest : public DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_TRUE(HasStatus(CallOnce(8, Op::kBackup, "secret", "user eight's secret"), kOk));
    ASSERT_TRUE(HasStatus(CallOnce(7, Op::kBackup, "mine", "user seven's file"), kOk));
    // What "/etc/passwd" means inside the workers' chroot.
    ASSERT_EQ(mkdir((daemon_.storage() + "/etc").c_str(), 0755), 0);
    ASSERT_TRUE(WriteFile(daemon_.storage() + "/etc/passwd", "root:DECOY:0:0\n"));
    ASSERT_EQ(chmod((daemon_.storage() + "/etc/passwd").c_str(), 0644), 0);
    Plant("/etc/passwd", "passwd");
    Plant(UserDir(8) + "/secret", "abs_secret");  // absolute outside the chroot
    Plant("/8/secret", "chroot_secret");          // absolute inside the chroot
    Plant("../8/secret", "rel_secret");
    Plant("../8", "dir8");
    Plant("/etc", "etc_dir");
  }

  void Plant(const std::string& target, const std::string& link) {
    std::string path = UserDir(7) + "/" + link;
    ASSERT_EQ(symlink(target.c_str(), path.c_str()), 0) << path;
    ASSERT_EQ(lchown(path.c_str(), NobodyUid(), NogroupGid()), 0) << path;
  }
};

TEST_F(SymlinkTest, RestoreNeverFollowsAPlantedSymlink) {
  const std::string real_passwd = ReadFile("/etc/passwd").value_or("");
  for (const char* name :
       {"passwd", "abs_secret", "chroot_secret", "rel_secret", "dir8/secret", "etc_dir/passwd"}) {
    SCOPED_TRACE(name);
    Result<Response> r = CallOnce(7, Op::kRestore, name);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_NE(r->status, kRestoreOk);
    EXPECT_TRUE(r->status == kNotFound || r->status == kError) << r->status;
    EXPECT_EQ(r->payload.find("DECOY"), std::string::npos);
    EXPECT_EQ(r->payload.find("secret"), std::string::npos);
    EXPECT_TRUE(real_passwd.empty() || r->payload.find(real_passwd) == std::string::npos);
  }
}

TEST_F(SymlinkTest, BackupAndDeleteNeverWriteThroughAPlantedSymlink) {
  // Through a symlinked folder: refused, nothing lands in user 8's folder or /etc.
  Result<Response> r = CallOnce(7, Op::kBackup, "dir8/planted", "via symlinked folder");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(r->status, kOk);
  EXPECT_FALSE(PathExists(UserDir(8) + "/planted"));
  r = CallOnce(7, Op::kBackup, "etc_dir/planted", "via symlinked folder");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(r->status, kOk);
  EXPECT_FALSE(PathExists("/etc/planted"));
  EXPECT_FALSE(PathExists(daemon_.storage() + "/etc/planted"));

  // Over a symlink to a file: whatever the answer, the target keeps its content.
  for (const char* name : {"rel_secret", "abs_secret", "chroot_secret"}) {
    ASSERT_TRUE(CallOnce(7, Op::kBackup, name, "overwritten").ok());
    ASSERT_TRUE(CallOnce(7, Op::kDelete, name).ok());
  }
  ASSERT_TRUE(CallOnce(7, Op::kDelete, "dir8/secret").ok());
  EXPECT_EQ(ReadFile(UserDir(8) + "/secret"), "user eight's secret");
  EXPECT_EQ(ReadFile(daemon_.storage() + "/etc/passwd"), "root:DECOY:0:0\n");
}

TEST_F(SymlinkTest, SymlinkedUserFolderIsNotFollowed) {
  // User 9's folder is a symlink to user 8's.
  ASSERT_EQ(symlink("8", UserDir(9).c_str()), 0);
  Result<Response> r = CallOnce(9, Op::kRestore, "secret");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(r->status, kRestoreOk);
  EXPECT_EQ(r->payload.find("secret"), std::string::npos);
  r = CallOnce(9, Op::kList, "");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->payload.find("secret"), std::string::npos);
  r = CallOnce(9, Op::kDelete, "secret");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(r->status, kOk);
  EXPECT_EQ(ReadFile(UserDir(8) + "/secret"), "user eight's secret");
  r = CallOnce(9, Op::kBackup, "dropped", "through the link");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(PathExists(UserDir(8) + "/dropped"));
}

}  // namespace
}  // namespace backupd::testing

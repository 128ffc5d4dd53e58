// test process (root): `backupd scrub` run for real over a store that real v2 uploads filled — a
// byte flipped behind the server's back is found and named with both digests, a v1-style file
// without a sidecar is counted, a rewritten file's sidecar is stale, planted symlinks are not
// followed, scrub reads as the worker user, not as root, and waits for the user's lock.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/text.h"
#include "base/unique_fd.h"
#include "protocol/digest.h"
#include "protocol/wire_v2.h"
#include "tests/harness/v2_client.h"
#include "tests/integration/v2_user_test.h"

namespace backupd::testing {
namespace {

namespace v2 = protocol::v2;

constexpr uint32_t kUser = 7;
constexpr Millis kTimeout{10000};

std::string HexSha256(const std::string& bytes) {
  const protocol::Digest d = protocol::Sha256Of(bytes);
  std::string out;
  AppendHex(out, d.data(), d.size());
  return out;
}

// `out` with the summary's time (the one part that varies) made "T".
std::string WithoutTime(const std::string& out) {
  const size_t comma = out.rfind(", ");
  if (comma == std::string::npos || out.size() < 3 || out.compare(out.size() - 3, 3, " s\n") != 0) {
    return out;
  }
  return out.substr(0, comma) + ", T s\n";
}

// User 7 with three files uploaded over v2 (so each has its sidecar): a, dir/b, dir/c.
class ScrubTest : public V2UserTest {
 protected:
  ScrubTest() : V2UserTest(kUser) {}
  void SetUp() override {
    V2UserTest::SetUp();
    if (!Started()) return;
    V2Client c;
    ASSERT_NO_FATAL_FAILURE(LogIn(c));
    for (const auto& [name, content] : files_) {
      ASSERT_EQ(c.Backup(kUser, name, content), kV2Ok) << daemon_.Log();
    }
  }

  ProgramResult Scrub(const std::vector<std::string>& words) {
    std::vector<std::string> argv{BackupdPath(), "scrub", "-c", daemon_.config_file()};
    argv.insert(argv.end(), words.begin(), words.end());
    return RunProgram(argv, dir_.path(), kTimeout);
  }

  // Overwrites byte `at` of `path` in place and puts its mtime back: bit rot, which no stamp sees.
  static void FlipByte(const std::string& path, off_t at) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(fd.valid());
    struct stat st {};
    ASSERT_EQ(::fstat(fd.get(), &st), 0);
    char c = 0;
    ASSERT_EQ(::pread(fd.get(), &c, 1, at), 1);
    c = static_cast<char>(c ^ 0x01);
    ASSERT_EQ(::pwrite(fd.get(), &c, 1, at), 1);
    const struct timespec times[2] = {st.st_atim, st.st_mtim};
    ASSERT_EQ(::futimens(fd.get(), times), 0);
  }

  // A file put in the user's folder behind the server's back, owned as the workers' files are.
  void Plant(const std::string& name, const std::string& content) {
    const std::string path = UserDir(kUser) + "/" + name;
    ASSERT_TRUE(WriteFile(path, content));
    ASSERT_EQ(::chown(path.c_str(), NobodyUid(), NogroupGid()), 0);
  }

  const std::vector<std::pair<std::string, std::string>> files_{
      {"a", "first file\n"}, {"dir/b", RandomBytes(200000, 12)}, {"dir/c", "third\n"}};
  uint64_t Bytes() const { return 11 + 200000 + 6; }
};

TEST_F(ScrubTest, AnUndamagedStoreExitsZero) {
  ProgramResult r = Scrub({"7"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(WithoutTime(r.out), "scrubbed 3 files, 0 damaged, 0 without a digest, 0 stale, " +
                                    std::to_string(Bytes()) + " bytes, T s\n")
      << r.err;
  // Without a user: every user folder, the same three files.
  r = Scrub({});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out.rfind("scrubbed 3 files, 0 damaged,", 0), 0u) << r.out;
}

TEST_F(ScrubTest, AFlippedByteIsNamedWithBothDigestsAndExitsOne) {
  const std::string path = UserDir(kUser) + "/dir/b";
  std::string flipped = files_[1].second;
  flipped[1234] = static_cast<char>(flipped[1234] ^ 0x01);
  FlipByte(path, 1234);
  ASSERT_EQ(ReadFile(path), flipped);

  ProgramResult r = Scrub({"7"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const std::string line = "damaged: user 7 dir/b: expected sha256 " + HexSha256(files_[1].second) +
                           ", actual " + HexSha256(flipped) + "\n";
  EXPECT_NE(r.out.find(line), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("scrubbed 3 files, 1 damaged, 0 without a digest, 0 stale"),
            std::string::npos)
      << r.out;
  // The log (stderr in this config) has it too; nothing was changed.
  EXPECT_NE(r.err.find("scrub: damaged: user 7 dir/b: expected sha256 "), std::string::npos)
      << r.err;
  EXPECT_EQ(ReadFile(path), flipped);
  // Only the damaged file is named.
  EXPECT_EQ(r.out.find("user 7 a:"), std::string::npos) << r.out;
}

TEST_F(ScrubTest, AFileWithoutASidecarIsCountedNotDamaged) {
  Plant("v1-upload", "no digest was sent\n");
  ProgramResult r = Scrub({"7"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(WithoutTime(r.out), "scrubbed 4 files, 0 damaged, 1 without a digest, 0 stale, " +
                                    std::to_string(Bytes() + 19) + " bytes, T s\n")
      << r.err;
}

TEST_F(ScrubTest, AFileRewrittenAfterItsUploadIsStaleNotDamaged) {
  const std::string path = UserDir(kUser) + "/a";
  ASSERT_TRUE(WriteFile(path, "edited by hand\n"));
  ProgramResult r = Scrub({"7"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("stale digest: user 7 a: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("scrubbed 3 files, 0 damaged, 0 without a digest, 1 stale"),
            std::string::npos)
      << r.out;
}

TEST_F(ScrubTest, PlantedSymlinksAreNotFollowed) {
  const std::string outside = dir_.Sub("outside");
  ASSERT_EQ(::mkdir(outside.c_str(), 0755), 0);
  ASSERT_TRUE(WriteFile(outside + "/secret", "outside the user's folder\n"));
  ASSERT_EQ(::symlink((outside + "/secret").c_str(), (UserDir(kUser) + "/link").c_str()), 0);
  ASSERT_EQ(::symlink(outside.c_str(), (UserDir(kUser) + "/dir/linkdir").c_str()), 0);
  ASSERT_EQ(::symlink("/etc/shadow", (UserDir(kUser) + "/shadow").c_str()), 0);
  ProgramResult r = Scrub({"7"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  // The same three files and bytes as without the links: none was read through.
  EXPECT_EQ(WithoutTime(r.out), "scrubbed 3 files, 0 damaged, 0 without a digest, 0 stale, " +
                                    std::to_string(Bytes()) + " bytes, T s\n")
      << r.err;
}

TEST_F(ScrubTest, ItReadsAsTheWorkerUserNotAsRoot) {
  // A file only root may read, as a hard link to a root-only file would be: root would read it,
  // the worker user cannot, so scrub names it unreadable instead of hashing it.
  const std::string path = UserDir(kUser) + "/root-only";
  ASSERT_TRUE(WriteFile(path, "root's\n"));
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  ProgramResult r = Scrub({"7"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("damaged: user 7 root-only: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Permission denied"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(std::to_string(Bytes()) + " bytes"), std::string::npos) << r.out;
}

TEST_F(ScrubTest, AnUnknownUserOrBadUsageIsAClearError) {
  ProgramResult r = Scrub({"99"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("backupd scrub: no user 99: nothing stored in " + daemon_.storage() + "/99"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.out, "");
  r = Scrub({"seven"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("user id must be decimal digits"), std::string::npos) << r.err;
  r = Scrub({"7", "8"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("unexpected argument '8'"), std::string::npos) << r.err;
  r = RunProgram({BackupdPath(), "scrub", "-c", dir_.Sub("missing.conf")}, dir_.path(), kTimeout);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_EQ(r.out, "");
}

// A scrub (or a pruning) of a user on any node waits while another holds the user's lock: here
// the test holds it, as another node's job would, and the scrub is seen waiting in flock, then
// finishes once it is let go.
TEST_F(ScrubTest, AScrubWaitsWhileAnotherJobHoldsTheUsersLock) {
  UniqueFd lock;
  ASSERT_NO_FATAL_FAILURE(HoldUsersLock(lock));
  ProgramResult r;
  std::thread scrub([&] { r = Scrub({"7"}); });
  const bool waited = SeenWaitingInFlock({"scrub", daemon_.config_file()}, kTimeout);
  lock.reset();
  scrub.join();
  EXPECT_TRUE(waited) << "scrub never waited in flock: " << r.out << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(WithoutTime(r.out), "scrubbed 3 files, 0 damaged, 0 without a digest, 0 stale, " +
                                    std::to_string(Bytes()) + " bytes, T s\n");
}

}  // namespace
}  // namespace backupd::testing

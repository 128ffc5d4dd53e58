// test process (root): backup-client's folder runs against the real backupd (tests/harness) — a
// nested tree round-trips byte for byte, with its modes, mtimes and empty folders; a repeat run
// sends nothing, one change (of content, or only of the mtime) sends one file, --checksum finds a
// change that keeps size and mtime, and 10,000 files (or 10,101 folders) go over one connection,
// as the daemon's access log shows.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <iostream>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "tests/harness/daemon_harness.h"
#include "tests/harness/temp_dir.h"
#include "tests/harness/tree_snapshot.h"

namespace backupd::testing {
namespace {

constexpr uint32_t kUser = 301;
// 10,000 files synced one by one by the daemon take minutes on a busy machine.
constexpr Millis kClientTimeout{540000};
constexpr Millis kLogTimeout{30000};

std::string Output(const ProgramResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

class FolderBackupDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: backupd's workers chroot and drop to nobody";
    const std::string users = dir_.Sub("users");
    Result<std::string> secret = AddBackupdUser(kUser, users, dir_.Sub("none.pid"), dir_.path());
    ASSERT_TRUE(secret.ok()) << secret.status().ToString();
    ASSERT_TRUE(WriteSecretFile(dir_.Sub("secret"), *secret));
    DaemonOptions o;
    o.overrides = {"users_file=" + users};
    Status st = daemon_.Start(o);
    ASSERT_TRUE(st.ok()) << st.ToString();
    work_ = dir_.Sub("work");
    ASSERT_EQ(mkdir(work_.c_str(), 0755), 0);
  }

  ProgramResult Client(const std::vector<std::string>& command) {
    std::vector<std::string> argv = BackupClientV2(daemon_.port(), kUser, dir_.Sub("secret"));
    argv.insert(argv.end(), command.begin(), command.end());
    return RunProgram(argv, work_, kClientTimeout);
  }

  void MakeFolders(const std::vector<std::string>& folders) {
    for (const std::string& f : folders) ASSERT_EQ(mkdir((work_ + "/" + f).c_str(), 0755), 0) << f;
  }

  std::string UserDir() const { return daemon_.storage() + "/" + std::to_string(kUser); }

  size_t LogLines(const std::vector<std::string>& parts) const {
    return LinesWith(daemon_.Log(), parts).size();
  }

  TempDir dir_;
  Daemon daemon_;
  std::string work_;
};

// "scanned N, sent N, unchanged N, failed N, bytes sent N, T s" and nothing else on stdout.
void ExpectSummary(const ProgramResult& r, const std::string& counts) {
  EXPECT_TRUE(std::regex_match(r.out, std::regex(counts + ", [0-9]+\\.[0-9][0-9] s\n")))
      << Output(r);
}

TEST_F(FolderBackupDaemonTest, ATreeRoundTripsAndRepeatRunsSendOnlyChanges) {
  MakeFolders({"tree", "tree/a", "tree/a/b", "tree/a/b/c", "tree/empty", "tree/a/empty2"});
  const std::vector<std::pair<std::string, std::string>> files = {
      {"tree/top.bin", RandomBytes(100000, 1)},
      {"tree/a/mid.txt", "middle\n"},
      {"tree/a/b/c/deep.bin", RandomBytes(4097, 2)},
      {"tree/a/b/zero", ""},
  };
  for (const auto& [name, data] : files) ASSERT_TRUE(WriteFile(work_ + "/" + name, data));

  ProgramResult r = Client({"backup", "tree"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  ExpectSummary(r, "scanned 4, sent 4, unchanged 0, failed 0, bytes sent 104104");
  for (const auto& [name, data] : files) EXPECT_EQ(ReadFile(UserDir() + "/" + name), data) << name;
  const std::vector<std::string> stored = {"access ", "op=backup", "status=212"};
  ASSERT_TRUE(daemon_.WaitForLog(
      [&](const std::string& log) { return LinesWith(log, stored).size() == 4; }, kLogTimeout))
      << daemon_.Log();

  // Nothing changed: the run lists once and uploads nothing.
  r = Client({"backup", "tree"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  ExpectSummary(r, "scanned 4, sent 0, unchanged 4, failed 0, bytes sent 0");
  ASSERT_TRUE(daemon_.WaitForLogLine({"access ", "op=list"}, kLogTimeout)) << daemon_.Log();

  // One file changed (same size): just that one goes.
  std::string changed = files[2].second;
  changed[4000] ^= 0x55;
  ASSERT_TRUE(WriteFile(work_ + "/tree/a/b/c/deep.bin", changed));
  r = Client({"backup", "tree"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  ExpectSummary(r, "scanned 4, sent 1, unchanged 3, failed 0, bytes sent 4097");
  ASSERT_TRUE(daemon_.WaitForLog(
      [&](const std::string& log) { return LinesWith(log, stored).size() == 5; }, kLogTimeout))
      << daemon_.Log();
  EXPECT_EQ(
      LinesWith(daemon_.Log(), {"access ", "op=backup", "name=\"tree/a/b/c/deep.bin\""}).size(), 2u)
      << daemon_.Log();
  EXPECT_EQ(ReadFile(UserDir() + "/tree/a/b/c/deep.bin"), changed);

  // The stored folder comes back under another name, every byte as stored.
  r = Client({"restore", "tree", "-o", work_ + "/back"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(ReadFile(work_ + "/back/top.bin"), files[0].second);
  EXPECT_EQ(ReadFile(work_ + "/back/a/mid.txt"), "middle\n");
  EXPECT_EQ(ReadFile(work_ + "/back/a/b/c/deep.bin"), changed);
  EXPECT_EQ(ReadFile(work_ + "/back/a/b/zero"), "");
  // A single file still restores as a file.
  r = Client({"restore", "tree/a/mid.txt", "-o", work_ + "/mid.txt"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(ReadFile(work_ + "/mid.txt"), "middle\n");
}

// Sets both times of `path` to sec.nsec.
void SetTimes(const std::string& path, int64_t sec, long nsec) {
  const timespec times[2] = {{sec, nsec}, {sec, nsec}};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << path;
}

TEST_F(FolderBackupDaemonTest, ModesTimesAndEmptyFoldersRoundTripExactly) {
  MakeFolders({"t", "t/a", "t/a/b", "t/empty", "t/a/empty2"});
  const std::vector<std::pair<std::string, mode_t>> files = {
      {"t/f600", 0600}, {"t/a/f640", 0640}, {"t/a/b/f755", 0755}};
  int i = 0;
  for (const auto& [name, mode] : files) {
    ASSERT_TRUE(WriteFile(work_ + "/" + name, RandomBytes(1000, ++i)));
    ASSERT_EQ(chmod((work_ + "/" + name).c_str(), mode), 0);
    SetTimes(work_ + "/" + name, 1500000000 + i, 100000001L * i);
  }
  const std::vector<std::pair<std::string, mode_t>> folders = {
      {"t/a/b", 0700}, {"t/a/empty2", 0750}, {"t/a", 0750}, {"t/empty", 0700}, {"t", 0750}};
  for (const auto& [name, mode] : folders) {
    ASSERT_EQ(chmod((work_ + "/" + name).c_str(), mode), 0);
    ++i;
    SetTimes(work_ + "/" + name, 1400000000 + i, 7L * i);
  }
  const std::string tree = TreeSnapshot(work_ + "/t");
  ASSERT_NE(tree.find("a/b/f755 file 0755 1000 1500000003.300000003 "), std::string::npos) << tree;
  ASSERT_NE(tree.find("a/empty2 folder 0750 0 1400000005.000000035\n"), std::string::npos) << tree;

  ProgramResult r = Client({"backup", "t"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  ExpectSummary(r, "scanned 3, sent 3, unchanged 0, failed 0, bytes sent 3000");
  // The server keeps its own modes: files 0600, whatever was sent.
  struct stat sb {};
  ASSERT_EQ(stat((UserDir() + "/t/a/b/f755").c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 07777, 0600u);
  const std::vector<std::string> made = {"access ", "op=make-folder", "status=212"};
  ASSERT_TRUE(daemon_.WaitForLog(
      [&](const std::string& log) { return LinesWith(log, made).size() == 5; }, kLogTimeout))
      << daemon_.Log();

  r = Client({"restore", "t", "-o", work_ + "/back"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(TreeSnapshot(work_ + "/back"), tree);
  // An empty folder alone comes back as a folder, with its mode and time.
  r = Client({"restore", "t/a/empty2", "-o", work_ + "/e"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(TreeSnapshot(work_ + "/e"), ". folder 0750 0 1400000005.000000035\n");

  // Nothing changed: nothing sent, no folder made again, not a byte read to hash.
  r = Client({"backup", "t"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  ExpectSummary(r, "scanned 3, sent 0, unchanged 3, failed 0, bytes sent 0");

  // touch: the one file goes, with its new time.
  SetTimes(work_ + "/t/a/f640", 1600000000, 5);
  r = Client({"backup", "t"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  ExpectSummary(r, "scanned 3, sent 1, unchanged 2, failed 0, bytes sent 1000");
  ASSERT_EQ(stat((UserDir() + "/t/a/f640").c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mtim.tv_sec, 1600000000);
  EXPECT_EQ(sb.st_mtim.tv_nsec, 5);

  // Same size and mtime, other bytes: unchanged by default; --checksum sends it.
  const std::string changed = RandomBytes(1000, 99);
  ASSERT_TRUE(WriteFile(work_ + "/t/f600", changed));
  SetTimes(work_ + "/t/f600", 1500000001, 100000001);
  r = Client({"backup", "t"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  ExpectSummary(r, "scanned 3, sent 0, unchanged 3, failed 0, bytes sent 0");
  r = Client({"backup", "t", "--checksum"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  ExpectSummary(r, "scanned 3, sent 1, unchanged 2, failed 0, bytes sent 1000");
  EXPECT_EQ(ReadFile(UserDir() + "/t/f600"), changed);

  // Five runs and two restores, one listing each: five files stored, and never a folder again.
  const std::vector<std::string> stored = {"access ", "op=backup-attrs", "status=212"};
  ASSERT_TRUE(daemon_.WaitForLog(
      [&](const std::string& log) {
        return LinesWith(log, {"access ", "op=list-attrs"}).size() == 7 &&
               LinesWith(log, stored).size() == 5;
      },
      kLogTimeout))
      << daemon_.Log();
  EXPECT_EQ(LogLines(made), 5u);
  EXPECT_EQ(LinesWith(daemon_.Log(), {"access ", "op=backup-attrs", "name=\"t/a/f640\""}).size(),
            2u);
}

TEST_F(FolderBackupDaemonTest, TenThousandFilesUseOneConnection) {
  MakeFolders({"many"});
  constexpr int kFiles = 10000;
  for (int d = 0; d < 100; ++d) {
    const std::string sub = "many/d" + std::to_string(d);
    MakeFolders({sub});
    for (int f = 0; f < kFiles / 100; ++f) {
      ASSERT_TRUE(
          WriteFile(work_ + "/" + sub + "/f" + std::to_string(f), std::to_string(d * 100 + f)));
    }
  }
  ProgramResult r = Client({"backup", "many"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(r.out.rfind("scanned 10000, sent 10000, unchanged 0, failed 0, bytes sent ", 0), 0u)
      << Output(r);
  EXPECT_EQ(ReadFile(UserDir() + "/many/d42/f7"), "4207");

  // The access log: one login, one list, and every upload from the same peer address and port.
  const std::vector<std::string> stored = {"access ", "op=backup", "status=212"};
  ASSERT_TRUE(daemon_.WaitForLog(
      [&](const std::string& log) { return LinesWith(log, stored).size() == kFiles; }, kLogTimeout))
      << LogLines(stored) << " uploads logged";
  const std::string first_log = daemon_.Log();
  EXPECT_EQ(LinesWith(first_log, {"access ", "op=auth-start"}).size(), 1u);
  EXPECT_EQ(LinesWith(first_log, {"access ", "op=list"}).size(), 1u);
  std::set<std::string> peers;
  for (const std::string& line : LinesWith(first_log, stored)) {
    const size_t at = line.find("access ") + 7;
    peers.insert(line.substr(at, line.find(" user=") - at));
  }
  EXPECT_EQ(peers.size(), 1u);

  // A repeat run: the same one connection, and not one upload.
  r = Client({"backup", "many"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(r.out.rfind("scanned 10000, sent 0, unchanged 10000, failed 0, bytes sent 0, ", 0), 0u)
      << Output(r);
  ASSERT_TRUE(daemon_.WaitForLog(
      [&](const std::string& log) {
        return LinesWith(log, {"access ", "op=list"}).size() == 2;
      },
      kLogTimeout));
  EXPECT_EQ(LogLines(stored), static_cast<size_t>(kFiles));
  EXPECT_EQ(LogLines({"access ", "op=auth-start"}), 2u);
}

// MAKE_FOLDER is pipelined as uploads are: 10,101 folders (10,000 of them empty) in one run, on
// one connection, and none again in a repeat run.
TEST_F(FolderBackupDaemonTest, TenThousandEmptyFoldersUseOneConnection) {
  MakeFolders({"dirs"});
  for (int d = 0; d < 100; ++d) {
    const std::string sub = "dirs/d" + std::to_string(d);
    MakeFolders({sub});
    for (int e = 0; e < 100; ++e) MakeFolders({sub + "/e" + std::to_string(e)});
  }
  ProgramResult r = Client({"backup", "dirs"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  ExpectSummary(r, "scanned 0, sent 0, unchanged 0, failed 0, bytes sent 0");
  std::cout << "10,101 folders made in: " << r.out;
  struct stat sb {};
  ASSERT_EQ(stat((UserDir() + "/dirs/d42/e7").c_str(), &sb), 0);
  EXPECT_TRUE(S_ISDIR(sb.st_mode));

  const std::vector<std::string> made = {"access ", "op=make-folder", "status=212"};
  constexpr size_t kFolders = 10101;
  ASSERT_TRUE(daemon_.WaitForLog(
      [&](const std::string& log) { return LinesWith(log, made).size() == kFolders; }, kLogTimeout))
      << LogLines(made) << " folders logged";
  std::set<std::string> peers;
  for (const std::string& line : LinesWith(daemon_.Log(), made)) {
    const size_t at = line.find("access ") + 7;
    peers.insert(line.substr(at, line.find(" user=") - at));
  }
  EXPECT_EQ(peers.size(), 1u);

  r = Client({"backup", "dirs"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  std::cout << "a repeat run over 10,101 folders: " << r.out;
  ASSERT_TRUE(daemon_.WaitForLog(
      [&](const std::string& log) {
        return LinesWith(log, {"access ", "op=list-attrs"}).size() == 2;
      },
      kLogTimeout));
  EXPECT_EQ(LogLines(made), kFolders);
}

}  // namespace
}  // namespace backupd::testing

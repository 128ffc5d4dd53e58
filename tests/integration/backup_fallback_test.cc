// test process (root): backup-client against a real backupd whose test hooks make it hard to work
// with — listings cut off by a file stored between their two walks (the client asks again, and
// without a whole one a backup sends every file), and a server from before issue 12 that answers
// 1017 to LIST_ATTRS, BACKUP_ATTRS and MAKE_FOLDER (the client lists with LIST, compares by size
// and SHA-256, and sends with op 100). Every run still stores every file, byte for byte.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "tests/harness/daemon_harness.h"
#include "tests/harness/temp_dir.h"

namespace backupd::testing {
namespace {

constexpr uint32_t kUser = 311;
constexpr Millis kClientTimeout{120000};

std::string Output(const ProgramResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

// "scanned N, sent N, unchanged N, failed N, bytes sent N, T s" and nothing else on stdout.
void ExpectSummary(const ProgramResult& r, const std::string& counts) {
  EXPECT_TRUE(std::regex_match(r.out, std::regex(counts + ", [0-9]+\\.[0-9][0-9] s\n")))
      << Output(r);
}

size_t Count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// A daemon started with the test hooks' environment (worker/client_test_hooks.h), and a tree
// `work/tree` of three files (one of them in a subfolder) and an empty folder.
class BackupFallbackTest : public ::testing::Test {
 protected:
  void Start(const std::vector<std::pair<std::string, std::string>>& hooks) {
#ifndef BACKUPD_TEST_HOOKS
    GTEST_SKIP() << "built without BACKUPD_TEST_HOOKS";
#endif
    if (geteuid() != 0) GTEST_SKIP() << "needs root: backupd's workers chroot and drop to nobody";
    const std::string users = dir_.Sub("users");
    Result<std::string> secret = AddBackupdUser(kUser, users, dir_.Sub("none.pid"), dir_.path());
    ASSERT_TRUE(secret.ok()) << secret.status().ToString();
    ASSERT_TRUE(WriteSecretFile(dir_.Sub("secret"), *secret));
    // The workers read the hooks at their start: the environment matters only for this daemon.
    for (const auto& [name, value] : hooks) ASSERT_EQ(::setenv(name.c_str(), value.c_str(), 1), 0);
    Status st = daemon_.Start(DaemonOptions{{"users_file=" + users}});
    for (const auto& hook : hooks) ::unsetenv(hook.first.c_str());
    ASSERT_TRUE(st.ok()) << st.ToString();
    work_ = dir_.Sub("work");
    for (const char* folder : {"", "/tree", "/tree/sub", "/tree/empty"}) {
      ASSERT_EQ(mkdir((work_ + folder).c_str(), 0755), 0) << folder;
    }
    for (const auto& [name, data] : files_) ASSERT_TRUE(WriteFile(work_ + "/" + name, data));
  }

  ProgramResult Client(const std::vector<std::string>& command) {
    std::vector<std::string> argv = BackupClientV2(daemon_.port(), kUser, dir_.Sub("secret"));
    argv.insert(argv.end(), command.begin(), command.end());
    return RunProgram(argv, work_, kClientTimeout);
  }

  // A run that has to send every file of the tree: it succeeds and says so.
  ProgramResult SendsAll(const std::vector<std::string>& command) {
    ProgramResult r = Client(command);
    EXPECT_EQ(r.exit_code, 0) << Output(r);
    ExpectSummary(r, "scanned 3, sent 3, unchanged 0, failed 0, bytes sent 75004");
    return r;
  }

  std::string Stored(const std::string& name) const {
    return daemon_.storage() + "/" + std::to_string(kUser) + "/" + name;
  }

  // Every file of the tree is stored with the bytes it has now.
  void ExpectAllStored() {
    for (const auto& [name, data] : files_) EXPECT_EQ(ReadFile(Stored(name)), data) << name;
  }

  // Gives `name` other bytes of the same size.
  void Change(const std::string& name) {
    for (auto& [n, data] : files_) {
      if (n != name) continue;
      data[data.size() / 2] ^= 0x5a;
      ASSERT_TRUE(WriteFile(work_ + "/" + name, data));
    }
  }

  TempDir dir_;
  Daemon daemon_;
  std::string work_;
  std::vector<std::pair<std::string, std::string>> files_ = {
      {"tree/a.bin", RandomBytes(70000, 1)},
      {"tree/b.txt", "bee\n"},
      {"tree/sub/c.bin", RandomBytes(5000, 2)},
  };
};

TEST_F(BackupFallbackTest, AListingCutOffOnceIsAskedAgainAndTheRunSendsOnlyTheChange) {
  Start({{"BACKUPD_TEST_CUT_LISTINGS", "1"}});
  if (IsSkipped() || HasFatalFailure()) return;
  // Nothing stored yet: 1002, no listing to cut off.
  ProgramResult r = SendsAll({"backup", "tree"});

  Change("tree/sub/c.bin");
  r = Client({"backup", "tree"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  // The second listing arrived whole and was used: one file sent, not three.
  ExpectSummary(r, "scanned 3, sent 1, unchanged 2, failed 0, bytes sent 5000");
  EXPECT_EQ(Count(r.err, "did not arrive whole"), 1u) << Output(r);
  EXPECT_EQ(Count(r.err, "asking again"), 1u) << Output(r);
  // The hook did cut the first one off, by storing a file between its count and its send walk.
  EXPECT_EQ(ReadFile(Stored("0-cut-listing-1")), "");
  ExpectAllStored();
}

TEST_F(BackupFallbackTest, AListingNeverWholeMakesTheRunSendEveryFile) {
  Start({{"BACKUPD_TEST_CUT_LISTINGS", "100"}});
  if (IsSkipped() || HasFatalFailure()) return;
  ProgramResult r = Client({"backup", "tree"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);

  Change("tree/a.bin");
  r = SendsAll({"backup", "tree"});
  EXPECT_EQ(Count(r.err, "asking again"), 3u) << Output(r);
  EXPECT_EQ(Count(r.err, "no whole list of what is stored after 4 tries"), 1u) << Output(r);
  EXPECT_EQ(Count(r.err, "sending every file, as --full does"), 1u) << Output(r);
  // Four listings, each cut off by its own file; no fifth was asked for.
  EXPECT_EQ(ReadFile(Stored("0-cut-listing-4")), "");
  EXPECT_FALSE(PathExists(Stored("0-cut-listing-5")));
  ExpectAllStored();
  // The empty folder was made too, with the run's other MAKE_FOLDERs.
  struct stat sb {};
  EXPECT_EQ(stat(Stored("tree/empty").c_str(), &sb), 0);
}

TEST_F(BackupFallbackTest, ListAndFolderRestoreAskAgainForACutOffListing) {
  Start({{"BACKUPD_TEST_CUT_LISTINGS", "1"}});
  if (IsSkipped() || HasFatalFailure()) return;
  ASSERT_EQ(Client({"backup", "tree"}).exit_code, 0);

  ProgramResult r = Client({"list"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(r.out, "0-cut-listing-1\ntree/a.bin\ntree/b.txt\ntree/sub/c.bin\n") << Output(r);
  EXPECT_EQ(Count(r.err, "list: the list did not arrive whole"), 1u) << Output(r);

  // The hook counts its files: with this one gone, the next listing is cut off again.
  ASSERT_EQ(Client({"delete", "0-cut-listing-1"}).exit_code, 0);
  r = Client({"restore", "tree", "-o", work_ + "/back"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(Count(r.err, "restore tree: the list did not arrive whole"), 1u) << Output(r);
  for (const auto& [name, data] : files_) {
    EXPECT_EQ(ReadFile(work_ + "/back/" + name.substr(5)), data) << name;
  }
  struct stat sb {};
  EXPECT_EQ(stat((work_ + "/back/empty").c_str(), &sb), 0);
  EXPECT_TRUE(S_ISDIR(sb.st_mode));
  EXPECT_TRUE(PathExists(Stored("0-cut-listing-1")));
}

TEST_F(BackupFallbackTest, AListNeverWholeFailsAfterItsRetries) {
  Start({{"BACKUPD_TEST_CUT_LISTINGS", "100"}});
  if (IsSkipped() || HasFatalFailure()) return;
  ASSERT_EQ(Client({"backup", "tree"}).exit_code, 0);

  ProgramResult r = Client({"list"});
  EXPECT_EQ(r.exit_code, 3) << Output(r);
  EXPECT_EQ(Count(r.err, "asking again"), 3u) << Output(r);
  EXPECT_EQ(Count(r.err, "backup-client: list: no whole list after 4 tries, the last: "), 1u)
      << Output(r);
  EXPECT_TRUE(PathExists(Stored("0-cut-listing-4")));
  EXPECT_FALSE(PathExists(Stored("0-cut-listing-5")));
}

TEST_F(BackupFallbackTest, AServerBeforeIssue12GetsFilesByOp100ComparedBySizeAndDigestAndRestored) {
  Start({{"BACKUPD_TEST_BEFORE_ISSUE_12", "1"}});
  if (IsSkipped() || HasFatalFailure()) return;
  ProgramResult r = SendsAll({"backup", "tree"});
  EXPECT_EQ(Count(r.err, "the server does not know list-attrs (op 203, answered 1017)"), 1u)
      << Output(r);
  EXPECT_EQ(Count(r.err, "1 empty folder(s) not kept"), 1u) << Output(r);
  ExpectAllStored();
  EXPECT_FALSE(PathExists(Stored("tree/empty")));
  // Sent as op 100: no mode kept, so the list shows none; LIST_ATTRS was refused once.
  EXPECT_EQ(LinesWith(daemon_.Log(), {"access ", "op=list-attrs", "status=1017"}).size(), 1u)
      << daemon_.Log();
  EXPECT_TRUE(LinesWith(daemon_.Log(), {"access ", "op=backup-attrs"}).empty()) << daemon_.Log();

  // Nothing changed: every file hashed and found the same.
  r = Client({"backup", "tree"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  ExpectSummary(r, "scanned 3, sent 0, unchanged 3, failed 0, bytes sent 0");

  // Other bytes of the same size, the mtime put back: the digest tells.
  struct stat before {};
  ASSERT_EQ(stat((work_ + "/tree/a.bin").c_str(), &before), 0);
  Change("tree/a.bin");
  const timespec times[2] = {before.st_mtim, before.st_mtim};
  ASSERT_EQ(utimensat(AT_FDCWD, (work_ + "/tree/a.bin").c_str(), times, 0), 0);
  r = Client({"backup", "tree"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  ExpectSummary(r, "scanned 3, sent 1, unchanged 2, failed 0, bytes sent 70000");
  ExpectAllStored();

  // A folder restore lists with LIST too: the files come back, byte for byte.
  r = Client({"restore", "tree", "-o", work_ + "/back"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  for (const auto& [name, data] : files_) {
    EXPECT_EQ(ReadFile(work_ + "/back/" + name.substr(5)), data) << name;
  }

  // --full asks for no listing: its first MAKE_FOLDER gets the 1017, and the run goes on by op 100.
  r = SendsAll({"backup", "tree", "--full"});
  EXPECT_EQ(Count(r.err, "the server does not know make-folder (op 104, answered 1017)"), 1u)
      << Output(r);
  ExpectAllStored();
}

TEST_F(BackupFallbackTest, AServerBeforeIssue12WithItsListingCutOffStillStoresEveryFile) {
  Start({{"BACKUPD_TEST_BEFORE_ISSUE_12", "1"}, {"BACKUPD_TEST_CUT_LISTINGS", "1"}});
  if (IsSkipped() || HasFatalFailure()) return;
  ASSERT_EQ(Client({"backup", "tree"}).exit_code, 0);
  Change("tree/b.txt");
  ProgramResult r = Client({"backup", "tree"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  ExpectSummary(r, "scanned 3, sent 1, unchanged 2, failed 0, bytes sent 4");
  EXPECT_EQ(Count(r.err, "asking again"), 1u) << Output(r);
  EXPECT_TRUE(PathExists(Stored("0-cut-listing-1")));
  ExpectAllStored();
}

// A reload retires a worker after its current request: a run whose listing was that request finds
// its connection ended before the first upload's answer, and sends the uploads again on a new one.
TEST_F(BackupFallbackTest, AConnectionEndedAfterTheListingIsReplacedAndEveryUploadSentAgain) {
  Start({{"BACKUPD_TEST_RETIRE_AFTER_LISTING", "1"}});
  if (IsSkipped() || HasFatalFailure()) return;
  ProgramResult r = SendsAll({"backup", "tree"});
  EXPECT_EQ(Count(r.err, "the server ended the connection before answering"), 1u) << Output(r);
  ExpectAllStored();
  struct stat sb {};
  ASSERT_EQ(stat(Stored("tree/empty").c_str(), &sb), 0);
  EXPECT_TRUE(S_ISDIR(sb.st_mode));

  Change("tree/sub/c.bin");
  r = Client({"backup", "tree"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  ExpectSummary(r, "scanned 3, sent 1, unchanged 2, failed 0, bytes sent 5000");
  ExpectAllStored();
}

}  // namespace
}  // namespace backupd::testing

// test process (root): the group commit of pipelined v2 uploads through the real daemon — every
// upload of a batch answered with its own status, in order, and no answer sent before the
// batch's files are renamed in.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "protocol/digest.h"
#include "protocol/wire_v2.h"
#include "tests/harness/v2_client.h"
#include "tests/integration/v2_user_test.h"

namespace backupd::testing {
namespace {

namespace v2 = protocol::v2;

constexpr uint32_t kUser = 7;
constexpr uint16_t kV2Mismatch = static_cast<uint16_t>(v2::ResponseCode::kDigestMismatch);
constexpr Millis kTimeout{10000};

// A whole v2 backup request of `content` as `name`, carrying `digest`.
std::string BackupBytes(const std::string& name, const std::string& content,
                        const protocol::Digest& digest) {
  return v2::EncodeRequestPrefix(kUser, v2::Op::kBackup, name, content.size()) + content +
         v2::EncodeDigestTrailer(digest);
}

std::string BackupBytes(const std::string& name, const std::string& content) {
  return BackupBytes(name, content, protocol::Sha256Of(content));
}

// The same upload as BACKUP_ATTRS (op 103, what backup-client sends), with mode 0640.
std::string BackupAttrsBytes(const std::string& name, const std::string& content) {
  return v2::EncodeRequestPrefix(kUser, v2::Op::kBackupAttrs, name,
                                 v2::kAttributesSize + content.size()) +
         v2::EncodeAttributes({0640, 1700000000000000000}) + content +
         v2::EncodeDigestTrailer(protocol::Sha256Of(content));
}

// User 7 registered with `backupd user add`; `stop_at`, when given, arms the upload step hook
// (test builds only) in the daemon's processes.
class GroupCommitTest : public V2UserTest {
 protected:
  GroupCommitTest() : V2UserTest(kUser) {}
  virtual const char* StopAt() const { return nullptr; }
  void SetUp() override {
    // The daemon's processes inherit the environment it is started with (`backupd user add`,
    // run first, uploads nothing).
    if (StopAt() != nullptr) ::setenv("BACKUPD_TEST_STOP_AT_UPLOAD_STEP", StopAt(), 1);
    V2UserTest::SetUp();
    ::unsetenv("BACKUPD_TEST_STOP_AT_UPLOAD_STEP");
  }

  std::vector<std::string> Leftovers(const std::string& folder) const {
    std::vector<std::string> out;
    for (std::string& name : ListDir(folder)) {
      if (name.rfind(".backupd-tmp-", 0) == 0 || name == ".backupd-uploads") out.push_back(name);
    }
    return out;
  }
};

TEST_F(GroupCommitTest, EachUploadOfAPipelinedBatchGetsItsOwnAnswerInOrder) {
  V2Client c;
  LogIn(c);
  const std::string bad = "bytes that do not match the digest sent";
  // Sent in one write, so each next request is already there when an upload ends: one batch.
  ASSERT_TRUE(c.Send(BackupBytes("a", "first") + BackupBytes("sub/b", "second") +
                     BackupBytes("c", bad, protocol::Sha256Of("other bytes")) +
                     BackupBytes("sub/d", "fourth") + BackupBytes("a", "fifth")));
  const std::vector<uint16_t> want = {kV2Ok, kV2Ok, kV2Mismatch, kV2Ok, kV2Ok};
  for (size_t i = 0; i < want.size(); ++i) {
    V2Response r = c.Read();
    EXPECT_EQ(r.status, want[i]) << "answer " << i << ": " << r.payload << "\n" << daemon_.Log();
  }
  const std::string user = UserDir(kUser);
  EXPECT_EQ(ReadFile(user + "/a"), "fifth");
  EXPECT_EQ(ReadFile(user + "/sub/b"), "second");
  EXPECT_EQ(ReadFile(user + "/sub/d"), "fourth");
  EXPECT_EQ(ReadFile(user + "/c"), std::nullopt) << "a mismatched upload was stored";
  EXPECT_TRUE(Leftovers(user).empty());
  EXPECT_TRUE(Leftovers(user + "/sub").empty());
  // The connection goes on after the batch: a later single upload is answered at once.
  EXPECT_EQ(c.Backup(kUser, "e", "sixth"), kV2Ok);
  EXPECT_EQ(ReadFile(user + "/e"), "sixth");
}

// The server reads ahead only on bytes already sent: a client that sends the next request's
// header and waits for the previous answer before its payload gets that answer, not a stall.
TEST_F(GroupCommitTest, AnAnswerNeverWaitsForBytesTheClientHasNotSent) {
  V2Client c;
  LogIn(c);
  const std::string second = "second";
  const std::string next = BackupBytes("b", second);
  const size_t prefix = next.size() - second.size() - protocol::kDigestSize;
  ASSERT_TRUE(c.Send(BackupBytes("a", "first") + next.substr(0, prefix)));
  // V2Client's reads give up after 5 s; the server's request_timeout is longer.
  V2Response first = c.Read();
  EXPECT_EQ(first.status, kV2Ok) << daemon_.Log();
  EXPECT_EQ(ReadFile(UserDir(kUser) + "/a"), "first");
  ASSERT_TRUE(c.Send(next.substr(prefix)));
  EXPECT_EQ(c.Read().status, kV2Ok);
  EXPECT_EQ(ReadFile(UserDir(kUser) + "/b"), second);
}

// Each upload of a batch sends its access record at once, so a burst of batches puts hundreds of
// records in the worker's report pipe faster than a busy supervisor reads them; a record that does
// not fit is lost (reports never block a request). Stopped supervisor, 300 uploads: all logged.
TEST_F(GroupCommitTest, EveryUploadOfABurstIsLoggedThoughTheSupervisorIsBusy) {
  constexpr int kUploads = 300;
  V2Client c;
  LogIn(c);
  std::string burst;
  for (int i = 0; i < kUploads; ++i) burst += BackupBytes("burst/f" + std::to_string(i), "x");
  ASSERT_EQ(::kill(daemon_.pid(), SIGSTOP), 0);
  const bool sent = c.Send(burst);
  int ok = 0;
  for (int i = 0; sent && i < kUploads; ++i) ok += c.Read().status == kV2Ok ? 1 : 0;
  ASSERT_EQ(::kill(daemon_.pid(), SIGCONT), 0);
  ASSERT_TRUE(sent);
  EXPECT_EQ(ok, kUploads);
  const std::vector<std::string> stored = {"access ", "op=backup", "name=\"burst/f", "status=212"};
  EXPECT_TRUE(daemon_.WaitForLog(
      [&](const std::string& log) { return LinesWith(log, stored).size() == kUploads; }, kTimeout))
      << LinesWith(daemon_.Log(), stored).size() << " of " << kUploads << " uploads logged";
}

// The hook stops the session child right after each upload's rename; while it is stopped, the
// client must have no answer yet, though the earlier uploads of the batch are renamed in: the
// answers wait for the batch's folder fsync.
class GroupCommitStepTest : public GroupCommitTest {
 protected:
  const char* StopAt() const override { return "after-rename"; }

  // Sends the uploads of `names` in one write (each encoded by `encode`) and checks that none of
  // them is answered before the last is renamed in: they were committed as one batch.
  void ExpectOneBatch(const std::vector<std::string>& names,
                      std::string (*encode)(const std::string&, const std::string&)) {
    V2Client c;
    LogIn(c);
    std::string requests;
    for (const std::string& name : names) requests += encode(name, "content of " + name);
    ASSERT_TRUE(c.Send(requests));
    const std::string user = UserDir(kUser);
    for (const std::string& name : names) {
      pid_t stopped = -1;
      ASSERT_TRUE(Eventually(
          [&] {
            if (!ReadFile(user + "/" + name)) return false;
            for (pid_t p : DescendantsOf(daemon_.pid())) {
              if (ProcessStopped(p)) stopped = p;
            }
            return stopped > 0;
          },
          kTimeout))
          << "no session child stopped after renaming " << name << "\n"
          << daemon_.Log();
      EXPECT_FALSE(c.HasResponse()) << "an answer went out before " << name << " was renamed in";
      // One record names the whole batch's temp files, not one per upload.
      EXPECT_EQ(ListDir(user + "/.backupd-uploads").size(), 1u) << name;
      ASSERT_EQ(::kill(stopped, SIGCONT), 0);
    }
    for (const std::string& name : names) {
      V2Response r = c.Read();
      EXPECT_EQ(r.status, kV2Ok) << name << ": " << r.payload;
      EXPECT_EQ(ReadFile(user + "/" + name), "content of " + name);
    }
  }
};

TEST_F(GroupCommitStepTest, NoAnswerIsSentBeforeTheBatchIsRenamedIn) {
#ifndef BACKUPD_TEST_HOOKS
  GTEST_SKIP() << "built without BACKUPD_TEST_HOOKS";
#endif
  ExpectOneBatch({"one", "two", "three"}, BackupBytes);
}

// backup-client's uploads carry attributes (BACKUP_ATTRS): they are batched as plain BACKUPs are.
TEST_F(GroupCommitStepTest, UploadsWithAttributesAreBatchedToo) {
#ifndef BACKUPD_TEST_HOOKS
  GTEST_SKIP() << "built without BACKUPD_TEST_HOOKS";
#endif
  ExpectOneBatch({"one", "two", "three"}, BackupAttrsBytes);
}

}  // namespace
}  // namespace backupd::testing

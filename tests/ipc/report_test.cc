// test process: worker reports written and read over a real pipe, and their validation.
#include "ipc/report.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include <gtest/gtest.h>

namespace backupd::ipc {
namespace {

class PipeTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::pipe2(fds_, O_NONBLOCK | O_CLOEXEC), 0); }
  void TearDown() override {
    if (fds_[0] >= 0) ::close(fds_[0]);
    if (fds_[1] >= 0) ::close(fds_[1]);
  }
  int fds_[2] = {-1, -1};
};

TEST_F(PipeTest, ReportsArriveWholeAndInOrder) {
  ASSERT_TRUE(Send(fds_[1], StateReport(7, WorkerState::kIdle)).ok());
  ASSERT_TRUE(Send(fds_[1], LogReport(7, Severity::kWarning, "disk nearly full")).ok());
  std::vector<Report> got;
  ASSERT_TRUE(ReadAvailable(fds_[0], &got).ok());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].type, static_cast<uint8_t>(ReportType::kState));
  EXPECT_EQ(got[0].state, static_cast<uint8_t>(WorkerState::kIdle));
  EXPECT_EQ(got[0].generation, 7u);
  EXPECT_EQ(got[1].type, static_cast<uint8_t>(ReportType::kLog));
  EXPECT_STREQ(got[1].text, "disk nearly full");
  EXPECT_TRUE(Validate(got[0]).ok());
  EXPECT_TRUE(Validate(got[1]).ok());
}

TEST_F(PipeTest, EofMeansTheWorkerIsGone) {
  ::close(fds_[1]);
  fds_[1] = -1;
  std::vector<Report> got;
  EXPECT_EQ(ReadAvailable(fds_[0], &got).code(), Status::Code::kClosed);
  EXPECT_TRUE(got.empty());
}

TEST_F(PipeTest, TornReportIsInvalidAndWholeOnesBeforeItAreKept) {
  ASSERT_TRUE(Send(fds_[1], StateReport(1, WorkerState::kBusy)).ok());
  const char junk[5] = {1, 2, 3, 4, 5};
  ASSERT_EQ(::write(fds_[1], junk, sizeof junk), 5);
  std::vector<Report> got;
  EXPECT_EQ(ReadAvailable(fds_[0], &got).code(), Status::Code::kInvalid);
  EXPECT_EQ(got.size(), 1u);
}

TEST_F(PipeTest, AFloodingWorkerIsReadAtMostSixteenReportsPerTurnAndNothingIsLost) {
  // A worker that fills its pipe: the supervisor's turn must end after one batch, leaving the
  // rest in the pipe rather than reading it all into memory.
  size_t sent = 0;
  while (Send(fds_[1], LogReport(3, Severity::kInfo, std::to_string(sent))).ok()) ++sent;
  ASSERT_GT(sent, 2 * kMaxReportsPerTurn);
  ASSERT_EQ(kMaxReportsPerTurn, 16u);
  std::vector<Report> got;
  ASSERT_TRUE(ReadAvailable(fds_[0], &got).ok());
  EXPECT_EQ(got.size(), kMaxReportsPerTurn);
  size_t turns = 1;
  for (size_t before = 0; got.size() != before; ++turns) {
    before = got.size();
    ASSERT_TRUE(ReadAvailable(fds_[0], &got).ok());
    EXPECT_LE(got.size() - before, kMaxReportsPerTurn);
  }
  ASSERT_EQ(got.size(), sent);
  for (size_t i = 0; i < sent; ++i) EXPECT_EQ(got[i].text, std::to_string(i));
  EXPECT_GE(turns, sent / kMaxReportsPerTurn);
}

TEST(ReportLayoutTest, EveryByteOfAReportIsAFieldNoPaddingLeaksWorkerMemory) {
  EXPECT_TRUE(std::has_unique_object_representations_v<Report>);
  // The bytes once left as padding after user_id are now a named, zeroed field.
  Report r = StateReport(1, WorkerState::kIdle);
  EXPECT_EQ(offsetof(Report, reserved2), offsetof(Report, user_id) + sizeof r.user_id);
  EXPECT_EQ(offsetof(Report, bytes_in), offsetof(Report, reserved2) + sizeof r.reserved2);
  EXPECT_EQ(r.reserved2, 0u);
}

TEST_F(PipeTest, AFullPipeDropsTheReportInsteadOfBlocking) {
  Status last;
  for (int i = 0; i < 10000 && last.ok(); ++i)
    last = Send(fds_[1], StateReport(1, WorkerState::kBusy));
  EXPECT_EQ(last.code(), Status::Code::kTimeout);  // EAGAIN: the worker goes on serving
}

TEST(ValidateTest, AStalledReportCarriesThePeerAndWhatItDid) {
  Report r = StalledReport(3, "127.0.0.1:4242", "sent nothing (header_timeout)");
  ASSERT_TRUE(Validate(r).ok());
  EXPECT_EQ(r.type, static_cast<uint8_t>(ReportType::kStalled));
  EXPECT_EQ(r.generation, 3u);
  EXPECT_STREQ(r.peer, "127.0.0.1:4242");
  EXPECT_STREQ(r.text, "sent nothing (header_timeout)");
  std::memset(r.text, 'a', sizeof r.text);
  EXPECT_FALSE(Validate(r).ok());
}

TEST(ValidateTest, RejectsWhatAWellBehavedWorkerCannotSend) {
  Report r = StateReport(1, WorkerState::kIdle);
  ASSERT_TRUE(Validate(r).ok());

  Report bad_magic = r;
  bad_magic.magic ^= 1;
  EXPECT_FALSE(Validate(bad_magic).ok());

  Report bad_type = r;
  bad_type.type = 9;
  EXPECT_FALSE(Validate(bad_type).ok());

  Report bad_state = r;
  bad_state.state = 3;
  EXPECT_FALSE(Validate(bad_state).ok());

  Report bad_severity = LogReport(1, Severity::kError, "x");
  bad_severity.severity = 4;
  EXPECT_FALSE(Validate(bad_severity).ok());

  Report unterminated = r;
  std::memset(unterminated.peer, 'a', sizeof unterminated.peer);
  EXPECT_FALSE(Validate(unterminated).ok());
  Report unterminated_detail = r;
  std::memset(unterminated_detail.detail, 'a', sizeof unterminated_detail.detail);
  EXPECT_FALSE(Validate(unterminated_detail).ok());
}

TEST(SetFieldTest, TruncatesAndTerminates) {
  char field[4];
  SetField(field, "abcdef");
  EXPECT_STREQ(field, "abc");
  SetField(field, "");
  EXPECT_STREQ(field, "");
}

}  // namespace
}  // namespace backupd::ipc

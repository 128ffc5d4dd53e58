// test process: the worker's Reporter over a real non-blocking pipe — what it does when the
// supervisor has not read the pipe and it is full.
#include "worker/reporter.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ipc/report.h"

namespace backupd::worker {
namespace {

// Reports lost to a full pipe are counted, and the first send that fits again is preceded by a
// warning with the exact count, so the supervisor's log says where access records are missing.
TEST(ReporterTest, ReportsLostToAFullPipeAreCountedInAWarningBeforeTheNextOne) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
  while (ipc::Send(fds[1], ipc::StateReport(1, ipc::WorkerState::kBusy)).ok()) {
  }
  Reporter reporter(fds[1], 9);
  ipc::Report record{};
  ipc::SetField(record.text, "lost");
  for (int i = 0; i < 5; ++i) reporter.Request(record);

  std::vector<ipc::Report> drained;
  do {
    drained.clear();
    ASSERT_TRUE(ipc::ReadAvailable(fds[0], &drained).ok());
  } while (!drained.empty());
  ipc::SetField(record.text, "kept");
  reporter.Request(record);

  std::vector<ipc::Report> got;
  ASSERT_TRUE(ipc::ReadAvailable(fds[0], &got).ok());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].type, static_cast<uint8_t>(ipc::ReportType::kLog));
  EXPECT_EQ(got[0].severity, static_cast<uint8_t>(ipc::Severity::kWarning));
  EXPECT_EQ(std::string(got[0].text).rfind("5 reports (access records among them) lost", 0), 0u)
      << got[0].text;
  EXPECT_EQ(got[1].type, static_cast<uint8_t>(ipc::ReportType::kRequest));
  EXPECT_STREQ(got[1].text, "kept");
  EXPECT_EQ(got[1].generation, 9u);

  // Once told, the count starts again: the next report goes alone.
  reporter.Log(ipc::Severity::kInfo, "next");
  got.clear();
  ASSERT_TRUE(ipc::ReadAvailable(fds[0], &got).ok());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_STREQ(got[0].text, "next");
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace
}  // namespace backupd::worker

// test process (root): lists through the real daemon over v1 and v2 — a folder the session child
// cannot read is left out and named once in the log, and 200,000 files are listed whole by a
// session child whose peak memory stays small.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "protocol/digest.h"
#include "protocol/wire_v2.h"
#include "tests/harness/v2_client.h"
#include "tests/integration/v2_user_test.h"

namespace backupd::testing {
namespace {

namespace v2 = protocol::v2;
using protocol::Op;

constexpr uint32_t kUser = 7;

// User 7 registered with `backupd user add`, v1 served from loopback.
class ListTest : public V2UserTest {
 protected:
  ListTest() : V2UserTest(kUser) {}
  std::vector<std::string> Settings() const override { return {"legacy_v1=loopback"}; }

  // The user's v2 list over `c`; the decoded entries, or why not.
  static Result<std::vector<v2::ListEntry>> ListV2(V2Client& c) {
    if (!c.Send(v2::EncodeRequestPrefix(kUser, v2::Op::kList, "", 0))) {
      return Status::IoError("send the list request");
    }
    V2Response list = c.Read();
    if (list.status != kV2ListOk) {
      return Status::Invalid("list answered " + std::to_string(list.status));
    }
    return v2::DecodeListEntries(list.payload);
  }

  // The one session child (the connection's), polled for.
  pid_t SessionChild() {
    std::vector<pid_t> children;
    EXPECT_TRUE(Eventually([&] { return (children = daemon_.SessionChildren()).size() == 1; },
                           Millis(5000)))
        << children.size() << " session children";
    return children.empty() ? -1 : children[0];
  }

  // VmHWM (peak resident memory) of `pid`, in KiB.
  static long PeakKib(pid_t pid) {
    std::optional<std::string> hwm = ProcStatusField(pid, "VmHWM");
    return hwm ? std::stol(*hwm) : -1;
  }

  static int CountOf(const std::string& text, const std::string& part) {
    int n = 0;
    for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
    return n;
  }
};

TEST_F(ListTest, AnUnreadableFolderIsLeftOutAndNamedInOneEscapedWarningOverV1AndV2) {
  // A name that would forge a log line if it were written raw.
  const std::string locked = "locked\nFORGED";
  for (const std::string& name : {std::string("open/a"), locked + "/b", std::string("z")}) {
    ASSERT_TRUE(HasStatus(CallOnce(kUser, Op::kBackup, name, "x"), kOk)) << name;
  }
  // The session child is nobody, not root: EACCES is real.
  ASSERT_EQ(::chmod((UserDir(kUser) + "/" + locked).c_str(), 0), 0);

  Result<Response> v1 = CallOnce(kUser, Op::kList, "");
  ASSERT_TRUE(HasStatus(v1, kListOk));
  EXPECT_EQ(v1->payload, "open/a\nz\n");

  V2Client c;
  LogIn(c);
  Result<std::vector<v2::ListEntry>> entries = ListV2(c);
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].name, "open/a");
  EXPECT_EQ((*entries)[1].name, "z");

  const std::string line = "user 7: list: left out folder locked\\x0aFORGED, which cannot be read";
  ASSERT_TRUE(daemon_.WaitForLog([&](const std::string& log) { return CountOf(log, line) == 2; },
                                 Millis(5000)))
      << daemon_.Log();
  EXPECT_EQ(CountOf(daemon_.Log(), "\nFORGED"), 0) << daemon_.Log();
  ::chmod((UserDir(kUser) + "/" + locked).c_str(), 0700);
}

TEST_F(ListTest, TwoHundredThousandFilesAreListedWholeByASessionChildUnder32MiB) {
  constexpr int kFiles = 200000;
  constexpr long kMaxPeakKib = 32 * 1024;
  {
    V2Client c;
    LogIn(c);
    ASSERT_EQ(c.Backup(kUser, "seed", "hello"), kV2Ok);
  }
  // Empty files made straight in the user's folder: a backup each would take far longer.
  UniqueFd folder(::open(UserDir(kUser).c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(folder.valid());
  char name[16];
  for (int i = 0; i < kFiles; ++i) {
    std::snprintf(name, sizeof name, "f%06d", i);
    ASSERT_EQ(::mknodat(folder.get(), name, S_IFREG | 0600, 0), 0) << name;
  }

  {
    RawClient v1;
    ASSERT_TRUE(v1.Connect(daemon_.port()).ok());
    Result<Response> list = v1.Call(kUser, Op::kList, "");
    ASSERT_TRUE(HasStatus(list, kListOk));
    EXPECT_EQ(list->payload.size(), 8u * kFiles + 5);
    EXPECT_EQ(list->payload.substr(0, 16), "f000000\nf000001\n");
    EXPECT_EQ(list->payload.substr(8 * 123456, 8), "f123456\n");
    EXPECT_EQ(list->payload.substr(8u * kFiles), "seed\n");
    const long peak = PeakKib(SessionChild());
    std::cout << "v1 list of " << kFiles + 1 << " files: session child VmHWM " << peak << " KiB\n";
    EXPECT_GT(peak, 0);
    if (kMemoryIsMeasurable) {
      EXPECT_LT(peak, kMaxPeakKib);
    }
  }
  ASSERT_TRUE(Eventually([&] { return daemon_.SessionChildren().empty(); }, Millis(5000)));

  V2Client c;
  LogIn(c);
  Result<std::vector<v2::ListEntry>> entries = ListV2(c);
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  ASSERT_EQ(entries->size(), static_cast<size_t>(kFiles) + 1);
  EXPECT_EQ((*entries)[0].name, "f000000");
  EXPECT_EQ((*entries)[123456].name, "f123456");
  EXPECT_EQ((*entries)[123456].size, 0u);
  const v2::ListEntry& seed = entries->back();
  EXPECT_EQ(seed.name, "seed");
  EXPECT_EQ(seed.size, 5u);
  EXPECT_EQ(seed.sha256, protocol::Sha256Of("hello"));
  const long peak = PeakKib(SessionChild());
  std::cout << "v2 list of " << kFiles + 1 << " files: session child VmHWM " << peak << " KiB\n";
  EXPECT_GT(peak, 0);
  if (kMemoryIsMeasurable) {
    EXPECT_LT(peak, kMaxPeakKib);
  }
}

}  // namespace
}  // namespace backupd::testing

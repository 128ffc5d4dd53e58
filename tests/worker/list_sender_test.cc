// tests (unprivileged or root): a list counted, then sent over a socketpair from a real temp
// folder — what the answer holds when files come or go between the two walks.
#include "worker/list_sender.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/harness/temp_dir.h"

namespace backupd::worker {
namespace {

namespace fs = std::filesystem;

// Protocol v1's entries: the name and a newline.
const ListFormat kLines{1, UserDir::ListOptions::kNamesOnly,
                        [](std::string& out, const StoredFile& f) { out += f.name + "\n"; }};

class ListSenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directory(folder());
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    client_ = fds[0];
    ASSERT_EQ(::fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
    conn_ = std::make_unique<Connection>(UniqueFd(fds[1]), "test-peer");
    int dir = ::open(folder().c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    ASSERT_GE(dir, 0);
    dir_ = std::make_unique<UserDir>(&RealSys(), UniqueFd(dir));
  }
  void TearDown() override {
    conn_.reset();
    ::close(client_);
  }

  std::string folder() const { return root_.Sub("user"); }
  void Make(const std::string& name) {
    fs::create_directories((fs::path(folder()) / name).parent_path());
    std::ofstream(fs::path(folder()) / name) << "x";
  }
  Result<ListCount> Count(uint64_t max_files = UINT64_MAX) {
    return CountList(*dir_, kLines, max_files,
                     [this](std::string_view line) { warnings_.emplace_back(line); });
  }
  Result<uint64_t> Send(uint64_t announced) {
    return SendList(*dir_, kLines, announced, *conn_, Clock::now() + std::chrono::seconds(5));
  }
  std::string Received() {
    std::string out;
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(client_, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) return out;
      out.append(buf, static_cast<size_t>(n));
    }
  }

  testing::TempDir root_;
  int client_ = -1;
  std::unique_ptr<Connection> conn_;
  std::unique_ptr<UserDir> dir_;
  std::vector<std::string> warnings_;
};

TEST_F(ListSenderTest, AnUnchangedListIsSentExactlyAsCounted) {
  for (const char* name : {"b", "a/c", "a/b/d"}) Make(name);
  Result<ListCount> count = Count();
  ASSERT_TRUE(count.ok()) << count.status().ToString();
  EXPECT_EQ(count->files, 3u);
  EXPECT_EQ(count->bytes, 12u);
  Result<uint64_t> sent = Send(count->bytes);
  ASSERT_TRUE(sent.ok()) << sent.status().ToString();
  EXPECT_EQ(*sent, 12u);
  EXPECT_EQ(Received(), "a/b/d\na/c\nb\n");
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(ListSenderTest, AFileGoneSinceTheCountLeavesTheListShortAndUnpadded) {
  for (const char* name : {"a", "b", "c"}) Make(name);
  Result<ListCount> count = Count();
  ASSERT_TRUE(count.ok());
  fs::remove(fs::path(folder()) / "b");
  Result<uint64_t> sent = Send(count->bytes);
  ASSERT_TRUE(sent.ok());
  EXPECT_EQ(*sent, 4u);
  EXPECT_EQ(Received(), "a\nc\n");
}

TEST_F(ListSenderTest, AFileAddedSinceTheCountNeverPushesTheListPastIt) {
  for (const char* name : {"a", "b"}) Make(name);
  Result<ListCount> count = Count();
  ASSERT_TRUE(count.ok());
  Make("0");
  Result<uint64_t> sent = Send(count->bytes);
  ASSERT_TRUE(sent.ok());
  EXPECT_EQ(*sent, 4u);
  EXPECT_EQ(Received(), "0\na\n");
}

TEST_F(ListSenderTest, MoreFilesThanMaxFilesListedIsTooLarge) {
  for (const char* name : {"a", "b", "c"}) Make(name);
  EXPECT_TRUE(Count(3).ok());
  Result<ListCount> count = Count(2);
  EXPECT_EQ(count.status().code(), Status::Code::kTooLarge);
  EXPECT_NE(count.status().message().find("max_files_listed"), std::string::npos);
}

TEST_F(ListSenderTest, WithFoldersEachFolderIsAnEntryCountedAgainstMaxFilesListed) {
  for (const char* name : {"a-b", "a/x", "a/y/z"}) Make(name);
  // LIST_ATTRS's kind, in text: "d " a folder, "f " a file.
  const ListFormat with_folders{3, UserDir::ListOptions::kNamesOnly,
                                [](std::string& out, const StoredFile& f) {
                                  out += (f.folder ? "d " : "f ") + f.name + "\n";
                                },
                                UserDir::ListFolders::kVisit};
  const auto warn = [this](std::string_view line) { warnings_.emplace_back(line); };
  Result<ListCount> count = CountList(*dir_, with_folders, 5, warn);
  ASSERT_TRUE(count.ok()) << count.status().ToString();
  EXPECT_EQ(count->files, 5u);
  EXPECT_EQ(count->bytes, 30u);
  EXPECT_EQ(CountList(*dir_, with_folders, 4, warn).status().code(), Status::Code::kTooLarge);
  // Without folders the same tree is three files, as max_files_listed counts for op 202.
  EXPECT_TRUE(Count(3).ok());
  Result<uint64_t> sent =
      SendList(*dir_, with_folders, count->bytes, *conn_, Clock::now() + std::chrono::seconds(5));
  ASSERT_TRUE(sent.ok()) << sent.status().ToString();
  EXPECT_EQ(*sent, 30u);
  EXPECT_EQ(Received(), "d a\nf a-b\nf a/x\nd a/y\nf a/y/z\n");
}

TEST_F(ListSenderTest, ALargeListGoesOutInPiecesAndWhole) {
  // Over the 64 KiB a write gathers: the sending is chunked, the list is not cut.
  std::string expected;
  for (int i = 0; i < 2000; ++i) {
    char name[48];
    std::snprintf(name, sizeof name, "%06d-a-name-of-forty-bytes-in-all-----", i);
    ::close(::open((folder() + "/" + name).c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
    expected += std::string(name) + "\n";
  }
  Result<ListCount> count = Count();
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(count->bytes, expected.size());
  std::string got;
  std::thread reader([&] {
    char buf[65536];
    while (got.size() < expected.size()) {
      ssize_t n = ::recv(client_, buf, sizeof buf, 0);
      if (n <= 0) return;
      got.append(buf, static_cast<size_t>(n));
    }
  });
  Result<uint64_t> sent = Send(count->bytes);
  reader.join();
  ASSERT_TRUE(sent.ok()) << sent.status().ToString();
  EXPECT_EQ(*sent, expected.size());
  EXPECT_EQ(got, expected);
}

}  // namespace
}  // namespace backupd::worker

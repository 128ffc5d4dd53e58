// tests (unprivileged or root): the version store (worker/versions.cc) on real temp folders —
// numbers taken by someone else are skipped, a stale rename is settled back to the newest, a file
// stored while history was off is adopted, deleted names are listed and pruned, and a failing
// link leaves the upload unstored and the history as it was.
#include "worker/versions.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "protocol/digest.h"
#include "tests/worker/storage_test_util.h"

namespace backupd::worker {
namespace {

namespace fs = std::filesystem;
using ::testing::_;
using ::testing::NiceMock;
using ::testing::SetErrnoAndReturn;

constexpr uint32_t kUser = 42;

class VersionStoreTest : public StorageTest {
 protected:
  UserDir OpenUser(uint32_t keep_versions, Sys* sys = &RealSys()) {
    Result<UserDir> dir = UserDir::Open(sys, storage_fd_, kUser, true);
    EXPECT_TRUE(dir.ok()) << dir.status().ToString();
    dir->policy.keep_versions = keep_versions;
    return std::move(dir).value();
  }
  static Status Store(UserDir& dir, const std::string& name, const std::string& content) {
    Result<Upload> upload = dir.BeginUpload(name);
    if (!upload.ok()) return upload.status();
    Status st = upload->Write(content.data(), content.size());
    if (!st.ok()) return st;
    return upload->Commit(protocol::Sha256Of(content));
  }
  static std::vector<uint64_t> Numbers(UserDir& dir, const std::string& name) {
    Result<std::vector<FileVersion>> v = dir.Versions(name);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    std::vector<uint64_t> out;
    if (v.ok()) {
      for (const FileVersion& f : *v) out.push_back(f.number);
    }
    return out;
  }
  static std::string Content(UserDir& dir, const std::string& name, uint64_t number) {
    Result<OpenFile> f = dir.OpenVersion(name, number);
    if (!f.ok()) return "<" + f.status().ToString() + ">";
    std::string out(f->size, '\0');
    EXPECT_EQ(read(f->fd.get(), out.data(), out.size()), static_cast<ssize_t>(out.size()));
    return out;
  }
  fs::path HistoryPath(const std::string& leaf) const {
    return fs::path(storage_) / std::to_string(kUser) / History::FolderName(leaf);
  }
};

TEST_F(VersionStoreTest, ANumberTakenByAnotherWriterIsSkipped) {
  UserDir dir = OpenUser(10);
  ASSERT_TRUE(Store(dir, "a", "one").ok());
  // Another node linked its upload in as 2 first: ours takes 3, and neither is lost.
  std::ofstream(HistoryPath("a") / "2") << "theirs";
  ASSERT_TRUE(Store(dir, "a", "mine").ok());
  EXPECT_EQ(Numbers(dir, "a"), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(Content(dir, "a", 2), "theirs");
  EXPECT_EQ(Content(dir, "a", 3), "mine");
  Result<std::vector<FileVersion>> v = dir.Versions("a");
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->back().current);
  EXPECT_EQ(v->back().digest, protocol::Sha256Of("mine"));
  // Their version has no sidecar: no digest, not a wrong one.
  EXPECT_FALSE((*v)[1].digest.has_value());
}

TEST_F(VersionStoreTest, SettlePutsTheNewestBackWhenAnOlderOneWasRenamedInLast) {
  UserDir dir = OpenUser(10);
  ASSERT_TRUE(Store(dir, "a", "one").ok());
  ASSERT_TRUE(Store(dir, "a", "two").ok());
  const fs::path file = fs::path(storage_) / std::to_string(kUser) / "a";
  // A slow upload of version 1 renamed its file in after version 2's.
  fs::remove(file);
  fs::create_hard_link(HistoryPath("a") / "1", file);
  UniqueFd folder(open(file.parent_path().c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  Result<History> h = History::Open(&RealSys(), folder.get(), "a", false);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  ASSERT_TRUE(h->Settle().ok());
  EXPECT_EQ(ReadPath(file), "two");
  Result<OpenFile> current = dir.OpenForRead("a");
  ASSERT_TRUE(current.ok());
  EXPECT_EQ(current->digest, protocol::Sha256Of("two"));
  EXPECT_EQ(Numbers(dir, "a"), (std::vector<uint64_t>{1, 2}));
}

TEST_F(VersionStoreTest, AFileStoredWhileHistoryWasOffIsAdoptedByTheNextUpload) {
  UserDir off = OpenUser(1);
  ASSERT_TRUE(Store(off, "d/a", "before").ok());
  EXPECT_FALSE(
      fs::exists(fs::path(storage_) / std::to_string(kUser) / "d" / History::FolderName("a")));
  UserDir on = OpenUser(3);
  ASSERT_TRUE(Store(on, "d/a", "after").ok());
  EXPECT_EQ(Numbers(on, "d/a"), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(Content(on, "d/a", 1), "before");
  EXPECT_EQ(Content(on, "d/a", 2), "after");
}

TEST_F(VersionStoreTest, DeletedNamesAreListedAndKeepTheirNewestVersions) {
  UserDir dir = OpenUser(2);
  for (const char* c : {"1", "22", "333"}) ASSERT_TRUE(Store(dir, "x/gone", c).ok());
  ASSERT_TRUE(Store(dir, "kept", "k").ok());
  ASSERT_TRUE(dir.Remove("x/gone").ok());
  Result<std::vector<StoredFile>> deleted = dir.ListDeleted(10);
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  ASSERT_EQ(deleted->size(), 1u);
  EXPECT_EQ((*deleted)[0].name, "x/gone");
  EXPECT_EQ((*deleted)[0].size, 3u);
  EXPECT_EQ((*deleted)[0].digest, protocol::Sha256Of("333"));
  EXPECT_EQ(dir.ListDeleted(0).status().code(), Status::Code::kTooLarge);
  Result<std::vector<FileVersion>> v = dir.Versions("x/gone");
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->size(), 2u);
  EXPECT_TRUE(v->back().deleted);
  EXPECT_FALSE(v->back().current);
  Pruned pruned;
  ASSERT_TRUE(dir.Prune(dir.policy, NowNs(), &pruned,
                        [](const std::string&, const Status&) { ADD_FAILURE(); })
                  .ok());
  EXPECT_EQ(pruned.versions, 0u);
}

TEST_F(VersionStoreTest, AFailingLinkStoresNothingAndKeepsTheHistory) {
  NiceMock<MockSys> sys;
  UserDir dir = OpenUser(5, &sys);
  ASSERT_TRUE(Store(dir, "a", "one").ok());
  EXPECT_CALL(sys, LinkAt(_, _, _, _)).WillOnce(SetErrnoAndReturn(EIO, -1));
  Status s = Store(dir, "a", "two");
  EXPECT_EQ(s.code(), Status::Code::kIoError) << s.ToString();
  EXPECT_EQ(ReadPath(fs::path(storage_) / std::to_string(kUser) / "a"), "one");
  EXPECT_EQ(Numbers(dir, "a"), (std::vector<uint64_t>{1}));
}

TEST_F(VersionStoreTest, AppendOnlyRefusesDeletesAndKeepsEveryVersion) {
  UserDir dir = OpenUser(1);
  dir.policy.append_only = true;
  for (const char* c : {"a", "b", "c", "d"}) ASSERT_TRUE(Store(dir, "f", c).ok());
  EXPECT_EQ(Numbers(dir, "f"), (std::vector<uint64_t>{1, 2, 3, 4}));
  Status s = dir.Remove("f");
  EXPECT_EQ(s.code(), Status::Code::kDenied);
  EXPECT_EQ(Content(dir, "f", 1), "a");
  EXPECT_EQ(dir.Remove("never").code(), Status::Code::kNotFound);
}

}  // namespace
}  // namespace backupd::worker

// tests (unprivileged): UserDir's part of issue 12 on real temp folders — an upload's mtime and
// mode (futimens, the digest record's mode), folders made with their sidecar, listed where their
// names sort, deleted only when empty, never pruned.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "protocol/digest.h"
#include "tests/worker/storage_test_util.h"
#include "worker/user_dir.h"

namespace backupd::worker {
namespace {

namespace fs = std::filesystem;

constexpr uint32_t kUser = 42;

int64_t MtimeNs(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

class UserDirAttrsTest : public StorageTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(StorageTest::SetUp());
    Result<UserDir> dir = UserDir::Open(&RealSys(), storage_fd_, kUser, true);
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    dir_.emplace(std::move(dir).value());
  }

  Status StoreWithAttrs(const std::string& name, const std::string& content, uint32_t mode,
                        int64_t mtime_ns) {
    Result<Upload> upload = dir_->BeginUpload(name);
    if (!upload.ok()) return upload.status();
    Status st = upload->Write(content.data(), content.size());
    if (st.ok()) st = upload->SetAttributes(mode, mtime_ns);
    if (st.ok()) st = upload->Commit(protocol::Sha256Of(content));
    return st;
  }

  std::vector<StoredFile> ListAll(UserDir::ListOptions options) {
    std::vector<StoredFile> out;
    Status s = dir_->List(
        options,
        [&](const StoredFile& f) {
          out.push_back(f);
          return Status::Ok();
        },
        [](const std::string& folder, const Status& why) {
          ADD_FAILURE() << folder << ": " << why.ToString();
        },
        UserDir::ListFolders::kVisit);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  fs::path UserPath() const { return fs::path(storage_) / std::to_string(kUser); }

  std::optional<UserDir> dir_;
};

TEST_F(UserDirAttrsTest, AnUploadsMtimeIsSetAndItsModeKeptInItsDigestRecordNotOnTheFile) {
  const int64_t mtime = 1700000000123456789;
  ASSERT_TRUE(StoreWithAttrs("d/a.txt", "hello", 0755, mtime).ok());
  EXPECT_EQ(ReadPath(UserPath() / "d" / "a.txt"), "hello");
  EXPECT_EQ(MtimeNs(UserPath() / "d" / "a.txt"), mtime);
  EXPECT_EQ(ModeOf(UserPath() / "d" / "a.txt"), 0600u);
  // The record's stamp is taken after futimens: the digest is fresh, and it carries the mode.
  Result<OpenFile> file = dir_->OpenForRead("d/a.txt");
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE(file->digest.has_value());
  EXPECT_EQ(*file->digest, protocol::Sha256Of("hello"));
  const std::vector<StoredFile> all = ListAll(UserDir::ListOptions::kWithDigests);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].name, "d/a.txt");
  EXPECT_EQ(all[1].mode, 0755u);
  EXPECT_EQ(all[1].mtime_ns, mtime);
  EXPECT_EQ(all[1].size, 5u);
}

TEST_F(UserDirAttrsTest, TimesBeforeTheEpochAreKept) {
  ASSERT_TRUE(StoreWithAttrs("old", "x", 0644, -1500000001).ok());
  EXPECT_EQ(MtimeNs(UserPath() / "old"), -1500000001);
}

// On the inode 52 bytes, and 56 with a mode; in a sidecar 64 and 68 (docs/STORAGE.md).
TEST_F(UserDirAttrsTest, DigestRecordsWithAModeAreFourBytesLonger) {
  Result<Upload> plain = dir_->BeginUpload("plain");
  ASSERT_TRUE(plain.ok());
  ASSERT_TRUE(plain->Write("p", 1).ok());
  ASSERT_TRUE(plain->Commit(protocol::Sha256Of("p")).ok());
  ASSERT_TRUE(StoreWithAttrs("moded", "m", 0640, 7).ok());
  const size_t without = DigestAttribute(UserPath() / "plain").empty() ? 64 : 52;
  EXPECT_EQ(DigestRecord(UserPath() / "plain").size(), without);
  EXPECT_EQ(DigestRecord(UserPath() / "moded").size(), without + 4);
  const std::vector<StoredFile> all = ListAll(UserDir::ListOptions::kWithDigests);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "moded");
  EXPECT_EQ(all[0].mode, 0640u);
  EXPECT_EQ(all[1].name, "plain");
  EXPECT_EQ(all[1].mode, 0u);
  EXPECT_TRUE(all[1].digest.has_value());
}

// The largest record (56 bytes, with a mode) fits inside a 256-byte ext4 inode beside its name:
// a stored 4 KiB file takes the disk its bytes do, as a file with no attribute does, where the
// sidecar's layout on the inode (68 bytes) took a 4 KiB block more per file.
TEST_F(UserDirAttrsTest, TheDigestRecordTakesNoBlockOfItsOwn) {
  const std::string content(4096, 'x');
  const auto blocks_of = [](const fs::path& path) {
    struct stat st {};
    EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
    return st.st_blocks;
  };
  // Files the server does not write, on the same file system: one bare, one with an attribute of
  // the record's name and largest size, to tell a file system that keeps that in its inodes.
  const auto written = [&](const std::string& leaf, size_t attribute) {
    const fs::path path = temp_.Sub(leaf);
    std::ofstream(path, std::ios::binary) << content;
    if (attribute != 0) {
      const std::string value(attribute, '\x01');
      EXPECT_EQ(lsetxattr(path.c_str(), kDigestAttribute, value.data(), value.size(), 0), 0);
    }
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_EQ(fsync(fd), 0);
    close(fd);
    return blocks_of(path);
  };
  if (!KeepsUserAttributes(temp_.path())) GTEST_SKIP() << "no user attributes here";
  const blkcnt_t bare = written("bare", 0);
  if (written("with-56", 56) != bare) {
    GTEST_SKIP() << "this file system keeps a 56-byte attribute outside the inode";
  }
  ASSERT_TRUE(StoreWithAttrs("f", content, 0644, 7).ok());
  ASSERT_EQ(DigestAttribute(UserPath() / "f").size(), 56u);
  EXPECT_EQ(blocks_of(UserPath() / "f"), bare);
}

TEST_F(UserDirAttrsTest, ADamagedModeInADigestRecordOrFolderSidecarIsListedAsNotKnown) {
  ASSERT_TRUE(StoreWithAttrs("f", "x", 0644, 1).ok());
  ASSERT_TRUE(dir_->MakeFolder("d", 0755, 1).ok());
  // The mode field of either: past the file's digest, first in the folder's block.
  std::string record = DigestRecord(UserPath() / "f");
  ASSERT_EQ(record.size(), DigestAttribute(UserPath() / "f").empty() ? 68u : 56u);
  SetDigestRecord(UserPath() / "f", record.replace(record.size() - 4, 4, "\xff\xff\xff\xff"));
  {
    std::fstream io(UserPath() / "d" / ".backupd-folder",
                    std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(8);
    io.write("\xff\xff\xff\xff", 4);
  }
  const std::vector<StoredFile> all = ListAll(UserDir::ListOptions::kWithDigests);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "d");
  EXPECT_EQ(all[0].mode, 0u);
  EXPECT_EQ(all[1].name, "f");
  EXPECT_EQ(all[1].mode, 0u);
  // The digest itself is still fresh: only the mode is not known.
  EXPECT_TRUE(all[1].digest.has_value());
}

TEST_F(UserDirAttrsTest, MakeFolderWritesItsSidecarAndListsItWhereItsNameSorts) {
  ASSERT_TRUE(dir_->MakeFolder("a", 0750, 11).ok());
  ASSERT_TRUE(dir_->MakeFolder("p/q/empty", 0711, -3).ok());
  ASSERT_TRUE(StoreWithAttrs("a-b", "1", 0600, 1).ok());
  ASSERT_TRUE(StoreWithAttrs("a/x", "2", 0600, 2).ok());
  EXPECT_EQ(ModeOf(UserPath() / "p" / "q" / "empty"), 0700u);
  const std::string sidecar = ReadPath(UserPath() / "p" / "q" / "empty" / ".backupd-folder");
  EXPECT_EQ(sidecar, std::string("BDFOLDER\xc9\x01\x00\x00\x00\x00\x00\x00"
                                 "\xfd\xff\xff\xff\xff\xff\xff\xff",
                                 24));
  const std::vector<StoredFile> all = ListAll(UserDir::ListOptions::kWithDigests);
  std::vector<std::string> names;
  for (const StoredFile& f : all) names.push_back(f.name + (f.folder ? "/" : ""));
  // Strictly ascending bytewise: the folder "a" before the file "a-b" before "a/x".
  EXPECT_EQ(names, (std::vector<std::string>{"a/", "a-b", "a/x", "p/", "p/q/", "p/q/empty/"}));
  EXPECT_EQ(all[0].mode, 0750u);
  EXPECT_EQ(all[0].mtime_ns, 11);
  // Folders made as an upload's parents have no attributes: 0, not known.
  EXPECT_EQ(all[3].mode, 0u);
  EXPECT_EQ(all[3].mtime_ns, 0);
  EXPECT_EQ(all[5].mode, 0711u);
  EXPECT_EQ(all[5].mtime_ns, -3);
  // Without folders asked for, a listing is what it was: files only.
  std::vector<std::string> files;
  ASSERT_TRUE(dir_->List(
                      UserDir::ListOptions::kNamesOnly,
                      [&](const StoredFile& f) {
                        files.push_back(f.name);
                        return Status::Ok();
                      },
                      [](const std::string&, const Status&) {})
                  .ok());
  EXPECT_EQ(files, (std::vector<std::string>{"a-b", "a/x"}));
}

TEST_F(UserDirAttrsTest, MakeFolderAgainRewritesItsAttributes) {
  ASSERT_TRUE(dir_->MakeFolder("f", 0700, 1).ok());
  ASSERT_TRUE(dir_->MakeFolder("f", 0755, 2).ok());
  const std::vector<StoredFile> all = ListAll(UserDir::ListOptions::kWithDigests);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].mode, 0755u);
  EXPECT_EQ(all[0].mtime_ns, 2);
  // No temp file or upload record is left behind.
  for (const auto& e : fs::recursive_directory_iterator(UserPath())) {
    const std::string n = e.path().filename().string();
    EXPECT_TRUE(n == "f" || n == ".backupd-folder") << e.path();
  }
}

TEST_F(UserDirAttrsTest, MakeFolderOnAStoredFileIsRefusedAndKeepsTheFile) {
  ASSERT_TRUE(StoreWithAttrs("file", "keep", 0600, 1).ok());
  Status s = dir_->MakeFolder("file", 0700, 1);
  EXPECT_EQ(s.code(), Status::Code::kIoError) << s.ToString();
  EXPECT_NE(s.message().find("is a stored file"), std::string::npos);
  EXPECT_EQ(ReadPath(UserPath() / "file"), "keep");
}

TEST_F(UserDirAttrsTest, AMadeFolderOutlivesItsLastFileAndIsDeletedOnlyWhenEmpty) {
  ASSERT_TRUE(dir_->MakeFolder("keep/me", 0755, 5).ok());
  ASSERT_TRUE(StoreWithAttrs("keep/me/f", "x", 0600, 1).ok());
  EXPECT_EQ(dir_->Remove("keep/me", UserDir::Folders::kIfEmpty).code(), Status::Code::kIoError);
  ASSERT_TRUE(dir_->Remove("keep/me/f").ok());
  // Protocol v1's delete never removes a folder, empty or not.
  EXPECT_EQ(dir_->Remove("keep/me").code(), Status::Code::kNotFound);
  // The folder the user asked for stays; its implicit parent stays because it is not empty.
  EXPECT_TRUE(fs::is_directory(UserPath() / "keep" / "me"));
  ASSERT_TRUE(dir_->Remove("keep/me", UserDir::Folders::kIfEmpty).ok());
  // Its implicit parent, now empty, is pruned as after a file's delete.
  EXPECT_FALSE(fs::exists(UserPath() / "keep"));
  EXPECT_TRUE(fs::is_directory(UserPath()));
  EXPECT_EQ(dir_->Remove("keep/me", UserDir::Folders::kIfEmpty).code(), Status::Code::kNotFound);
}

TEST_F(UserDirAttrsTest, AFolderHoldingOnlyAFolderIsNotEmpty) {
  ASSERT_TRUE(dir_->MakeFolder("outer/inner", 0700, 1).ok());
  ASSERT_TRUE(dir_->MakeFolder("outer", 0700, 1).ok());
  EXPECT_EQ(dir_->Remove("outer", UserDir::Folders::kIfEmpty).code(), Status::Code::kIoError);
  ASSERT_TRUE(dir_->Remove("outer/inner", UserDir::Folders::kIfEmpty).ok());
  EXPECT_TRUE(fs::is_directory(UserPath() / "outer"));
  ASSERT_TRUE(dir_->Remove("outer", UserDir::Folders::kIfEmpty).ok());
  EXPECT_FALSE(fs::exists(UserPath() / "outer"));
}

}  // namespace
}  // namespace backupd::worker

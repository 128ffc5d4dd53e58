// tests (unprivileged or root): UserDir on real temp folders — atomic uploads, confinement
// against planted symlinks and "..", pruning, listing — and injected EIO/ENOSPC via a Sys mock.
#include "worker/user_dir.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "protocol/digest.h"
#include "protocol/wire.h"
#include "tests/harness/temp_dir.h"
#include "tests/worker/storage_test_util.h"
#include "worker/upload_batch.h"

namespace backupd::worker {
namespace {

namespace fs = std::filesystem;
using ::testing::_;
using ::testing::AnyNumber;
using ::testing::AnyOf;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::NiceMock;
using ::testing::SetErrnoAndReturn;

constexpr uint32_t kUser = 42;
constexpr uint32_t kOtherUser = 43;

void WritePath(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

// Reads the whole descriptor.
std::string ReadAll(int fd) {
  std::string content;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) content.append(buf, static_cast<size_t>(n));
  return content;
}

// Every name beneath `root` (not following links), relative to it, sorted.
std::vector<std::string> Tree(const fs::path& root) {
  std::vector<std::string> names;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    names.push_back(fs::relative(entry.path(), root).string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Every file a listing visits, in its order; a folder it cannot read fails the test.
Result<std::vector<StoredFile>> ListFiles(
    UserDir& dir, UserDir::ListOptions options = UserDir::ListOptions::kNamesOnly) {
  std::vector<StoredFile> files;
  Status s = dir.List(
      options,
      [&](const StoredFile& f) {
        files.push_back(f);
        return Status::Ok();
      },
      [](const std::string& folder, const Status& why) {
        ADD_FAILURE() << "unreadable " << folder << ": " << why.ToString();
      });
  if (!s.ok()) return s;
  return files;
}

// The names a listing shows, in its order.
Result<std::vector<std::string>> ListNames(UserDir& dir) {
  Result<std::vector<StoredFile>> files = ListFiles(dir);
  if (!files.ok()) return files.status();
  std::vector<std::string> names;
  for (const StoredFile& f : *files) names.push_back(f.name);
  return names;
}

// The names in `folder` that start with `prefix`.
std::vector<std::string> NamesStartingWith(const fs::path& folder, const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(folder)) {
    const std::string n = e.path().filename().string();
    if (n.rfind(prefix, 0) == 0) out.push_back(n);
  }
  return out;
}

bool HasTempFile(const fs::path& root) {
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.path().filename().string().rfind(".backupd-tmp-", 0) == 0) return true;
  }
  return false;
}

class UserDirTest : public StorageTest {
 protected:
  void SetUp() override {
    outside_ = temp_.Sub("outside");
    fs::create_directory(outside_);
    StorageTest::SetUp();
    ON_CALL(no_attributes_, FSetXattr).WillByDefault(SetErrnoAndReturn(EOPNOTSUPP, -1));
    ON_CALL(no_attributes_, FGetXattr).WillByDefault(SetErrnoAndReturn(EOPNOTSUPP, -1));
  }

  UserDir OpenUser(uint32_t user, Sys* sys = &RealSys()) {
    Result<UserDir> dir = UserDir::Open(sys, storage_fd_, user, true);
    EXPECT_TRUE(dir.ok()) << dir.status().ToString();
    return std::move(dir).value();
  }

  static Status Store(UserDir& dir, const std::string& name, const std::string& content,
                      const std::optional<protocol::Digest>& digest = std::nullopt) {
    Result<Upload> upload = dir.BeginUpload(name);
    if (!upload.ok()) return upload.status();
    Status st = upload->Write(content.data(), content.size());
    if (!st.ok()) return st;
    return upload->Commit(digest);
  }
  // The files under `folder` whose names start with the sidecar prefix.
  static std::vector<std::string> Sidecars(const fs::path& folder) {
    return NamesStartingWith(folder, ".backupd-sha256-");
  }

  static Result<std::string> Restore(UserDir& dir, const std::string& name) {
    Result<OpenFile> file = dir.OpenForRead(name);
    if (!file.ok()) return file.status();
    std::string content = ReadAll(file->fd.get());
    EXPECT_EQ(file->size, content.size());
    return content;
  }

  fs::path UserPath(uint32_t user = kUser) const { return storage_ / std::to_string(user); }

  // `dir` holds `name` alone, with `content`'s digest, as a restore and a listing show it.
  static void ExpectTheOneFileWithItsDigest(UserDir& dir, const std::string& name,
                                            const std::string& content) {
    const protocol::Digest d = protocol::Sha256Of(content);
    Result<OpenFile> file = dir.OpenForRead(name);
    ASSERT_TRUE(file.ok()) << file.status().ToString();
    EXPECT_EQ(file->digest, d);
    Result<std::vector<StoredFile>> files = ListFiles(dir, UserDir::ListOptions::kWithDigests);
    ASSERT_TRUE(files.ok()) << files.status().ToString();
    ASSERT_EQ(files->size(), 1u);
    EXPECT_EQ((*files)[0].name, name);
    EXPECT_EQ((*files)[0].size, content.size());
    EXPECT_EQ((*files)[0].digest, d);
  }

  fs::path outside_;
  // The kernel, on a file system that keeps no user attributes (tmpfs before Linux 6.6, some
  // network file systems): the server keeps digests in sidecars there.
  NiceMock<MockSys> no_attributes_;
};

TEST_F(UserDirTest, RoundTripKeepsExactBytes) {
  UserDir dir = OpenUser(kUser);
  const std::string content("hello\0world\xff\n", 13);
  ASSERT_TRUE(Store(dir, "hello.bin", content).ok());
  EXPECT_EQ(ReadPath(UserPath() / "hello.bin"), content);
  Result<std::string> back = Restore(dir, "hello.bin");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, content);
}

// The digest record goes on the file's own inode (user.backupd.sha256): renamed in with it, no
// second file beside it.
TEST_F(UserDirTest, DigestIsKeptOnTheFileAndShownByRestoreAndList) {
  UserDir dir = OpenUser(kUser);
  if (!KeepsUserAttributes(UserPath())) GTEST_SKIP() << "no user attributes in " << UserPath();
  const protocol::Digest d = protocol::Sha256Of("hello");
  ASSERT_TRUE(Store(dir, "d/a.txt", "hello", d).ok());
  const std::string record = DigestAttribute(UserPath() / "d" / "a.txt");
  ASSERT_EQ(record.size(), 52u);
  EXPECT_EQ(record.substr(0, 4), "BDS2");
  EXPECT_EQ(protocol::GetU64(reinterpret_cast<const uint8_t*>(record.data()) + 4), 5u);
  EXPECT_EQ(record.substr(20), std::string(reinterpret_cast<const char*>(d.data()), d.size()));
  EXPECT_THAT(Tree(UserPath()), ElementsAre("d", "d/a.txt"));
  ExpectTheOneFileWithItsDigest(dir, "d/a.txt", "hello");
  ASSERT_TRUE(dir.Remove("d/a.txt").ok());
  EXPECT_FALSE(fs::exists(UserPath() / "d"));
}

// Where the file cannot keep it, the digest goes in a sidecar; a server on a file system that
// keeps attributes (or storage written before they were used) reads it there, and the next upload
// of the name, its digest on the file, takes the sidecar away.
TEST_F(UserDirTest, WithoutUserAttributesTheDigestIsKeptInAFreshSidecar) {
  UserDir dir = OpenUser(kUser, &no_attributes_);
  const protocol::Digest d = protocol::Sha256Of("hello");
  ASSERT_TRUE(Store(dir, "d/a.txt", "hello", d).ok());
  EXPECT_EQ(DigestAttribute(UserPath() / "d" / "a.txt"), "");
  // Named by the hash of the leaf, 64 bytes, mode 0600, beside the file.
  const std::vector<std::string> sidecars = Sidecars(UserPath() / "d");
  ASSERT_EQ(sidecars.size(), 1u);
  EXPECT_EQ(UserPath() / "d" / sidecars[0], SidecarOf(UserPath() / "d" / "a.txt"));
  EXPECT_EQ(sidecars[0].size(), std::string(".backupd-sha256-").size() + 64);
  EXPECT_EQ(fs::file_size(UserPath() / "d" / sidecars[0]), 64u);
  EXPECT_EQ(ModeOf(UserPath() / "d" / sidecars[0]), 0600u);
  for (Sys* sys : {static_cast<Sys*>(&no_attributes_), &RealSys()}) {
    UserDir reader = OpenUser(kUser, sys);
    ExpectTheOneFileWithItsDigest(reader, "d/a.txt", "hello");
  }
  if (KeepsUserAttributes(UserPath())) {
    UserDir real = OpenUser(kUser);
    ASSERT_TRUE(Store(real, "d/a.txt", "again", protocol::Sha256Of("again")).ok());
    EXPECT_TRUE(Sidecars(UserPath() / "d").empty());
    EXPECT_EQ(real.OpenForRead("d/a.txt")->digest, protocol::Sha256Of("again"));
  }
  // Delete takes the sidecar with it, and the folder is then pruned.
  ASSERT_TRUE(Store(dir, "d/a.txt", "hello", d).ok());
  ASSERT_TRUE(dir.Remove("d/a.txt").ok());
  EXPECT_FALSE(fs::exists(UserPath() / "d"));
}

TEST_F(UserDirTest, OverwriteWithoutDigestDropsTheDigest) {
  for (Sys* sys : {static_cast<Sys*>(&no_attributes_), &RealSys()}) {
    UserDir dir = OpenUser(kUser, sys);
    ASSERT_TRUE(Store(dir, "a", "one", protocol::Sha256Of("one")).ok());
    ASSERT_TRUE(Store(dir, "a", "two").ok());
    EXPECT_TRUE(Sidecars(UserPath()).empty());
    EXPECT_EQ(DigestRecord(UserPath() / "a"), "");
    Result<OpenFile> file = dir.OpenForRead("a");
    ASSERT_TRUE(file.ok());
    EXPECT_FALSE(file->digest.has_value());
  }
}

TEST_F(UserDirTest, ADigestRecordOfAnotherVersionIsStale) {
  for (Sys* sys : {static_cast<Sys*>(&no_attributes_), &RealSys()}) {
    UserDir dir = OpenUser(kUser, sys);
    ASSERT_TRUE(Store(dir, "a", "one", protocol::Sha256Of("one")).ok());
    // Changed behind the server's back: same inode, other size and mtime.
    { std::ofstream(UserPath() / "a", std::ios::app) << "more"; }
    Result<OpenFile> file = dir.OpenForRead("a");
    ASSERT_TRUE(file.ok());
    EXPECT_FALSE(file->digest.has_value());
    EXPECT_TRUE(file->stale_digest);
    Result<std::vector<StoredFile>> files = ListFiles(dir, UserDir::ListOptions::kWithDigests);
    ASSERT_TRUE(files.ok());
    EXPECT_FALSE((*files)[0].digest.has_value());
  }
}

// A record in the sidecar's layout (64 bytes, with the inode): what the attribute held before issue
// 11's eighth step. Still read from the attribute, and stale there once the inode is not the
// file's.
std::string SidecarLayoutRecord(const fs::path& file, const protocol::Digest& d, uint64_t ino_add) {
  struct stat st {};
  EXPECT_EQ(lstat(file.c_str(), &st), 0) << file;
  std::string out = "BDSHA256";
  protocol::AppendU64(out, static_cast<uint64_t>(st.st_size));
  protocol::AppendU64(out, static_cast<uint64_t>(st.st_mtim.tv_sec) * 1000000000 +
                               static_cast<uint64_t>(st.st_mtim.tv_nsec));
  protocol::AppendU64(out, static_cast<uint64_t>(st.st_ino) + ino_add);
  out.append(reinterpret_cast<const char*>(d.data()), d.size());
  return out;
}

TEST_F(UserDirTest, AnAttributeInTheEarlierLayoutIsStillRead) {
  UserDir dir = OpenUser(kUser);
  if (!KeepsUserAttributes(UserPath())) GTEST_SKIP() << "no user attributes in " << UserPath();
  const protocol::Digest d = protocol::Sha256Of("hello");
  ASSERT_TRUE(Store(dir, "a", "hello").ok());
  SetAttribute(UserPath() / "a", SidecarLayoutRecord(UserPath() / "a", d, 0));
  ExpectTheOneFileWithItsDigest(dir, "a", "hello");
  SetAttribute(UserPath() / "a", SidecarLayoutRecord(UserPath() / "a", d, 1));
  Result<OpenFile> file = dir.OpenForRead("a");
  ASSERT_TRUE(file.ok());
  EXPECT_FALSE(file->digest.has_value());
  EXPECT_TRUE(file->stale_digest);
}

// A sidecar can outlive the file it was written for (a crash between the two renames): a record
// there vouches for nothing unless it names the file's inode, so the attribute's layout, which
// does not, is no record in a sidecar.
TEST_F(UserDirTest, ASidecarInTheAttributesLayoutVouchesForNothing) {
  UserDir dir = OpenUser(kUser, &no_attributes_);
  const protocol::Digest d = protocol::Sha256Of("hello");
  ASSERT_TRUE(Store(dir, "a", "hello", d).ok());
  const std::string sidecar = ReadPath(SidecarOf(UserPath() / "a"));
  ASSERT_EQ(sidecar.size(), 64u);
  // The same size, mtime and digest, without the inode, under the attribute's magic.
  std::string attribute_layout = "BDS2" + sidecar.substr(8, 16) + sidecar.substr(32);
  ASSERT_EQ(attribute_layout.size(), 52u);
  std::ofstream(SidecarOf(UserPath() / "a"), std::ios::binary | std::ios::trunc)
      << attribute_layout;
  Result<OpenFile> file = dir.OpenForRead("a");
  ASSERT_TRUE(file.ok());
  EXPECT_FALSE(file->digest.has_value());
  EXPECT_TRUE(file->stale_digest);
}

TEST_F(UserDirTest, LongestComponentStillGetsItsSidecar) {
  UserDir dir = OpenUser(kUser);
  const std::string leaf(255, 'n');
  ASSERT_TRUE(Store(dir, leaf, "x", protocol::Sha256Of("x")).ok());
  EXPECT_TRUE(dir.OpenForRead(leaf)->digest.has_value());
  // Sidecars are the server's own files: never listed.
  EXPECT_THAT(*ListNames(dir), ElementsAre(leaf));
}

// The limits protocol::NormalizeName accepts: kMaxNameLen (4096) bytes in all, components of at
// most kMaxComponentLen (255). Whatever it accepts must store, restore with its digest, list under
// its own name and delete (pruning every folder), even when the whole name plus its NUL is past
// the kernel's PATH_MAX.
class UserDirLimitsTest : public UserDirTest {
 protected:
  void RoundTrip(const std::string& name) {
    ASSERT_LE(name.size(), protocol::kMaxNameLen);
    UserDir dir = OpenUser(kUser);
    const std::string content = "bytes of " + std::to_string(name.size());
    ASSERT_TRUE(Store(dir, name, content, protocol::Sha256Of(content)).ok());
    Result<OpenFile> file = dir.OpenForRead(name);
    ASSERT_TRUE(file.ok()) << file.status().ToString();
    EXPECT_EQ(ReadAll(file->fd.get()), content);
    ASSERT_TRUE(file->digest.has_value());
    EXPECT_EQ(*file->digest, protocol::Sha256Of(content));
    Result<std::vector<StoredFile>> files = ListFiles(dir, UserDir::ListOptions::kWithDigests);
    ASSERT_TRUE(files.ok()) << files.status().ToString();
    ASSERT_EQ(files->size(), 1u);
    EXPECT_EQ((*files)[0].name, name);
    EXPECT_EQ((*files)[0].size, content.size());
    ASSERT_TRUE((*files)[0].digest.has_value());
    EXPECT_EQ(*(*files)[0].digest, protocol::Sha256Of(content));
    Status removed = dir.Remove(name);
    ASSERT_TRUE(removed.ok()) << removed.ToString();
    EXPECT_EQ(dir.OpenForRead(name).status().code(), Status::Code::kNotFound);
    EXPECT_THAT(Tree(UserPath()), IsEmpty());
  }
};

TEST_F(UserDirLimitsTest, LongestNameRoundTrips) {
  // 15 folders of 255 bytes, one of 254 and a 1-byte leaf: 15 * 256 + 255 + 1 = 4096 bytes.
  std::string name;
  for (char c = 'a'; c < 'a' + 15; ++c) name += std::string(255, c) + "/";
  name += std::string(254, 'p') + "/q";
  ASSERT_EQ(name.size(), protocol::kMaxNameLen);
  RoundTrip(name);
}

TEST_F(UserDirLimitsTest, DeepestNameRoundTrips) {
  // 2047 one-byte folders and a 2-byte leaf: 4096 bytes, 2048 levels.
  std::string name;
  for (int i = 0; i < 2047; ++i) name += "d/";
  name += "ff";
  ASSERT_EQ(name.size(), protocol::kMaxNameLen);
  RoundTrip(name);
}

TEST_F(UserDirLimitsTest, LongestComponentsRoundTrip) {
  RoundTrip(std::string(255, 'x'));
  RoundTrip(std::string(255, 'f') + "/" + std::string(255, 'l'));
}

TEST_F(UserDirTest, EmptyFileRoundTrips) {
  UserDir dir = OpenUser(kUser);
  ASSERT_TRUE(Store(dir, "empty", "").ok());
  Result<std::string> back = Restore(dir, "empty");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, "");
}

TEST_F(UserDirTest, OverwriteKeepsOnlyTheNewContent) {
  UserDir dir = OpenUser(kUser);
  ASSERT_TRUE(Store(dir, "f", "the first, longer version").ok());
  ASSERT_TRUE(Store(dir, "f", "v2").ok());
  EXPECT_EQ(*Restore(dir, "f"), "v2");
  EXPECT_THAT(Tree(UserPath()), ElementsAre("f"));
}

TEST_F(UserDirTest, InterruptedUploadLeavesOldVersionAndNoTempFile) {
  UserDir dir = OpenUser(kUser);
  ASSERT_TRUE(Store(dir, "sub/f", "old").ok());
  {
    Result<Upload> upload = dir.BeginUpload("sub/f");
    ASSERT_TRUE(upload.ok());
    ASSERT_TRUE(upload->Write("new partial", 11).ok());
    EXPECT_TRUE(HasTempFile(UserPath()));
    EXPECT_EQ(ModeOf(UserPath() / "sub"), 0700u);
  }
  EXPECT_EQ(*Restore(dir, "sub/f"), "old");
  EXPECT_FALSE(HasTempFile(UserPath()));
  {
    Result<Upload> upload = dir.BeginUpload("sub/new");
    ASSERT_TRUE(upload.ok());
    ASSERT_TRUE(upload->Write("abc", 3).ok());
  }
  EXPECT_THAT(Tree(UserPath()), ElementsAre("sub", "sub/f"));
}

TEST_F(UserDirTest, TempFilesAreMode0600AndBesideTheTarget) {
  UserDir dir = OpenUser(kUser);
  Result<Upload> upload = dir.BeginUpload("x/y");
  ASSERT_TRUE(upload.ok());
  std::vector<std::string> names = Tree(UserPath() / "x");
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(names[0].rfind(".backupd-tmp-", 0), 0u) << names[0];
  EXPECT_EQ(ModeOf(UserPath() / "x" / names[0]), 0600u);
}

TEST_F(UserDirTest, UploadOntoAFolderIsRefused) {
  UserDir dir = OpenUser(kUser);
  ASSERT_TRUE(Store(dir, "d/inner", "x").ok());
  Result<Upload> upload = dir.BeginUpload("d");
  ASSERT_FALSE(upload.ok());
  EXPECT_THAT(upload.status().code(), AnyOf(Status::Code::kInvalid, Status::Code::kDenied));
  EXPECT_EQ(*Restore(dir, "d/inner"), "x");
  EXPECT_FALSE(HasTempFile(UserPath()));
}

TEST_F(UserDirTest, UploadBelowAFileIsRefused) {
  UserDir dir = OpenUser(kUser);
  ASSERT_TRUE(Store(dir, "f", "x").ok());
  Result<Upload> upload = dir.BeginUpload("f/g");
  ASSERT_FALSE(upload.ok());
  EXPECT_EQ(upload.status().code(), Status::Code::kInvalid);
  EXPECT_EQ(*Restore(dir, "f"), "x");
}

TEST_F(UserDirTest, ReservedAndDegenerateNamesAreRefused) {
  UserDir dir = OpenUser(kUser);
  for (const char* name : {"", ".", "..", "a/..", "a/", ".backupd-tmp-1", "a/.backupd-x/b"}) {
    Result<Upload> upload = dir.BeginUpload(name);
    EXPECT_FALSE(upload.ok()) << name;
  }
  EXPECT_THAT(Tree(UserPath()), IsEmpty());
}

TEST_F(UserDirTest, OpenForReadOfAbsentNameIsNotFound) {
  UserDir dir = OpenUser(kUser);
  EXPECT_EQ(dir.OpenForRead("nope").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(dir.OpenForRead("no/such/folder").status().code(), Status::Code::kNotFound);
}

TEST_F(UserDirTest, OpenForReadOfAFolderIsNotFound) {
  UserDir dir = OpenUser(kUser);
  ASSERT_TRUE(Store(dir, "d/f", "x").ok());
  EXPECT_EQ(dir.OpenForRead("d").status().code(), Status::Code::kNotFound);
}

TEST_F(UserDirTest, SymlinkToAFileIsNeverFollowed) {
  WritePath(outside_ / "secret", "TOP SECRET");
  UserDir dir = OpenUser(kUser);
  ASSERT_TRUE(Store(dir, "real.txt", "mine").ok());
  fs::create_symlink(outside_ / "secret", UserPath() / "abs");
  fs::create_symlink("../../outside/secret", UserPath() / "rel");
  fs::create_symlink("real.txt", UserPath() / "inside");

  for (const char* name : {"abs", "rel", "inside"}) {
    Result<OpenFile> file = dir.OpenForRead(name);
    ASSERT_FALSE(file.ok()) << name;
    EXPECT_THAT(file.status().code(), AnyOf(Status::Code::kNotFound, Status::Code::kDenied));
  }
  Result<std::vector<std::string>> names = ListNames(dir);
  ASSERT_TRUE(names.ok());
  EXPECT_THAT(*names, ElementsAre("real.txt"));

  // Delete never reaches the target; upload replaces the link itself, not the target.
  EXPECT_FALSE(dir.Remove("abs").ok());
  ASSERT_TRUE(Store(dir, "rel", "overwritten").ok());
  EXPECT_EQ(ReadPath(outside_ / "secret"), "TOP SECRET");
  EXPECT_FALSE(fs::is_symlink(UserPath() / "rel"));
  EXPECT_EQ(ReadPath(UserPath() / "rel"), "overwritten");
}

TEST_F(UserDirTest, SymlinkedFolderIsNeverFollowed) {
  WritePath(outside_ / "secret", "TOP SECRET");
  UserDir dir = OpenUser(kUser);
  fs::create_symlink(outside_, UserPath() / "sub");
  fs::create_directory(UserPath() / "real");
  fs::create_symlink(outside_, UserPath() / "real" / "deeper");

  for (const char* name : {"sub/secret", "real/deeper/secret"}) {
    Result<OpenFile> file = dir.OpenForRead(name);
    ASSERT_FALSE(file.ok()) << name;
    EXPECT_THAT(file.status().code(), AnyOf(Status::Code::kNotFound, Status::Code::kDenied));
  }
  for (const char* name : {"sub/x", "sub/new/x", "real/deeper/x"}) {
    Result<Upload> upload = dir.BeginUpload(name);
    EXPECT_FALSE(upload.ok()) << name;
  }
  EXPECT_FALSE(dir.Remove("sub/secret").ok());
  EXPECT_THAT(Tree(outside_), ElementsAre("secret"));
  EXPECT_EQ(ReadPath(outside_ / "secret"), "TOP SECRET");
  Result<std::vector<std::string>> names = ListNames(dir);
  ASSERT_TRUE(names.ok());
  EXPECT_THAT(*names, IsEmpty());
}

TEST_F(UserDirTest, DotDotIsRefusedEvenUnnormalized) {
  UserDir other = OpenUser(kOtherUser);
  ASSERT_TRUE(Store(other, "f", "theirs").ok());
  UserDir dir = OpenUser(kUser);
  // "a" exists so that the walk reaches the ".." rather than stopping at a missing folder.
  fs::create_directory(UserPath() / "a");

  for (const char* name : {"../43/f", "a/../../43/f"}) {
    Result<OpenFile> file = dir.OpenForRead(name);
    ASSERT_FALSE(file.ok()) << name;
    EXPECT_EQ(file.status().code(), Status::Code::kDenied) << name;
    EXPECT_FALSE(dir.Remove(name).ok()) << name;
  }
  for (const char* name : {"../43/f", "../escape", "a/../../escape", "../../outside/x"}) {
    Result<Upload> upload = dir.BeginUpload(name);
    EXPECT_FALSE(upload.ok()) << name;
  }
  EXPECT_EQ(ReadPath(UserPath(kOtherUser) / "f"), "theirs");
  EXPECT_THAT(Tree(storage_), ElementsAre("42", "42/a", "43", "43/f"));
  EXPECT_THAT(Tree(outside_), IsEmpty());
}

TEST_F(UserDirTest, AbsoluteNamesStayBeneath) {
  UserDir dir = OpenUser(kUser);
  const std::string outside_file = (outside_ / "abs").string();
  EXPECT_FALSE(dir.BeginUpload(outside_file).ok());
  EXPECT_FALSE(dir.OpenForRead("/etc/passwd").ok());
  EXPECT_THAT(Tree(outside_), IsEmpty());
}

TEST_F(UserDirTest, RemovePrunesEmptyFoldersOnly) {
  UserDir dir = OpenUser(kUser);
  ASSERT_TRUE(Store(dir, "a/b/c/f1", "1").ok());
  ASSERT_TRUE(Store(dir, "a/keep", "2").ok());
  ASSERT_TRUE(dir.Remove("a/b/c/f1").ok());
  EXPECT_THAT(Tree(UserPath()), ElementsAre("a", "a/keep"));
  ASSERT_TRUE(dir.Remove("a/keep").ok());
  EXPECT_THAT(Tree(UserPath()), IsEmpty());
  EXPECT_TRUE(fs::is_directory(UserPath()));
  ASSERT_TRUE(Store(dir, "top", "3").ok());
  ASSERT_TRUE(dir.Remove("top").ok());
  EXPECT_TRUE(fs::is_directory(UserPath()));
}

TEST_F(UserDirTest, RemoveOfAbsentOrFolderName) {
  UserDir dir = OpenUser(kUser);
  EXPECT_EQ(dir.Remove("nope").code(), Status::Code::kNotFound);
  EXPECT_EQ(dir.Remove("no/such").code(), Status::Code::kNotFound);
  ASSERT_TRUE(Store(dir, "d/x", "x").ok());
  Status st = dir.Remove("d");
  EXPECT_THAT(st.code(), AnyOf(Status::Code::kInvalid, Status::Code::kNotFound));
  EXPECT_EQ(ReadPath(UserPath() / "d" / "x"), "x");
}

TEST_F(UserDirTest, ListIsSortedBytewiseAndSkipsTempLinksAndSpecialFiles) {
  UserDir dir = OpenUser(kUser);
  for (const char* name : {"b", "a/z", "a0", "a/b", "B", "\xc3\xa9", "a-b", "deep/er/est"}) {
    ASSERT_TRUE(Store(dir, name, "x").ok()) << name;
  }
  Result<Upload> pending = dir.BeginUpload("a/pending");
  ASSERT_TRUE(pending.ok());
  fs::create_symlink(outside_, UserPath() / "linkdir");
  fs::create_symlink(UserPath() / "b", UserPath() / "linkfile");
  ASSERT_EQ(mkfifo((UserPath() / "fifo").c_str(), 0600), 0);
  fs::create_directory(UserPath() / "emptydir");

  Result<std::vector<std::string>> names = ListNames(dir);
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  // '-' < '/' < '0': the folder "a" sorts between the files "a-b" and "a0", as its names do.
  EXPECT_THAT(*names, ElementsAre("B", "a-b", "a/b", "a/z", "a0", "b", "deep/er/est", "\xc3\xa9"));
  EXPECT_EQ(dir.OpenForRead("fifo").status().code(), Status::Code::kNotFound);
}

TEST_F(UserDirTest, MissingUserIsNotFoundAndNotCreated) {
  Result<UserDir> dir = UserDir::Open(&RealSys(), storage_fd_, 7, false);
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), Status::Code::kNotFound);
  EXPECT_FALSE(fs::exists(storage_ / "7"));
}

TEST_F(UserDirTest, EmptyUserListsNothing) {
  UserDir dir = OpenUser(kUser);
  Result<std::vector<std::string>> names = ListNames(dir);
  ASSERT_TRUE(names.ok());
  EXPECT_THAT(*names, IsEmpty());
}

TEST_F(UserDirTest, UserFolderThatIsASymlinkIsRefused) {
  fs::create_symlink(outside_, storage_ / "9");
  Result<UserDir> dir = UserDir::Open(&RealSys(), storage_fd_, 9, true);
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), Status::Code::kDenied);
}

size_t OpenFdCount() {
  size_t n = 0;
  for (auto it = fs::directory_iterator("/proc/self/fd"); it != fs::directory_iterator(); ++it) {
    ++n;
  }
  return n;
}

TEST_F(UserDirTest, DescriptorsAreCloexecAndNeverLeak) {
  const size_t before = OpenFdCount();
  {
    UserDir dir = OpenUser(kUser);
    EXPECT_TRUE(fcntl(dir.fd(), F_GETFD) & FD_CLOEXEC);
    ASSERT_TRUE(Store(dir, "a/b/c", "1").ok());
    ASSERT_TRUE(Store(dir, "a/d", "2").ok());
    {
      Result<Upload> upload = dir.BeginUpload("a/e");
      ASSERT_TRUE(upload.ok());
      EXPECT_TRUE(fcntl(upload->fd(), F_GETFD) & FD_CLOEXEC);
    }
    Result<OpenFile> file = dir.OpenForRead("a/b/c");
    ASSERT_TRUE(file.ok());
    // Not closed here: the OpenFile owns its descriptor.
    EXPECT_TRUE(fcntl(file->fd.get(), F_GETFD) & FD_CLOEXEC);
    EXPECT_FALSE(dir.OpenForRead("a/nope").ok());
    EXPECT_FALSE(dir.BeginUpload("a").ok());
    ASSERT_TRUE(ListFiles(dir).ok());
    ASSERT_TRUE(dir.Remove("a/b/c").ok());
    EXPECT_FALSE(dir.Remove("a/b/c").ok());
  }
  EXPECT_EQ(OpenFdCount(), before);
}

class UserDirFaultTest : public UserDirTest {
 protected:
  void SetUp() override {
    UserDirTest::SetUp();
    UserDir real = OpenUser(kUser);
    ASSERT_TRUE(Store(real, "f", "old").ok());
  }
  void ExpectOldVersionAndNoLeftover() {
    EXPECT_EQ(ReadPath(UserPath() / "f"), "old");
    EXPECT_THAT(Tree(UserPath()), ElementsAre("f"));
  }
  NiceMock<MockSys> sys_;
};

TEST_F(UserDirFaultTest, WriteEioIsIoErrorAndKeepsOldVersion) {
  UserDir dir = OpenUser(kUser, &sys_);
  {
    Result<Upload> upload = dir.BeginUpload("f");
    ASSERT_TRUE(upload.ok());
    EXPECT_CALL(sys_, Write(upload->fd(), _, _)).WillOnce(SetErrnoAndReturn(EIO, -1));
    Status st = upload->Write("new", 3);
    EXPECT_EQ(st.code(), Status::Code::kIoError) << st.ToString();
  }
  ExpectOldVersionAndNoLeftover();
}

TEST_F(UserDirFaultTest, WriteEnospcIsNoSpace) {
  UserDir dir = OpenUser(kUser, &sys_);
  {
    Result<Upload> upload = dir.BeginUpload("f");
    ASSERT_TRUE(upload.ok());
    EXPECT_CALL(sys_, Write(upload->fd(), _, _)).WillOnce(SetErrnoAndReturn(ENOSPC, -1));
    EXPECT_EQ(upload->Write("new", 3).code(), Status::Code::kNoSpace);
  }
  ExpectOldVersionAndNoLeftover();
}

TEST_F(UserDirFaultTest, ShortWritesAndEintrAreRetried) {
  UserDir dir = OpenUser(kUser, &sys_);
  Result<Upload> upload = dir.BeginUpload("f");
  ASSERT_TRUE(upload.ok());
  // One EINTR, then at most 3 bytes a call.
  EXPECT_CALL(sys_, Write(upload->fd(), _, _))
      .WillOnce(SetErrnoAndReturn(EINTR, -1))
      .WillRepeatedly([](int fd, const void* buf, size_t len) {
        return RealSys().Write(fd, buf, std::min<size_t>(len, 3));
      });
  const std::string content = "0123456789abcdef";
  ASSERT_TRUE(upload->Write(content.data(), content.size()).ok());
  ASSERT_TRUE(upload->Commit().ok());
  EXPECT_EQ(ReadPath(UserPath() / "f"), content);
}

// A large upload starts the writeback of each kWritebackStep bytes as they arrive, each range
// once and in order, and stores the bytes exactly.
TEST_F(UserDirFaultTest, ALargeUploadStartsTheWritebackOfEachStepAsItArrives) {
  UserDir dir = OpenUser(kUser, &sys_);
  Result<Upload> upload = dir.BeginUpload("f");
  ASSERT_TRUE(upload.ok());
  constexpr off_t kStep = Upload::kWritebackStep;
  {
    ::testing::InSequence order;
    EXPECT_CALL(sys_, SyncFileRange(upload->fd(), 0, kStep, SYNC_FILE_RANGE_WRITE));
    EXPECT_CALL(sys_, SyncFileRange(upload->fd(), kStep, kStep, SYNC_FILE_RANGE_WRITE));
  }
  std::string chunk(256 * 1024, '\0');
  std::string content;
  // Two steps and a part of a third: two calls.
  for (int i = 0; content.size() < 2 * Upload::kWritebackStep + 1; ++i) {
    std::fill(chunk.begin(), chunk.end(), static_cast<char>('a' + i % 26));
    ASSERT_TRUE(upload->Write(chunk.data(), chunk.size()).ok());
    content += chunk;
  }
  ASSERT_TRUE(upload->Commit().ok());
  EXPECT_EQ(ReadPath(UserPath() / "f"), content);
}

// Starting the writeback is only a head start: when it fails, the upload goes on and its fsync
// makes it durable.
TEST_F(UserDirFaultTest, AWritebackThatFailsToStartLeavesTheUploadToItsFsync) {
  UserDir dir = OpenUser(kUser, &sys_);
  Result<Upload> upload = dir.BeginUpload("f");
  ASSERT_TRUE(upload.ok());
  EXPECT_CALL(sys_, SyncFileRange(upload->fd(), _, _, _)).WillOnce(SetErrnoAndReturn(EIO, -1));
  EXPECT_CALL(sys_, Fsync(_)).Times(AnyNumber());  // the folder's
  EXPECT_CALL(sys_, Fsync(upload->fd()));
  const std::string content(Upload::kWritebackStep, 'x');
  ASSERT_TRUE(upload->Write(content.data(), content.size()).ok());
  ASSERT_TRUE(upload->Commit().ok());
  EXPECT_EQ(ReadPath(UserPath() / "f"), content);
}

TEST_F(UserDirFaultTest, FsyncEioFailsCommitAndKeepsOldVersion) {
  UserDir dir = OpenUser(kUser, &sys_);
  {
    Result<Upload> upload = dir.BeginUpload("f");
    ASSERT_TRUE(upload.ok());
    ASSERT_TRUE(upload->Write("new", 3).ok());
    EXPECT_CALL(sys_, Fsync(upload->fd())).WillOnce(SetErrnoAndReturn(EIO, -1));
    EXPECT_CALL(sys_, RenameAt(_, _, _, _)).Times(0);
    Status st = upload->Commit();
    EXPECT_EQ(st.code(), Status::Code::kIoError) << st.ToString();
  }
  ExpectOldVersionAndNoLeftover();
}

// close() is where NFS or a quota may first report a lost write. The file's fsync succeeds but
// leaves the descriptor already closed, so Commit's own close fails (EBADF): the error must come
// back and the rename must never happen.
TEST_F(UserDirFaultTest, CloseFailureFailsCommitBeforeTheRename) {
  UserDir dir = OpenUser(kUser, &sys_);
  {
    Result<Upload> upload = dir.BeginUpload("f");
    ASSERT_TRUE(upload.ok());
    ASSERT_TRUE(upload->Write("new", 3).ok());
    EXPECT_CALL(sys_, Fsync(upload->fd())).WillOnce([](int fd) { return ::close(fd); });
    EXPECT_CALL(sys_, RenameAt(_, _, _, _)).Times(0);
    Status st = upload->Commit();
    EXPECT_EQ(st.code(), Status::Code::kIoError) << st.ToString();
    EXPECT_THAT(st.message(), ::testing::StartsWith("close f: ")) << st.ToString();
  }
  ExpectOldVersionAndNoLeftover();
}

TEST_F(UserDirFaultTest, RenameFailureFailsCommitAndLeavesNoTemp) {
  UserDir dir = OpenUser(kUser, &sys_);
  {
    Result<Upload> upload = dir.BeginUpload("f");
    ASSERT_TRUE(upload.ok());
    ASSERT_TRUE(upload->Write("new", 3).ok());
    EXPECT_CALL(sys_, RenameAt(_, _, _, _)).WillOnce(SetErrnoAndReturn(EIO, -1));
    EXPECT_FALSE(upload->Commit().ok());
  }
  ExpectOldVersionAndNoLeftover();
}

TEST_F(UserDirFaultTest, FullDiskForTheDigestRefusesTheUploadAndKeepsTheOldVersion) {
  UserDir dir = OpenUser(kUser, &sys_);
  {
    Result<Upload> upload = dir.BeginUpload("f");
    ASSERT_TRUE(upload.ok());
    ASSERT_TRUE(upload->Write("new", 3).ok());
    // No room for the digest on the file, and then none for its sidecar, the only write left,
    // which comes before the data's rename.
    EXPECT_CALL(sys_, FSetXattr(_, _, _, _, _)).WillOnce(SetErrnoAndReturn(ENOSPC, -1));
    EXPECT_CALL(sys_, Write(_, _, _)).WillOnce(SetErrnoAndReturn(ENOSPC, -1));
    EXPECT_EQ(upload->Commit(protocol::Sha256Of("new")).code(), Status::Code::kNoSpace);
  }
  ExpectOldVersionAndNoLeftover();
}

// The file system the batch tests pretend the user's folder is on.
void PretendFileSystem(MockSys& sys, long type) {
  EXPECT_CALL(sys, Fstatfs(_, _)).WillRepeatedly([type](int, struct statfs* st) {
    *st = {};
    st->f_type = type;
    return 0;
  });
}

// Stages an upload of `content` as `name` (with its digest) into `batch`.
void StageInto(UploadBatch& batch, UserDir& dir, const std::string& name,
               const std::string& content) {
  Result<Upload> upload = dir.BeginUpload(name);
  ASSERT_TRUE(upload.ok()) << upload.status().ToString();
  ASSERT_TRUE(upload->Write(content.data(), content.size()).ok());
  ASSERT_TRUE(upload->Stage(protocol::Sha256Of(content)).ok());
  batch.Add(std::move(*upload), name, content.size());
}

TEST_F(UserDirFaultTest, ABatchIsMadeDurableByOneSyncfsBeforeAnyRenameThenOneFsyncPerFolder) {
  PretendFileSystem(sys_, EXT4_SUPER_MAGIC);
  // Each digest goes on its file, as on ext4 (whether or not this test's own folder allows it).
  EXPECT_CALL(sys_, FSetXattr(_, _, _, _, _)).Times(3).WillRepeatedly(::testing::Return(0));
  UserDir dir = OpenUser(kUser, &sys_);
  UploadBatch batch;
  StageInto(batch, dir, "f", "new");
  StageInto(batch, dir, "a/x", "x");
  StageInto(batch, dir, "a/y", "y");
  {
    ::testing::InSequence seq;
    EXPECT_CALL(sys_, Syncfs(_));
    // Each data file, its digest on it: no sidecar to rename.
    EXPECT_CALL(sys_, RenameAt(_, _, _, _)).Times(3);
    // The user's folder and a/, once each.
    EXPECT_CALL(sys_, Fsync(_)).Times(2);
  }
  for (const UploadBatch::Done& d : batch.Commit(&sys_)) {
    EXPECT_TRUE(d.status.ok()) << d.name << ": " << d.status.ToString();
  }
  EXPECT_EQ(ReadPath(UserPath() / "f"), "new");
  EXPECT_EQ(ReadPath(UserPath() / "a" / "y"), "y");
  EXPECT_FALSE(HasTempFile(UserPath()));
}

// Freeing a replaced file's blocks is left to the caller's close, after the answers: the batch
// hands back a descriptor of each file its uploads replaced, the old inode, already unlinked.
TEST_F(UserDirTest, ABatchHandsBackTheFilesItReplacedForTheCallerToClose) {
  UserDir dir = OpenUser(kUser);
  ASSERT_TRUE(Store(dir, "f", "old").ok());
  struct stat old {};
  ASSERT_EQ(::stat((UserPath() / "f").c_str(), &old), 0);
  UploadBatch batch;
  StageInto(batch, dir, "f", "new");
  StageInto(batch, dir, "g", "g");
  std::vector<UploadBatch::Done> done = batch.Commit(&RealSys());
  ASSERT_EQ(done.size(), 2u);
  ASSERT_TRUE(done[0].status.ok()) << done[0].status.ToString();
  ASSERT_TRUE(done[0].replaced.valid());
  struct stat held {};
  ASSERT_EQ(::fstat(done[0].replaced.get(), &held), 0);
  EXPECT_EQ(held.st_ino, old.st_ino);
  EXPECT_EQ(held.st_nlink, 0u);
  EXPECT_EQ(ReadPath(UserPath() / "f"), "new");
  // A new name replaced nothing.
  EXPECT_FALSE(done[1].replaced.valid());
}

// A delete, too, leaves freeing the file's blocks to the caller's close: Remove hands back a
// descriptor of the inode it unlinked.
TEST_F(UserDirTest, ARemoveHandsBackTheFileItUnlinkedForTheCallerToClose) {
  UserDir dir = OpenUser(kUser);
  ASSERT_TRUE(Store(dir, "d/f", "doomed").ok());
  struct stat old {};
  ASSERT_EQ(::stat((UserPath() / "d" / "f").c_str(), &old), 0);
  UniqueFd removed;
  ASSERT_TRUE(dir.Remove("d/f", UserDir::Folders::kRefuse, &removed).ok());
  ASSERT_TRUE(removed.valid());
  struct stat held {};
  ASSERT_EQ(::fstat(removed.get(), &held), 0);
  EXPECT_EQ(held.st_ino, old.st_ino);
  EXPECT_EQ(held.st_nlink, 0u);
  EXPECT_FALSE(std::filesystem::exists(UserPath() / "d"));
  // A name that is not a stored file hands back nothing.
  UniqueFd none;
  EXPECT_EQ(dir.Remove("d/f", UserDir::Folders::kRefuse, &none).code(), Status::Code::kNotFound);
  EXPECT_FALSE(none.valid());
}

// With history kept the replaced file lives on as a version: nothing to hold.
TEST_F(UserDirTest, ABatchHoldsNoReplacedFileThatAHistoryKeeps) {
  UserDir dir = OpenUser(kUser);
  dir.policy.keep_versions = 3;
  ASSERT_TRUE(Store(dir, "f", "old").ok());
  UploadBatch batch;
  StageInto(batch, dir, "f", "new");
  std::vector<UploadBatch::Done> done = batch.Commit(&RealSys());
  ASSERT_EQ(done.size(), 1u);
  ASSERT_TRUE(done[0].status.ok()) << done[0].status.ToString();
  EXPECT_FALSE(done[0].replaced.valid());
  EXPECT_EQ(ReadPath(UserPath() / "f"), "new");
}

TEST_F(UserDirFaultTest, ABatchWhoseSyncfsFailsRenamesNothingAndFailsEachUpload) {
  PretendFileSystem(sys_, EXT4_SUPER_MAGIC);
  UserDir dir = OpenUser(kUser, &sys_);
  UploadBatch batch;
  StageInto(batch, dir, "f", "new");
  StageInto(batch, dir, "g", "g");
  EXPECT_CALL(sys_, Syncfs(_)).WillOnce(SetErrnoAndReturn(EIO, -1));
  EXPECT_CALL(sys_, RenameAt(_, _, _, _)).Times(0);
  std::vector<UploadBatch::Done> done = batch.Commit(&sys_);
  ASSERT_EQ(done.size(), 2u);
  for (const UploadBatch::Done& d : done) {
    EXPECT_EQ(d.status.code(), Status::Code::kIoError) << d.name << ": " << d.status.ToString();
  }
  ExpectOldVersionAndNoLeftover();
}

// FUSE (a GlusterFS node's, say) need not pass syncfs on to the server: an fsync per file there.
TEST_F(UserDirFaultTest, ABatchOnAFileSystemWithoutADurableSyncfsFsyncsEachFile) {
  PretendFileSystem(sys_, FUSE_SUPER_MAGIC);
  // And one that keeps no user attributes: each digest goes in a sidecar.
  EXPECT_CALL(sys_, FSetXattr(_, _, _, _, _)).WillRepeatedly(SetErrnoAndReturn(EOPNOTSUPP, -1));
  UserDir dir = OpenUser(kUser, &sys_);
  UploadBatch batch;
  StageInto(batch, dir, "f", "new");
  StageInto(batch, dir, "g", "g");
  EXPECT_CALL(sys_, Syncfs(_)).Times(0);
  // Each file and its sidecar, then the folder once.
  EXPECT_CALL(sys_, Fsync(_)).Times(5);
  for (const UploadBatch::Done& d : batch.Commit(&sys_)) {
    EXPECT_TRUE(d.status.ok()) << d.name << ": " << d.status.ToString();
  }
  EXPECT_EQ(ReadPath(UserPath() / "g"), "g");
}

TEST_F(UserDirFaultTest, CommitFsyncsFileThenRenamesThenFsyncsFolder) {
  UserDir dir = OpenUser(kUser, &sys_);
  Result<Upload> upload = dir.BeginUpload("f");
  ASSERT_TRUE(upload.ok());
  ASSERT_TRUE(upload->Write("new", 3).ok());
  int file_fd = upload->fd();
  {
    ::testing::InSequence seq;
    EXPECT_CALL(sys_, Fsync(file_fd));
    EXPECT_CALL(sys_, RenameAt(_, _, _, ::testing::StrEq("f")));
    EXPECT_CALL(sys_, Fsync(::testing::Ne(file_fd)));
  }
  ASSERT_TRUE(upload->Commit().ok());
  EXPECT_EQ(ReadPath(UserPath() / "f"), "new");
}

TEST_F(UserDirFaultTest, TempCreateEnospcIsNoSpace) {
  UserDir dir = OpenUser(kUser, &sys_);
  EXPECT_CALL(sys_, OpenAt2).Times(AnyNumber());
  EXPECT_CALL(sys_, OpenAt2(_, ::testing::StartsWith(".backupd-tmp-"), _, _, _))
      .WillOnce(SetErrnoAndReturn(ENOSPC, -1));
  EXPECT_EQ(dir.BeginUpload("f").status().code(), Status::Code::kNoSpace);
  ExpectOldVersionAndNoLeftover();
}

TEST_F(UserDirFaultTest, EveryResolutionIsConfined) {
  UserDir dir = OpenUser(kUser, &sys_);
  constexpr uint64_t kRequired =
      RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  EXPECT_CALL(sys_, OpenAt2(_, _, _, _, kRequired)).Times(AnyNumber());
  EXPECT_CALL(sys_, OpenAt2(_, _, _, _, ::testing::Ne(kRequired))).Times(0);
  ASSERT_TRUE(Store(dir, "x/y/z", "1").ok());
  ASSERT_TRUE(Restore(dir, "x/y/z").ok());
  ASSERT_TRUE(ListFiles(dir).ok());
  ASSERT_TRUE(dir.Remove("x/y/z").ok());
}

TEST_F(UserDirFaultTest, AnUnreadableFolderIsLeftOutOfTheListAndNamed) {
  UserDir real = OpenUser(kUser);
  ASSERT_TRUE(Store(real, "locked/in", "x").ok());
  ASSERT_TRUE(Store(real, "m/n", "y").ok());
  UserDir dir = OpenUser(kUser, &sys_);
  EXPECT_CALL(sys_, OpenAt2).Times(AnyNumber());
  EXPECT_CALL(sys_, OpenAt2(_, ::testing::StrEq("locked"), _, _, _))
      .WillRepeatedly(SetErrnoAndReturn(EACCES, -1));
  std::vector<std::string> names;
  std::vector<std::string> unreadable;
  Status s = dir.List(
      UserDir::ListOptions::kWithDigests,
      [&](const StoredFile& f) {
        names.push_back(f.name);
        return Status::Ok();
      },
      [&](const std::string& folder, const Status& why) {
        EXPECT_EQ(why.code(), Status::Code::kDenied) << why.ToString();
        unreadable.push_back(folder);
      });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_THAT(names, ElementsAre("f", "m/n"));
  EXPECT_THAT(unreadable, ElementsAre("locked"));
}

TEST_F(UserDirFaultTest, AnUnreadableUserFolderFailsTheList) {
  UserDir dir = OpenUser(kUser, &sys_);
  EXPECT_CALL(sys_, OpenAt2).Times(AnyNumber());
  EXPECT_CALL(sys_, OpenAt2(_, ::testing::StrEq("."), _, _, _))
      .WillRepeatedly(SetErrnoAndReturn(EIO, -1));
  Result<std::vector<StoredFile>> files = ListFiles(dir);
  EXPECT_EQ(files.status().code(), Status::Code::kIoError) << files.status().ToString();
}

TEST_F(UserDirFaultTest, AListOpensEachFolderFromItsParentByOneName) {
  // Opening each folder by its whole path from the top cost the square of the depth.
  std::string deep;
  for (int i = 0; i < 200; ++i) deep += "d/";
  deep += "leaf";
  UserDir real = OpenUser(kUser);
  ASSERT_TRUE(Store(real, deep, "x").ok());
  UserDir dir = OpenUser(kUser, &sys_);
  EXPECT_CALL(sys_, OpenAt2).Times(AnyNumber());
  EXPECT_CALL(sys_, OpenAt2(_, ::testing::HasSubstr("/"), _, _, _)).Times(0);
  Result<std::vector<std::string>> names = ListNames(dir);
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  EXPECT_THAT(*names, ElementsAre(deep, "f"));
}

TEST_F(UserDirTest, AListVisitorsStatusStopsTheWalk) {
  UserDir dir = OpenUser(kUser);
  for (const char* name : {"a", "b", "c"}) ASSERT_TRUE(Store(dir, name, "x").ok());
  std::vector<std::string> names;
  Status s = dir.List(
      UserDir::ListOptions::kNamesOnly,
      [&](const StoredFile& f) {
        names.push_back(f.name);
        return names.size() == 2 ? Status::TooLarge("enough") : Status::Ok();
      },
      [](const std::string&, const Status&) {});
  EXPECT_EQ(s.code(), Status::Code::kTooLarge);
  EXPECT_THAT(names, ElementsAre("a", "b"));
}

// A writer that began uploading `name` in a child process, wrote a little, and then, as told
// through a pipe, dies at once (no destructor runs) or finishes normally (its Upload cleans up).
class Writer {
 public:
  Writer(UserDir& dir, const std::string& name) {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    int ready[2];
    EXPECT_EQ(::pipe2(ready, O_CLOEXEC), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(fds[1]);
      ::close(ready[0]);
      {
        Result<Upload> upload = dir.BeginUpload(name);
        if (!upload.ok() || !upload->Write("partial", 7).ok()) ::_exit(2);
        char c = 1;
        if (::write(ready[1], &c, 1) != 1) ::_exit(3);
        if (::read(fds[0], &c, 1) != 1) ::_exit(4);
        if (c == 'k') ::_exit(0);
      }
      ::_exit(0);
    }
    ::close(fds[0]);
    ::close(ready[1]);
    tell_ = fds[1];
    char c = 0;
    EXPECT_EQ(::read(ready[0], &c, 1), 1) << "the writer never began its upload";
    ::close(ready[0]);
  }
  // 'k': die at once; anything else: finish, the Upload's destructor running.
  void End(char how) {
    EXPECT_EQ(::write(tell_, &how, 1), 1);
    ::close(tell_);
    int status = 0;
    EXPECT_EQ(::waitpid(pid_, &status, 0), pid_);
    EXPECT_EQ(status, 0);
  }

 private:
  pid_t pid_ = -1;
  int tell_ = -1;
};

// Another session's delete of a folder's last file prunes the folder just after this upload
// walked into it (here: removed for real at the moment the temp file is created). The upload
// walks again, makes the folder anew, and stores; before, it failed with ENOENT (1001).
TEST_F(UserDirTest, AnUploadWhoseFolderIsPrunedUnderItWalksAgainAndStores) {
  NiceMock<MockSys> sys;
  UserDir dir = OpenUser(7, &sys);
  const fs::path pruned = storage_ / "7" / "a" / "b";
  bool raced = false;
  ON_CALL(sys, OpenAt2)
      .WillByDefault(
          [&](int dirfd, const char* path, uint64_t flags, uint64_t mode, uint64_t resolve) {
            if (!raced && std::string(path).rfind(".backupd-tmp-", 0) == 0) {
              raced = true;
              fs::remove(pruned);
              fs::remove(pruned.parent_path());
            }
            return RealSys().OpenAt2(dirfd, path, flags, mode, resolve);
          });
  ASSERT_TRUE(Store(dir, "a/b/file", "content").ok());
  EXPECT_TRUE(raced);
  EXPECT_EQ(ReadPath(pruned / "file"), "content");
}

TEST_F(UserDirTest, TheTempFileOfAWriterKilledMidUploadGoesAtTheNextUploadInAnyFolder) {
  UserDir dir = OpenUser(kUser);
  Writer writer(dir, "a/b/f");
  EXPECT_TRUE(HasTempFile(UserPath() / "a" / "b"));
  EXPECT_EQ(Tree(UserPath() / ".backupd-uploads").size(), 1u);
  writer.End('k');
  // Still there: nothing but a later upload looks.
  EXPECT_TRUE(HasTempFile(UserPath() / "a" / "b"));

  UserDir later = OpenUser(kUser);
  ASSERT_TRUE(Store(later, "elsewhere", "x").ok());
  EXPECT_THAT(Tree(UserPath()), ElementsAre("a", "a/b", "elsewhere"));
}

TEST_F(UserDirTest, TheTempFileOfALiveWriterIsKeptBySweeps) {
  UserDir dir = OpenUser(kUser);
  Writer writer(dir, "a/f");
  UserDir other = OpenUser(kUser);
  ASSERT_TRUE(Store(other, "g", "x").ok());
  EXPECT_TRUE(HasTempFile(UserPath() / "a"));
  EXPECT_EQ(Tree(UserPath() / ".backupd-uploads").size(), 1u);
  writer.End('f');
  // The writer's own Upload removed its temp file, its record and the records folder.
  EXPECT_THAT(Tree(UserPath()), ElementsAre("a", "g"));
}

// The folder of the last upload is kept open, not walked to again; one pruned since (its last file
// deleted, here through another UserDir as another session would) is made anew.
TEST_F(UserDirTest, AnUploadIntoTheFolderOfTheLastOneFindsItEvenAfterItWasPruned) {
  UserDir dir = OpenUser(kUser);
  ASSERT_TRUE(Store(dir, "a/b/x", "x").ok());
  ASSERT_TRUE(Store(dir, "a/b/y", "y").ok());
  UserDir other = OpenUser(kUser);
  ASSERT_TRUE(other.Remove("a/b/x").ok());
  ASSERT_TRUE(other.Remove("a/b/y").ok());
  ASSERT_FALSE(fs::exists(UserPath() / "a"));
  ASSERT_TRUE(Store(dir, "a/b/z", "z").ok());
  EXPECT_EQ(ReadPath(UserPath() / "a" / "b" / "z"), "z");
  EXPECT_THAT(Tree(UserPath()), ElementsAre("a", "a/b", "a/b/z"));
}

TEST_F(UserDirTest, OnlyTheFirstUploadThroughAUserDirSweeps) {
  UserDir dir = OpenUser(kUser);
  ASSERT_TRUE(Store(dir, "first", "x").ok());
  Writer writer(dir, "a/f");
  writer.End('k');
  // The folders of stored files are never read for a sweep; the records folder once per UserDir.
  ASSERT_TRUE(Store(dir, "second", "x").ok());
  EXPECT_TRUE(HasTempFile(UserPath() / "a"));
  UserDir fresh = OpenUser(kUser);
  ASSERT_TRUE(Store(fresh, "third", "x").ok());
  EXPECT_FALSE(HasTempFile(UserPath() / "a"));
}

// Sets this process's node for one test, and puts the default back after it.
class NodeScope {
 public:
  NodeScope(const std::string& node, int64_t foreign_after_seconds) {
    SetUploadNode(node, foreign_after_seconds);
  }
  NodeScope(const NodeScope&) = delete;
  NodeScope& operator=(const NodeScope&) = delete;
  ~NodeScope() { SetUploadNode("local", 600); }
};

// Plants what a writer on `node` killed mid-upload of "a/f" leaves: its record and temp file,
// both `age_seconds` old.
void PlantUpload(const fs::path& user, const std::string& id, int64_t age_seconds) {
  fs::create_directories(user / ".backupd-uploads");
  fs::create_directories(user / "a");
  WritePath(user / ".backupd-uploads" / id, "a");
  WritePath(user / "a" / (".backupd-tmp-" + id), "partial");
  const timespec then{static_cast<time_t>(::time(nullptr) - age_seconds), 0};
  const timespec times[2] = {then, then};
  for (const fs::path& p : {user / ".backupd-uploads" / id, user / "a" / (".backupd-tmp-" + id)}) {
    ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), times, 0), 0) << p;
  }
}

TEST_F(UserDirTest, TempFilesAndRecordsCarryTheNodeNameThenThePid) {
  NodeScope node("web-2.dc_1", 600);
  UserDir dir = OpenUser(kUser);
  Result<Upload> upload = dir.BeginUpload("a/f");
  ASSERT_TRUE(upload.ok()) << upload.status().ToString();
  const std::string id = "web-2.dc_1-" + std::to_string(::getpid()) + "-";
  const std::vector<std::string> temps = NamesStartingWith(UserPath() / "a", ".backupd-tmp-");
  ASSERT_EQ(temps.size(), 1u);
  EXPECT_EQ(temps[0].rfind(".backupd-tmp-" + id, 0), 0u) << temps[0];
  const std::vector<std::string> records = NamesStartingWith(UserPath() / ".backupd-uploads", "");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0], temps[0].substr(std::string(".backupd-tmp-").size()));
  EXPECT_EQ(records[0].size(), id.size() + 16) << "8 random bytes in hex after the pid";
}

// A pid from another node says nothing about a process here: a fresh record of another node is
// kept whatever its pid, and one older than the age given goes with its temp file.
TEST_F(UserDirTest, AnotherNodesUploadIsSweptByAgeNeverByPid) {
  NodeScope node("here", 600);
  // 2^22 + 1 is above pid_max's limit: no process has that pid here, which fooled the old sweep.
  const std::string fresh = "there-4194305-00000000000000aa";
  const std::string old = "there-4194305-00000000000000bb";
  PlantUpload(UserPath(), fresh, 599);
  PlantUpload(UserPath(), old, 700);
  UserDir dir = OpenUser(kUser);
  ASSERT_TRUE(Store(dir, "g", "x").ok());
  EXPECT_THAT(Tree(UserPath()), ElementsAre(".backupd-uploads", ".backupd-uploads/" + fresh, "a",
                                            "a/.backupd-tmp-" + fresh, "g"));
}

TEST_F(UserDirTest, ThisNodesDeadWriterIsSweptByPidHoweverYoung) {
  NodeScope node("here", 600);
  PlantUpload(UserPath(), "here-4194305-00000000000000aa", 0);
  // A record from before node names: "<pid>-<random>", judged by pid as this node's.
  PlantUpload(UserPath(), "4194305-00000000000000bb", 0);
  // One of ours whose writer lives (this process) stays.
  const std::string live = "here-" + std::to_string(::getpid()) + "-00000000000000cc";
  PlantUpload(UserPath(), live, 10000);
  UserDir dir = OpenUser(kUser);
  ASSERT_TRUE(Store(dir, "g", "x").ok());
  EXPECT_THAT(Tree(UserPath()), ElementsAre(".backupd-uploads", ".backupd-uploads/" + live, "a",
                                            "a/.backupd-tmp-" + live, "g"));
}

// A batch's record (one per batch of pipelined v2 uploads) names each upload's folder, each ended
// by a NUL (a folder's name may hold a line end);
// the n-th upload's temp files are "<id>-<n>"'s. A dead writer's are all swept, in every folder.
TEST_F(UserDirTest, ADeadWritersBatchRecordHasEachOfItsUploadsTempFilesSwept) {
  NodeScope node("here", 600);
  const std::string id = "here-4194305-00000000000000dd";
  fs::create_directories(UserPath() / ".backupd-uploads");
  fs::create_directories(UserPath() / "a" / "b");
  fs::create_directories(UserPath() / "x\ny");
  WritePath(UserPath() / ".backupd-uploads" / id, std::string("a/b\0\0a/b\0x\ny\0", 13));
  WritePath(UserPath() / "x\ny" / (".backupd-tmp-" + id + "-3"), "fourth");
  WritePath(UserPath() / "a" / "b" / (".backupd-tmp-" + id + "-0"), "first");
  WritePath(UserPath() / "a" / "b" / (".backupd-tmp-" + id + "-0-sha256"), "its digest");
  WritePath(UserPath() / (".backupd-tmp-" + id + "-1"), "second");
  WritePath(UserPath() / "a" / "b" / (".backupd-tmp-" + id + "-2"), "third");
  UserDir dir = OpenUser(kUser);
  ASSERT_TRUE(Store(dir, "g", "x").ok());
  EXPECT_THAT(Tree(UserPath()), ElementsAre("a", "a/b", "g", "x\ny"));
}

// While a batch is open its one record names every upload begun in it, and the uploads hold
// none of their own; the record goes once the batch is done with it.
TEST_F(UserDirTest, UploadsOfABatchShareOneRecord) {
  UserDir dir = OpenUser(kUser);
  std::optional<UploadRecord> batch;
  ASSERT_TRUE(dir.StartBatch(&batch).ok());
  ASSERT_TRUE(batch.has_value());
  Result<Upload> one = dir.BeginUpload("a/x", &*batch);
  Result<Upload> two = dir.BeginUpload("y", &*batch);
  ASSERT_TRUE(one.ok() && two.ok());
  const std::vector<std::string> records = NamesStartingWith(UserPath() / ".backupd-uploads", "");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(ReadPath(UserPath() / ".backupd-uploads" / records[0]), std::string("a\0\0", 3));
  EXPECT_EQ(NamesStartingWith(UserPath() / "a", ".backupd-tmp-"),
            std::vector<std::string>{".backupd-tmp-" + records[0] + "-0"});
  EXPECT_EQ(NamesStartingWith(UserPath(), ".backupd-tmp-"),
            std::vector<std::string>{".backupd-tmp-" + records[0] + "-1"});
  ASSERT_TRUE(one->Commit().ok());
  ASSERT_TRUE(two->Commit().ok());
  EXPECT_EQ(NamesStartingWith(UserPath() / ".backupd-uploads", "").size(), 1u);
  batch.reset();
  EXPECT_THAT(Tree(UserPath()), ElementsAre("a", "a/x", "y"));
}

// Makes `sys` answer ESTALE to the opens of the names `stale` picks (it may count them) and
// forwards the others to the kernel.
void StaleOpens(MockSys& sys, std::function<bool(const std::string&)> stale) {
  ON_CALL(sys, OpenAt2)
      .WillByDefault([stale = std::move(stale)](int dirfd, const char* path, uint64_t flags,
                                                uint64_t mode, uint64_t resolve) {
        if (stale(path)) {
          errno = ESTALE;
          return -1;
        }
        return RealSys().OpenAt2(dirfd, path, flags, mode, resolve);
      });
}

// GlusterFS answered ESTALE to a restore after concurrent uploads through two nodes, and a retry
// worked: a lookup that fails so is made again, a bounded few times.
TEST_F(UserDirTest, AStaleLookupIsRetriedAndThenServes) {
  NiceMock<MockSys> sys;
  UserDir dir = OpenUser(kUser, &sys);
  ASSERT_TRUE(Store(dir, "a/f", "content").ok());
  int stale_left = 2;
  StaleOpens(sys, [&](const std::string& path) {
    if (path != "f" || stale_left == 0) return false;
    --stale_left;
    return true;
  });
  Result<std::string> got = Restore(dir, "a/f");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "content");
  EXPECT_EQ(stale_left, 0);
}

TEST_F(UserDirTest, AHandleThatStaysStaleFailsTheRestoreAfterAFewTries) {
  NiceMock<MockSys> sys;
  UserDir dir = OpenUser(kUser, &sys);
  ASSERT_TRUE(Store(dir, "a/f", "content").ok());
  int tries = 0;
  StaleOpens(sys, [&](const std::string& path) {
    if (path != "f") return false;
    ++tries;
    return true;
  });
  Result<OpenFile> file = dir.OpenForRead("a/f");
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(), ::testing::HasSubstr("Stale file handle"));
  EXPECT_GT(tries, 1);
  EXPECT_LE(tries, 16);
}

// The ESTALE tests/nodes/run.sh met: another node removed the emptied records folder just after
// this one made it, so the next step on it answered ESTALE (and the upload failed with 1003). The
// open of the folder just made is looked up again, and the upload stores.
TEST_F(UserDirTest, AFolderThatWentStaleJustAfterItsMkdirIsMadeAgain) {
  NiceMock<MockSys> sys;
  UserDir dir = OpenUser(kUser, &sys);
  bool made = false;
  bool stale_once = true;
  ON_CALL(sys, MkdirAt).WillByDefault([&](int at, const char* path, mode_t mode) {
    if (std::string(path) == "a") made = true;
    return RealSys().MkdirAt(at, path, mode);
  });
  StaleOpens(sys, [&](const std::string& path) {
    if (!made || !stale_once || path != "a") return false;
    stale_once = false;
    return true;
  });
  ASSERT_TRUE(Store(dir, "a/f", "content").ok());
  EXPECT_FALSE(stale_once);
  EXPECT_EQ(ReadPath(UserPath() / "a" / "f"), "content");
}

// A temp file created in a folder whose handle went stale (removed and made again by another
// node) is created again after a fresh walk.
TEST_F(UserDirTest, ATempFileCreatedInAStaleFolderIsCreatedAgainAfterAFreshWalk) {
  NiceMock<MockSys> sys;
  UserDir dir = OpenUser(kUser, &sys);
  bool stale_once = true;
  StaleOpens(sys, [&](const std::string& path) {
    if (!stale_once || path.rfind(".backupd-tmp-", 0) != 0) return false;
    stale_once = false;
    return true;
  });
  ASSERT_TRUE(Store(dir, "a/f", "content").ok());
  EXPECT_FALSE(stale_once);
  EXPECT_EQ(ReadPath(UserPath() / "a" / "f"), "content");
}

}  // namespace
}  // namespace backupd::worker

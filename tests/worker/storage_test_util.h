// tests (unprivileged or root): what the storage tests of tests/worker share — a Sys that forwards
// to the kernel unless a test says otherwise, a storage folder per test, and file readers.
#ifndef BACKUPD_TESTS_WORKER_STORAGE_TEST_UTIL_H_
#define BACKUPD_TESTS_WORKER_STORAGE_TEST_UTIL_H_

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/text.h"
#include "protocol/digest.h"
#include "tests/harness/temp_dir.h"
#include "worker/sys.h"

namespace backupd::worker {

// Forwards to the kernel unless a test says otherwise for one call.
class MockSys : public Sys {
 public:
  MockSys() {
    Sys* real = &RealSys();
    ON_CALL(*this, OpenAt2).WillByDefault(::testing::Invoke(real, &Sys::OpenAt2));
    ON_CALL(*this, MkdirAt).WillByDefault(::testing::Invoke(real, &Sys::MkdirAt));
    ON_CALL(*this, UnlinkAt).WillByDefault(::testing::Invoke(real, &Sys::UnlinkAt));
    ON_CALL(*this, RenameAt).WillByDefault(::testing::Invoke(real, &Sys::RenameAt));
    ON_CALL(*this, LinkAt).WillByDefault(::testing::Invoke(real, &Sys::LinkAt));
    ON_CALL(*this, FstatAt).WillByDefault(::testing::Invoke(real, &Sys::FstatAt));
    ON_CALL(*this, Read).WillByDefault(::testing::Invoke(real, &Sys::Read));
    ON_CALL(*this, Write).WillByDefault(::testing::Invoke(real, &Sys::Write));
    ON_CALL(*this, Fsync).WillByDefault(::testing::Invoke(real, &Sys::Fsync));
    ON_CALL(*this, SyncFileRange).WillByDefault(::testing::Invoke(real, &Sys::SyncFileRange));
    ON_CALL(*this, Syncfs).WillByDefault(::testing::Invoke(real, &Sys::Syncfs));
    ON_CALL(*this, Fstatfs).WillByDefault(::testing::Invoke(real, &Sys::Fstatfs));
    ON_CALL(*this, Futimens).WillByDefault(::testing::Invoke(real, &Sys::Futimens));
    ON_CALL(*this, FSetXattr).WillByDefault(::testing::Invoke(real, &Sys::FSetXattr));
    ON_CALL(*this, FGetXattr).WillByDefault(::testing::Invoke(real, &Sys::FGetXattr));
    ON_CALL(*this, GetRandom).WillByDefault(::testing::Invoke(real, &Sys::GetRandom));
  }
  MOCK_METHOD(int, OpenAt2, (int, const char*, uint64_t, uint64_t, uint64_t), (override));
  MOCK_METHOD(int, MkdirAt, (int, const char*, mode_t), (override));
  MOCK_METHOD(int, UnlinkAt, (int, const char*, int), (override));
  MOCK_METHOD(int, RenameAt, (int, const char*, int, const char*), (override));
  MOCK_METHOD(int, LinkAt, (int, const char*, int, const char*), (override));
  MOCK_METHOD(int, FstatAt, (int, const char*, struct stat*, int), (override));
  MOCK_METHOD(ssize_t, Read, (int, void*, size_t), (override));
  MOCK_METHOD(ssize_t, Write, (int, const void*, size_t), (override));
  MOCK_METHOD(int, Fsync, (int), (override));
  MOCK_METHOD(int, SyncFileRange, (int, off_t, off_t, unsigned int), (override));
  MOCK_METHOD(int, Syncfs, (int), (override));
  MOCK_METHOD(int, Fstatfs, (int, struct statfs*), (override));
  MOCK_METHOD(int, Futimens, (int, const struct timespec*), (override));
  MOCK_METHOD(int, FSetXattr, (int, const char*, const void*, size_t, int), (override));
  MOCK_METHOD(ssize_t, FGetXattr, (int, const char*, void*, size_t), (override));
  MOCK_METHOD(ssize_t, GetRandom, (void*, size_t, unsigned int), (override));
};

// A fresh storage folder per test, open as the workers hold theirs.
class StorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage_ = temp_.Sub("storage");
    std::filesystem::create_directory(storage_);
    storage_fd_ = open(storage_.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    ASSERT_GE(storage_fd_, 0);
  }
  void TearDown() override {
    if (storage_fd_ >= 0) close(storage_fd_);
  }

  testing::TempDir temp_;
  std::filesystem::path storage_;
  int storage_fd_ = -1;
};

// The whole file at `path`; empty if it cannot be read.
inline std::string ReadPath(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The permission bits of `path` (not following a link).
inline mode_t ModeOf(const std::filesystem::path& path) {
  struct stat st {};
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// Where the server keeps a stored file's digest record (docs/STORAGE.md): the attribute on its
// inode, and the sidecar beside it where that cannot be set.
constexpr char kDigestAttribute[] = "user.backupd.sha256";
inline std::filesystem::path SidecarOf(const std::filesystem::path& file) {
  const protocol::Digest d = protocol::Sha256Of(file.filename().string());
  std::string name = ".backupd-sha256-";
  AppendHex(name, d.data(), d.size());
  return file.parent_path() / name;
}

// The digest attribute of the file at `path`; "" without one.
inline std::string DigestAttribute(const std::filesystem::path& path) {
  char buf[256];
  const ssize_t n = lgetxattr(path.c_str(), kDigestAttribute, buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

// Sets the digest attribute of the file at `path` to `record`.
inline void SetAttribute(const std::filesystem::path& path, const std::string& record) {
  ASSERT_EQ(lsetxattr(path.c_str(), kDigestAttribute, record.data(), record.size(), 0), 0);
}

// The digest record kept for the stored file at `path`: its attribute, or its sidecar's bytes;
// "" with neither.
inline std::string DigestRecord(const std::filesystem::path& path) {
  std::string attribute = DigestAttribute(path);
  return attribute.empty() ? ReadPath(SidecarOf(path)) : attribute;
}

// Replaces the digest record of the stored file at `path` where it is kept, leaving the file's
// stamp (size, mtime, inode) as it was.
inline void SetDigestRecord(const std::filesystem::path& path, const std::string& record) {
  if (!DigestAttribute(path).empty()) return SetAttribute(path, record);
  std::ofstream(SidecarOf(path), std::ios::binary | std::ios::trunc) << record;
}

// Whether the file system of `folder` keeps user attributes (tmpfs before Linux 6.6 does not,
// and the server then keeps digests in sidecars).
inline bool KeepsUserAttributes(const std::filesystem::path& folder) {
  const std::filesystem::path probe = folder / ".probe-user-attributes";
  std::ofstream(probe).close();
  const bool kept = lsetxattr(probe.c_str(), "user.probe", "1", 1, 0) == 0;
  std::filesystem::remove(probe);
  return kept;
}

}  // namespace backupd::worker

#endif  // BACKUPD_TESTS_WORKER_STORAGE_TEST_UTIL_H_

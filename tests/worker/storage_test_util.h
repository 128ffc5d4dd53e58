// tests (unprivileged or root): what the storage tests of tests/worker share — a Sys that forwards
// to the kernel unless a test says otherwise, a storage folder per test, and file readers.
#ifndef BACKUPD_TESTS_WORKER_STORAGE_TEST_UTIL_H_
#define BACKUPD_TESTS_WORKER_STORAGE_TEST_UTIL_H_

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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

}  // namespace backupd::worker

#endif  // BACKUPD_TESTS_WORKER_STORAGE_TEST_UTIL_H_

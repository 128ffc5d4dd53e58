// tests (any privilege): UnlinkedFiles on real unlinked temp files — held until released, and
// released at once past either cap.
#include "worker/unlinked_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/harness/temp_dir.h"

namespace backupd::worker {
namespace {

class UnlinkedFilesTest : public ::testing::Test {
 protected:
  // A file made and unlinked, held by an O_PATH descriptor as UserDir hands one back; its number
  // goes to `numbers`.
  Unlinked MakeUnlinked(uint64_t bytes) {
    const std::string path = temp_.path() + "/f" + std::to_string(made_++);
    UniqueFd file(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    EXPECT_TRUE(file.valid());
    UniqueFd held(::open(path.c_str(), O_PATH | O_CLOEXEC));
    EXPECT_TRUE(held.valid());
    EXPECT_EQ(::unlink(path.c_str()), 0);
    numbers.push_back(held.get());
    return {std::move(held), bytes};
  }
  // Two files of `bytes` each are held, with `max_files`; a third of `last` passes a cap, and
  // then none is.
  void ExpectTheThirdToReleaseAll(uint64_t bytes, uint64_t last, size_t max_files) {
    UnlinkedFiles files;
    files.Hold(MakeUnlinked(bytes), max_files);
    files.Hold(MakeUnlinked(bytes), max_files);
    EXPECT_EQ(OpenCount(), 2u);
    files.Hold(MakeUnlinked(last), max_files);
    EXPECT_TRUE(files.empty());
    EXPECT_EQ(OpenCount(), 0u);
  }
  static bool IsOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1; }
  size_t OpenCount() const {
    size_t n = 0;
    for (int fd : numbers) n += IsOpen(fd) ? 1 : 0;
    return n;
  }

  testing::TempDir temp_;
  int made_ = 0;
  std::vector<int> numbers;
};

TEST_F(UnlinkedFilesTest, HoldsFilesUntilReleased) {
  UnlinkedFiles files;
  for (int i = 0; i < 3; ++i) files.Hold(MakeUnlinked(4096), 8);
  EXPECT_EQ(files.size(), 3u);
  EXPECT_EQ(OpenCount(), 3u);
  files.Release();
  EXPECT_TRUE(files.empty());
  EXPECT_EQ(OpenCount(), 0u);
}

TEST_F(UnlinkedFilesTest, PastMaxFilesReleasesEveryFile) {
  ExpectTheThirdToReleaseAll(4096, 4096, 2);
}

TEST_F(UnlinkedFilesTest, PastMaxBytesReleasesEveryFile) {
  ExpectTheThirdToReleaseAll(UnlinkedFiles::kMaxBytes / 2, 1, 8);
}

TEST_F(UnlinkedFilesTest, DestroyingItClosesWhatItHolds) {
  {
    UnlinkedFiles files;
    files.Hold(MakeUnlinked(4096), 8);
    files.Hold(Unlinked{}, 8);  // nothing was unlinked: nothing held
    EXPECT_EQ(files.size(), 1u);
  }
  EXPECT_EQ(OpenCount(), 0u);
}

}  // namespace
}  // namespace backupd::worker

// tests (any user): TempDir gives each test a private folder and takes everything in it away.
#include "tests/harness/temp_dir.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace backupd::testing {
namespace {

TEST(TempDirTest, IsPrivateFreshAndRemovedWithItsContents) {
  std::string path;
  {
    TempDir a;
    TempDir b;
    path = a.path();
    EXPECT_NE(a.path(), b.path());
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0700u);
    std::filesystem::create_directory(a.Sub("sub"));
    std::ofstream(a.Sub("sub/file")) << "x";
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace backupd::testing

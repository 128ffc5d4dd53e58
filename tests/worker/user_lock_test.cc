// tests (any user): UserLock on a real temp folder — one holder at a time, released with its
// holder, its file mode 0600 and never listed as a stored file.
#include "worker/user_lock.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "tests/harness/temp_dir.h"
#include "worker/user_dir.h"

namespace backupd::worker {
namespace {

TEST(UserLockTest, OneHolderAtATimeAndLetGoWithItsHolder) {
  testing::TempDir temp;
  const std::string user = temp.Sub("7");
  ASSERT_EQ(::mkdir(user.c_str(), 0700), 0);
  UniqueFd dir(::open(user.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(dir.valid());
  std::optional<Result<UserLock>> first =
      UserLock::Take(&RealSys(), dir.get(), UserLock::Wait::kNo);
  ASSERT_TRUE(first->ok()) << first->status().ToString();
  // Another open of the lock file, as another process's or another node's would be.
  Result<UserLock> second = UserLock::Take(&RealSys(), dir.get(), UserLock::Wait::kNo);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Status::Code::kTimeout) << second.status().ToString();
  first.reset();
  Result<UserLock> third = UserLock::Take(&RealSys(), dir.get(), UserLock::Wait::kNo);
  EXPECT_TRUE(third.ok()) << third.status().ToString();

  struct stat st {};
  ASSERT_EQ(::stat((user + "/.backupd-lock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  UserDir listed(&RealSys(), std::move(dir));
  bool any = false;
  ASSERT_TRUE(listed
                  .List(
                      UserDir::ListOptions::kNamesOnly,
                      [&](const StoredFile&) {
                        any = true;
                        return Status::Ok();
                      },
                      [](const std::string&, const Status&) {})
                  .ok());
  EXPECT_FALSE(any) << "the lock file was listed as a stored file";
}

}  // namespace
}  // namespace backupd::worker

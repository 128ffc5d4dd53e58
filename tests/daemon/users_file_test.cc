// Unit tests for daemon/users_file: round trip, strict parsing with FILE:LINE, and the refusal
// of a users file that others could read or change. On real files in a temp folder.
#include "daemon/users_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tests/harness/daemon_harness.h"

namespace backupd::daemon {
namespace {

using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

protocol::ScramVerifier MakeVerifier(const std::string& secret) {
  Result<protocol::ScramVerifier> v =
      protocol::DeriveScramVerifier(secret, "0123456789abcdef", protocol::kScramIterations);
  EXPECT_TRUE(v.ok());
  return *v;
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(UsersFileTest, WritesAndLoadsBackEveryUser) {
  TempDir dir;
  const std::string path = dir.Sub("etc/users");
  Users users;
  users[42] = MakeVerifier("secret-of-42");
  users[7] = MakeVerifier("secret-of-7");
  ASSERT_TRUE(LockUsersFolder(path, true).ok());
  EXPECT_EQ(ModeOf(dir.Sub("etc")), 0755u);
  ASSERT_TRUE(WriteUsersFile(path, users).ok());
  EXPECT_EQ(ModeOf(path), 0600u);
  std::string text = *ReadFile(path);
  EXPECT_NE(text.find("\n7 SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$"), std::string::npos)
      << text;
  EXPECT_LT(text.find("\n7 "), text.find("\n42 "));  // in id order

  Result<Users> back = LoadUsersFile(path);
  ASSERT_TRUE(back.ok()) << back.status().message();
  ASSERT_EQ(back->size(), 2u);
  for (uint32_t id : {7u, 42u}) {
    EXPECT_EQ(back->at(id).salt, users[id].salt);
    EXPECT_EQ(back->at(id).iterations, users[id].iterations);
    EXPECT_EQ(back->at(id).stored_key, users[id].stored_key);
    EXPECT_EQ(back->at(id).server_key, users[id].server_key);
  }
}

TEST(UsersFileTest, MissingFileIsNotFoundAndMissingGrandparentIsNotCreated) {
  TempDir dir;
  EXPECT_EQ(LoadUsersFile(dir.Sub("users")).status().code(), Status::Code::kNotFound);
  EXPECT_FALSE(LockUsersFolder(dir.Sub("no/such/users"), true).ok());
  EXPECT_FALSE(testing::PathExists(dir.Sub("no")));
}

TEST(UsersFileTest, RefusesMalformedLinesNamingFileAndLine) {
  const std::string good = "7 " + FormatVerifier(MakeVerifier("s"));
  const std::string v = FormatVerifier(MakeVerifier("t"));
  const std::string keys = v.substr(v.find('$', 14));  // "$STORED:SERVER"
  for (const std::string& bad : std::vector<std::string>{
           "42",
           "42  " + v,
           "42\t" + v,
           " 42 " + v,
           "-1 " + v,
           "4294967296 " + v,
           "abc " + v,
           "7 " + v,  // 7 twice
           "42 " + v + " ",
           "42 SCRAM-SHA-1$4096:MDEyMzQ1Njc4OWFiY2RlZg==" + keys,
           "42 SCRAM-SHA-256$4095:MDEyMzQ1Njc4OWFiY2RlZg==" + keys,
           "42 SCRAM-SHA-256$4096:c2hvcnQ=" + keys,
           "42 SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg" + keys,
           "42 SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$AAAA:AAAA",
           "42 SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==",
           "42 " + v + "\r",
       }) {
    TempDir dir;
    const std::string path = dir.Sub("users");
    ASSERT_TRUE(WriteFile(path, "# users\n" + good + "\n" + bad + "\n"));
    ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
    Result<Users> r = LoadUsersFile(path);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().message().rfind(path + ":3: ", 0), 0u) << r.status().message();
    // No error message repeats key material.
    EXPECT_EQ(r.status().message().find(keys.substr(1, 20)), std::string::npos);
  }
}

TEST(UsersFileTest, RefusesAFileOthersMayReadWithTheFix) {
  TempDir dir;
  const std::string path = dir.Sub("users");
  ASSERT_TRUE(WriteUsersFile(path, {}).ok());
  for (mode_t mode : {0640, 0604, 0620, 0602}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    Result<Users> r = LoadUsersFile(path);
    EXPECT_EQ(r.status().code(), Status::Code::kDenied);
    EXPECT_NE(r.status().message().find("chmod 600 " + path), std::string::npos)
        << r.status().message();
  }
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  EXPECT_TRUE(LoadUsersFile(path).ok());
}

TEST(UsersFileTest, RefusesAFileOwnedBySomeoneElse) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give the file away";
  TempDir dir;
  const std::string path = dir.Sub("users");
  ASSERT_TRUE(WriteUsersFile(path, {}).ok());
  ASSERT_EQ(::chown(path.c_str(), testing::NobodyUid(), 0), 0);
  Result<Users> r = LoadUsersFile(path);
  EXPECT_EQ(r.status().code(), Status::Code::kDenied);
  EXPECT_NE(r.status().message().find("chown root:root"), std::string::npos);
}

}  // namespace
}  // namespace backupd::daemon

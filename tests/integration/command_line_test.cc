// test process (any user): the backupd binary's command line — -t checks a config and names the
// file, line and key of an error; a mistyped storage path stops -t and the daemon alike.
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "tests/harness/daemon_harness.h"

namespace backupd::testing {
namespace {

constexpr Millis kTimeout{10000};

// Eight lines, `workers` on line 5. Root runs workers as nobody (backupd refuses root workers);
// anyone else as themselves.
std::string GoodConfig(const TempDir& dir) {
  const passwd* pw = getpwuid(geteuid());
  const group* gr = getgrgid(getegid());
  const bool root = geteuid() == 0;
  const std::string user = root || pw == nullptr ? "nobody" : pw->pw_name;
  const std::string grp = root || gr == nullptr ? "nogroup" : gr->gr_name;
  return "listen = 127.0.0.1:0\n"
         "storage = " +
         dir.Sub("storage") + "\n" + "user = " + user + "\n" + "group = " + grp + "\n" +
         "workers = 3\n"
         "log = stderr\n"
         "pid_file = " +
         dir.Sub("backupd.pid") +
         "\n"
         // Even a daemon that starts by mistake must not touch the machine's /run/backupd.status.
         "status_socket = " +
         dir.Sub("backupd.status") + "\n";
}

TEST(CommandLineTest, TestConfigAcceptsAGoodFile) {
  TempDir dir;
  ASSERT_TRUE(WriteFile(dir.Sub("good.conf"), GoodConfig(dir)));
  ProgramResult r =
      RunProgram({BackupdPath(), "-t", "-c", dir.Sub("good.conf")}, dir.path(), kTimeout);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  // -t only checks: it neither listens nor creates the storage folder.
  EXPECT_FALSE(PathExists(dir.Sub("storage")));
}

TEST(CommandLineTest, TestConfigWarnsOfAPerIpLimitThatProtectsNothing) {
  TempDir dir;
  ASSERT_TRUE(WriteFile(dir.Sub("good.conf"), GoodConfig(dir)));
  ProgramResult r = RunProgram(
      {BackupdPath(), "-t", "-c", dir.Sub("good.conf"), "-o", "max_connections_per_ip=0"},
      dir.path(), kTimeout);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("backupd: warning: max_connections_per_ip (0) lets one address hold all "
                       "workers.max"),
            std::string::npos)
      << r.err;
  r = RunProgram({BackupdPath(), "-t", "-c", dir.Sub("good.conf")}, dir.path(), kTimeout);
  EXPECT_EQ(r.err.find("max_connections_per_ip"), std::string::npos) << r.err;
}

TEST(CommandLineTest, TestConfigNamesFileLineAndKeyOfABadValue) {
  TempDir dir;
  const std::string conf = dir.Sub("bad.conf");
  // Line 5 of the file.
  ASSERT_TRUE(WriteFile(
      conf, GoodConfig(dir).substr(0, GoodConfig(dir).find("workers")) + "workers = lots\n"));
  ProgramResult r = RunProgram({BackupdPath(), "-t", "-c", conf}, dir.path(), kTimeout);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const std::string all = r.out + r.err;
  EXPECT_NE(all.find(conf + ":5"), std::string::npos) << all;
  EXPECT_NE(all.find("workers"), std::string::npos) << all;
}

TEST(CommandLineTest, TestConfigRefusesAnUnknownKey) {
  TempDir dir;
  const std::string conf = dir.Sub("unknown.conf");
  ASSERT_TRUE(WriteFile(conf, GoodConfig(dir) + "colour = blue\n"));
  ProgramResult r = RunProgram({BackupdPath(), "-t", "-c", conf}, dir.path(), kTimeout);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const std::string all = r.out + r.err;
  EXPECT_NE(all.find(conf + ":9"), std::string::npos) << all;
  EXPECT_NE(all.find("colour"), std::string::npos) << all;
}

// `storage = DIR/missing/parent/storage`: the message both -t and the daemon give.
std::string MissingParentError(const TempDir& dir) {
  return "backupd: storage " + dir.Sub("missing/parent/storage") + ": parent folder " +
         dir.Sub("missing/parent") + " does not exist; create it or fix 'storage'\n";
}

TEST(CommandLineTest, TestConfigRefusesAStorageWhoseParentIsMissing) {
  TempDir dir;
  ASSERT_TRUE(WriteFile(dir.Sub("good.conf"), GoodConfig(dir)));
  ProgramResult r = RunProgram({BackupdPath(), "-t", "-c", dir.Sub("good.conf"), "-o",
                                "storage=" + dir.Sub("missing/parent/storage")},
                               dir.path(), kTimeout);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(r.err, MissingParentError(dir));
  EXPECT_FALSE(PathExists(dir.Sub("missing")));
}

TEST(CommandLineTest, DaemonRefusesToStartWithAStorageWhoseParentIsMissing) {
  TempDir dir;
  ASSERT_TRUE(WriteFile(dir.Sub("good.conf"), GoodConfig(dir)));
  ProgramResult r = RunProgram({BackupdPath(), "-f", "-c", dir.Sub("good.conf"), "-o",
                                "storage=" + dir.Sub("missing/parent/storage")},
                               dir.path(), kTimeout);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  // Not started as root, a warning about the workers' uid comes first.
  EXPECT_NE(r.err.find(MissingParentError(dir)), std::string::npos) << r.err;
  EXPECT_FALSE(PathExists(dir.Sub("missing")));
}

TEST(CommandLineTest, UserCommandsEditTheUsersFileAndTestConfigChecksIt) {
  TempDir dir;
  const std::string conf = dir.Sub("good.conf");
  ASSERT_TRUE(WriteFile(conf, GoodConfig(dir) + "users_file = " + dir.Sub("etc/users") + "\n"));
  ProgramResult add =
      RunProgram({BackupdPath(), "user", "add", "42", "-c", conf}, dir.path(), kTimeout);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  const std::string secret = add.out.substr(add.out.find_last_of(' ') + 1);
  EXPECT_EQ(secret.size(), 33u) << add.out;  // 32 characters and the newline
  EXPECT_EQ(RunProgram({BackupdPath(), "user", "list", "-c", conf}, dir.path(), kTimeout).out,
            "42\n");
  EXPECT_EQ(
      RunProgram({BackupdPath(), "user", "add", "42", "-c", conf}, dir.path(), kTimeout).exit_code,
      1);
  EXPECT_EQ(RunProgram({BackupdPath(), "user", "add", "-c", conf}, dir.path(), kTimeout).exit_code,
            2);

  ProgramResult ok = RunProgram({BackupdPath(), "-t", "-c", conf}, dir.path(), kTimeout);
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  ASSERT_EQ(::chmod(dir.Sub("etc/users").c_str(), 0644), 0);
  ProgramResult bad = RunProgram({BackupdPath(), "-t", "-c", conf}, dir.path(), kTimeout);
  EXPECT_EQ(bad.exit_code, 1) << bad.out << bad.err;
  EXPECT_NE(bad.err.find("chmod 600 " + dir.Sub("etc/users")), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace backupd::testing

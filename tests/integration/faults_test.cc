// test process (root; the small-disk tests in a mount namespace of their own): faults that must
// lose nothing — a full disk, a read-only disk, the writer killed at each step of an upload, the
// supervisor killed.
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/daemon_test.h"

namespace backupd::testing {
namespace {

using protocol::Op;

constexpr Millis kTimeout{10000};
constexpr uint32_t kUser = 7;

std::string UsersFile(const Daemon& daemon) { return daemon.dir() + "/users"; }
std::string SecretFile(const Daemon& daemon) { return daemon.dir() + "/user.secret"; }

// Makes kUser with the real `backupd user add`, for a daemon not started yet, which is to be
// given `users_file=` UsersFile(daemon).
Status AddUser(const Daemon& daemon) {
  // A pid file that does not exist keeps user add from signalling.
  Result<std::string> secret =
      AddBackupdUser(kUser, UsersFile(daemon), daemon.dir() + "/none.pid", daemon.dir());
  if (!secret.ok()) return secret.status();
  if (!WriteSecretFile(SecretFile(daemon), *secret)) return Status::IoError("secret file");
  return Status::Ok();
}

// backup-client logged in over protocol v2 as kUser, run in the daemon's temp folder.
ProgramResult RunClient(const Daemon& daemon, const std::vector<std::string>& command) {
  std::vector<std::string> argv = BackupClientV2(daemon.port(), kUser, SecretFile(daemon));
  argv.insert(argv.end(), command.begin(), command.end());
  return RunProgram(argv, daemon.dir(), kTimeout);
}

// Storage on a 1 MiB tmpfs mounted in a mount namespace only this test process (and the daemon
// it forks) sees: however the test ends, even killed, the mount dies with the namespace and
// nothing is left mounted on the host.
class SmallDiskTest : public ::testing::Test {
 protected:
  static constexpr size_t kDiskSize = 1 << 20;

  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: mounts a tmpfs and starts backupd as root";
    ASSERT_EQ(::unshare(CLONE_NEWNS), 0) << std::strerror(errno);
    // Without this, the mount would propagate back to the host's shared root.
    ASSERT_EQ(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0)
        << std::strerror(errno);
    ASSERT_EQ(::mkdir(daemon_.storage().c_str(), 0700), 0) << std::strerror(errno);
    const std::string tmpfs = "size=" + std::to_string(kDiskSize) +
                              ",mode=0700,uid=" + std::to_string(NobodyUid()) +
                              ",gid=" + std::to_string(NogroupGid());
    ASSERT_EQ(
        ::mount("tmpfs", daemon_.storage().c_str(), "tmpfs", MS_NOSUID | MS_NODEV, tmpfs.c_str()),
        0)
        << std::strerror(errno);
    mounted_ = true;
    Status added = AddUser(daemon_);
    ASSERT_TRUE(added.ok()) << added.ToString();
    DaemonOptions options;
    options.overrides = {"users_file=" + UsersFile(daemon_)};
    Status s = daemon_.Start(options);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  void TearDown() override {
    // The daemon first, so nothing holds the mount; the folder under it goes with the TempDir.
    if (daemon_.running()) {
      EXPECT_TRUE(daemon_.Stop(kTimeout).ok());
    }
    if (mounted_) {
      EXPECT_EQ(::umount2(daemon_.storage().c_str(), MNT_DETACH), 0);
    }
  }

  Result<Response> CallOnce(protocol::Op op, std::string_view name, std::string_view payload = {}) {
    RawClient client;
    Status s = client.Connect(daemon_.port());
    if (!s.ok()) return s;
    return client.Call(kUser, op, name, payload);
  }

  std::string UserFile(const std::string& name) const {
    return daemon_.storage() + "/" + std::to_string(kUser) + "/" + name;
  }

  uint64_t FreeBytes() const {
    struct statvfs st {};
    if (::statvfs(daemon_.storage().c_str(), &st) != 0) return 0;
    return static_cast<uint64_t>(st.f_bfree) * st.f_frsize;
  }

  Status Remount(unsigned long flags) {
    if (::mount(nullptr, daemon_.storage().c_str(), nullptr, MS_REMOUNT | flags, nullptr) != 0) {
      return Status::FromErrno(errno, "remount " + daemon_.storage());
    }
    return Status::Ok();
  }

  Daemon daemon_;
  bool mounted_ = false;
};

// The old version survives an upload that fills the disk, byte for byte; the half-written
// temp file is removed and its space given back, and the daemon goes on serving.
TEST_F(SmallDiskTest, AnUploadThatFillsTheDiskFailsAndLosesNothing) {
  const std::string old_version = RandomBytes(64 << 10, 1);
  ASSERT_TRUE(HasStatus(CallOnce(Op::kBackup, "file", old_version), kOk));
  const uint64_t free_before = FreeBytes();
  ASSERT_GT(free_before, 0u);

  const std::string too_big = RandomBytes(2 * kDiskSize, 2);
  EXPECT_TRUE(HasStatus(CallOnce(Op::kBackup, "file", too_big), kError));
  // Looked at as soon as the answer is in: the temp file is removed before the error is sent.
  EXPECT_EQ(ListDir(UserFile("")), std::vector<std::string>{"file"})
      << "a partial or temp file was left";
  EXPECT_TRUE(ReadFile(UserFile("file")) == old_version) << "the old version changed";
  EXPECT_TRUE(daemon_.WaitForLogLine({"file", "No space left on device"}, kTimeout))
      << daemon_.Log();
  EXPECT_TRUE(Eventually([&] { return FreeBytes() == free_before; }, kTimeout))
      << FreeBytes() << " bytes free, " << free_before << " before the upload";

  Result<Response> restored = CallOnce(Op::kRestore, "file");
  ASSERT_TRUE(HasStatus(restored, kRestoreOk));
  EXPECT_TRUE(restored->payload == old_version);
  ASSERT_TRUE(HasStatus(CallOnce(Op::kBackup, "small", "fits"), kOk));
  EXPECT_EQ(ReadFile(UserFile("small")), "fits");
}

// Over protocol v2 the full disk has its own status, which the client reports.
TEST_F(SmallDiskTest, AFullDiskAnswersNoSpaceOverV2) {
  ASSERT_TRUE(WriteFile(daemon_.dir() + "/file", "old version"));
  ProgramResult r = RunClient(daemon_, {"backup", "file"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const uint64_t free_before = FreeBytes();
  ASSERT_TRUE(WriteFile(daemon_.dir() + "/file", RandomBytes(2 * kDiskSize, 5)));

  r = RunClient(daemon_, {"backup", "file"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("1012"), std::string::npos) << r.err;
  EXPECT_EQ(ReadFile(UserFile("file")), "old version");
  for (const std::string& name : ListDir(UserFile(""))) {
    EXPECT_NE(name.rfind(".backupd-tmp-", 0), 0u) << "left behind: " << name;
  }
  EXPECT_TRUE(Eventually([&] { return FreeBytes() == free_before; }, kTimeout))
      << FreeBytes() << " bytes free, " << free_before << " before the upload";
}

// A disk gone read-only refuses uploads and deletes with a clear error, still restores, and once
// writable again takes the next upload without the daemon being restarted.
TEST_F(SmallDiskTest, AReadOnlyDiskRefusesWritesAndRecoversWhenWritableAgain) {
  ASSERT_TRUE(HasStatus(CallOnce(Op::kBackup, "file", "old version"), kOk));
  const std::vector<pid_t> workers = daemon_.Workers();
  ASSERT_TRUE(Remount(MS_RDONLY).ok());

  EXPECT_TRUE(HasStatus(CallOnce(Op::kBackup, "file", "new version"), kError));
  EXPECT_TRUE(daemon_.WaitForLogLine(
      {"op=backup name=\"file\" status=1003", ": Read-only file system"}, kTimeout))
      << daemon_.Log();
  EXPECT_TRUE(HasStatus(CallOnce(Op::kDelete, "file"), kError));
  EXPECT_TRUE(daemon_.WaitForLogLine({"unlink file: Read-only file system"}, kTimeout))
      << daemon_.Log();
  Result<Response> restored = CallOnce(Op::kRestore, "file");
  ASSERT_TRUE(HasStatus(restored, kRestoreOk));
  EXPECT_EQ(restored->payload, "old version");
  EXPECT_EQ(daemon_.Workers(), workers) << "a worker died of the read-only disk";
  EXPECT_TRUE(ProcessAlive(daemon_.pid()));

  ASSERT_TRUE(Remount(0).ok());
  ASSERT_TRUE(HasStatus(CallOnce(Op::kBackup, "file", "new version"), kOk));
  EXPECT_EQ(ReadFile(UserFile("file")), "new version");
  EXPECT_EQ(ListDir(UserFile("")), std::vector<std::string>{"file"});
}

// The upload step hook (test builds only) stops the session child writing an upload at one step
// of its commit; the test then kills it with SIGKILL, as a crash or the OOM killer would.
class KilledWriterTest : public DaemonTest, public ::testing::WithParamInterface<const char*> {
 protected:
  DaemonOptions Options() const override { return {{"users_file=" + UsersFile(daemon_)}}; }

  void SetUp() override {
#ifndef BACKUPD_TEST_HOOKS
    GTEST_SKIP() << "built without BACKUPD_TEST_HOOKS";
#endif
    Status added = AddUser(daemon_);
    ASSERT_TRUE(added.ok()) << added.ToString();
    // The daemon's processes inherit the environment it is started with.
    ::setenv("BACKUPD_TEST_STOP_AT_UPLOAD_STEP", GetParam(), 1);
    DaemonTest::SetUp();
    ::unsetenv("BACKUPD_TEST_STOP_AT_UPLOAD_STEP");
  }

  // The version a past upload left, put there as root the way a worker would have.
  void StoreOldVersion(const std::string& content) {
    const std::string folder = UserDir(kUser);
    ASSERT_EQ(::mkdir(folder.c_str(), 0700), 0);
    ASSERT_EQ(::chown(folder.c_str(), NobodyUid(), NogroupGid()), 0);
    ASSERT_TRUE(WriteFile(folder + "/file", content));
    ASSERT_EQ(::chmod((folder + "/file").c_str(), 0600), 0);
    ASSERT_EQ(::chown((folder + "/file").c_str(), NobodyUid(), NogroupGid()), 0);
  }

  // The daemon's one stopped process: the session child the hook stopped.
  Result<pid_t> WaitForStoppedWriter() {
    pid_t stopped = -1;
    bool found = Eventually(
        [&] {
          for (pid_t p : DescendantsOf(daemon_.pid())) {
            if (ProcessStopped(p)) stopped = p;
          }
          return stopped > 0;
        },
        kTimeout);
    if (!found) return Status::Timeout("no session child stopped at " + std::string(GetParam()));
    return stopped;
  }

  std::vector<std::string> TempFiles() const {
    std::vector<std::string> out;
    for (std::string& name : ListDir(UserDir(kUser))) {
      if (name.rfind(".backupd-tmp-", 0) == 0) out.push_back(std::move(name));
    }
    return out;
  }
};

TEST_P(KilledWriterTest, TheRealNameHoldsTheOldOrTheNewVersionWholeNeverPartOfOne) {
  const std::string step = GetParam();
  const std::string old_version = RandomBytes(300 << 10, 3);
  const std::string new_version = RandomBytes(200 << 10, 4);
  StoreOldVersion(old_version);

  RawClient writer;
  ASSERT_TRUE(writer.Connect(daemon_.port()).ok());
  ASSERT_TRUE(writer
                  .Send(RequestBytes(kUser, Op::kBackup, "file",
                                     static_cast<uint32_t>(new_version.size())) +
                        new_version)
                  .ok());
  Result<pid_t> stopped = WaitForStoppedWriter();
  ASSERT_TRUE(stopped.ok()) << stopped.status().ToString() << "\n" << daemon_.Log();

  // Where the hook stopped it: the new bytes whole in the temp file until the rename, and the
  // rename the one moment the real name changes.
  const bool renamed = step == "after-rename";
  const std::vector<std::string> temps = TempFiles();
  if (renamed) {
    EXPECT_TRUE(temps.empty());
  } else {
    ASSERT_EQ(temps.size(), 1u);
    EXPECT_TRUE(ReadFile(UserDir(kUser) + "/" + temps[0]) == new_version);
  }
  ASSERT_EQ(::kill(*stopped, SIGKILL), 0);
  ASSERT_TRUE(Eventually([&] { return !ProcessAlive(*stopped); }, kTimeout));
  EXPECT_TRUE(writer.WaitClosed(Millis(3000))) << "the killed session answered";
  EXPECT_TRUE(daemon_.WaitForLogLine(
      {"session child " + std::to_string(*stopped) + " killed by signal 9"}, kTimeout))
      << daemon_.Log();

  const std::string& expected = renamed ? new_version : old_version;
  EXPECT_TRUE(ReadFile(UserDir(kUser) + "/file") == expected)
      << "the real name holds neither version whole";
  Result<Response> restored = CallOnce(kUser, Op::kRestore, "file");
  ASSERT_TRUE(HasStatus(restored, kRestoreOk));
  EXPECT_TRUE(restored->payload == expected) << restored->payload.size() << " bytes restored";
  Result<Response> listed = CallOnce(kUser, Op::kList, "");
  ASSERT_TRUE(HasStatus(listed, kListOk));
  EXPECT_NE(listed->payload.find("file"), std::string::npos) << listed->payload;
  EXPECT_EQ(listed->payload.find(".backupd-"), std::string::npos) << listed->payload;
}

// Over v2 a file's digest is kept in a sidecar renamed in after the file: a writer killed between
// the two renames leaves the old sidecar beside the new bytes, and its stamp (the old inode) must
// keep it from vouching for them. backup-client checks the restored bytes against the digest sent.
TEST_P(KilledWriterTest, OverV2TheStoredDigestNeverVouchesForOtherBytes) {
  const std::string step = GetParam();
  // One size, so only the inode (and mtime) in the sidecar's stamp can tell the versions apart.
  const std::string old_version = RandomBytes(256 << 10, 5);
  const std::string new_version = RandomBytes(256 << 10, 6);
  const std::string local = daemon_.dir() + "/file";

  // The old version through the daemon, with its digest: its writer stopped and let go on.
  ASSERT_TRUE(WriteFile(local, old_version));
  ProgramResult first;
  std::thread uploading([&] { first = RunClient(daemon_, {"backup", "file"}); });
  Result<pid_t> stopped = WaitForStoppedWriter();
  if (stopped.ok()) ::kill(*stopped, SIGCONT);
  uploading.join();
  ASSERT_TRUE(stopped.ok()) << stopped.status().ToString() << "\n" << daemon_.Log();
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  ASSERT_TRUE(Eventually([&] { return !ProcessAlive(*stopped); }, kTimeout));

  // The new version's writer killed at the step.
  ASSERT_TRUE(WriteFile(local, new_version));
  ProgramResult second;
  uploading = std::thread([&] { second = RunClient(daemon_, {"backup", "file"}); });
  stopped = WaitForStoppedWriter();
  if (stopped.ok()) ::kill(*stopped, SIGKILL);
  uploading.join();
  ASSERT_TRUE(stopped.ok()) << stopped.status().ToString() << "\n" << daemon_.Log();
  EXPECT_NE(second.exit_code, 0) << "a killed upload reported success";

  const std::string& expected = step == "after-rename" ? new_version : old_version;
  EXPECT_TRUE(ReadFile(UserDir(kUser) + "/file") == expected)
      << "the real name holds neither version whole";
  ASSERT_EQ(::unlink(local.c_str()), 0);
  ProgramResult restored = RunClient(daemon_, {"restore", "file"});
  EXPECT_EQ(restored.exit_code, 0) << restored.out << restored.err;
  EXPECT_TRUE(ReadFile(local) == expected) << "restored bytes are neither version";
}

INSTANTIATE_TEST_SUITE_P(EachStep, KilledWriterTest,
                         ::testing::Values("before-fsync", "before-rename", "after-rename"),
                         [](const ::testing::TestParamInfo<const char*>& step) {
                           std::string name;
                           for (const char* c = step.param; *c != '\0'; ++c) {
                             if (*c != '-') name += *c;
                           }
                           return name;
                         });

using KilledSupervisorTest = DaemonTest;

// Workers die with the supervisor (PR_SET_PDEATHSIG, set again after the credential change that
// clears it), and session children with their worker; the login monitor is the supervisor itself.
TEST_F(KilledSupervisorTest, LeavesNoWorkerAndNoSessionChildBehind) {
  ASSERT_TRUE(daemon_.WaitForWorkers(3, kTimeout).ok()) << daemon_.Log();
  // An upload in flight holds a session child, blocked reading the rest of its payload.
  RawClient uploader;
  ASSERT_TRUE(uploader.Connect(daemon_.port()).ok());
  ASSERT_TRUE(uploader.Send(RequestBytes(kUser, Op::kBackup, "file", 1 << 20) + "partial").ok());
  std::vector<pid_t> descendants;
  ASSERT_TRUE(Eventually(
      [&] {
        descendants = DescendantsOf(daemon_.pid());
        return descendants.size() > daemon_.Workers().size();
      },
      kTimeout))
      << "no session child under the workers";
  // Everything the daemon forked carries its command line, wherever it is reparented; the pool
  // may have forked a spare worker meanwhile.
  ASSERT_GE(ProcessesWithArgument(daemon_.config_file()).size(), descendants.size() + 1);

  ASSERT_EQ(::kill(daemon_.pid(), SIGKILL), 0);
  std::vector<pid_t> left;
  EXPECT_TRUE(Eventually(
      [&] {
        left = ProcessesWithArgument(daemon_.config_file());
        return left.empty();
      },
      kTimeout))
      << left.size() << " processes of the daemon still alive";
  // The harness finds workers through their parent, which is gone: what failed here is ended here.
  for (pid_t p : left) ::kill(p, SIGKILL);
  EXPECT_TRUE(uploader.WaitClosed(Millis(3000)));
}

}  // namespace
}  // namespace backupd::testing

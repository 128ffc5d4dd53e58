// tests: backup runs and folder restores through the v2 client against the scripted fake server
// (a thread, one socketpair per run): what a repeat run sends, modes, times and empty folders
// there and back, the summary's text, and a server that sends names pointing outside the restore
// folder.
#include "client/backup_run.h"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fcntl.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "client/restore_tree.h"
#include "tests/client/fake_v2_server.h"
#include "tests/harness/temp_dir.h"
#include "tests/harness/tree_snapshot.h"

namespace backupd::client {
namespace {

using testing::FakeV2Options;
using testing::FakeV2Server;
using testing::TreeSnapshot;

void Write(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool Exists(const std::string& path) {
  struct stat sb {};
  return lstat(path.c_str(), &sb) == 0;
}

struct stat Stat(const std::string& path) {
  struct stat sb {};
  EXPECT_EQ(lstat(path.c_str(), &sb), 0) << path;
  return sb;
}

int64_t MtimeNs(const std::string& path) {
  const struct stat sb = Stat(path);
  return int64_t{sb.st_mtim.tv_sec} * 1000000000 + sb.st_mtim.tv_nsec;
}

// Sets the mtime of `path` (the access time too, to the same): the tests choose times, so a
// change never hides inside one tick of the file system's clock.
void SetMtime(const std::string& path, int64_t sec, long nsec) {
  const timespec times[2] = {{sec, nsec}, {sec, nsec}};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << path;
}

// A restore with hooks that fail the test on any failure.
size_t RestoreAll(ClientV2& client, const std::vector<RestoreTarget>& targets,
                  const std::string& out) {
  RestoreTreeHooks hooks;
  hooks.failed = [](const std::string& what, const std::string& why) {
    ADD_FAILURE() << what << ": " << why;
  };
  hooks.exists = [](const std::string& o) { ADD_FAILURE() << o; };
  hooks.restored = [](const RestoreTarget&, const Result<ReplyV2>& r) {
    return r.ok() && r->status == 210 && r->digest_ok;
  };
  return RestoreTree(client, targets, out, Existing::kKeep, hooks);
}

TEST(FormatSummaryTest, ExactText) {
  RunCounts c{5, 2, 2, 1, 1234};
  EXPECT_EQ(FormatSummary(c, std::chrono::milliseconds(1234)),
            "scanned 5, sent 2, unchanged 2, failed 1, bytes sent 1234, 1.23 s");
  EXPECT_EQ(FormatSummary({}, std::chrono::nanoseconds(0)),
            "scanned 0, sent 0, unchanged 0, failed 0, bytes sent 0, 0.00 s");
}

// Each run is one connection to the same fake server, whose files outlive connections.
class BackupRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.Sub("tree");
    ASSERT_EQ(mkdir(root_.c_str(), 0700), 0);
    ASSERT_EQ(mkdir((root_ + "/sub").c_str(), 0700), 0);
    ASSERT_EQ(mkdir((root_ + "/sub/deeper").c_str(), 0700), 0);
    ASSERT_EQ(mkdir((root_ + "/empty").c_str(), 0700), 0);
    Write(root_ + "/a.txt", "alpha");
    Write(root_ + "/sub/b.bin", std::string(3000, 'b'));
    Write(root_ + "/sub/deeper/c.txt", "");
    prefix_ = root_.substr(1);
  }

  // Runs `body` with a logged-in client on a fresh connection, then closes it.
  template <typename F>
  void OnConnection(F body) {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    std::thread serving([this, fd = sv[1]] {
      server_.Serve(fd);
      close(fd);
    });
    {
      ClientV2 client(Connection::Adopt(sv[0], std::chrono::seconds(10)), 42);
      Result<ReplyV2> login = client.Login("fake-secret-for-tests");
      EXPECT_TRUE(login.ok() && login->status == 221);
      body(client);
    }
    serving.join();
  }

  struct Outcome {
    RunCounts counts;
    std::vector<std::string> failed;
  };
  Outcome Run(const std::vector<std::string>& paths, Compare compare = Compare::kChanged) {
    Outcome out;
    OnConnection([&](ClientV2& client) {
      RunHooks hooks;
      hooks.failed = [&](const std::string& path, const std::string& why) {
        out.failed.push_back(path + ": " + why);
      };
      hooks.uploaded = [](const Upload&, const Result<ReplyV2>& r) {
        return r.ok() && r->status == 212;
      };
      // The fake server never cuts a listing off nor answers 1017: nothing reconnects.
      const Reconnect reconnect = [] { return Status::Closed("no second connection here"); };
      Result<RunCounts> counts = RunBackup(client, reconnect, Walk(paths, {}), hooks, compare);
      EXPECT_TRUE(counts.ok()) << counts.status().ToString();
      if (counts.ok()) out.counts = *counts;
    });
    return out;
  }

  FakeV2Server server_{FakeV2Options{}};
  testing::TempDir dir_;
  std::string root_;
  std::string prefix_;
};

TEST_F(BackupRunTest, ARepeatRunSendsOnlyWhatChanged) {
  SetMtime(root_ + "/a.txt", 1600000000, 111111111);
  Outcome first = Run({root_});
  EXPECT_TRUE(first.failed.empty());
  EXPECT_EQ(first.counts.scanned, 3u);
  EXPECT_EQ(first.counts.sent, 3u);
  EXPECT_EQ(first.counts.bytes_sent, 3005u);
  EXPECT_EQ(server_.uploads(), 3u);
  EXPECT_EQ(server_.upload_bytes(), 3005u);
  EXPECT_EQ(server_.files().at(prefix_ + "/sub/b.bin"), std::string(3000, 'b'));
  EXPECT_EQ(server_.files().at(prefix_ + "/sub/deeper/c.txt"), "");
  // Each file with its mode and mtime; each folder, the walked one and the empty one too.
  const protocol::v2::Attributes a = server_.file_attributes().at(prefix_ + "/a.txt");
  EXPECT_EQ(a.mode, Stat(root_ + "/a.txt").st_mode & 07777);
  EXPECT_EQ(a.mtime_ns, 1600000000111111111);
  EXPECT_EQ(server_.folders_made(), 4u);
  EXPECT_EQ(server_.folders().at(prefix_ + "/empty").mtime_ns, MtimeNs(root_ + "/empty"));
  EXPECT_EQ(server_.folders().at(prefix_).mode, 0700u);

  // Nothing changed: not one upload, not one folder.
  Outcome second = Run({root_});
  EXPECT_EQ(second.counts.scanned, 3u);
  EXPECT_EQ(second.counts.sent, 0u);
  EXPECT_EQ(second.counts.unchanged, 3u);
  EXPECT_EQ(second.counts.bytes_sent, 0u);
  EXPECT_EQ(server_.uploads(), 3u);
  EXPECT_EQ(server_.folders_made(), 4u);

  // Another mtime, another mode: each sends its file alone.
  SetMtime(root_ + "/a.txt", 1600000000, 111111112);
  ASSERT_EQ(chmod((root_ + "/sub/b.bin").c_str(), 0640), 0);
  Outcome third = Run({root_});
  EXPECT_EQ(third.counts.sent, 2u);
  EXPECT_EQ(third.counts.unchanged, 1u);
  EXPECT_EQ(third.counts.bytes_sent, 3005u);
  EXPECT_EQ(server_.file_attributes().at(prefix_ + "/sub/b.bin").mode, 0640u);
  EXPECT_EQ(server_.file_attributes().at(prefix_ + "/a.txt").mtime_ns, 1600000000111111112);

  // Same size, same mtime, other bytes: only --checksum reads the file and finds it.
  Write(root_ + "/a.txt", "ALPHA");
  SetMtime(root_ + "/a.txt", 1600000000, 111111112);
  Outcome fourth = Run({root_});
  EXPECT_EQ(fourth.counts.sent, 0u);
  EXPECT_EQ(fourth.counts.unchanged, 3u);
  Outcome fifth = Run({root_}, Compare::kChecksum);
  EXPECT_EQ(fifth.counts.sent, 1u);
  EXPECT_EQ(fifth.counts.unchanged, 2u);
  EXPECT_EQ(fifth.counts.bytes_sent, 5u);
  EXPECT_EQ(server_.uploads(), 6u);
  EXPECT_EQ(server_.files().at(prefix_ + "/a.txt"), "ALPHA");
  EXPECT_EQ(server_.folders_made(), 4u);

  // A new file, found by its absence.
  Write(root_ + "/sub/new.txt", "new");
  Outcome sixth = Run({root_});
  EXPECT_EQ(sixth.counts.scanned, 4u);
  EXPECT_EQ(sixth.counts.sent, 1u);
  EXPECT_EQ(sixth.counts.bytes_sent, 3u);
  EXPECT_EQ(server_.files().at(prefix_ + "/sub/new.txt"), "new");
}

// What a run sends and a restore writes: modes (files 0600, 0640, 0755; folders 0700, 0750),
// mtimes to the nanosecond, empty folders, the restored folder itself; the tree compared whole.
TEST_F(BackupRunTest, ModesTimesAndEmptyFoldersRoundTrip) {
  ASSERT_EQ(mkdir((root_ + "/sub/empty2").c_str(), 0750), 0);
  ASSERT_EQ(chmod((root_ + "/a.txt").c_str(), 0600), 0);
  ASSERT_EQ(chmod((root_ + "/sub/b.bin").c_str(), 0640), 0);
  ASSERT_EQ(chmod((root_ + "/sub/deeper/c.txt").c_str(), 0755), 0);
  ASSERT_EQ(chmod((root_ + "/sub").c_str(), 0750), 0);
  long nsec = 123456789;
  for (const char* file : {"/a.txt", "/sub/b.bin", "/sub/deeper/c.txt"}) {
    SetMtime(root_ + file, 1500000000, nsec++);
  }
  // Folders last, deepest first: setting a time inside a folder does not change the folder's.
  for (const char* folder : {"/sub/deeper", "/sub/empty2", "/sub", "/empty", ""}) {
    SetMtime(root_ + folder, 1400000000, nsec++);
  }
  const std::string before = TreeSnapshot(root_);
  ASSERT_NE(before.find("sub/empty2 folder 0750 0 1400000000.123456793\n"), std::string::npos)
      << before;
  EXPECT_EQ(Run({root_}).counts.sent, 3u);

  const std::string out = dir_.Sub("out");
  OnConnection([&](ClientV2& client) {
    Result<ListAttrsReplyV2> listed = client.ListAttrs();
    ASSERT_TRUE(listed.ok());
    std::vector<std::string> refused;
    std::vector<RestoreTarget> targets = SelectUnder(prefix_, listed->entries, &refused);
    EXPECT_TRUE(refused.empty());
    EXPECT_EQ(targets.size(), 8u);
    EXPECT_EQ(RestoreAll(client, targets, out), 0u);
  });
  EXPECT_EQ(TreeSnapshot(out), before);
  EXPECT_EQ(TreeSnapshot(root_), before);
}

// The attacker is the server: it lists a setuid file and a setgid folder. An ordinary user
// (nobody, in a child process) restoring them gets neither bit; the rest of each mode is kept.
TEST_F(BackupRunTest, AServerCannotMakeAnOrdinaryUsersRestoreSetuidOrSetgid) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to become another user";
  Write(dir_.Sub("payload"), "#!/bin/sh\n");
  OnConnection([&](ClientV2& client) {
    const std::vector<Upload> ups = {
        {"", "evil/bin", protocol::v2::Attributes{02750, 1}, true},
        {dir_.Sub("payload"), "evil/bin/run", protocol::v2::Attributes{06755, 1}}};
    client.Backup(
        ups, [](size_t, const Result<ReplyV2>& r) { EXPECT_TRUE(r.ok() && r->status == 212); });
  });
  ASSERT_EQ(server_.file_attributes().at("evil/bin/run").mode, 06755u);
  ASSERT_EQ(server_.folders().at("evil/bin").mode, 02750u);
  const uid_t nobody = 65534;
  ASSERT_EQ(chmod(dir_.path().c_str(), 0755), 0);
  const std::string out = dir_.Sub("out");
  ASSERT_EQ(mkdir(out.c_str(), 0700), 0);
  ASSERT_EQ(chown(out.c_str(), nobody, nobody), 0);

  // The child is the client; this process serves it, so no thread is running across the fork.
  constexpr int kCannotDrop = 4;
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(sv[1]);
    if (setgroups(0, nullptr) != 0 || setresgid(nobody, nobody, nobody) != 0 ||
        setresuid(nobody, nobody, nobody) != 0) {
      _exit(kCannotDrop);
    }
    ClientV2 client(Connection::Adopt(sv[0], std::chrono::seconds(10)), 42);
    Result<ReplyV2> login = client.Login("fake-secret-for-tests");
    Result<ListAttrsReplyV2> listed = client.ListAttrs();
    if (!login.ok() || !listed.ok()) _exit(3);
    std::vector<std::string> refused;
    RestoreTreeHooks hooks;
    hooks.failed = [](const std::string&, const std::string&) {};
    hooks.exists = [](const std::string&) {};
    hooks.restored = [](const RestoreTarget&, const Result<ReplyV2>& r) {
      return r.ok() && r->status == 210;
    };
    _exit(RestoreTree(client, SelectUnder("evil", listed->entries, &refused), out, Existing::kKeep,
                      hooks) == 0
              ? 0
              : 5);
  }
  close(sv[0]);
  server_.Serve(sv[1]);
  close(sv[1]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  if (WEXITSTATUS(status) == kCannotDrop) GTEST_SKIP() << "cannot become nobody";
  ASSERT_EQ(WEXITSTATUS(status), 0);
  const struct stat file = Stat(out + "/bin/run");
  EXPECT_EQ(file.st_uid, nobody);
  EXPECT_EQ(file.st_mode & 07777, 0755u);
  EXPECT_EQ(Stat(out + "/bin").st_mode & 07777, 0750u);
  EXPECT_EQ(Read(out + "/bin/run"), "#!/bin/sh\n");
}

// A non-root restore never sets setuid or setgid (the sticky bit it may); root restores them.
TEST(RestorableModeTest, SetuidAndSetgidOnlyForRoot) {
  EXPECT_EQ(RestorableMode(0755), 0755u);
  EXPECT_EQ(RestorableMode(01777), 01777u);
  EXPECT_EQ(RestorableMode(06755), geteuid() == 0 ? 06755u : 0755u);
}

TEST_F(BackupRunTest, WalkFailuresAreCountedAndNamed) {
  Write(root_ + "/.backupd-x", "reserved");
  Outcome r = Run({root_, dir_.Sub("missing")});
  EXPECT_EQ(r.counts.scanned, 5u);
  EXPECT_EQ(r.counts.sent, 3u);
  EXPECT_EQ(r.counts.failed, 2u);
  ASSERT_EQ(r.failed.size(), 2u);
  EXPECT_EQ(r.failed[0].rfind(root_ + "/.backupd-x: cannot be stored as", 0), 0u) << r.failed[0];
  EXPECT_EQ(r.failed[1], dir_.Sub("missing") + ": No such file or directory");
}

TEST_F(BackupRunTest, AFolderRestoreRecreatesTheTree) {
  Run({root_});
  const std::string out = dir_.Sub("out");
  OnConnection([&](ClientV2& client) {
    Result<ListAttrsReplyV2> listed = client.ListAttrs();
    ASSERT_TRUE(listed.ok());
    std::vector<std::string> refused;
    std::vector<RestoreTarget> targets = SelectUnder(prefix_ + "/sub", listed->entries, &refused);
    EXPECT_TRUE(refused.empty());
    ASSERT_EQ(targets.size(), 4u);  // sub itself, sub/deeper and the two files
    EXPECT_EQ(RestoreAll(client, targets, out), 0u);
  });
  EXPECT_EQ(Read(out + "/b.bin"), std::string(3000, 'b'));
  EXPECT_TRUE(Exists(out + "/deeper/c.txt"));
  EXPECT_EQ(Read(out + "/deeper/c.txt"), "");
  EXPECT_FALSE(Exists(out + "/a.txt"));
  EXPECT_FALSE(Exists(out + "/empty"));
}

// The attacker is the server: it lists names with "..", empty and "." components and a leading
// '/', and the output folder holds a symlink to elsewhere. Nothing may be written outside `out`.
TEST_F(BackupRunTest, AFolderRestoreRefusesNamesThatLeaveTheOutputFolder) {
  Write(dir_.Sub("payload"), "evil");
  OnConnection([&](ClientV2& client) {
    std::vector<Upload> ups;
    for (const char* name :
         {"docs/../escape.txt", "docs/../../escape2.txt", "docs//x.txt", "docs/./y.txt",
          "/docs/abs.txt", "docs/link/through.txt", "docs/ok.txt"}) {
      ups.push_back({dir_.Sub("payload"), name});
    }
    client.Backup(
        ups, [](size_t, const Result<ReplyV2>& r) { EXPECT_TRUE(r.ok() && r->status == 212); });
  });
  const std::string out = dir_.Sub("out");
  const std::string elsewhere = dir_.Sub("elsewhere");
  ASSERT_EQ(mkdir(out.c_str(), 0700), 0);
  ASSERT_EQ(mkdir(elsewhere.c_str(), 0700), 0);
  ASSERT_EQ(symlink(elsewhere.c_str(), (out + "/link").c_str()), 0);

  std::vector<std::string> failed;
  OnConnection([&](ClientV2& client) {
    Result<ListAttrsReplyV2> listed = client.ListAttrs();
    ASSERT_TRUE(listed.ok());
    for (const std::string& prefix : {std::string("docs"), std::string()}) {
      std::vector<std::string> refused;
      std::vector<RestoreTarget> targets = SelectUnder(prefix, listed->entries, &refused);
      // "/docs/abs.txt" is not under "docs/", so only the whole listing sees (and refuses) it.
      EXPECT_EQ(refused.size(), prefix.empty() ? 5u : 4u) << prefix;
      for (const std::string& why : refused) {
        EXPECT_NE(why.find("not a plain relative path"), std::string::npos) << why;
      }
      std::vector<std::string> names;
      for (const RestoreTarget& t : targets) names.push_back(t.name);
      EXPECT_EQ(names, (std::vector<std::string>{"docs/link/through.txt", "docs/ok.txt"}));
      if (!prefix.empty()) {
        RestoreTreeHooks hooks;
        hooks.failed = [&](const std::string& what, const std::string&) { failed.push_back(what); };
        hooks.exists = [](const std::string& o) { ADD_FAILURE() << o; };
        hooks.restored = [](const RestoreTarget&, const Result<ReplyV2>& r) {
          return r.ok() && r->status == 210;
        };
        EXPECT_EQ(RestoreTree(client, targets, out, Existing::kKeep, hooks), 1u);
      }
    }
  });
  EXPECT_EQ(failed, std::vector<std::string>{"docs/link/through.txt"});
  EXPECT_EQ(Read(out + "/ok.txt"), "evil");
  EXPECT_FALSE(Exists(dir_.Sub("escape.txt")));
  EXPECT_FALSE(Exists(dir_.path() + "/../escape2.txt"));
  EXPECT_FALSE(Exists(elsewhere + "/through.txt"));
  EXPECT_FALSE(Exists("/docs/abs.txt"));
}

}  // namespace
}  // namespace backupd::client

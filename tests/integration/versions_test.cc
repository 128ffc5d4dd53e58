// test process (root): versions through the real daemon — an overwrite keeps the previous version
// beside the file, retention by count and by age (stored times set back on disk), LIST_VERSIONS,
// RESTORE_VERSION and LIST_DELETED byte for byte, a delete that keeps history, racing uploads of
// one name that both survive, and append-only users attacked over v2 and v1.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "base/text.h"
#include "base/unique_fd.h"
#include "protocol/digest.h"
#include "protocol/wire_v2.h"
#include "tests/harness/v2_client.h"
#include "tests/integration/v2_user_test.h"

namespace backupd::testing {
namespace {

namespace v2 = protocol::v2;

constexpr uint32_t kUser = 7;
constexpr uint16_t kV2RestoreOk = static_cast<uint16_t>(v2::ResponseCode::kRestoreOk);
constexpr uint16_t kV2NotFound = static_cast<uint16_t>(v2::ResponseCode::kNotFound);
constexpr uint16_t kV2NoFiles = static_cast<uint16_t>(v2::ResponseCode::kNoFiles);
constexpr uint16_t kV2Forbidden = static_cast<uint16_t>(v2::ResponseCode::kForbidden);

std::string HistoryFolder(const std::string& leaf) {
  const protocol::Digest d = protocol::Sha256Of(leaf);
  std::string out = ".backupd-versions-";
  AppendHex(out, d.data(), d.size());
  return out;
}

// A user with a login, and a daemon with the versions settings a test gives.
class VersionsTest : public LoggedInV2UserTest {
 protected:
  VersionsTest() : LoggedInV2UserTest(kUser) {}
  std::vector<std::string> Settings() const override { return {"keep_versions=3"}; }

  V2Response Call(v2::Op op, const std::string& name) {
    EXPECT_TRUE(c_.Send(v2::EncodeRequestPrefix(kUser, op, name, 0)));
    return c_.Read();
  }
  V2Response RestoreVersion(const std::string& name, uint64_t version) {
    EXPECT_TRUE(c_.Send(v2::EncodeRestoreVersionRequest(kUser, name, version)));
    return c_.Read();
  }
  std::vector<v2::VersionEntry> Versions(const std::string& name) {
    V2Response r = Call(v2::Op::kListVersions, name);
    EXPECT_EQ(r.status, kV2ListOk) << r.payload;
    Result<std::vector<v2::VersionEntry>> e = v2::DecodeVersionEntries(r.payload);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? *e : std::vector<v2::VersionEntry>{};
  }
  static std::vector<uint64_t> Numbers(const std::vector<v2::VersionEntry>& entries) {
    std::vector<uint64_t> out;
    for (const v2::VersionEntry& e : entries) out.push_back(e.version);
    return out;
  }
  // Sets the stored time of version `n` of the top-level `leaf` back by `days`: the clock seam.
  void AgeVersion(const std::string& leaf, uint64_t n, int days) {
    const std::string stamp =
        UserDir(kUser) + "/" + HistoryFolder(leaf) + "/" + std::to_string(n) + ".stored";
    struct stat st {};
    ASSERT_EQ(::stat(stamp.c_str(), &st), 0) << stamp;
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    times[1].tv_sec -= static_cast<time_t>(days) * 86400;
    ASSERT_EQ(::utimensat(AT_FDCWD, stamp.c_str(), times, 0), 0);
  }
};

TEST_F(VersionsTest, OverwritesKeepTheNewestByCountAndRestoreVersionReturnsEach) {
  for (const char* content : {"one", "two!", "three", "four"}) {
    ASSERT_EQ(c_.Backup(kUser, "a", content), kV2Ok) << daemon_.Log();
  }
  const std::vector<v2::VersionEntry> v = Versions("a");
  ASSERT_EQ(Numbers(v), (std::vector<uint64_t>{2, 3, 4}));
  EXPECT_EQ(v[0].flags, 0);
  EXPECT_EQ(v[1].flags, 0);
  EXPECT_EQ(v[2].flags, v2::kVersionCurrent);
  EXPECT_EQ(v[0].size, 4u);
  EXPECT_EQ(v[0].sha256, protocol::Sha256Of("two!"));
  EXPECT_EQ(v[2].sha256, protocol::Sha256Of("four"));
  EXPECT_LE(v[0].stored_ns, v[2].stored_ns);
  V2Response r = RestoreVersion("a", 2);
  EXPECT_EQ(r.status, kV2RestoreOk);
  EXPECT_EQ(r.payload, "two!");
  r = RestoreVersion("a", 4);
  EXPECT_EQ(r.status, kV2RestoreOk);
  EXPECT_EQ(r.payload, "four");
  r = RestoreVersion("a", 1);
  EXPECT_EQ(r.status, kV2NotFound);
  EXPECT_EQ(r.payload, "no version 1 of a");
  // The history is plain files beside the current one; op 202 never shows it.
  const std::string history = UserDir(kUser) + "/" + HistoryFolder("a");
  EXPECT_EQ(ReadFile(history + "/2"), "two!");
  EXPECT_EQ(ReadFile(history + "/name"), "a");
  r = Call(v2::Op::kList, "");
  ASSERT_EQ(r.status, kV2ListOk);
  Result<std::vector<v2::ListEntry>> list = v2::DecodeListEntries(r.payload);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "a");
  EXPECT_EQ((*list)[0].sha256, protocol::Sha256Of("four"));
  EXPECT_EQ(Call(v2::Op::kListVersions, "never").status, kV2NotFound);
}

TEST_F(VersionsTest, ADeleteKeepsHistoryAndListDeletedShowsIt) {
  ASSERT_EQ(c_.Backup(kUser, "d/gone", "old"), kV2Ok);
  ASSERT_EQ(c_.Backup(kUser, "d/gone", "newest"), kV2Ok);
  ASSERT_EQ(c_.Backup(kUser, "kept", "here"), kV2Ok);
  EXPECT_EQ(Call(v2::Op::kListDeleted, "").status, kV2NoFiles);
  ASSERT_EQ(Call(v2::Op::kDelete, "d/gone").status, kV2Ok);
  EXPECT_EQ(Call(v2::Op::kRestore, "d/gone").status, kV2NotFound);
  const std::vector<v2::VersionEntry> v = Versions("d/gone");
  ASSERT_EQ(Numbers(v), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(v[1].flags, v2::kVersionDeleted);
  EXPECT_EQ(RestoreVersion("d/gone", 2).payload, "newest");
  V2Response r = Call(v2::Op::kListDeleted, "");
  ASSERT_EQ(r.status, kV2ListOk);
  Result<std::vector<v2::ListEntry>> deleted = v2::DecodeListEntries(r.payload);
  ASSERT_TRUE(deleted.ok());
  ASSERT_EQ(deleted->size(), 1u);
  EXPECT_EQ((*deleted)[0].name, "d/gone");
  EXPECT_EQ((*deleted)[0].size, 6u);
  EXPECT_EQ((*deleted)[0].sha256, protocol::Sha256Of("newest"));
  // The plain list shows the stored file only.
  r = Call(v2::Op::kList, "");
  Result<std::vector<v2::ListEntry>> list = v2::DecodeListEntries(r.payload);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "kept");
  // Uploading the name again goes on numbering after the deleted version.
  ASSERT_EQ(c_.Backup(kUser, "d/gone", "back"), kV2Ok);
  const std::vector<v2::VersionEntry> again = Versions("d/gone");
  ASSERT_EQ(Numbers(again), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(again[1].flags, v2::kVersionDeleted);
  EXPECT_EQ(again[2].flags, v2::kVersionCurrent);
  EXPECT_EQ(Call(v2::Op::kListDeleted, "").status, kV2NoFiles);
}

class ManyVersionsTest : public VersionsTest {
 protected:
  std::vector<std::string> Settings() const override { return {"keep_versions=100"}; }
};

// Two connections (as two nodes would) upload one name at once: every upload gets its own
// number, none is lost, and the name ends up holding the highest.
TEST_F(ManyVersionsTest, RacingUploadsOfOneNameAllSurvive) {
  constexpr int kEach = 8;
  auto upload = [this](char who, std::vector<uint16_t>* statuses) {
    V2Client c;
    if (!c.Connect(daemon_.port()) || c.Login(kUser, secret_) != kV2AuthOk) return;
    for (int i = 0; i < kEach; ++i) {
      statuses->push_back(c.Backup(kUser, "race", std::string(1, who) + std::to_string(i)));
    }
  };
  std::vector<uint16_t> a, b;
  std::thread ta(upload, 'a', &a);
  std::thread tb(upload, 'b', &b);
  ta.join();
  tb.join();
  ASSERT_EQ(a, std::vector<uint16_t>(kEach, kV2Ok)) << daemon_.Log();
  ASSERT_EQ(b, std::vector<uint16_t>(kEach, kV2Ok)) << daemon_.Log();
  const std::vector<v2::VersionEntry> v = Versions("race");
  ASSERT_EQ(v.size(), 2u * kEach);
  std::vector<std::string> contents;
  for (const v2::VersionEntry& e : v) {
    EXPECT_EQ(e.flags, e.version == 2u * kEach ? v2::kVersionCurrent : 0) << e.version;
    contents.push_back(RestoreVersion("race", e.version).payload);
  }
  std::vector<std::string> want;
  for (char who : {'a', 'b'}) {
    for (int i = 0; i < kEach; ++i) want.push_back(std::string(1, who) + std::to_string(i));
  }
  std::sort(contents.begin(), contents.end());
  EXPECT_EQ(contents, want);
  EXPECT_EQ(Call(v2::Op::kRestore, "race").payload, RestoreVersion("race", 2u * kEach).payload);
}

// `backupd prune` run by the administrator with a config that keeps less than the daemon's.
TEST_F(VersionsTest, PruneAppliesTheConfigsRetentionToEveryHistory) {
  for (const char* content : {"1", "22", "333"}) ASSERT_EQ(c_.Backup(kUser, "a", content), kV2Ok);
  for (const char* content : {"4444", "55555"}) ASSERT_EQ(c_.Backup(kUser, "d/b", content), kV2Ok);
  ASSERT_EQ(Call(v2::Op::kDelete, "d/b").status, kV2Ok);
  auto prune = [this](const std::string& setting, const std::vector<std::string>& words) {
    const std::string conf = dir_.Sub("prune.conf");
    EXPECT_TRUE(WriteFile(conf, *ReadFile(daemon_.config_file()) + "\n" + setting + "\n"));
    std::vector<std::string> argv{BackupdPath(), "prune", "-c", conf};
    argv.insert(argv.end(), words.begin(), words.end());
    ProgramResult r = RunProgram(argv, dir_.path(), Millis(10000));
    const size_t comma = r.out.rfind(", ");
    if (comma != std::string::npos) r.out = r.out.substr(0, comma) + ", T s\n";
    return r;
  };
  // Two versions: a loses version 1; d/b, deleted, keeps its two.
  ProgramResult r = prune("keep_versions = 2", {"7"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out,
            "user 7: pruned 1 versions, 1 bytes\npruned 1 versions, 1 bytes, 0 not pruned, T s\n");
  EXPECT_EQ(Numbers(Versions("a")), (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(Numbers(Versions("d/b")), (std::vector<uint64_t>{1, 2}));
  // No history at all: every old version goes, and the deleted name with its history.
  r = prune("keep_versions = 1", {});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(
      r.out,
      "user 7: pruned 3 versions, 11 bytes\npruned 3 versions, 11 bytes, 0 not pruned, T s\n");
  EXPECT_EQ(Numbers(Versions("a")), (std::vector<uint64_t>{1}));
  EXPECT_EQ(Call(v2::Op::kListVersions, "d/b").status, kV2NotFound);
  EXPECT_EQ(Call(v2::Op::kListDeleted, "").status, kV2NoFiles);
  EXPECT_EQ(Call(v2::Op::kRestore, "a").payload, "333");
  r = prune("keep_versions = 1", {"8"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no user 8"), std::string::npos) << r.err;
}

// Pruning takes the user's lock as scrub does (worker::UserLock), so two jobs never walk one user
// at once on any node: here the test holds the lock as another node's job would, and the prune is
// seen waiting in flock, then prunes once it is let go.
TEST_F(VersionsTest, APruneWaitsWhileAnotherJobHoldsTheUsersLock) {
  for (const char* content : {"1", "22", "333"}) ASSERT_EQ(c_.Backup(kUser, "a", content), kV2Ok);
  const std::string conf = dir_.Sub("lock.conf");
  ASSERT_TRUE(WriteFile(conf, *ReadFile(daemon_.config_file()) + "\nkeep_versions = 2\n"));
  UniqueFd lock;
  ASSERT_NO_FATAL_FAILURE(HoldUsersLock(lock));
  ProgramResult r;
  std::thread prune([&] {
    r = RunProgram({BackupdPath(), "prune", "-c", conf}, dir_.path(), Millis(20000));
  });
  const bool waited = SeenWaitingInFlock({"prune", conf}, Millis(10000));
  EXPECT_EQ(Numbers(Versions("a")), (std::vector<uint64_t>{1, 2, 3}));
  lock.reset();
  prune.join();
  EXPECT_TRUE(waited) << "prune never waited in flock: " << r.out << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(Numbers(Versions("a")), (std::vector<uint64_t>{2, 3}));
}

// "2026-11-27T16:56:55Z", as backup-client prints a stored time.
std::string Utc(int64_t ns) {
  const std::time_t secs = static_cast<std::time_t>(ns / 1000000000);
  std::tm tm{};
  char buf[32];
  gmtime_r(&secs, &tm);
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// backup-client's version commands against the real daemon.
TEST_F(VersionsTest, TheClientListsVersionsRestoresByNumberAndTimeAndListsDeleted) {
  for (const char* content : {"first", "second!", "third"}) {
    ASSERT_EQ(c_.Backup(kUser, "doc", content), kV2Ok);
  }
  AgeVersion("doc", 1, 3);
  AgeVersion("doc", 2, 1);
  const std::vector<v2::VersionEntry> v = Versions("doc");
  ASSERT_EQ(v.size(), 3u);
  ASSERT_TRUE(WriteSecretFile(dir_.Sub("secret"), secret_));
  auto client = [this](const std::vector<std::string>& words) {
    std::vector<std::string> argv = BackupClientV2(daemon_.port(), kUser, dir_.Sub("secret"));
    argv.insert(argv.end(), words.begin(), words.end());
    return RunProgram(argv, dir_.path(), Millis(10000));
  };
  auto line = [&v](size_t i, const std::string& state) {
    std::string digest;
    AppendHex(digest, v[i].sha256.data(), v[i].sha256.size());
    return std::to_string(v[i].version) + " " + Utc(v[i].stored_ns) + " " +
           std::to_string(v[i].size) + " " + digest + " " + state + "\n";
  };
  ProgramResult r = client({"list", "--versions", "doc"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, line(0, "-") + line(1, "-") + line(2, "current"));
  r = client({"restore", "doc", "--version", "1", "-o", dir_.Sub("one")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(dir_.Sub("one")), "first");
  // Two days ago the first version was the newest stored.
  const int64_t two_days_ago = v[2].stored_ns / 1000000000 - 2 * 86400;
  r = client({"restore", "doc", "--before", "@" + std::to_string(two_days_ago), "-o", "-"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "first");
  r = client({"restore", "doc", "--before", Utc(v[2].stored_ns - 43200LL * 1000000000), "-o", "-"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "second!");
  r = client({"restore", "doc", "--before", "2000-01-01", "-o", dir_.Sub("none")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no version of doc was stored by 2000-01-01T00:00:00Z"), std::string::npos)
      << r.err;
  r = client({"restore", "doc", "--version", "9", "-o", dir_.Sub("none")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no version 9 of doc (1001)"), std::string::npos) << r.err;
  // Deleted: gone from list, shown by list --deleted, still restorable by version.
  r = client({"delete", "doc"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = client({"list"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  r = client({"list", "--deleted"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "doc\n");
  r = client({"restore", "doc", "--version", "3", "-o", "-"});
  EXPECT_EQ(r.out, "third");
}

// Bit rot in an old version (the byte flipped, the mtime put back) is found by scrub, named with
// its version and both digests, and scrub exits 1; the current file is not counted twice.
TEST_F(VersionsTest, ScrubFindsAByteFlippedInAnOldVersion) {
  ASSERT_EQ(c_.Backup(kUser, "a", "old bytes"), kV2Ok);
  ASSERT_EQ(c_.Backup(kUser, "a", "new bytes"), kV2Ok);
  auto scrub = [this] {
    return RunProgram({BackupdPath(), "scrub", "-c", daemon_.config_file(), "7"}, dir_.path(),
                      Millis(10000));
  };
  ProgramResult r = scrub();
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out.rfind("scrubbed 2 files, 0 damaged, 0 without a digest, 0 stale, 18 bytes, ", 0),
            0u)
      << r.out;
  const std::string old = UserDir(kUser) + "/" + HistoryFolder("a") + "/1";
  {
    UniqueFd fd(::open(old.c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(fd.valid());
    struct stat st {};
    ASSERT_EQ(::fstat(fd.get(), &st), 0);
    ASSERT_EQ(::pwrite(fd.get(), "O", 1, 0), 1);
    const struct timespec times[2] = {st.st_atim, st.st_mtim};
    ASSERT_EQ(::futimens(fd.get(), times), 0);
  }
  std::string expected;
  std::string actual;
  const protocol::Digest want = protocol::Sha256Of("old bytes");
  const protocol::Digest got = protocol::Sha256Of("Old bytes");
  AppendHex(expected, want.data(), want.size());
  AppendHex(actual, got.data(), got.size());
  r = scrub();
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(r.out.substr(0, r.out.find('\n') + 1), "damaged: user 7 a version 1: expected sha256 " +
                                                       expected + ", actual " + actual + "\n")
      << r.out;
  EXPECT_NE(r.out.find("scrubbed 2 files, 1 damaged,"), std::string::npos) << r.out;
  EXPECT_EQ(ReadFile(old), "Old bytes");
}

class VersionsByAgeTest : public VersionsTest {
 protected:
  std::vector<std::string> Settings() const override { return {"keep_versions=2", "keep_days=1"}; }
};

TEST_F(VersionsByAgeTest, YoungVersionsStayBeyondTheCountOldOnesGo) {
  for (const char* content : {"1", "2", "3", "4"}) ASSERT_EQ(c_.Backup(kUser, "f", content), kV2Ok);
  // All younger than a day: kept whatever keep_versions says.
  ASSERT_EQ(Numbers(Versions("f")), (std::vector<uint64_t>{1, 2, 3, 4}));
  AgeVersion("f", 1, 2);
  AgeVersion("f", 2, 2);
  ASSERT_EQ(c_.Backup(kUser, "f", "5"), kV2Ok);
  // 5 and 4 by count, 3 because it is younger than a day; 1 and 2 are two days old and go.
  EXPECT_EQ(Numbers(Versions("f")), (std::vector<uint64_t>{3, 4, 5}));
  EXPECT_EQ(RestoreVersion("f", 3).payload, "3");
  AgeVersion("f", 3, 2);
  ASSERT_EQ(c_.Backup(kUser, "f", "6"), kV2Ok);
  EXPECT_EQ(Numbers(Versions("f")), (std::vector<uint64_t>{4, 5, 6}));
  ASSERT_EQ(c_.Backup(kUser, "f", "7"), kV2Ok);
  EXPECT_EQ(Numbers(Versions("f")), (std::vector<uint64_t>{4, 5, 6, 7}));
}

class NoHistoryTest : public VersionsTest {
 protected:
  std::vector<std::string> Settings() const override { return {}; }
};

TEST_F(NoHistoryTest, TheDefaultKeepsNoHistoryAndADeleteRemoves) {
  ASSERT_EQ(c_.Backup(kUser, "a", "one"), kV2Ok);
  ASSERT_EQ(c_.Backup(kUser, "a", "two"), kV2Ok);
  for (const std::string& entry : ListDir(UserDir(kUser))) {
    EXPECT_NE(entry.rfind(".backupd-versions-", 0), 0u) << entry;
  }
  const std::vector<v2::VersionEntry> v = Versions("a");
  ASSERT_EQ(Numbers(v), (std::vector<uint64_t>{1}));
  EXPECT_EQ(v[0].flags, v2::kVersionCurrent);
  EXPECT_EQ(RestoreVersion("a", 1).payload, "two");
  ASSERT_EQ(Call(v2::Op::kDelete, "a").status, kV2Ok);
  EXPECT_EQ(Call(v2::Op::kListVersions, "a").status, kV2NotFound);
  EXPECT_EQ(Call(v2::Op::kListDeleted, "").status, kV2NoFiles);
  EXPECT_EQ(ListDir(UserDir(kUser)), std::vector<std::string>{});
}

class AppendOnlyTest : public VersionsTest {
 protected:
  std::vector<std::string> Settings() const override {
    return {"append_only_users=9 " + std::to_string(kUser)};
  }
};

// The attack: a client taken over tries to destroy the backups it made.
TEST_F(AppendOnlyTest, DeleteOverwriteAndV1DeleteLeaveHistoryIntact) {
  ASSERT_EQ(c_.Backup(kUser, "doc", "precious"), kV2Ok);
  // 1. Delete: refused with 1018 and a message naming why; the connection stays usable.
  V2Response r = Call(v2::Op::kDelete, "doc");
  EXPECT_EQ(r.status, kV2Forbidden);
  EXPECT_NE(r.payload.find("append-only"), std::string::npos) << r.payload;
  EXPECT_TRUE(daemon_.WaitForLogLine({"append-only", "delete of doc refused"}, Millis(5000)))
      << daemon_.Log();
  // 2. Overwrite with garbage, even with keep_versions = 1: the precious version stays.
  ASSERT_EQ(c_.Backup(kUser, "doc", "ENCRYPTED BY RANSOMWARE"), kV2Ok);
  ASSERT_EQ(c_.Backup(kUser, "doc", "AGAIN"), kV2Ok);
  const std::vector<v2::VersionEntry> v = Versions("doc");
  ASSERT_EQ(Numbers(v), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(RestoreVersion("doc", 1).payload, "precious");
  // 3. v1, which has no login: its delete gets v1's 1003 and removes nothing.
  Result<Response> v1 = CallOnce(kUser, protocol::Op::kDelete, "doc");
  EXPECT_TRUE(HasStatus(v1, kError));
  EXPECT_EQ(ReadFile(UserDir(kUser) + "/doc"), "AGAIN");
  EXPECT_EQ(Numbers(Versions("doc")), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(ReadFile(UserDir(kUser) + "/" + HistoryFolder("doc") + "/1"), "precious");
  // Both command-line clients print the server's reason and exit 1.
  ASSERT_TRUE(WriteSecretFile(dir_.Sub("secret"), secret_));
  for (const std::vector<std::string>& prefix :
       {std::vector<std::string>{BackupClientPath()},
        std::vector<std::string>{"/usr/bin/python3", PythonClientPath()}}) {
    std::vector<std::string> argv = prefix;
    for (const std::string& word :
         {std::string("--server"), "127.0.0.1:" + std::to_string(daemon_.port()),
          std::string("--user"), std::to_string(kUser), std::string("--secret-file"),
          dir_.Sub("secret"), std::string("delete"), std::string("doc")}) {
      argv.push_back(word);
    }
    ProgramResult run = RunProgram(argv, dir_.path(), Millis(10000));
    EXPECT_EQ(run.exit_code, 1) << prefix.back() << ": " << run.out << run.err;
    EXPECT_NE(run.err.find("append-only"), std::string::npos) << prefix.back() << ": " << run.err;
  }
  EXPECT_EQ(ReadFile(UserDir(kUser) + "/doc"), "AGAIN");
  // New files are still accepted.
  EXPECT_EQ(c_.Backup(kUser, "new", "fine"), kV2Ok);
}

}  // namespace
}  // namespace backupd::testing

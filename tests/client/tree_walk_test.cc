// tests: the folder walk and its exclude patterns on real temp trees — what is found under which
// name, what is skipped or failed, and each pattern form the man page documents.
#include "client/tree_walk.h"

#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>

#include "client/backup_run.h"
#include "client/exclude.h"
#include "tests/harness/temp_dir.h"

namespace backupd::client {
namespace {

bool Excluded(const std::vector<std::string>& patterns, const std::string& path,
              bool folder = false) {
  ExcludeRules rules;
  for (const std::string& p : patterns) EXPECT_TRUE(rules.Add(p).ok()) << p;
  return rules.Excluded(path, folder);
}

TEST(ExcludeRulesTest, APatternWithoutSlashMatchesANameAtAnyDepth) {
  EXPECT_TRUE(Excluded({"*.o"}, "a.o"));
  EXPECT_TRUE(Excluded({"*.o"}, "x/y/a.o"));
  EXPECT_FALSE(Excluded({"*.o"}, "a.o/b.c"));
  EXPECT_TRUE(Excluded({"?.txt"}, "d/a.txt"));
  EXPECT_FALSE(Excluded({"?.txt"}, "d/ab.txt"));
  EXPECT_TRUE(Excluded({"[ab].txt"}, "b.txt"));
  EXPECT_FALSE(Excluded({"[ab].txt"}, "c.txt"));
  // As in .gitignore, '*' takes a leading dot.
  EXPECT_TRUE(Excluded({"*"}, ".hidden"));
}

TEST(ExcludeRulesTest, ASlashAnchorsToTheWalkedFolder) {
  EXPECT_TRUE(Excluded({"/a.txt"}, "a.txt"));
  EXPECT_FALSE(Excluded({"/a.txt"}, "x/a.txt"));
  EXPECT_TRUE(Excluded({"x/a.txt"}, "x/a.txt"));
  EXPECT_FALSE(Excluded({"x/a.txt"}, "y/x/a.txt"));
  // '*' never crosses a '/'.
  EXPECT_FALSE(Excluded({"x/*.txt"}, "x/y/a.txt"));
}

TEST(ExcludeRulesTest, DoubleStarTakesAnyNumberOfFolders) {
  EXPECT_TRUE(Excluded({"a/**/b"}, "a/b"));
  EXPECT_TRUE(Excluded({"a/**/b"}, "a/x/y/b"));
  EXPECT_FALSE(Excluded({"a/**/b"}, "c/a/x/b"));
  EXPECT_TRUE(Excluded({"**/cache"}, "p/q/cache"));
  EXPECT_TRUE(Excluded({"a/**"}, "a/x/y"));
}

TEST(ExcludeRulesTest, TrailingSlashMatchesFoldersOnly) {
  EXPECT_TRUE(Excluded({"build/"}, "src/build", true));
  EXPECT_FALSE(Excluded({"build/"}, "src/build", false));
}

TEST(ExcludeRulesTest, NegationReincludesAndTheLastMatchWins) {
  EXPECT_FALSE(Excluded({"*.log", "!keep.log"}, "d/keep.log"));
  EXPECT_TRUE(Excluded({"*.log", "!keep.log"}, "d/other.log"));
  EXPECT_TRUE(Excluded({"!keep.log", "*.log"}, "keep.log"));
  EXPECT_TRUE(Excluded({"\\!bang"}, "!bang"));
}

TEST(ExcludeRulesTest, EmptyPatternsAreRefused) {
  ExcludeRules rules;
  EXPECT_EQ(rules.Add("").code(), Status::Code::kInvalid);
  EXPECT_EQ(rules.Add("!").code(), Status::Code::kInvalid);
  EXPECT_EQ(rules.Add("/").code(), Status::Code::kInvalid);
  EXPECT_EQ(rules.Add("a//b").code(), Status::Code::kInvalid);
}

TEST(ExcludeRulesTest, FromFileSkipsCommentsAndBlankLinesAndNamesABadLine) {
  testing::TempDir dir;
  std::ofstream(dir.Sub("ex")) << "# comment\n\n*.o   \r\n/top/\n";
  ExcludeRules rules;
  ASSERT_TRUE(rules.AddFromFile(dir.Sub("ex")).ok());
  EXPECT_TRUE(rules.Excluded("x/a.o", false));
  EXPECT_TRUE(rules.Excluded("top", true));
  EXPECT_FALSE(rules.Excluded("x/top", true));
  EXPECT_FALSE(rules.Excluded("x/a.c", false));
  std::ofstream(dir.Sub("bad")) << "ok\n!\n";
  Status st = rules.AddFromFile(dir.Sub("bad"));
  EXPECT_EQ(st.code(), Status::Code::kInvalid);
  EXPECT_NE(st.message().find(dir.Sub("bad") + ":2: "), std::string::npos) << st.message();
}

TEST(StoredPrefixTest, DropsTheLeadingSlashDotsAndRepeatedSlashes) {
  EXPECT_EQ(*StoredPrefix("/home/a/docs/"), "home/a/docs");
  EXPECT_EQ(*StoredPrefix("./docs//x"), "docs/x");
  EXPECT_EQ(*StoredPrefix("."), "");
  EXPECT_EQ(StoredPrefix("../x").status().code(), Status::Code::kInvalid);
  EXPECT_EQ(StoredPrefix("a/../b").status().code(), Status::Code::kInvalid);
}

void Write(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

// name -> entry, for the checks below.
std::map<std::string, WalkEntry> ByName(const WalkResult& r) {
  std::map<std::string, WalkEntry> out;
  for (const WalkEntry& e : r.entries) out[e.name] = e;
  return out;
}

class WalkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.Sub("docs");
    ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir((root_ + "/a").c_str(), 0750), 0);
    ASSERT_EQ(mkdir((root_ + "/a/b").c_str(), 0700), 0);
    ASSERT_EQ(mkdir((root_ + "/empty").c_str(), 0700), 0);
    Write(root_ + "/top.txt", "top");
    Write(root_ + "/a/b/deep.o", "deep!");
    ASSERT_EQ(chmod((root_ + "/top.txt").c_str(), 0640), 0);
  }
  testing::TempDir dir_;
  std::string root_;
};

TEST_F(WalkTest, AFolderIsStoredUnderItsPathWithKindModeSizeAndTime) {
  ASSERT_EQ(chdir(dir_.path().c_str()), 0);
  WalkResult r = Walk({"docs"}, {});
  EXPECT_TRUE(r.failures.empty());
  std::map<std::string, WalkEntry> e = ByName(r);
  ASSERT_EQ(e.size(), 6u);
  EXPECT_EQ(e["docs"].kind, WalkEntry::Kind::kFolder);
  EXPECT_EQ(e["docs"].mode, 0755u);
  EXPECT_EQ(e["docs/top.txt"].kind, WalkEntry::Kind::kFile);
  EXPECT_EQ(e["docs/top.txt"].size, 3u);
  EXPECT_EQ(e["docs/top.txt"].mode, 0640u);
  EXPECT_EQ(e["docs/top.txt"].path, "docs/top.txt");
  struct stat sb {};
  ASSERT_EQ(stat((root_ + "/top.txt").c_str(), &sb), 0);
  EXPECT_EQ(e["docs/top.txt"].mtime_ns, sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec);
  EXPECT_EQ(e["docs/a/b/deep.o"].size, 5u);
  EXPECT_EQ(e["docs/a"].kind, WalkEntry::Kind::kFolder);
  EXPECT_EQ(e["docs/a"].mode, 0750u);
  EXPECT_EQ(e["docs/empty"].kind, WalkEntry::Kind::kFolder);

  // An absolute PATH loses its leading '/' only; "." stores what is below it.
  e = ByName(Walk({root_ + "/"}, {}));
  EXPECT_EQ(e.count(root_.substr(1) + "/a/b/deep.o"), 1u);
  ASSERT_EQ(chdir(root_.c_str()), 0);
  e = ByName(Walk({"."}, {}));
  EXPECT_EQ(e.count("a/b/deep.o"), 1u);
  EXPECT_EQ(e.count("top.txt"), 1u);
  EXPECT_EQ(e.count(""), 0u);
  // A file PATH keeps today's name.
  e = ByName(Walk({root_ + "/top.txt"}, {}));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e.begin()->first, root_.substr(1) + "/top.txt");
  ASSERT_EQ(chdir("/"), 0);
}

TEST_F(WalkTest, ExcludesPruneFoldersAndFiles) {
  ExcludeRules rules;
  ASSERT_TRUE(rules.Add("*.o").ok());
  ASSERT_TRUE(rules.Add("/empty/").ok());
  std::map<std::string, WalkEntry> e = ByName(Walk({root_}, {false, &rules}));
  const std::string p = root_.substr(1);
  EXPECT_EQ(e.count(p + "/a/b/deep.o"), 0u);
  EXPECT_EQ(e.count(p + "/empty"), 0u);
  EXPECT_EQ(e.count(p + "/top.txt"), 1u);
  EXPECT_EQ(e.count(p + "/a/b"), 1u);

  ExcludeRules folder;
  ASSERT_TRUE(folder.Add("a").ok());
  e = ByName(Walk({root_}, {false, &folder}));
  EXPECT_EQ(e.count(p + "/a"), 0u);
  EXPECT_EQ(e.count(p + "/a/b/deep.o"), 0u);
}

TEST_F(WalkTest, SymlinksAndFifosAreSkippedWithANoteUnlessFollowed) {
  ASSERT_EQ(symlink("top.txt", (root_ + "/link").c_str()), 0);
  ASSERT_EQ(mkfifo((root_ + "/fifo").c_str(), 0600), 0);
  WalkResult r = Walk({root_}, {});
  const std::string p = root_.substr(1);
  std::map<std::string, WalkEntry> e = ByName(r);
  EXPECT_EQ(e.count(p + "/link"), 0u);
  EXPECT_EQ(e.count(p + "/fifo"), 0u);
  ASSERT_EQ(r.notes.size(), 2u);
  std::sort(r.notes.begin(), r.notes.end());
  EXPECT_EQ(r.notes[0], root_ + "/fifo: skipped: a FIFO");
  EXPECT_EQ(r.notes[1],
            root_ + "/link: skipped: a symlink (not followed without --follow-symlinks)");
  EXPECT_TRUE(r.failures.empty());

  r = Walk({root_}, {true, nullptr});
  e = ByName(r);
  ASSERT_EQ(e.count(p + "/link"), 1u);
  EXPECT_EQ(e[p + "/link"].size, 3u);
}

TEST_F(WalkTest, AFolderLoopThroughASymlinkIsAFailureNotAHang) {
  ASSERT_EQ(symlink("..", (root_ + "/a/up").c_str()), 0);
  WalkResult r = Walk({root_}, {true, nullptr});
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_EQ(r.failures[0].path, root_ + "/a/up");
  EXPECT_NE(r.failures[0].why.find("loop"), std::string::npos);
}

TEST_F(WalkTest, NamesTheServerWouldRefuseAndMissingPathsAreFailures) {
  Write(root_ + "/.backupd-mine", "x");
  WalkResult r = Walk({root_, dir_.Sub("missing")}, {});
  ASSERT_EQ(r.failures.size(), 2u);
  std::sort(r.failures.begin(), r.failures.end(),
            [](const WalkFailure& a, const WalkFailure& b) { return a.path < b.path; });
  EXPECT_EQ(r.failures[0].path, root_ + "/.backupd-mine");
  EXPECT_NE(r.failures[0].why.find("cannot be stored as"), std::string::npos);
  EXPECT_EQ(r.failures[1].path, dir_.Sub("missing"));
  EXPECT_EQ(r.failures[1].why, "No such file or directory");
  EXPECT_EQ(ByName(r).count(root_.substr(1) + "/top.txt"), 1u);
}

// As an ordinary user (nobody, in a child process): a folder it may not read is a failure of the
// walk, and a file it may not read fails when --checksum must hash it (and only then); the rest
// is still found.
TEST_F(WalkTest, WhatCannotBeReadIsAFailureNamedWithWhy) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to become another user";
  ASSERT_EQ(chmod(dir_.path().c_str(), 0755), 0);
  ASSERT_EQ(mkdir((root_ + "/locked").c_str(), 0700), 0);
  Write(root_ + "/locked/inside.txt", "x");
  Write(root_ + "/secret.txt", "s3cret");
  ASSERT_EQ(chmod((root_ + "/secret.txt").c_str(), 0600), 0);
  ASSERT_EQ(chmod((root_ + "/a").c_str(), 0755), 0);
  ASSERT_EQ(chmod((root_ + "/a/b").c_str(), 0755), 0);
  ASSERT_EQ(chmod((root_ + "/empty").c_str(), 0755), 0);
  ASSERT_EQ(chmod((root_ + "/top.txt").c_str(), 0644), 0);
  // The child's exit when it cannot become nobody (e.g. root only by fakeroot).
  constexpr int kCannotDrop = 4;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    const uid_t nobody = 65534;
    if (setgroups(0, nullptr) != 0 || setresgid(nobody, nobody, nobody) != 0 ||
        setresuid(nobody, nobody, nobody) != 0) {
      _exit(kCannotDrop);
    }
    WalkResult r = Walk({root_}, {});
    const std::string prefix = root_.substr(1);
    // The server holds secret.txt with its size, mode and mtime: only --checksum reads it.
    std::vector<protocol::v2::AttrEntry> stored;
    for (const WalkEntry& e : r.entries) {
      if (e.name == prefix + "/secret.txt") {
        stored.push_back(
            {e.name, protocol::v2::EntryKind::kFile, {e.mode, e.mtime_ns}, e.size, {}});
        stored[0].sha256[0] = 1;
      }
    }
    const size_t unread = PlanRun(r.entries, stored, Compare::kChanged).failures.size();
    RunPlan plan = PlanRun(r.entries, stored, Compare::kChecksum);
    size_t files = 0;
    for (const Upload& u : plan.uploads) files += u.folder ? 0 : 1;
    std::string report;
    for (const WalkFailure& f : r.failures) report += "walk " + f.path + ": " + f.why + "\n";
    for (const WalkFailure& f : plan.failures) report += "plan " + f.path + ": " + f.why + "\n";
    report += "unread " + std::to_string(unread) + ", file uploads " + std::to_string(files) + "\n";
    _exit(write(fds[1], report.data(), report.size()) == static_cast<ssize_t>(report.size()) ? 0
                                                                                             : 3);
  }
  close(fds[1]);
  std::string report;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof(buf))) > 0;) report.append(buf, n);
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  if (WEXITSTATUS(status) == kCannotDrop) GTEST_SKIP() << "cannot become nobody";
  ASSERT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(report, "walk " + root_ + "/locked: Permission denied\n" + "plan " + root_ +
                        "/secret.txt: open: Permission denied\n" + "unread 0, file uploads 2\n");
}

}  // namespace
}  // namespace backupd::client

// test process (root): both real clients over protocol v2 against the real daemon — users made by
// `backupd user add`, every op and its output, Python and C++ interoperating, user A fenced off
// from user B, failed logins, one connection for many files, a file over 4 GiB, and each
// legacy_v1 mode, from loopback and (in network namespaces this test makes) from another address.
#include <fcntl.h>
#include <openssl/sha.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "protocol/scram.h"
#include "tests/integration/daemon_test.h"

namespace backupd::testing {
namespace {

namespace fs = std::filesystem;

constexpr Millis kClientTimeout{60000};
constexpr Millis kLogTimeout{10000};

// Exit statuses of backup-client(1), which the Python client shares.
constexpr int kExitErrorStatus = 1;
constexpr int kExitAuthFailed = 6;

std::string Output(const ProgramResult& r) {
  return "exit " + std::to_string(r.exit_code) + (r.timed_out ? " (timed out)" : "") +
         "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

std::string Sha256Hex(const std::string& data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  ::SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  std::string hex;
  char byte[3];
  for (unsigned char c : md) {
    std::snprintf(byte, sizeof byte, "%02x", c);
    hex += byte;
  }
  return hex;
}

enum class ClientKind { kCpp, kPython };

std::string KindName(const ::testing::TestParamInfo<ClientKind>& info) {
  return info.param == ClientKind::kCpp ? "BackupClient" : "PythonClient";
}

std::string Prog(ClientKind kind) {
  return kind == ClientKind::kCpp ? "backup-client" : "backup_client.py";
}

std::vector<std::string> ClientArgv(ClientKind kind) {
  if (kind == ClientKind::kCpp) return {BackupClientPath()};
  return {Python3Path(), PythonClientPath()};
}

constexpr uint32_t kUserA = 201;
constexpr uint32_t kUserB = 202;

// A daemon with a users file holding A and B, each made by `backupd user add` before the start,
// and their secrets in 0600 files.
class ClientsV2Test : public DaemonTest {
 protected:
  DaemonOptions Options() const override {
    DaemonOptions o;
    o.overrides = {"users_file=" + users_file(), "legacy_v1=" + legacy_v1_};
    o.overrides.insert(o.overrides.end(), extra_.begin(), extra_.end());
    return o;
  }

  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: backupd's workers chroot and drop to nobody";
    work_ = dir_.Sub("work");
    ASSERT_TRUE(fs::create_directories(work_ + "/docs"));
    // No daemon runs yet: a pid file that does not exist keeps user add from signalling.
    const std::string no_pid = dir_.Sub("none.pid");
    for (uint32_t user : {kUserA, kUserB}) {
      Result<std::string> secret = AddBackupdUser(user, users_file(), no_pid, dir_.path());
      ASSERT_TRUE(secret.ok()) << secret.status().ToString();
      ASSERT_TRUE(WriteSecretFile(SecretFile(user), *secret));
    }
    StartDaemon();
  }

  // A subclass that starts the daemon elsewhere (another network namespace) overrides this.
  virtual void StartDaemon() { DaemonTest::SetUp(); }

  std::string users_file() const { return dir_.Sub("users"); }
  std::string SecretFile(uint32_t user) const { return dir_.Sub(std::to_string(user) + ".secret"); }

  // `kind` logged in over v2 as `user` with the secret in `secret_file`, at `server` (default:
  // the daemon on loopback), run under `prefix` (e.g. in another network namespace).
  ProgramResult RunAs(ClientKind kind, uint32_t user, const std::string& secret_file,
                      const std::vector<std::string>& command, const std::string& server = "",
                      const std::vector<std::string>& prefix = {}) {
    std::vector<std::string> argv = prefix;
    for (const std::string& a : ClientArgv(kind)) argv.push_back(a);
    const std::string at = server.empty() ? Loopback() : server;
    for (const std::string& a : {std::string("--server"), at, std::string("--user"),
                                 std::to_string(user), std::string("--secret-file"), secret_file}) {
      argv.push_back(a);
    }
    argv.insert(argv.end(), command.begin(), command.end());
    return RunProgram(argv, work_, client_timeout_);
  }

  // `kind` as `user` with that user's own secret.
  ProgramResult Run(ClientKind kind, uint32_t user, const std::vector<std::string>& command) {
    return RunAs(kind, user, SecretFile(user), command);
  }

  // `kind` over protocol v1 (no login) as `user`, at `server`.
  ProgramResult RunV1(ClientKind kind, uint32_t user, const std::vector<std::string>& command,
                      const std::string& server, const std::vector<std::string>& prefix = {}) {
    std::vector<std::string> argv = prefix;
    for (const std::string& a : ClientArgv(kind)) argv.push_back(a);
    for (const std::string& a :
         {std::string("--protocol"), std::string("1"), std::string("--server"), server,
          std::string("--user"), std::to_string(user)}) {
      argv.push_back(a);
    }
    argv.insert(argv.end(), command.begin(), command.end());
    return RunProgram(argv, work_, kClientTimeout);
  }

  std::string Loopback() const { return "127.0.0.1:" + std::to_string(daemon_.port()); }

  TempDir dir_;
  std::string work_;
  std::string legacy_v1_ = "loopback";
  std::vector<std::string> extra_;  // more -o settings, set before the daemon starts
  Millis client_timeout_ = kClientTimeout;
};

class EachClientV2Test : public ClientsV2Test, public ::testing::WithParamInterface<ClientKind> {};

INSTANTIATE_TEST_SUITE_P(Clients, EachClientV2Test,
                         ::testing::Values(ClientKind::kCpp, ClientKind::kPython), KindName);

// One `list -l` line: size, mtime, SHA-256, name.
struct LongEntry {
  uint64_t size = 0;
  std::string mtime;
  std::string sha256;
  std::string name;
};

std::vector<LongEntry> ParseLongList(const std::string& out) {
  std::vector<LongEntry> entries;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    LongEntry e;
    std::istringstream fields(line);
    fields >> e.size >> e.mtime >> e.sha256;
    std::getline(fields >> std::ws, e.name);
    entries.push_back(e);
  }
  return entries;
}

TEST_P(EachClientV2Test, EveryOpOverV2) {
  const ClientKind kind = GetParam();
  // Over 1 MiB and no multiple of any buffer size, and a small text file.
  const std::string big = RandomBytes((1u << 20) + 12345, 31);
  ASSERT_TRUE(WriteFile(work_ + "/docs/big.bin", big));
  ASSERT_TRUE(WriteFile(work_ + "/docs/note.txt", "a note\n"));

  ProgramResult r = Run(kind, kUserA, {"list"});
  ASSERT_EQ(r.exit_code, 0) << "a user with no files lists nothing and succeeds\n" << Output(r);
  EXPECT_EQ(r.out, "");

  r = Run(kind, kUserA, {"backup", "docs/big.bin", "docs/note.txt"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_TRUE(ReadFile(UserDir(kUserA) + "/docs/big.bin") == big);
  EXPECT_EQ(ReadFile(UserDir(kUserA) + "/docs/note.txt"), "a note\n");

  r = Run(kind, kUserA, {"list"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(r.out, "docs/big.bin\ndocs/note.txt\n");

  r = Run(kind, kUserA, {"list", "-l"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  std::vector<LongEntry> entries = ParseLongList(r.out);
  ASSERT_EQ(entries.size(), 2u) << Output(r);
  EXPECT_EQ(entries[0].name, "docs/big.bin");
  EXPECT_EQ(entries[0].size, big.size());
  EXPECT_EQ(entries[0].sha256, Sha256Hex(big));
  EXPECT_EQ(entries[1].name, "docs/note.txt");
  EXPECT_EQ(entries[1].size, 7u);
  EXPECT_EQ(entries[1].sha256, Sha256Hex("a note\n"));
  const std::regex iso8601_utc(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)");
  for (const LongEntry& e : entries) {
    EXPECT_TRUE(std::regex_match(e.mtime, iso8601_utc)) << e.mtime;
  }

  r = Run(kind, kUserA, {"restore", "docs/big.bin", "-o", work_ + "/big.out"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_TRUE(ReadFile(work_ + "/big.out") == big) << "restored bytes differ";
  r = Run(kind, kUserA, {"restore", "docs/big.bin", "-o", "-"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.size(), big.size());
  EXPECT_TRUE(r.out == big) << "bytes on standard output differ";

  r = Run(kind, kUserA, {"delete", "docs/big.bin"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_FALSE(PathExists(UserDir(kUserA) + "/docs/big.bin"));
  r = Run(kind, kUserA, {"list"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(r.out, "docs/note.txt\n");

  // All of it went over v2: one login per invocation, and each op logged for the user who did it.
  EXPECT_TRUE(daemon_.WaitForLogLine({"user 201 logged in from 127.0.0.1:"}, kLogTimeout));
  EXPECT_TRUE(daemon_.WaitForLogLine({"access ", "user=201", "op=delete", "name=\"docs/big.bin\""},
                                     kLogTimeout))
      << daemon_.Log();
}

// The longest name protocol/wire.h allows (4096 bytes, components of at most 255) round-trips
// over v2 with its digest, as it does over v1 (clients_test.cc also covers the deepest name).
TEST_P(EachClientV2Test, LongestNameRoundTrips) {
  const ClientKind kind = GetParam();
  std::string longest;
  for (char c = 'a'; c < 'a' + 15; ++c) longest += std::string(255, c) + "/";
  longest += std::string(254, 'p') + "/q";
  ASSERT_EQ(longest.size(), 4096u);
  ASSERT_TRUE(WriteFile(work_ + "/docs/limit.bin", "at the limit\n"));
  ProgramResult r = Run(kind, kUserA, {"backup", "--name", longest, "docs/limit.bin"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  r = Run(kind, kUserA, {"list", "-l"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  std::vector<LongEntry> entries = ParseLongList(r.out);
  ASSERT_EQ(entries.size(), 1u) << Output(r);
  EXPECT_TRUE(entries[0].name == longest) << "list shows another name";
  EXPECT_EQ(entries[0].size, 13u);
  EXPECT_EQ(entries[0].sha256, Sha256Hex("at the limit\n"));
  r = Run(kind, kUserA, {"restore", longest, "-o", work_ + "/limit.out"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(ReadFile(work_ + "/limit.out"), "at the limit\n");
  r = Run(kind, kUserA, {"delete", longest});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  r = Run(kind, kUserA, {"list"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(fs::is_empty(UserDir(kUserA))) << "delete left folders behind";
}

TEST_F(ClientsV2Test, PythonAndCppInteroperateOnEveryOp) {
  const std::string by_cpp = RandomBytes(300001, 32);
  const std::string by_py = RandomBytes(200003, 33);
  ASSERT_TRUE(WriteFile(work_ + "/docs/by_cpp.bin", by_cpp));
  ASSERT_TRUE(WriteFile(work_ + "/docs/by_py.bin", by_py));

  ProgramResult r = Run(ClientKind::kCpp, kUserA, {"backup", "docs/by_cpp.bin"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  r = Run(ClientKind::kPython, kUserA, {"backup", "docs/by_py.bin"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);

  r = Run(ClientKind::kPython, kUserA, {"restore", "docs/by_cpp.bin", "-o", work_ + "/py.out"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_TRUE(ReadFile(work_ + "/py.out") == by_cpp);
  r = Run(ClientKind::kCpp, kUserA, {"restore", "docs/by_py.bin", "-o", work_ + "/cpp.out"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_TRUE(ReadFile(work_ + "/cpp.out") == by_py);

  // The same list, short and long, from both.
  for (const std::vector<std::string>& list :
       {std::vector<std::string>{"list"}, std::vector<std::string>{"list", "-l"}}) {
    ProgramResult cpp = Run(ClientKind::kCpp, kUserA, list);
    ProgramResult py = Run(ClientKind::kPython, kUserA, list);
    ASSERT_EQ(cpp.exit_code, 0) << Output(cpp);
    ASSERT_EQ(py.exit_code, 0) << Output(py);
    EXPECT_EQ(cpp.out, py.out);
  }
  r = Run(ClientKind::kCpp, kUserA, {"list"});
  EXPECT_EQ(r.out, "docs/by_cpp.bin\ndocs/by_py.bin\n");

  // Each deletes what the other stored.
  r = Run(ClientKind::kPython, kUserA, {"delete", "docs/by_cpp.bin"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  r = Run(ClientKind::kCpp, kUserA, {"delete", "docs/by_py.bin"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  for (ClientKind kind : {ClientKind::kCpp, ClientKind::kPython}) {
    r = Run(kind, kUserA, {"list"});
    EXPECT_EQ(r.exit_code, 0) << Output(r);
    EXPECT_EQ(r.out, "");
  }
}

TEST_P(EachClientV2Test, UserACannotReadListOverwriteOrDeleteUserBsFiles) {
  const ClientKind kind = GetParam();
  ASSERT_TRUE(WriteFile(work_ + "/docs/b.txt", "B's own\n"));
  ProgramResult r = Run(kind, kUserB, {"backup", "docs/b.txt"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);

  // A's secret with B's id: no op gets past the login. Four tries: the fifth failed login from
  // one address within a minute would make the daemon refuse even good logins for a while.
  const std::string a_secret = SecretFile(kUserA);
  const std::string refused = Prog(kind) + ": login: authentication failed for user 202\n";
  ASSERT_TRUE(WriteFile(work_ + "/docs/evil.txt", "A's\n"));
  for (const std::vector<std::string>& command :
       std::vector<std::vector<std::string>>{{"list", "-l"},
                                             {"restore", "docs/b.txt", "-o", work_ + "/stolen.txt"},
                                             {"backup", "docs/evil.txt", "--name", "docs/b.txt"},
                                             {"delete", "docs/b.txt"}}) {
    r = RunAs(kind, kUserB, a_secret, command);
    EXPECT_EQ(r.exit_code, kExitAuthFailed) << command[0] << "\n" << Output(r);
    EXPECT_EQ(r.err, refused) << command[0];
    EXPECT_EQ(r.out, "") << command[0];
  }
  EXPECT_FALSE(PathExists(work_ + "/stolen.txt"));

  // A logged in as A: B's names are not A's, and A's writes land in A's folder.
  r = Run(kind, kUserA, {"list"});
  EXPECT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(r.out, "");
  r = Run(kind, kUserA, {"restore", "docs/b.txt", "-o", work_ + "/stolen.txt"});
  EXPECT_EQ(r.exit_code, kExitErrorStatus) << Output(r);
  EXPECT_EQ(r.err.rfind(Prog(kind) + ": restore docs/b.txt: no file named docs/b.txt (1001): "
                                     "user 201 has no file 'docs/b.txt'.",
                        0),
            0u)
      << Output(r);
  EXPECT_FALSE(PathExists(work_ + "/stolen.txt"));
  r = Run(kind, kUserA, {"delete", "docs/b.txt"});
  EXPECT_EQ(r.exit_code, kExitErrorStatus) << Output(r);
  EXPECT_EQ(r.err.rfind(Prog(kind) + ": delete docs/b.txt: no file named docs/b.txt (1001): "
                                     "user 201 has no file 'docs/b.txt'.",
                        0),
            0u)
      << Output(r);
  r = Run(kind, kUserA, {"backup", "docs/evil.txt", "--name", "docs/b.txt"});
  EXPECT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(ReadFile(UserDir(kUserA) + "/docs/b.txt"), "A's\n");

  // B's file is as B stored it, and B still sees only it.
  EXPECT_EQ(ReadFile(UserDir(kUserB) + "/docs/b.txt"), "B's own\n");
  r = Run(kind, kUserB, {"restore", "docs/b.txt", "-o", "-"});
  EXPECT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(r.out, "B's own\n");
  r = Run(kind, kUserB, {"list"});
  EXPECT_EQ(r.out, "docs/b.txt\n");
}

TEST_P(EachClientV2Test, WrongSecretAndUnknownUserExit6) {
  const ClientKind kind = GetParam();
  ASSERT_TRUE(WriteFile(work_ + "/docs/a.txt", "alpha\n"));
  ASSERT_TRUE(WriteSecretFile(work_ + "/wrong.secret", "not-the-secret-of-anyone"));

  ProgramResult r = RunAs(kind, kUserA, work_ + "/wrong.secret", {"backup", "docs/a.txt"});
  EXPECT_EQ(r.exit_code, kExitAuthFailed) << Output(r);
  EXPECT_EQ(r.err, Prog(kind) + ": login: authentication failed for user 201\n");

  // An unknown user, even with a real secret, fails the same way.
  r = RunAs(kind, 4242, SecretFile(kUserA), {"backup", "docs/a.txt"});
  EXPECT_EQ(r.exit_code, kExitAuthFailed) << Output(r);
  EXPECT_EQ(r.err, Prog(kind) + ": login: authentication failed for user 4242\n");

  EXPECT_FALSE(PathExists(UserDir(kUserA)));
  EXPECT_FALSE(PathExists(UserDir(4242)));
  EXPECT_TRUE(
      daemon_.WaitForLogLine({"authentication failed for user 4242 from 127.0.0.1:"}, kLogTimeout))
      << daemon_.Log();
}

// backup-client keeps the SCRAM keys of a login in `<secret file>.scram-cache` (0600) and uses
// them only for the salt and iteration count they were derived for (docs/SECURITY.md).
TEST_F(ClientsV2Test, BackupClientUsesItsScramKeysOnlyForTheSaltTheyWereMadeFor) {
  ASSERT_TRUE(WriteFile(work_ + "/docs/a.txt", "alpha\n"));
  const std::string cache = SecretFile(kUserA) + ".scram-cache";
  ProgramResult r = Run(ClientKind::kCpp, kUserA, {"backup", "docs/a.txt"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  struct stat sb {};
  ASSERT_EQ(::stat(cache.c_str(), &sb), 0) << "no cache written";
  EXPECT_EQ(sb.st_mode & 07777, 0600u);
  const std::optional<std::string> line = ReadFile(cache);
  ASSERT_TRUE(line.has_value());
  const std::optional<std::string> secret_line = ReadFile(SecretFile(kUserA));
  ASSERT_TRUE(secret_line.has_value());
  const std::string secret = secret_line->substr(0, secret_line->find('\n'));
  const std::string server = Loopback();
  std::optional<protocol::ScramClientKeys> keys =
      protocol::DecodeScramCache(line->substr(0, line->find('\n')), server, "201", secret);
  ASSERT_TRUE(keys.has_value()) << *line;

  // Wrong keys, sealed as the client would seal them, for another salt and for another count:
  // the client derives from the secret, logs in, and keeps the right keys again.
  protocol::ScramClientKeys wrong = *keys;
  wrong.client_key[0] ^= 1;
  wrong.server_key[0] ^= 1;
  protocol::ScramClientKeys other_salt = wrong;
  other_salt.salt[0] ^= 1;
  protocol::ScramClientKeys other_count = wrong;
  other_count.iterations += 1;
  for (const protocol::ScramClientKeys* k : {&other_salt, &other_count}) {
    ASSERT_TRUE(WriteFile(cache, protocol::EncodeScramCache(server, "201", secret, *k) + "\n"));
    ASSERT_EQ(::chmod(cache.c_str(), 0600), 0);
    r = Run(ClientKind::kCpp, kUserA, {"list"});
    EXPECT_EQ(r.exit_code, 0) << Output(r);
    EXPECT_EQ(ReadFile(cache), line);
  }
  // For the server's own salt and count the cache is what the client uses: wrong keys there fail.
  ASSERT_TRUE(WriteFile(cache, protocol::EncodeScramCache(server, "201", secret, wrong) + "\n"));
  ASSERT_EQ(::chmod(cache.c_str(), 0600), 0);
  r = Run(ClientKind::kCpp, kUserA, {"list"});
  EXPECT_NE(r.exit_code, 0) << Output(r);
}

TEST_P(EachClientV2Test, HundredFilesInOneCallShareOneConnection) {
  const ClientKind kind = GetParam();
  std::vector<std::string> command = {"backup"};
  for (int i = 0; i < 100; ++i) {
    const std::string name = "docs/f" + std::to_string(i) + ".txt";
    ASSERT_TRUE(WriteFile(work_ + "/" + name, "file " + std::to_string(i) + "\n"));
    command.push_back(name);
  }
  ProgramResult r = Run(kind, kUserA, command);
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(ReadFile(UserDir(kUserA) + "/docs/f" + std::to_string(i) + ".txt"),
              "file " + std::to_string(i) + "\n");
  }

  // The access log: one login, and all 100 uploads from the same peer address and port.
  const std::vector<std::string> backup_line = {"access ", "user=201", "op=backup", "status=212"};
  ASSERT_TRUE(daemon_.WaitForLog(
      [&](const std::string& log) { return LinesWith(log, backup_line).size() == 100; },
      kLogTimeout))
      << daemon_.Log();
  const std::string log = daemon_.Log();
  EXPECT_EQ(LinesWith(log, {"access ", "op=auth-start"}).size(), 1u) << log;
  std::set<std::string> peers;
  for (const std::string& line : LinesWith(log, backup_line)) {
    peers.insert(
        line.substr(line.find("access ") + 7, line.find(" user=") - line.find("access ") - 7));
  }
  EXPECT_EQ(peers.size(), 1u) << log;
}

// A file over 4 GiB, which v1's 32-bit size field cannot carry, sparse on the client side (the
// server stores all of it). The C++ client only: the Python client runs the same wire paths in the
// tests above. It takes about a minute here, so ctest labels it "slow"; .ci/run runs it all the
// same.
class OverFourGiBTest : public ClientsV2Test {
 protected:
  OverFourGiBTest() {
    extra_ = {"max_file_size=5G"};
    client_timeout_ = Millis(300000);
  }
};

TEST_F(OverFourGiBTest, OverFourGiBSparseFileRoundTrip) {
  const std::string path = work_ + "/docs/huge.img";
  const uint64_t size = (uint64_t{4} << 30) + 4096 + 7;
  {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    ASSERT_TRUE(fd.valid());
    // Marks at the start, across the 4 GiB boundary and at the end, so the comparison is about
    // content and offsets, not only about zeros.
    for (uint64_t at : {uint64_t{0}, (uint64_t{1} << 32) - 3, size - 5}) {
      ASSERT_EQ(::pwrite(fd.get(), "mark!", 5, static_cast<off_t>(at)), 5);
    }
  }
  ASSERT_EQ(fs::file_size(path), size);

  ProgramResult r = Run(ClientKind::kCpp, kUserA, {"backup", "docs/huge.img"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(fs::file_size(UserDir(kUserA) + "/docs/huge.img"), size);
  r = Run(ClientKind::kCpp, kUserA, {"list", "-l"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  std::vector<LongEntry> listed = ParseLongList(r.out);
  ASSERT_EQ(listed.size(), 1u) << r.out;
  EXPECT_EQ(listed[0].size, size);

  const std::string back = work_ + "/huge.back";
  r = Run(ClientKind::kCpp, kUserA, {"restore", "docs/huge.img", "-o", back});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  ProgramResult same = RunProgram({"/usr/bin/cmp", path, back}, work_, client_timeout_);
  EXPECT_EQ(same.exit_code, 0) << Output(same);

  r = Run(ClientKind::kCpp, kUserA, {"delete", "docs/huge.img"});
  EXPECT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_FALSE(fs::exists(UserDir(kUserA) + "/docs/huge.img"));
  fs::remove(back);
  fs::remove(path);
}

// Protocol v1 refused everywhere: both clients get 1003 and the log says why.
class LegacyV1OffTest : public EachClientV2Test {
 protected:
  LegacyV1OffTest() { legacy_v1_ = "off"; }
};

INSTANTIATE_TEST_SUITE_P(Clients, LegacyV1OffTest,
                         ::testing::Values(ClientKind::kCpp, ClientKind::kPython), KindName);

TEST_P(LegacyV1OffTest, V1IsRefusedWith1003WhileV2Works) {
  const ClientKind kind = GetParam();
  ASSERT_TRUE(WriteFile(work_ + "/docs/a.txt", "alpha\n"));
  ProgramResult r = RunV1(kind, 7, {"backup", "docs/a.txt"}, Loopback());
  EXPECT_EQ(r.exit_code, kExitErrorStatus) << Output(r);
  EXPECT_NE(r.err.find("backup docs/a.txt: refused by the server (1003)"), std::string::npos)
      << Output(r);
  EXPECT_FALSE(PathExists(UserDir(7)));
  EXPECT_TRUE(
      daemon_.WaitForLogLine({"v1 refused from 127.0.0.1:", "legacy_v1 = off"}, kLogTimeout))
      << daemon_.Log();

  r = Run(kind, kUserA, {"backup", "docs/a.txt"});
  EXPECT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(ReadFile(UserDir(kUserA) + "/docs/a.txt"), "alpha\n");
}

// legacy_v1 = on: v1 is served from loopback, as before protocol v2.
class LegacyV1OnTest : public EachClientV2Test {
 protected:
  LegacyV1OnTest() { legacy_v1_ = "on"; }
};

INSTANTIATE_TEST_SUITE_P(Clients, LegacyV1OnTest,
                         ::testing::Values(ClientKind::kCpp, ClientKind::kPython), KindName);

TEST_P(LegacyV1OnTest, V1IsServedFromLoopback) {
  const ClientKind kind = GetParam();
  ASSERT_TRUE(WriteFile(work_ + "/docs/a.txt", "alpha\n"));
  ProgramResult r = RunV1(kind, 7, {"backup", "docs/a.txt"}, Loopback());
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(ReadFile(UserDir(7) + "/docs/a.txt"), "alpha\n");
  r = RunV1(kind, 7, {"restore", "docs/a.txt", "-o", "-"}, Loopback());
  EXPECT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(r.out, "alpha\n");
}

// Runs `argv` and fails the test unless it exits 0.
void MustRun(const std::vector<std::string>& argv) {
  ProgramResult r = RunProgram(argv, "/", kClientTimeout);
  ASSERT_EQ(r.exit_code, 0) << argv[0] << " " << argv[1] << " " << argv[2] << "\n" << Output(r);
}

// A peer that is not loopback, on this machine only: the daemon runs in a network namespace of
// its own (the test process enters it with unshare, starts the daemon, and goes back), joined by
// a veth pair to a second, named namespace the clients run in: 10.199.0.1/30 is the daemon's
// end, 10.199.0.2/30 the clients'. Both namespaces go away with the test.
class NonLoopbackPeerTest : public EachClientV2Test {
 protected:
  void StartDaemon() override {
    ns_ = "backupd-e2e-" + std::to_string(getpid());
    MustRun({"/usr/sbin/ip", "netns", "add", ns_});
    if (HasFatalFailure()) return;
    made_ns_ = true;
    UniqueFd host(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(host.valid());
    ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << std::strerror(errno);
    // Whatever fails below, this process goes back to the host's network.
    struct Back {
      int fd;
      ~Back() { EXPECT_EQ(::setns(fd, CLONE_NEWNET), 0) << std::strerror(errno); }
    } back{host.get()};
    for (const std::vector<std::string>& ip : std::vector<std::vector<std::string>>{
             {"link", "set", "lo", "up"},
             {"link", "add", "bkd-srv", "type", "veth", "peer", "name", "bkd-cli", "netns", ns_},
             {"addr", "add", "10.199.0.1/30", "dev", "bkd-srv"},
             {"link", "set", "bkd-srv", "up"},
             {"-n", ns_, "addr", "add", "10.199.0.2/30", "dev", "bkd-cli"},
             {"-n", ns_, "link", "set", "bkd-cli", "up"}}) {
      std::vector<std::string> argv = {"/usr/sbin/ip"};
      argv.insert(argv.end(), ip.begin(), ip.end());
      MustRun(argv);
      if (HasFatalFailure()) return;
    }
    // -o listen replaces the config file's listen; the harness needs 127.0.0.1:0 among them.
    extra_ = {"listen=127.0.0.1:0", "listen=10.199.0.1:0"};
    DaemonTest::SetUp();
    if (HasFatalFailure()) return;
    const std::string marker = "listening on 10.199.0.1:";
    ASSERT_TRUE(daemon_.WaitForLogLine({marker}, kLogTimeout)) << daemon_.Log();
    const std::string log = daemon_.Log();
    veth_port_ = std::stoi(log.substr(log.find(marker) + marker.size()));
  }

  void TearDown() override {
    if (made_ns_) MustRun({"/usr/sbin/ip", "netns", "del", ns_});
  }

  std::string Veth() const { return "10.199.0.1:" + std::to_string(veth_port_); }
  // Runs a client in the peer namespace, at 10.199.0.2.
  std::vector<std::string> FromPeer() const { return {"/usr/sbin/ip", "netns", "exec", ns_}; }
  // Runs a client in the daemon's namespace, on its loopback.
  std::vector<std::string> FromDaemonsLoopback() const {
    return {"/usr/bin/nsenter", "--net=/proc/" + std::to_string(daemon_.pid()) + "/ns/net"};
  }

  std::string ns_;
  bool made_ns_ = false;
  int veth_port_ = 0;
};

INSTANTIATE_TEST_SUITE_P(Clients, NonLoopbackPeerTest,
                         ::testing::Values(ClientKind::kCpp, ClientKind::kPython), KindName);

TEST_P(NonLoopbackPeerTest, LoopbackModeRefusesV1FromAnotherAddressButNotV2) {
  const ClientKind kind = GetParam();
  ASSERT_TRUE(WriteFile(work_ + "/docs/a.txt", "alpha\n"));
  ProgramResult r = RunV1(kind, 7, {"backup", "docs/a.txt"}, Veth(), FromPeer());
  EXPECT_EQ(r.exit_code, kExitErrorStatus) << Output(r);
  EXPECT_NE(r.err.find("backup docs/a.txt: refused by the server (1003)"), std::string::npos)
      << Output(r);
  EXPECT_FALSE(PathExists(UserDir(7)));
  EXPECT_TRUE(
      daemon_.WaitForLogLine({"v1 refused from 10.199.0.2:", "legacy_v1 = loopback"}, kLogTimeout))
      << daemon_.Log();

  // A v2 login from the same peer works.
  r = RunAs(kind, kUserA, SecretFile(kUserA), {"backup", "docs/a.txt"}, Veth(), FromPeer());
  EXPECT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(ReadFile(UserDir(kUserA) + "/docs/a.txt"), "alpha\n");
  EXPECT_TRUE(daemon_.WaitForLogLine({"user 201 logged in from 10.199.0.2:"}, kLogTimeout))
      << daemon_.Log();

  // And v1 from the daemon's own loopback still does.
  r = RunV1(kind, 7, {"backup", "docs/a.txt"}, Loopback(), FromDaemonsLoopback());
  EXPECT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(ReadFile(UserDir(7) + "/docs/a.txt"), "alpha\n");
}

}  // namespace
}  // namespace backupd::testing

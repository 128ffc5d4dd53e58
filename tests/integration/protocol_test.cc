// test process (root): protocol v1 against the real daemon over raw sockets — several requests a
// connection, big payloads, malformed headers, size limits, interrupted uploads, concurrency.
#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/daemon_test.h"

namespace backupd::testing {
namespace {

using protocol::Op;

// How long a deliberate close may take: well under idle_timeout (5 s), so a server that merely
// idles the connection out does not pass for one that closed it on purpose.
constexpr Millis kCloseWait{2000};

bool HasTempLeftover(const std::string& dir) {
  for (const std::string& e : ListDir(dir)) {
    if (e.rfind(".backupd-tmp-", 0) == 0) return true;
  }
  return false;
}

bool IsAlnum32(const std::string& s) {
  if (s.size() != 32) return false;
  for (char c : s) {
    if (!isalnum(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

using ProtocolTest = DaemonTest;

TEST_F(ProtocolTest, ListOfUserWithoutFilesIs1002WithoutName) {
  Result<Response> r = CallOnce(4001, Op::kList, "");
  ASSERT_TRUE(HasStatus(r, kNoFiles));
  EXPECT_EQ(r->name, "");
  EXPECT_FALSE(r->has_payload);
}

TEST_F(ProtocolTest, SeveralRequestsOnOneConnection) {
  RawClient c;
  ASSERT_TRUE(c.Connect(daemon_.port()).ok());
  const uint32_t user = 4002;

  Result<Response> r = c.Call(user, Op::kList, "");
  ASSERT_TRUE(HasStatus(r, kNoFiles));

  r = c.Call(user, Op::kBackup, "b.txt", "second file\n");
  ASSERT_TRUE(HasStatus(r, kOk));
  EXPECT_EQ(r->name, "b.txt");
  r = c.Call(user, Op::kBackup, "a/deep/a.bin", std::string("\0\1\2\3", 4));
  ASSERT_TRUE(HasStatus(r, kOk));
  EXPECT_EQ(r->name, "a/deep/a.bin");

  r = c.Call(user, Op::kList, "");
  ASSERT_TRUE(HasStatus(r, kListOk));
  EXPECT_TRUE(IsAlnum32(r->name)) << "list name '" << r->name << "'";
  EXPECT_EQ(r->payload, "a/deep/a.bin\nb.txt\n");

  r = c.Call(user, Op::kRestore, "a/deep/a.bin");
  ASSERT_TRUE(HasStatus(r, kRestoreOk));
  EXPECT_EQ(r->name, "a/deep/a.bin");
  EXPECT_EQ(r->payload, std::string("\0\1\2\3", 4));

  r = c.Call(user, Op::kDelete, "a/deep/a.bin");
  ASSERT_TRUE(HasStatus(r, kOk));
  EXPECT_EQ(r->name, "a/deep/a.bin");
  r = c.Call(user, Op::kRestore, "a/deep/a.bin");
  ASSERT_TRUE(HasStatus(r, kNotFound));
  EXPECT_EQ(r->name, "a/deep/a.bin");
  r = c.Call(user, Op::kDelete, "a/deep/a.bin");
  ASSERT_TRUE(HasStatus(r, kNotFound));

  r = c.Call(user, Op::kList, "");
  ASSERT_TRUE(HasStatus(r, kListOk));
  EXPECT_EQ(r->payload, "b.txt\n");

  // Delete pruned the folders it emptied, never the user's own.
  EXPECT_FALSE(PathExists(UserDir(user) + "/a"));
  EXPECT_EQ(ListDir(UserDir(user)), std::vector<std::string>{"b.txt"});
  EXPECT_EQ(ReadFile(UserDir(user) + "/b.txt"), "second file\n");
  EXPECT_TRUE(OwnedByNobodyWithMode(UserDir(user), S_IFDIR, 0700));
  EXPECT_TRUE(OwnedByNobodyWithMode(UserDir(user) + "/b.txt", S_IFREG, 0600));
}

TEST_F(ProtocolTest, TenMiBBinaryRoundTripIsByteExact) {
  const std::string data = RandomBytes(10u << 20, 10);
  const uint32_t user = 4003;
  Result<Response> r = CallOnce(user, Op::kBackup, "big/ten.bin", data);
  ASSERT_TRUE(HasStatus(r, kOk));
  std::optional<std::string> stored = ReadFile(UserDir(user) + "/big/ten.bin");
  ASSERT_TRUE(stored.has_value());
  EXPECT_TRUE(*stored == data) << "stored file differs (" << stored->size() << " bytes)";
  EXPECT_TRUE(OwnedByNobodyWithMode(UserDir(user) + "/big", S_IFDIR, 0700));
  EXPECT_TRUE(OwnedByNobodyWithMode(UserDir(user) + "/big/ten.bin", S_IFREG, 0600));

  r = CallOnce(user, Op::kRestore, "big/ten.bin");
  ASSERT_TRUE(HasStatus(r, kRestoreOk));
  EXPECT_EQ(r->payload.size(), data.size());
  EXPECT_TRUE(r->payload == data) << "restored bytes differ";
}

TEST_F(ProtocolTest, EmptyFileRoundTrip) {
  ASSERT_TRUE(HasStatus(CallOnce(4004, Op::kBackup, "empty", ""), kOk));
  Result<Response> r = CallOnce(4004, Op::kRestore, "empty");
  ASSERT_TRUE(HasStatus(r, kRestoreOk));
  EXPECT_TRUE(r->has_payload);
  EXPECT_EQ(r->payload, "");
}

TEST_F(ProtocolTest, UnsupportedVersionGets1003ThenClose) {
  // Version 2 is served now (protocol_v2_test.cc); 3 is the next one this server does not know.
  for (uint8_t version : {uint8_t{0}, uint8_t{3}, uint8_t{255}}) {
    SCOPED_TRACE("version " + std::to_string(version));
    RawClient c;
    ASSERT_TRUE(c.Connect(daemon_.port()).ok());
    ASSERT_TRUE(c.Send(RawHeader(4005, version, 202, 0)).ok());
    ASSERT_TRUE(HasStatus(c.ReadResponse(), kError));
    EXPECT_TRUE(c.WaitClosed(kCloseWait)) << "connection left open after a malformed request";
  }
  // The daemon still serves well-formed requests.
  EXPECT_TRUE(HasStatus(CallOnce(4005, Op::kList, ""), kNoFiles));
}

TEST_F(ProtocolTest, UnknownOpGets1003ThenClose) {
  for (uint8_t op : {uint8_t{0}, uint8_t{99}, uint8_t{101}, uint8_t{203}, uint8_t{255}}) {
    SCOPED_TRACE("op " + std::to_string(op));
    RawClient c;
    ASSERT_TRUE(c.Connect(daemon_.port()).ok());
    ASSERT_TRUE(c.Send(RawHeader(4006, 1, op, 1) + "x").ok());
    ASSERT_TRUE(HasStatus(c.ReadResponse(), kError));
    EXPECT_TRUE(c.WaitClosed(kCloseWait)) << "connection left open after a malformed request";
  }
  EXPECT_FALSE(PathExists(UserDir(4006) + "/x"));
}

TEST_F(ProtocolTest, MalformedRequestAfterGoodOneClosesConnection) {
  RawClient c;
  ASSERT_TRUE(c.Connect(daemon_.port()).ok());
  ASSERT_TRUE(HasStatus(c.Call(4007, Op::kBackup, "ok", "fine"), kOk));
  ASSERT_TRUE(c.Send(RawHeader(4007, 9, 202, 0)).ok());
  ASSERT_TRUE(HasStatus(c.ReadResponse(), kError));
  EXPECT_TRUE(c.WaitClosed(kCloseWait));
}

TEST_F(ProtocolTest, BackupWithEmptyNameGets1003ThenClose) {
  RawClient c;
  ASSERT_TRUE(c.Connect(daemon_.port()).ok());
  std::string bytes = RawHeader(4008, 1, 100, 0);
  bytes += std::string("\4\0\0\0", 4) + "data";
  ASSERT_TRUE(c.Send(bytes).ok());
  ASSERT_TRUE(HasStatus(c.ReadResponse(), kError));
  EXPECT_TRUE(c.WaitClosed(kCloseWait));
  EXPECT_TRUE(ListDir(UserDir(4008)).empty());
}

TEST_F(ProtocolTest, NameLongerThanCapGets1003) {
  // 4097 bytes in components of 100: over the 4096-byte cap, each component legal.
  std::string name;
  while (name.size() < 4097) name += std::string(99, 'n') + "/";
  name.resize(4097);
  EXPECT_TRUE(HasStatus(CallOnce(4009, Op::kBackup, name, "x"), kError));
  EXPECT_TRUE(HasStatus(CallOnce(4009, Op::kBackup, std::string(256, 'c'), "x"), kError));
  EXPECT_TRUE(HasStatus(CallOnce(4009, Op::kBackup, std::string(255, 'c'), "x"), kOk));
}

class SmallLimitTest : public DaemonTest {
 protected:
  DaemonOptions Options() const override { return {{"max_file_size=1M"}, false}; }
};

TEST_F(SmallLimitTest, SizeOverMaxFileSizeGets1003AndStoresNothing) {
  const uint32_t user = 4010;
  ASSERT_TRUE(HasStatus(CallOnce(user, Op::kBackup, "keep", "previous version"), kOk));

  for (uint32_t size : {(1u << 20) + 1, 0xFFFFFFFFu}) {
    SCOPED_TRACE("size " + std::to_string(size));
    for (const char* name : {"keep", "new"}) {
      // Only the header: the server must refuse from the size field, not after reading the data.
      Result<Response> r = SendRawOnce(RequestBytes(user, Op::kBackup, name, size));
      EXPECT_TRUE(HasStatus(r, kError)) << name;
    }
  }
  EXPECT_EQ(ReadFile(UserDir(user) + "/keep"), "previous version");
  EXPECT_FALSE(PathExists(UserDir(user) + "/new"));
  EXPECT_FALSE(HasTempLeftover(UserDir(user)));

  // Exactly the limit is allowed.
  const std::string at_limit = RandomBytes(1u << 20, 11);
  ASSERT_TRUE(HasStatus(CallOnce(user, Op::kBackup, "new", at_limit), kOk));
  EXPECT_TRUE(ReadFile(UserDir(user) + "/new") == at_limit);
}

TEST_F(ProtocolTest, SizeOverDefaultLimitGets1003) {
  Result<Response> r = SendRawOnce(RequestBytes(4011, Op::kBackup, "huge", (64u << 20) + 1));
  EXPECT_TRUE(HasStatus(r, kError));
  EXPECT_FALSE(PathExists(UserDir(4011) + "/huge"));
}

TEST_F(ProtocolTest, InterruptedUploadKeepsPreviousVersionAndLeavesNoTemp) {
  const uint32_t user = 4012;
  const std::string dir = UserDir(user) + "/docs";
  ASSERT_TRUE(HasStatus(CallOnce(user, Op::kBackup, "docs/report", "version one"), kOk));

  const std::string v2 = RandomBytes(4u << 20, 12);
  {
    RawClient c;
    ASSERT_TRUE(c.Connect(daemon_.port()).ok());
    ASSERT_TRUE(
        c.Send(RequestBytes(user, Op::kBackup, "docs/report", static_cast<uint32_t>(v2.size())))
            .ok());
    ASSERT_TRUE(c.Send(std::string_view(v2).substr(0, v2.size() / 2)).ok());
    // The worker streams into a temp file beside the target; wait until it is there, so the
    // close below really interrupts an upload in progress.
    ASSERT_TRUE(Eventually([&] { return HasTempLeftover(dir); }, Millis(5000)))
        << "no .backupd-tmp-* file in " << dir << " while uploading";
  }
  // The worker reports the failed upload once it has cleaned up: a second backup line.
  EXPECT_TRUE(daemon_.WaitForLog(
      [](const std::string& log) {
        size_t lines = 0;
        for (size_t at = log.find("user=4012 op=backup"); at != std::string::npos;
             at = log.find("user=4012 op=backup", at + 1)) {
          ++lines;
        }
        return lines >= 2;
      },
      Millis(5000)))
      << "no access-log line for the interrupted upload; log:\n"
      << daemon_.Log();
  EXPECT_TRUE(Eventually([&] { return !HasTempLeftover(dir); }, Millis(5000)))
      << "temp file left behind after the client disconnected";
  EXPECT_EQ(ReadFile(dir + "/report"), "version one");
  EXPECT_EQ(ListDir(dir), std::vector<std::string>{"report"});

  Result<Response> r = CallOnce(user, Op::kRestore, "docs/report");
  ASSERT_TRUE(HasStatus(r, kRestoreOk));
  EXPECT_EQ(r->payload, "version one");
  r = CallOnce(user, Op::kList, "");
  ASSERT_TRUE(HasStatus(r, kListOk));
  EXPECT_EQ(r->payload, "docs/report\n");
}

// All 24 from one address at once: more than max_connections_per_ip's default lets one host hold.
class ConcurrentClientsTest : public DaemonTest {
 protected:
  DaemonOptions Options() const override { return {{"max_connections_per_ip=0"}, false}; }
};

TEST_F(ConcurrentClientsTest, TwentyFourConcurrentClients) {
  constexpr int kClients = 24;
  std::mutex mu;
  std::condition_variable cv;
  int ready = 0;
  std::vector<std::string> failures(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      const uint32_t user = 5000 + static_cast<uint32_t>(i);
      const std::string data = RandomBytes(200000 + static_cast<size_t>(i) * 1000, 100 + i);
      RawClient c;
      Status s = c.Connect(daemon_.port());
      {
        // Every client connects before any sends, so all 24 are open at once.
        std::unique_lock<std::mutex> lock(mu);
        ++ready;
        cv.notify_all();
        cv.wait(lock, [&] { return ready == kClients; });
      }
      if (!s.ok()) {
        failures[i] = s.ToString();
        return;
      }
      Result<Response> r = c.Call(user, Op::kBackup, "mine.bin", data);
      if (!r.ok() || r->status != kOk) {
        failures[i] = "backup: " + (r.ok() ? std::to_string(r->status) : r.status().ToString());
        return;
      }
      r = c.Call(user, Op::kRestore, "mine.bin");
      if (!r.ok() || r->status != kRestoreOk) {
        failures[i] = "restore: " + (r.ok() ? std::to_string(r->status) : r.status().ToString());
        return;
      }
      if (r->payload != data) failures[i] = "restored bytes differ";
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kClients; ++i) EXPECT_EQ(failures[i], "") << "client " << i;
  for (int i = 0; i < kClients; ++i) {
    EXPECT_TRUE(ReadFile(UserDir(5000 + static_cast<uint32_t>(i)) + "/mine.bin") ==
                RandomBytes(200000 + static_cast<size_t>(i) * 1000, 100 + i))
        << "stored file of client " << i;
  }
}

TEST_F(ProtocolTest, AccessLogLineForEachRequest) {
  ASSERT_TRUE(HasStatus(CallOnce(777123, Op::kBackup, "logged.txt", "x"), kOk));
  ASSERT_TRUE(HasStatus(CallOnce(777123, Op::kRestore, "absent.txt"), kNotFound));
  EXPECT_TRUE(daemon_.WaitForLogLine(
      {"access", "user=777123", "op=backup", "name=\"logged.txt\"", "status=212"}, Millis(5000)))
      << daemon_.Log();
  EXPECT_TRUE(daemon_.WaitForLogLine(
      {"access", "user=777123", "op=restore", "name=\"absent.txt\"", "status=1001"}, Millis(5000)))
      << daemon_.Log();
}

class ShortIdleTimeoutTest : public DaemonTest {
 protected:
  DaemonOptions Options() const override { return {{"idle_timeout=1"}, false}; }
};

TEST_F(ShortIdleTimeoutTest, IdleConnectionIsClosedAfterIdleTimeout) {
  RawClient silent;
  ASSERT_TRUE(silent.Connect(daemon_.port()).ok());
  RawClient between;
  ASSERT_TRUE(between.Connect(daemon_.port()).ok());
  ASSERT_TRUE(HasStatus(between.Call(4013, Op::kList, ""), kNoFiles));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(silent.WaitClosed(Millis(4000))) << "a silent client kept its worker";
  EXPECT_TRUE(between.WaitClosed(Millis(4000))) << "an idle client kept its worker";
  EXPECT_LT(std::chrono::steady_clock::now() - start, Millis(4000));
}

class StreamingTest : public DaemonTest {
 protected:
  DaemonOptions Options() const override { return {{"max_file_size=256M"}, false}; }
};

// A worker's peak RSS (VmHWM) in KiB, 0 if unknown.
uint64_t PeakRssKiB(pid_t pid) {
  std::optional<std::string> hwm = ProcStatusField(pid, "VmHWM");
  return hwm ? std::stoull(*hwm) : 0;
}

TEST_F(StreamingTest, WorkerMemoryDoesNotGrowWithFileSize) {
  Result<std::vector<pid_t>> workers = daemon_.WaitForWorkers(3, Millis(5000));
  ASSERT_TRUE(workers.ok()) << workers.status().ToString();
  uint64_t baseline = 0;
  for (pid_t w : *workers) baseline = std::max(baseline, PeakRssKiB(w));
  ASSERT_GT(baseline, 0u);

  // 128 MiB, one random MiB repeated, so the test itself holds only one MiB.
  constexpr uint32_t kChunk = 1u << 20;
  constexpr uint32_t kChunks = 128;
  const std::string chunk = RandomBytes(kChunk, 30);
  const uint32_t user = 4014;
  RawClient c;
  ASSERT_TRUE(c.Connect(daemon_.port()).ok());
  ASSERT_TRUE(c.Send(RequestBytes(user, Op::kBackup, "big", kChunk * kChunks)).ok());
  for (uint32_t i = 0; i < kChunks; ++i) ASSERT_TRUE(c.Send(chunk).ok());
  ASSERT_TRUE(HasStatus(c.ReadResponse(Millis(20000)), kOk));

  ASSERT_TRUE(c.Send(RequestBytes(user, Op::kRestore, "big")).ok());
  uint64_t received = 0;
  bool same = true;
  Result<Response> r = c.ReadResponseStreaming(
      [&](std::string_view piece) {
        for (size_t i = 0; i < piece.size() && same; i += 4099) {
          same = piece[i] == chunk[(received + i) % kChunk];
        }
        received += piece.size();
      },
      Millis(20000));
  ASSERT_TRUE(HasStatus(r, kRestoreOk));
  EXPECT_EQ(received, uint64_t{kChunk} * kChunks);
  EXPECT_TRUE(same) << "restored bytes differ";

  // Whichever worker served it: its peak may not have grown by more than a few MiB.
  for (pid_t w : daemon_.Workers()) {
    EXPECT_LT(PeakRssKiB(w), baseline + 8 * 1024)
        << "worker " << w << " peak RSS, baseline " << baseline << " KiB";
  }
}

}  // namespace
}  // namespace backupd::testing

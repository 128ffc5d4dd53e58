// tests (unprivileged): RequestParser, the v1 request parser the worker runs.
#include "protocol/request_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocol/wire.h"
#include "tests/protocol/fake_connection.h"
#include "tests/protocol/protocol_test_util.h"

namespace backupd::protocol {
namespace {

using State = RequestParser::State;

constexpr uint64_t kMax = 1024;

std::string Backup(std::string_view name, std::string_view payload, uint32_t user = 9) {
  return EncodeRequestPrefix(user, Op::kBackup, name, static_cast<uint32_t>(payload.size())) +
         std::string(payload);
}

std::string RawRequest(uint8_t version, uint8_t op, uint16_t name_len, std::string_view rest) {
  RequestHeader h;
  h.user_id = 1;
  h.version = version;
  h.op = op;
  h.name_len = name_len;
  const auto b = EncodeRequestHeader(h);
  return std::string(b.begin(), b.end()) + std::string(rest);
}

TEST(RequestParser, BackupStopsBeforeThePayload) {
  RequestParser p(kMax);
  const std::string prefix = EncodeRequestPrefix(0xDEADBEEF, Op::kBackup, "/d/f.txt", 5);
  // The payload is the caller's to stream: the parser takes none of it, so keeps none of it.
  EXPECT_EQ(FeedAll(p, prefix + "hello"), prefix.size());
  ASSERT_EQ(p.state(), State::kPayload) << p.error().ToString();
  EXPECT_EQ(p.want(), 0u);
  EXPECT_EQ(p.payload_left(), 5u);
  EXPECT_EQ(p.header().version, 1);
  EXPECT_EQ(p.header().name_len, 8);
  EXPECT_EQ(p.request().user_id, 0xDEADBEEFu);
  EXPECT_EQ(p.request().op, 100);
  EXPECT_EQ(p.request().name, "d/f.txt");
  EXPECT_EQ(p.request().payload_size, 5u);
  EXPECT_EQ(FeedAll(p, "hello"), 0u);
}

TEST(RequestParser, ConsumedPayloadEndsTheRequest) {
  RequestParser p(kMax);
  FeedAll(p, EncodeRequestPrefix(1, Op::kBackup, "f", 5));
  p.ConsumePayload(2);
  EXPECT_EQ(p.state(), State::kPayload);
  EXPECT_EQ(p.payload_left(), 3u);
  p.ConsumePayload(0);
  EXPECT_EQ(p.payload_left(), 3u);
  p.ConsumePayload(3);
  EXPECT_TRUE(p.done());
  EXPECT_EQ(p.payload_left(), 0u);
  EXPECT_EQ(p.request().payload_size, 5u);
}

TEST(RequestParserDeathTest, ConsumingMoreThanAnnouncedAborts) {
  RequestParser p(kMax);
  FeedAll(p, EncodeRequestPrefix(1, Op::kBackup, "f", 5));
  EXPECT_DEATH(p.ConsumePayload(6), "");
}

TEST(RequestParser, RestoreDeleteAndListStopAfterTheName) {
  for (Op op : {Op::kRestore, Op::kDelete}) {
    RequestParser p(kMax);
    const std::string req = EncodeRequestPrefix(3, op, "a/b", 0);
    // Bytes after the request belong to the next one and must not be consumed.
    EXPECT_EQ(FeedAll(p, req + "NEXT"), req.size());
    ASSERT_TRUE(p.done());
    EXPECT_EQ(p.request().name, "a/b");
    EXPECT_EQ(p.request().payload_size, 0u);
    EXPECT_EQ(p.payload_left(), 0u);
  }
  RequestParser p(kMax);
  const std::string req = EncodeRequestPrefix(3, Op::kList, "", 0);
  ASSERT_EQ(req.size(), kRequestHeaderSize);
  EXPECT_EQ(FeedAll(p, req + "x"), kRequestHeaderSize);
  ASSERT_TRUE(p.done());
  EXPECT_EQ(p.request().op, 202);
  EXPECT_EQ(p.request().name, "");
}

TEST(RequestParser, EmptyBackupIsDoneAfterTheSizeField) {
  RequestParser p(kMax);
  const std::string req = Backup("empty", "");
  EXPECT_EQ(FeedAll(p, req + "zz"), req.size());
  ASSERT_TRUE(p.done());
  EXPECT_EQ(p.request().payload_size, 0u);
}

TEST(RequestParser, WantIsWhatTheFieldInProgressLacks) {
  RequestParser p(kMax);
  const std::string req = Backup("abc", "xy");
  EXPECT_EQ(p.want(), kRequestHeaderSize);
  FeedAll(p, req.substr(0, 3));
  EXPECT_EQ(p.want(), kRequestHeaderSize - 3);
  FeedAll(p, req.substr(3, 5));
  EXPECT_EQ(p.state(), State::kName);
  EXPECT_EQ(p.want(), 3u);
  FeedAll(p, req.substr(8, 3));
  EXPECT_EQ(p.state(), State::kSize);
  EXPECT_EQ(p.want(), kSizeFieldSize);
  FeedAll(p, req.substr(11, 4));
  EXPECT_EQ(p.state(), State::kPayload);
  EXPECT_EQ(p.want(), 0u);
}

TEST(RequestParser, FillAsksForNothingPastTheRequest) {
  const std::vector<std::string> requests = {
      Backup("dir/file", "payload!"),
      Backup("empty", ""),
      EncodeRequestPrefix(1, Op::kRestore, "r", 0),
      EncodeRequestPrefix(1, Op::kDelete, "some/name", 0),
      EncodeRequestPrefix(1, Op::kList, "", 0),
  };
  std::string stream;
  std::vector<size_t> ends;
  for (const std::string& r : requests) {
    stream += r;
    ends.push_back(stream.size());
  }
  // Whole fields at once, and the short reads a slow client causes.
  for (size_t chunk : {size_t{1}, size_t{3}, stream.size()}) {
    FakeConnection conn(stream, chunk);
    for (size_t i = 0; i < requests.size(); ++i) {
      RequestParser p(kMax);
      ASSERT_TRUE(p.Fill(conn.Source()).ok());
      if (p.state() == State::kPayload) conn.SkipPayload(p);
      ASSERT_TRUE(p.done()) << "request " << i << " chunk " << chunk;
      EXPECT_EQ(conn.pos(), ends[i]) << "request " << i << " chunk " << chunk;
      EXPECT_LE(conn.asked_end(), ends[i]) << "request " << i << " chunk " << chunk;
    }
  }
}

TEST(RequestParser, FillPassesOnTheReadError) {
  const std::string req = EncodeRequestPrefix(7, Op::kRestore, "name", 0);
  FakeConnection conn(req.substr(0, kRequestHeaderSize + 2), 64);
  RequestParser p(kMax);
  const Status s = p.Fill(conn.Source());
  EXPECT_EQ(s.code(), Status::Code::kClosed);
  EXPECT_EQ(p.state(), State::kName);
  // What was decoded before the read failed is there to report.
  EXPECT_EQ(p.request().user_id, 7u);
  EXPECT_EQ(p.request().op, 200);
  EXPECT_EQ(p.request().name, "");
}

TEST(RequestParser, FillStopsAtTheFirstBadField) {
  {
    FakeConnection conn(RawRequest(2, 200, 4, "nameNEXT"), 64);
    RequestParser p(kMax);
    EXPECT_TRUE(p.Fill(conn.Source()).ok());
    EXPECT_EQ(p.state(), State::kError);
    EXPECT_EQ(p.error().code(), Status::Code::kInvalid);
    EXPECT_EQ(conn.pos(), kRequestHeaderSize);
    EXPECT_EQ(conn.asked_end(), kRequestHeaderSize);
  }
  {
    const std::string req = EncodeRequestPrefix(1, Op::kBackup, "f", 5000) + "payload";
    FakeConnection conn(req, 64);
    RequestParser p(kMax);
    EXPECT_TRUE(p.Fill(conn.Source()).ok());
    EXPECT_EQ(p.error().code(), Status::Code::kTooLarge);
    // Refused on the size field: no payload byte is even asked for.
    EXPECT_EQ(conn.asked_end(), req.size() - 7);
    EXPECT_EQ(p.request().name, "f");
    EXPECT_EQ(p.payload_left(), 0u);
  }
}

TEST(RequestParser, ByteAtATimeMatchesWhole) {
  const std::string req = EncodeRequestPrefix(9, Op::kBackup, "x/y", 300);
  RequestParser p(kMax);
  std::vector<State> states;
  for (size_t i = 0; i < req.size(); ++i) {
    ASSERT_NE(p.state(), State::kPayload) << i;
    ASSERT_EQ(p.Feed(reinterpret_cast<const uint8_t*>(&req[i]), 1), 1u) << i;
    if (states.empty() || states.back() != p.state()) states.push_back(p.state());
  }
  ASSERT_EQ(p.state(), State::kPayload);
  EXPECT_EQ(p.request().name, "x/y");
  EXPECT_EQ(p.payload_left(), 300u);
  EXPECT_EQ(states,
            (std::vector<State>{State::kHeader, State::kName, State::kSize, State::kPayload}));
}

TEST(RequestParser, TruncatedAtEveryOffsetIsNeverComplete) {
  const std::vector<std::string> requests = {
      EncodeRequestPrefix(1, Op::kBackup, "dir/file", 8),
      EncodeRequestPrefix(1, Op::kRestore, "r", 0),
      EncodeRequestPrefix(1, Op::kDelete, "some/name", 0),
      EncodeRequestPrefix(1, Op::kList, "", 0),
  };
  for (const std::string& req : requests) {
    for (size_t cut = 0; cut < req.size(); ++cut) {
      RequestParser p(kMax);
      EXPECT_EQ(FeedAll(p, std::string_view(req).substr(0, cut)), cut);
      EXPECT_GT(p.want(), 0u) << "cut " << cut << " of " << req.size();
      // The rest completes it: nothing was lost or misread at the cut.
      EXPECT_EQ(FeedAll(p, std::string_view(req).substr(cut)), req.size() - cut);
      EXPECT_TRUE(p.done() || p.state() == State::kPayload) << "cut " << cut;
      EXPECT_EQ(p.want(), 0u) << "cut " << cut;
    }
  }
}

TEST(RequestParser, HeaderErrorsStopBeforeTheName) {
  struct Case {
    uint8_t version, op;
    uint16_t name_len;
  };
  for (const Case& c :
       {Case{0, 200, 1}, Case{2, 200, 1}, Case{1, 0, 1}, Case{1, 99, 1}, Case{1, 203, 1},
        Case{1, 202, 1}, Case{1, 200, 0}, Case{1, 100, 4097}, Case{1, 201, 0xFFFF}}) {
    RequestParser p(kMax);
    const std::string req = RawRequest(c.version, c.op, c.name_len, "abcdef");
    EXPECT_EQ(FeedAll(p, req), kRequestHeaderSize) << int{c.version} << " " << int{c.op};
    EXPECT_EQ(p.state(), State::kError);
    EXPECT_EQ(p.error().code(), Status::Code::kInvalid);
    // The op and user are known even though the request is refused.
    EXPECT_EQ(p.request().op, c.op);
    EXPECT_EQ(p.request().user_id, 1u);
    // A failed parser stays failed.
    EXPECT_EQ(FeedAll(p, "more"), 0u);
    EXPECT_EQ(p.want(), 0u);
  }
}

TEST(RequestParser, NameLenBoundaries) {
  {
    RequestParser p(kMax);
    EXPECT_EQ(FeedAll(p, EncodeRequestPrefix(1, Op::kRestore, "a", 0)), kRequestHeaderSize + 1);
    EXPECT_TRUE(p.done());
  }
  {
    std::string name;
    for (int i = 0; i < 16; ++i) name += std::string(254, 'n') + "/";
    name += std::string(16, 'm');
    ASSERT_EQ(name.size(), kMaxNameLen);
    RequestParser p(kMax);
    const std::string req = EncodeRequestPrefix(1, Op::kDelete, name, 0);
    EXPECT_EQ(FeedAll(p, req), req.size());
    ASSERT_TRUE(p.done()) << p.error().ToString();
    EXPECT_EQ(p.request().name, name);
  }
}

TEST(RequestParser, BadNameIsAnErrorAfterExactlyTheNameBytes) {
  for (std::string_view bad :
       {"/", "a//b", "..", "a/../b", "a/./b", ".backupd-tmp-x", "d/.backupd-x", "a/"}) {
    RequestParser p(kMax);
    const std::string req = Backup(bad, "data");
    EXPECT_EQ(FeedAll(p, req), kRequestHeaderSize + bad.size()) << bad;
    EXPECT_EQ(p.state(), State::kError) << bad;
    EXPECT_EQ(p.error().code(), Status::Code::kInvalid) << bad;
    // A refused name is never echoed.
    EXPECT_EQ(p.request().name, "") << bad;
  }
  RequestParser p(kMax);
  const std::string nul("a\0b", 3);
  EXPECT_EQ(FeedAll(p, EncodeRequestPrefix(1, Op::kRestore, nul, 0)), kRequestHeaderSize + 3);
  EXPECT_EQ(p.state(), State::kError);
}

TEST(RequestParser, ComponentLengthBoundary) {
  RequestParser ok(kMax);
  FeedAll(ok, EncodeRequestPrefix(1, Op::kRestore, std::string(kMaxComponentLen, 'c'), 0));
  EXPECT_TRUE(ok.done());
  RequestParser bad(kMax);
  FeedAll(bad, EncodeRequestPrefix(1, Op::kRestore, std::string(kMaxComponentLen + 1, 'c'), 0));
  EXPECT_EQ(bad.state(), State::kError);
  EXPECT_EQ(bad.error().code(), Status::Code::kInvalid);
}

TEST(RequestParser, SizeAtMaxIsAcceptedOverMaxIsTooLarge) {
  {
    RequestParser p(4);
    const std::string prefix = EncodeRequestPrefix(1, Op::kBackup, "f", 4);
    EXPECT_EQ(FeedAll(p, prefix + "1234"), prefix.size());
    EXPECT_EQ(p.state(), State::kPayload);
    EXPECT_EQ(p.payload_left(), 4u);
  }
  {
    RequestParser p(4);
    const std::string prefix = EncodeRequestPrefix(1, Op::kBackup, "f", 5);
    EXPECT_EQ(FeedAll(p, prefix + "12345"), prefix.size());
    EXPECT_EQ(p.state(), State::kError);
    EXPECT_EQ(p.error().code(), Status::Code::kTooLarge);
    EXPECT_EQ(p.payload_left(), 0u);
  }
  {
    RequestParser p(kMax);
    const std::string prefix =
        EncodeRequestPrefix(1, Op::kBackup, "f", static_cast<uint32_t>(kMaxPayloadSize));
    EXPECT_EQ(FeedAll(p, prefix), prefix.size());
    EXPECT_EQ(p.error().code(), Status::Code::kTooLarge);
  }
  {
    // The largest v1 size passes a cap at or above it.
    RequestParser p(kMaxPayloadSize);
    FeedAll(p, EncodeRequestPrefix(1, Op::kBackup, "f", static_cast<uint32_t>(kMaxPayloadSize)));
    EXPECT_EQ(p.state(), State::kPayload);
    EXPECT_EQ(p.payload_left(), kMaxPayloadSize);
    EXPECT_EQ(p.request().payload_size, kMaxPayloadSize);
  }
}

TEST(RequestParser, FeedingNothingChangesNothing) {
  RequestParser p(kMax);
  EXPECT_EQ(p.Feed(nullptr, 0), 0u);
  EXPECT_EQ(p.state(), State::kHeader);
  EXPECT_EQ(p.want(), kRequestHeaderSize);
}

TEST(CheckPayloadSize, CapIsInclusive) {
  EXPECT_TRUE(CheckPayloadSize(0, 0).ok());
  EXPECT_TRUE(CheckPayloadSize(10, 10).ok());
  EXPECT_EQ(CheckPayloadSize(11, 10).code(), Status::Code::kTooLarge);
  EXPECT_TRUE(CheckPayloadSize(uint64_t{1} << 40, uint64_t{1} << 40).ok());
}

}  // namespace
}  // namespace backupd::protocol

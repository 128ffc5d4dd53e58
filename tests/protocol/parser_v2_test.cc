// tests (unprivileged): v2::RequestParser, the request parser of a v2 connection.
#include "protocol/request_parser_v2.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocol/wire_v2.h"
#include "tests/protocol/fake_connection.h"
#include "tests/protocol/protocol_test_util.h"

namespace backupd::protocol::v2 {
namespace {

using State = RequestParser::State;

constexpr uint64_t kMax = 1024;

Digest DigestOf(uint8_t seed) {
  Digest d{};
  for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<uint8_t>(seed + i);
  return d;
}

std::string Backup(std::string_view name, std::string_view payload, uint8_t seed = 0) {
  return EncodeRequestPrefix(9, Op::kBackup, name, payload.size()) + std::string(payload) +
         EncodeDigestTrailer(DigestOf(seed));
}

std::string RawRequest(uint8_t version, uint8_t op, uint16_t name_len, uint64_t size,
                       std::string_view rest) {
  RequestHeader h = Header(op, name_len, size, version);
  h.user_id = 1;
  const auto b = EncodeRequestHeader(h);
  return std::string(b.begin(), b.end()) + std::string(rest);
}

TEST(RequestParserV2, BackupStopsBeforeThePayloadThenReadsTheDigest) {
  RequestParser p(kMax);
  const std::string prefix = EncodeRequestPrefix(0xDEADBEEF, Op::kBackup, "/d/f.txt", 5);
  const std::string trailer = EncodeDigestTrailer(DigestOf(7));
  EXPECT_EQ(FeedAll(p, prefix + "hello" + trailer), prefix.size());
  ASSERT_EQ(p.state(), State::kPayload) << p.error().ToString();
  EXPECT_EQ(p.want(), 0u);
  EXPECT_EQ(p.payload_left(), 5u);
  EXPECT_EQ(p.header().version, 2);
  EXPECT_EQ(p.header().size, 5u);
  EXPECT_EQ(p.request().user_id, 0xDEADBEEFu);
  EXPECT_EQ(p.request().op, 100);
  EXPECT_EQ(p.request().name, "d/f.txt");
  EXPECT_EQ(p.request().payload_size, 5u);
  EXPECT_FALSE(p.request().digest.has_value());
  EXPECT_EQ(FeedAll(p, "hello"), 0u);
  p.ConsumePayload(5);
  ASSERT_EQ(p.state(), State::kDigest);
  EXPECT_EQ(p.want(), kDigestSize);
  EXPECT_EQ(FeedAll(p, trailer + "NEXT"), kDigestSize);
  ASSERT_TRUE(p.done());
  ASSERT_TRUE(p.request().digest.has_value());
  EXPECT_EQ(*p.request().digest, DigestOf(7));
}

TEST(RequestParserV2, EmptyBackupGoesStraightToTheDigest) {
  RequestParser p(kMax);
  const std::string req = Backup("empty", "", 3);
  EXPECT_EQ(FeedAll(p, req + "zz"), req.size());
  ASSERT_TRUE(p.done());
  EXPECT_EQ(p.request().payload_size, 0u);
  EXPECT_EQ(*p.request().digest, DigestOf(3));
}

TEST(RequestParserV2, SixtyFourBitSizes) {
  const uint64_t big = (uint64_t{5} << 32) + 3;
  RequestParser p(big);
  FeedAll(p, EncodeRequestPrefix(1, Op::kBackup, "sparse", big));
  ASSERT_EQ(p.state(), State::kPayload);
  EXPECT_EQ(p.payload_left(), big);
  p.ConsumePayload(uint64_t{5} << 32);
  EXPECT_EQ(p.payload_left(), 3u);
  p.ConsumePayload(3);
  EXPECT_EQ(p.state(), State::kDigest);
}

TEST(RequestParserV2DeathTest, ConsumingMoreThanAnnouncedAborts) {
  RequestParser p(kMax);
  FeedAll(p, EncodeRequestPrefix(1, Op::kBackup, "f", 5));
  EXPECT_DEATH(p.ConsumePayload(6), "");
}

TEST(RequestParserV2, RestoreDeleteAndListStopAfterTheName) {
  for (Op op : {Op::kRestore, Op::kDelete}) {
    RequestParser p(kMax);
    const std::string req = EncodeRequestPrefix(3, op, "a/b", 0);
    EXPECT_EQ(FeedAll(p, req + "NEXT"), req.size());
    ASSERT_TRUE(p.done());
    EXPECT_EQ(p.request().name, "a/b");
    EXPECT_EQ(p.request().payload_size, 0u);
    EXPECT_FALSE(p.request().digest.has_value());
  }
  RequestParser p(kMax);
  const std::string req = EncodeRequestPrefix(3, Op::kList, "", 0);
  ASSERT_EQ(req.size(), kRequestHeaderSize);
  EXPECT_EQ(FeedAll(p, req + "x"), kRequestHeaderSize);
  ASSERT_TRUE(p.done());
  EXPECT_EQ(p.request().op, 202);
  EXPECT_EQ(p.request().name, "");
}

TEST(RequestParserV2, RestoreVersionKeepsItsEightBytes) {
  RequestParser p(kMax);
  const std::string req = EncodeRestoreVersionRequest(9, "dir/f", 42);
  EXPECT_EQ(FeedAll(p, req + "NEXT"), req.size());
  ASSERT_TRUE(p.done()) << p.error().ToString();
  EXPECT_EQ(p.request().name, "dir/f");
  EXPECT_EQ(p.version(), 42u);
  RequestParser bad(kMax);
  FeedAll(bad, RawRequest(2, 205, 1, 9, "f"));
  ASSERT_EQ(bad.state(), State::kError);
  EXPECT_EQ(bad.error_code(), ResponseCode::kError);
  RequestParser versions(kMax);
  const std::string list = EncodeRequestPrefix(9, Op::kListVersions, "f", 0);
  EXPECT_EQ(FeedAll(versions, list + "NEXT"), list.size());
  EXPECT_TRUE(versions.done());
  RequestParser deleted(kMax);
  const std::string del = EncodeRequestPrefix(9, Op::kListDeleted, "", 0);
  EXPECT_EQ(FeedAll(deleted, del + "NEXT"), del.size());
  EXPECT_TRUE(deleted.done());
}

TEST(RequestParserV2, AuthMessagesAreKept) {
  for (Op op : {Op::kAuthStart, Op::kAuthFinish}) {
    for (const std::string& msg : {std::string("n,,n=101,r=nonce"), std::string(1024, 'm')}) {
      RequestParser p(kMax);
      const std::string req = EncodeAuthRequest(101, op, msg);
      EXPECT_EQ(FeedAll(p, req + "NEXT"), req.size());
      ASSERT_TRUE(p.done()) << p.error().ToString();
      EXPECT_EQ(p.auth_message(), msg);
      EXPECT_EQ(p.request().user_id, 101u);
      EXPECT_EQ(p.request().op, static_cast<uint8_t>(op));
      EXPECT_EQ(p.request().name, "");
      // An auth message is not a file: nothing for the caller to stream.
      EXPECT_EQ(p.request().payload_size, 0u);
      EXPECT_EQ(p.payload_left(), 0u);
    }
  }
  // The cap is the protocol's own, even when max_file_size is smaller.
  RequestParser small(10);
  FeedAll(small, EncodeAuthRequest(1, Op::kAuthStart, std::string(1024, 'm')));
  EXPECT_TRUE(small.done());
}

// Every request shape, and the states it passes through when fed a byte at a time.
struct Shape {
  std::string bytes;
  std::vector<State> states;
};

std::vector<Shape> Shapes() {
  return {
      {Backup("x/y", "payload"),
       {State::kHeader, State::kName, State::kPayload, State::kDigest, State::kDone}},
      {Backup("e", ""), {State::kHeader, State::kName, State::kDigest, State::kDone}},
      {EncodeRequestPrefix(1, Op::kRestore, "r", 0), {State::kHeader, State::kName, State::kDone}},
      {EncodeRequestPrefix(1, Op::kDelete, "d/e", 0), {State::kHeader, State::kName, State::kDone}},
      {EncodeRequestPrefix(1, Op::kList, "", 0), {State::kHeader, State::kDone}},
      {EncodeAuthRequest(1, Op::kAuthStart, "n,,n=1,r=abc"),
       {State::kHeader, State::kAuthMessage, State::kDone}},
      {EncodeAuthRequest(1, Op::kAuthFinish, "c=biws,r=abcdef,p=xyz"),
       {State::kHeader, State::kAuthMessage, State::kDone}},
  };
}

// Feeds `bytes` in pieces of at most `step`, streaming payload as the worker does.
RequestParser ParseInSteps(std::string_view bytes, size_t step, std::vector<State>* states) {
  RequestParser p(kMax);
  size_t at = 0;
  if (states) states->push_back(p.state());
  while (!p.done() && p.state() != State::kError && at < bytes.size()) {
    if (p.state() == State::kPayload) {
      const auto n = static_cast<size_t>(std::min<uint64_t>(p.payload_left(), step));
      p.ConsumePayload(n);
      at += n;
    } else {
      const size_t n = std::min(step, bytes.size() - at);
      const size_t used = p.Feed(reinterpret_cast<const uint8_t*>(bytes.data() + at), n);
      if (used == 0) break;
      at += used;
    }
    if (states && states->back() != p.state()) states->push_back(p.state());
  }
  EXPECT_EQ(at, bytes.size());
  return p;
}

TEST(RequestParserV2, ByteAtATimeMatchesWhole) {
  for (const Shape& s : Shapes()) {
    std::vector<State> states;
    const RequestParser one = ParseInSteps(s.bytes, 1, &states);
    ASSERT_TRUE(one.done()) << one.error().ToString();
    EXPECT_EQ(states, s.states);
    const RequestParser whole = ParseInSteps(s.bytes, s.bytes.size(), nullptr);
    ASSERT_TRUE(whole.done());
    EXPECT_EQ(one.request().user_id, whole.request().user_id);
    EXPECT_EQ(one.request().op, whole.request().op);
    EXPECT_EQ(one.request().name, whole.request().name);
    EXPECT_EQ(one.request().payload_size, whole.request().payload_size);
    EXPECT_EQ(one.request().digest, whole.request().digest);
    EXPECT_EQ(one.auth_message(), whole.auth_message());
  }
}

TEST(RequestParserV2, TruncatedAtEveryOffsetIsNeverComplete) {
  for (const Shape& s : Shapes()) {
    for (size_t cut = 0; cut < s.bytes.size(); ++cut) {
      FakeConnection conn(s.bytes.substr(0, cut), 64);
      RequestParser p(kMax);
      Status read = p.Fill(conn.Source());
      if (read.ok() && p.state() == State::kPayload) {
        const uint64_t have = cut - conn.pos();
        if (have < p.payload_left()) {
          // The cut is inside the payload: the worker's own read would meet the EOF.
          EXPECT_FALSE(p.done());
          continue;
        }
        conn.SkipPayload(p);
        read = p.Fill(conn.Source());
      }
      EXPECT_EQ(read.code(), Status::Code::kClosed) << "cut " << cut << " of " << s.bytes.size();
      EXPECT_FALSE(p.done()) << "cut " << cut;
      EXPECT_GT(p.want(), 0u) << "cut " << cut;
    }
  }
}

TEST(RequestParserV2, HundredPipelinedRequestsConsumeExactlyTheirBytes) {
  const std::vector<Shape> shapes = Shapes();
  std::string stream;
  std::vector<size_t> ends;
  std::vector<uint8_t> ops;
  for (int i = 0; i < 100; ++i) {
    const Shape& s = shapes[static_cast<size_t>(i) % shapes.size()];
    // Vary the payloads so no two neighbours line up the same way.
    std::string bytes = s.bytes;
    if (bytes[5] == static_cast<char>(Op::kBackup) && i % 3 == 0) {
      bytes = Backup("n/" + std::to_string(i), std::string(static_cast<size_t>(i), 'p'),
                     static_cast<uint8_t>(i));
    }
    stream += bytes;
    ends.push_back(stream.size());
    ops.push_back(static_cast<uint8_t>(bytes[5]));
  }
  for (size_t chunk : {size_t{1}, size_t{7}, stream.size()}) {
    FakeConnection conn(stream, chunk);
    for (size_t i = 0; i < ends.size(); ++i) {
      RequestParser p(kMax);
      ASSERT_TRUE(p.Fill(conn.Source()).ok());
      if (p.state() == State::kPayload) {
        conn.SkipPayload(p);
        ASSERT_TRUE(p.Fill(conn.Source()).ok());
      }
      ASSERT_TRUE(p.done()) << "request " << i << " chunk " << chunk << ": "
                            << p.error().ToString();
      EXPECT_EQ(p.request().op, ops[i]);
      EXPECT_EQ(conn.pos(), ends[i]) << "request " << i << " chunk " << chunk;
      EXPECT_LE(conn.asked_end(), ends[i]) << "request " << i << " chunk " << chunk;
    }
  }
}

TEST(RequestParserV2, FillPassesOnTheReadError) {
  const std::string req = EncodeRequestPrefix(7, Op::kRestore, "name", 0);
  FakeConnection conn(req.substr(0, kRequestHeaderSize + 2), 64);
  RequestParser p(kMax);
  const Status s = p.Fill(conn.Source());
  EXPECT_EQ(s.code(), Status::Code::kClosed);
  EXPECT_EQ(p.state(), State::kName);
  EXPECT_EQ(p.request().user_id, 7u);
  EXPECT_EQ(p.request().op, 200);
}

struct Refused {
  std::string bytes;
  ResponseCode code;
  Status::Code status;
  size_t consumed;  // where the parser stops: the bytes after are never taken
};

TEST(RequestParserV2, RefusalsStopAtTheFieldThatFailed) {
  const size_t h = kRequestHeaderSize;
  const std::vector<Refused> cases = {
      // Version and op: unsupported.
      {RawRequest(1, 200, 1, 0, "a"), ResponseCode::kUnsupported, Status::Code::kInvalid, h},
      {RawRequest(3, 200, 1, 0, "a"), ResponseCode::kUnsupported, Status::Code::kInvalid, h},
      {RawRequest(2, 0, 0, 0, ""), ResponseCode::kUnsupported, Status::Code::kInvalid, h},
      {RawRequest(2, 3, 0, 0, ""), ResponseCode::kUnsupported, Status::Code::kInvalid, h},
      {RawRequest(2, 250, 1, 0, "a"), ResponseCode::kUnsupported, Status::Code::kInvalid, h},
      // name_len against the op: a bad name.
      {RawRequest(2, 202, 1, 0, "a"), ResponseCode::kBadName, Status::Code::kInvalid, h},
      {RawRequest(2, 1, 1, 5, "a"), ResponseCode::kBadName, Status::Code::kInvalid, h},
      {RawRequest(2, 2, 3, 5, "abc"), ResponseCode::kBadName, Status::Code::kInvalid, h},
      {RawRequest(2, 200, 0, 0, ""), ResponseCode::kBadName, Status::Code::kInvalid, h},
      {RawRequest(2, 100, 0, 0, ""), ResponseCode::kBadName, Status::Code::kInvalid, h},
      {RawRequest(2, 201, 4097, 0, "a"), ResponseCode::kBadName, Status::Code::kInvalid, h},
      // A size the op forbids: malformed.
      {RawRequest(2, 200, 1, 1, "ab"), ResponseCode::kError, Status::Code::kInvalid, h},
      {RawRequest(2, 201, 1, 1, "ab"), ResponseCode::kError, Status::Code::kInvalid, h},
      {RawRequest(2, 202, 0, UINT64_MAX, "x"), ResponseCode::kError, Status::Code::kInvalid, h},
      {RawRequest(2, 1, 0, 0, "x"), ResponseCode::kError, Status::Code::kInvalid, h},
      // Over a cap: too large, refused before the name.
      {RawRequest(2, 1, 0, 1025, "x"), ResponseCode::kTooLarge, Status::Code::kTooLarge, h},
      {RawRequest(2, 2, 0, UINT64_MAX, "x"), ResponseCode::kTooLarge, Status::Code::kTooLarge, h},
      {RawRequest(2, 100, 1, kMax + 1, "f"), ResponseCode::kTooLarge, Status::Code::kTooLarge, h},
      {RawRequest(2, 100, 1, UINT64_MAX, "f"), ResponseCode::kTooLarge, Status::Code::kTooLarge, h},
      // The name rules: refused after exactly the name's bytes.
      {EncodeRequestPrefix(1, Op::kRestore, "a/../b", 0) + "x", ResponseCode::kBadName,
       Status::Code::kInvalid, h + 6},
      {EncodeRequestPrefix(1, Op::kBackup, ".backupd-tmp-x", 3) + "abc", ResponseCode::kBadName,
       Status::Code::kInvalid, h + 14},
      {EncodeRequestPrefix(1, Op::kDelete, std::string("a\0b", 3), 0), ResponseCode::kBadName,
       Status::Code::kInvalid, h + 3},
      {EncodeRequestPrefix(1, Op::kDelete, std::string(256, 'c'), 0), ResponseCode::kBadName,
       Status::Code::kInvalid, h + 256},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Refused& c = cases[i];
    for (size_t chunk : {size_t{1}, c.bytes.size()}) {
      FakeConnection conn(c.bytes, chunk);
      RequestParser p(kMax);
      EXPECT_TRUE(p.Fill(conn.Source()).ok()) << i;
      ASSERT_EQ(p.state(), State::kError) << i;
      EXPECT_EQ(p.error_code(), c.code) << i << ": " << p.error().ToString();
      EXPECT_EQ(p.error().code(), c.status) << i;
      EXPECT_EQ(conn.pos(), c.consumed) << i;
      EXPECT_EQ(conn.asked_end(), c.consumed) << i;
      // A refused request is never echoed, and a failed parser stays failed.
      EXPECT_EQ(p.request().name, "") << i;
      EXPECT_EQ(p.payload_left(), 0u) << i;
      EXPECT_EQ(p.want(), 0u) << i;
      EXPECT_EQ(FeedAll(p, "more"), 0u) << i;
      // The user and op are known even so, for the log line.
      EXPECT_EQ(p.request().op, static_cast<uint8_t>(c.bytes[5])) << i;
    }
  }
}

TEST(RequestParserV2, SizeAtTheCapIsAccepted) {
  RequestParser p(4);
  const std::string prefix = EncodeRequestPrefix(1, Op::kBackup, "f", 4);
  EXPECT_EQ(FeedAll(p, prefix + "1234"), prefix.size());
  EXPECT_EQ(p.state(), State::kPayload);
  EXPECT_EQ(p.payload_left(), 4u);
}

TEST(RequestParserV2, FeedingNothingChangesNothing) {
  RequestParser p(kMax);
  EXPECT_EQ(p.Feed(nullptr, 0), 0u);
  EXPECT_EQ(p.state(), State::kHeader);
  EXPECT_EQ(p.want(), kRequestHeaderSize);
}

}  // namespace
}  // namespace backupd::protocol::v2

// tests (unprivileged): RequestParser, the whole-request form of the v1 checks.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocol/wire.h"

namespace backupd::protocol {
namespace {

using State = RequestParser::State;

constexpr uint64_t kMax = 1024;

size_t FeedAll(RequestParser& p, std::string_view bytes) {
  return p.Feed(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

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

TEST(RequestParser, WholeBackup) {
  RequestParser p(kMax);
  const std::string req = Backup("/d/f.txt", "hello", 0xDEADBEEF);
  EXPECT_EQ(FeedAll(p, req), req.size());
  ASSERT_TRUE(p.done()) << p.error().ToString();
  EXPECT_EQ(p.header().user_id, 0xDEADBEEFu);
  EXPECT_EQ(p.header().version, 1);
  EXPECT_EQ(p.header().op, 100);
  EXPECT_EQ(p.header().name_len, 8);
  EXPECT_EQ(p.name(), "d/f.txt");
  EXPECT_EQ(p.payload_size(), 5u);
  EXPECT_EQ(p.payload(), "hello");
}

TEST(RequestParser, RestoreDeleteAndListStopAfterTheName) {
  for (Op op : {Op::kRestore, Op::kDelete}) {
    RequestParser p(kMax);
    const std::string req = EncodeRequestPrefix(3, op, "a/b", 0);
    // Bytes after the request belong to the next one and must not be consumed.
    EXPECT_EQ(FeedAll(p, req + "NEXT"), req.size());
    ASSERT_TRUE(p.done());
    EXPECT_EQ(p.name(), "a/b");
    EXPECT_EQ(p.payload_size(), 0u);
    EXPECT_EQ(p.payload(), "");
  }
  RequestParser p(kMax);
  const std::string req = EncodeRequestPrefix(3, Op::kList, "", 0);
  ASSERT_EQ(req.size(), kRequestHeaderSize);
  EXPECT_EQ(FeedAll(p, req + "x"), kRequestHeaderSize);
  ASSERT_TRUE(p.done());
  EXPECT_EQ(p.header().op, 202);
  EXPECT_EQ(p.name(), "");
}

TEST(RequestParser, EmptyBackupIsDoneAfterTheSizeField) {
  RequestParser p(kMax);
  const std::string req = Backup("empty", "");
  EXPECT_EQ(FeedAll(p, req + "zz"), req.size());
  ASSERT_TRUE(p.done());
  EXPECT_EQ(p.payload_size(), 0u);
}

TEST(RequestParser, PayloadDoesNotSwallowTheNextRequest) {
  RequestParser p(kMax);
  const std::string first = Backup("a", "12345");
  const std::string second = EncodeRequestPrefix(9, Op::kRestore, "a", 0);
  const std::string stream = first + second;
  const size_t used = FeedAll(p, stream);
  EXPECT_EQ(used, first.size());
  ASSERT_TRUE(p.done());
  EXPECT_EQ(p.payload(), "12345");
  p.Reset();
  EXPECT_EQ(p.state(), State::kHeader);
  EXPECT_EQ(FeedAll(p, std::string_view(stream).substr(used)), second.size());
  ASSERT_TRUE(p.done());
  EXPECT_EQ(p.header().op, 200);
  EXPECT_EQ(p.payload(), "");
}

TEST(RequestParser, ByteAtATimeMatchesWhole) {
  const std::string req = Backup("x/y", std::string(300, '\x7f'));
  RequestParser p(kMax);
  std::vector<State> states;
  for (size_t i = 0; i < req.size(); ++i) {
    ASSERT_FALSE(p.done()) << i;
    ASSERT_EQ(p.Feed(reinterpret_cast<const uint8_t*>(&req[i]), 1), 1u) << i;
    if (states.empty() || states.back() != p.state()) states.push_back(p.state());
  }
  ASSERT_TRUE(p.done());
  EXPECT_EQ(p.name(), "x/y");
  EXPECT_EQ(p.payload(), std::string(300, '\x7f'));
  EXPECT_EQ(states, (std::vector<State>{State::kHeader, State::kName, State::kSize, State::kPayload,
                                        State::kDone}));
}

TEST(RequestParser, TruncatedAtEveryOffsetIsNeverDone) {
  const std::vector<std::string> requests = {
      Backup("dir/file", "payload!"),
      EncodeRequestPrefix(1, Op::kRestore, "r", 0),
      EncodeRequestPrefix(1, Op::kDelete, "some/name", 0),
      EncodeRequestPrefix(1, Op::kList, "", 0),
  };
  for (const std::string& req : requests) {
    for (size_t cut = 0; cut < req.size(); ++cut) {
      RequestParser p(kMax);
      EXPECT_EQ(FeedAll(p, std::string_view(req).substr(0, cut)), cut);
      EXPECT_FALSE(p.done()) << "cut " << cut << " of " << req.size();
      EXPECT_NE(p.state(), State::kError) << "cut " << cut;
      // The rest completes it: nothing was lost or misread at the cut.
      EXPECT_EQ(FeedAll(p, std::string_view(req).substr(cut)), req.size() - cut);
      EXPECT_TRUE(p.done()) << "cut " << cut;
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
    // A failed parser stays failed.
    EXPECT_EQ(FeedAll(p, "more"), 0u);
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
    ASSERT_EQ(name.size(), 4096u);
    RequestParser p(kMax);
    const std::string req = EncodeRequestPrefix(1, Op::kDelete, name, 0);
    EXPECT_EQ(FeedAll(p, req), req.size());
    ASSERT_TRUE(p.done()) << p.error().ToString();
    EXPECT_EQ(p.name(), name);
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
  }
  RequestParser p(kMax);
  const std::string nul("a\0b", 3);
  EXPECT_EQ(FeedAll(p, EncodeRequestPrefix(1, Op::kRestore, nul, 0)), kRequestHeaderSize + 3);
  EXPECT_EQ(p.state(), State::kError);
}

TEST(RequestParser, ComponentLengthBoundary) {
  RequestParser ok(kMax);
  FeedAll(ok, EncodeRequestPrefix(1, Op::kRestore, std::string(255, 'c'), 0));
  EXPECT_TRUE(ok.done());
  RequestParser bad(kMax);
  FeedAll(bad, EncodeRequestPrefix(1, Op::kRestore, std::string(256, 'c'), 0));
  EXPECT_EQ(bad.state(), State::kError);
  EXPECT_EQ(bad.error().code(), Status::Code::kInvalid);
}

TEST(RequestParser, SizeAtMaxIsAcceptedOverMaxIsTooLarge) {
  {
    RequestParser p(4);
    const std::string req = Backup("f", "1234");
    EXPECT_EQ(FeedAll(p, req), req.size());
    EXPECT_TRUE(p.done());
  }
  {
    RequestParser p(4);
    const std::string req = Backup("f", "12345");
    // Refused on the size field alone: not one payload byte is consumed.
    EXPECT_EQ(FeedAll(p, req), req.size() - 5);
    EXPECT_EQ(p.state(), State::kError);
    EXPECT_EQ(p.error().code(), Status::Code::kTooLarge);
    EXPECT_EQ(p.payload(), "");
  }
  {
    RequestParser p(kMax);
    EXPECT_EQ(FeedAll(p, EncodeRequestPrefix(1, Op::kBackup, "f", 0xFFFFFFFFu)),
              kRequestHeaderSize + 1 + kSizeFieldSize);
    EXPECT_EQ(p.error().code(), Status::Code::kTooLarge);
  }
  {
    // A max above the u32 range lets every size through.
    RequestParser p(uint64_t{1} << 40);
    FeedAll(p, EncodeRequestPrefix(1, Op::kBackup, "f", 0xFFFFFFFFu));
    EXPECT_EQ(p.state(), State::kPayload);
    EXPECT_EQ(p.payload_size(), 0xFFFFFFFFu);
  }
}

TEST(RequestParser, ResetClearsAnError) {
  RequestParser p(kMax);
  FeedAll(p, RawRequest(2, 200, 1, "a"));
  ASSERT_EQ(p.state(), State::kError);
  p.Reset();
  EXPECT_TRUE(p.error().ok());
  const std::string req = EncodeRequestPrefix(1, Op::kRestore, "a", 0);
  EXPECT_EQ(FeedAll(p, req), req.size());
  EXPECT_TRUE(p.done());
}

TEST(RequestParser, FeedingNothingChangesNothing) {
  RequestParser p(kMax);
  EXPECT_EQ(p.Feed(nullptr, 0), 0u);
  EXPECT_EQ(p.state(), State::kHeader);
}

}  // namespace
}  // namespace backupd::protocol

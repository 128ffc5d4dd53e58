// tests (unprivileged): protocol v1 byte layouts, header checks, op names and RandomListName.
#include "protocol/wire.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace backupd::protocol {
namespace {

std::string Bytes(std::initializer_list<int> bs) {
  std::string s;
  for (int b : bs) s.push_back(static_cast<char>(b));
  return s;
}

RequestHeader Header(uint8_t op, uint16_t name_len, uint8_t version = kVersion1) {
  RequestHeader h;
  h.user_id = 7;
  h.version = version;
  h.op = op;
  h.name_len = name_len;
  return h;
}

TEST(LittleEndian, PutAndGet) {
  uint8_t b[4] = {};
  PutU16(b, 0x1234);
  EXPECT_EQ(b[0], 0x34);
  EXPECT_EQ(b[1], 0x12);
  EXPECT_EQ(GetU16(b), 0x1234);
  PutU32(b, 0xA1B2C3D4u);
  EXPECT_EQ(b[0], 0xD4);
  EXPECT_EQ(b[1], 0xC3);
  EXPECT_EQ(b[2], 0xB2);
  EXPECT_EQ(b[3], 0xA1);
  EXPECT_EQ(GetU32(b), 0xA1B2C3D4u);
  PutU16(b, 0xFFFF);
  EXPECT_EQ(GetU16(b), 0xFFFF);
  PutU32(b, 0xFFFFFFFFu);
  EXPECT_EQ(GetU32(b), 0xFFFFFFFFu);
}

TEST(RequestHeaderCodec, ExactBytesAndRoundTrip) {
  RequestHeader h;
  h.user_id = 0x04030201u;
  h.version = 1;
  h.op = 100;
  h.name_len = 0x0605;
  const auto b = EncodeRequestHeader(h);
  EXPECT_EQ(std::string(b.begin(), b.end()), Bytes({1, 2, 3, 4, 1, 100, 5, 6}));
  const RequestHeader d = DecodeRequestHeader(b);
  EXPECT_EQ(d.user_id, h.user_id);
  EXPECT_EQ(d.version, h.version);
  EXPECT_EQ(d.op, h.op);
  EXPECT_EQ(d.name_len, h.name_len);
}

TEST(ResponseHeaderCodec, ExactBytesAndRoundTrip) {
  ResponseHeader h;
  h.version = 1;
  h.status = 1003;  // 0x03EB
  h.name_len = 0x0201;
  const auto b = EncodeResponseHeader(h);
  EXPECT_EQ(std::string(b.begin(), b.end()), Bytes({1, 0xEB, 0x03, 1, 2}));
  const ResponseHeader d = DecodeResponseHeader(b);
  EXPECT_EQ(d.version, 1);
  EXPECT_EQ(d.status, 1003);
  EXPECT_EQ(d.name_len, 0x0201);
}

TEST(CheckRequestHeader, AcceptsEveryOpWithAFittingName) {
  EXPECT_TRUE(CheckRequestHeader(Header(100, 1)).ok());
  EXPECT_TRUE(CheckRequestHeader(Header(200, 1)).ok());
  EXPECT_TRUE(CheckRequestHeader(Header(201, 1)).ok());
  EXPECT_TRUE(CheckRequestHeader(Header(202, 0)).ok());
}

TEST(CheckRequestHeader, NameLenBoundaries) {
  for (uint8_t op : std::initializer_list<uint8_t>{100, 200, 201}) {
    SCOPED_TRACE(static_cast<int>(op));
    EXPECT_EQ(CheckRequestHeader(Header(op, 0)).code(), Status::Code::kInvalid);
    EXPECT_TRUE(CheckRequestHeader(Header(op, 1)).ok());
    EXPECT_TRUE(CheckRequestHeader(Header(op, 4096)).ok());
    EXPECT_EQ(CheckRequestHeader(Header(op, 4097)).code(), Status::Code::kInvalid);
    EXPECT_EQ(CheckRequestHeader(Header(op, 0xFFFF)).code(), Status::Code::kInvalid);
  }
}

TEST(CheckRequestHeader, ListWithANameIsRefused) {
  EXPECT_EQ(CheckRequestHeader(Header(202, 1)).code(), Status::Code::kInvalid);
  EXPECT_EQ(CheckRequestHeader(Header(202, 4096)).code(), Status::Code::kInvalid);
}

TEST(CheckRequestHeader, VersionOtherThanOneIsRefused) {
  for (int v : {0, 2, 255}) {
    const Status s = CheckRequestHeader(Header(200, 1, static_cast<uint8_t>(v)));
    EXPECT_EQ(s.code(), Status::Code::kInvalid) << v;
    EXPECT_NE(s.message().find("version"), std::string::npos) << s.message();
  }
}

TEST(CheckRequestHeader, UnknownOpsAreRefused) {
  int known = 0;
  for (int op = 0; op <= 255; ++op) {
    const Status s = CheckRequestHeader(Header(static_cast<uint8_t>(op), op == 202 ? 0 : 1));
    if (op == 100 || op == 200 || op == 201 || op == 202) {
      EXPECT_TRUE(s.ok()) << op;
      EXPECT_TRUE(IsKnownOp(static_cast<uint8_t>(op)));
      ++known;
    } else {
      EXPECT_EQ(s.code(), Status::Code::kInvalid) << op;
      EXPECT_FALSE(IsKnownOp(static_cast<uint8_t>(op))) << op;
    }
  }
  EXPECT_EQ(known, 4);
}

TEST(OpName, NamesTheFourOpsAndNothingElse) {
  EXPECT_STREQ(OpName(100), "backup");
  EXPECT_STREQ(OpName(200), "restore");
  EXPECT_STREQ(OpName(201), "delete");
  EXPECT_STREQ(OpName(202), "list");
  for (int op = 0; op < 256; ++op) {
    if (!IsKnownOp(static_cast<uint8_t>(op))) {
      EXPECT_STREQ(OpName(static_cast<uint8_t>(op)), "unknown") << op;
    }
  }
}

TEST(MaxPayloadSize, IsWhatTheSizeFieldHolds) {
  uint8_t b[kSizeFieldSize];
  PutU32(b, static_cast<uint32_t>(kMaxPayloadSize));
  EXPECT_EQ(GetU32(b), kMaxPayloadSize);
  EXPECT_EQ(kMaxPayloadSize, (uint64_t{1} << (8 * kSizeFieldSize)) - 1);
}

TEST(Payloads, OnlyBackupRequestsAndRestoreOrListResponsesCarryOne) {
  EXPECT_TRUE(HasRequestPayload(Op::kBackup));
  EXPECT_FALSE(HasRequestPayload(Op::kRestore));
  EXPECT_FALSE(HasRequestPayload(Op::kDelete));
  EXPECT_FALSE(HasRequestPayload(Op::kList));
  EXPECT_TRUE(HasResponsePayload(210));
  EXPECT_TRUE(HasResponsePayload(211));
  for (uint16_t s : std::initializer_list<uint16_t>{212, 1001, 1002, 1003, 0, 213})
    EXPECT_FALSE(HasResponsePayload(s)) << s;
}

TEST(Statuses, KnownSet) {
  for (uint16_t s : std::initializer_list<uint16_t>{210, 211, 212, 1001, 1002, 1003})
    EXPECT_TRUE(IsKnownStatus(s)) << s;
  for (uint16_t s : std::initializer_list<uint16_t>{0, 1, 209, 213, 1000, 1004, 0xFFFF})
    EXPECT_FALSE(IsKnownStatus(s)) << s;
}

TEST(EncodeRequestPrefix, BackupCarriesTheSizeField) {
  EXPECT_EQ(EncodeRequestPrefix(0x01020304u, Op::kBackup, "ab", 0x0A0B0C0Du),
            Bytes({4, 3, 2, 1, 1, 100, 2, 0, 'a', 'b', 0x0D, 0x0C, 0x0B, 0x0A}));
}

TEST(EncodeRequestPrefix, OtherOpsStopAfterTheName) {
  EXPECT_EQ(EncodeRequestPrefix(5, Op::kRestore, "x", 99), Bytes({5, 0, 0, 0, 1, 200, 1, 0, 'x'}));
  EXPECT_EQ(EncodeRequestPrefix(5, Op::kDelete, "x/y", 99),
            Bytes({5, 0, 0, 0, 1, 201, 3, 0, 'x', '/', 'y'}));
  EXPECT_EQ(EncodeRequestPrefix(5, Op::kList, "", 99), Bytes({5, 0, 0, 0, 1, 202, 0, 0}));
}

TEST(EncodeResponsePrefix, RestoreAndListCarrySizeField) {
  EXPECT_EQ(EncodeResponsePrefix(210, "f", 0x01020304u), Bytes({1, 210, 0, 1, 0, 'f', 4, 3, 2, 1}));
  EXPECT_EQ(EncodeResponsePrefix(211, "AbC", 0),
            Bytes({1, 211, 0, 3, 0, 'A', 'b', 'C', 0, 0, 0, 0}));
}

TEST(EncodeResponsePrefix, OtherStatusesHaveNoSizeField) {
  EXPECT_EQ(EncodeResponsePrefix(212, "f", 77), Bytes({1, 212, 0, 1, 0, 'f'}));
  EXPECT_EQ(EncodeResponsePrefix(1001, "f", 77), Bytes({1, 0xE9, 0x03, 1, 0, 'f'}));
  EXPECT_EQ(EncodeResponsePrefix(1002, "", 77), Bytes({1, 0xEA, 0x03, 0, 0}));
  EXPECT_EQ(EncodeResponsePrefix(1003, "", 77), Bytes({1, 0xEB, 0x03, 0, 0}));
  EXPECT_EQ(EncodeResponsePrefix(1003, "n", 77), Bytes({1, 0xEB, 0x03, 1, 0, 'n'}));
}

TEST(EncodeResponsePrefix, LongNameLengthIsLittleEndian) {
  const std::string name(4096, 'z');
  const std::string out = EncodeResponsePrefix(212, name, 0);
  ASSERT_EQ(out.size(), kResponseHeaderSize + 4096);
  EXPECT_EQ(out.substr(0, 5), Bytes({1, 212, 0, 0x00, 0x10}));
  EXPECT_EQ(out.substr(5), name);
}

TEST(RandomListName, ThirtyTwoAlphanumerics) {
  std::mt19937_64 rng(42);
  std::set<std::string> seen;
  std::set<char> chars;
  for (int i = 0; i < 200; ++i) {
    const std::string n = RandomListName(rng);
    ASSERT_EQ(n.size(), kListNameLen);
    EXPECT_EQ(n.size(), 32u);
    for (char c : n) {
      EXPECT_TRUE((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
          << static_cast<int>(c);
      chars.insert(c);
    }
    seen.insert(n);
  }
  EXPECT_EQ(seen.size(), 200u);
  // 6400 draws from 62 symbols: every symbol shows up, so the whole alphabet is in use.
  EXPECT_EQ(chars.size(), 62u);
}

TEST(RandomListName, IsANameTheServerWouldAccept) {
  std::mt19937_64 rng(1);
  const std::string n = RandomListName(rng);
  const Result<std::string> r = NormalizeName(n);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, n);
}

}  // namespace
}  // namespace backupd::protocol

// tests (unprivileged): protocol v2 byte layouts, header checks, list entries and the sniffer.
#include "protocol/wire_v2.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "tests/protocol/protocol_test_util.h"

namespace backupd::protocol::v2 {
namespace {

// "07 00 ff" -> the three bytes; spaces are for the reader, as in docs/PROTOCOL.md.
std::string Hex(std::string_view hex) {
  std::string out;
  int hi = -1;
  for (char c : hex) {
    if (c == ' ') continue;
    const int v = std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (c | 0x20) - 'a' + 10;
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<char>(hi << 4 | v));
      hi = -1;
    }
  }
  return out;
}

ResponseHeader Response(uint16_t status, uint16_t name_len, uint64_t size) {
  ResponseHeader h;
  h.version = kVersion;
  h.status = status;
  h.name_len = name_len;
  h.size = size;
  return h;
}

TEST(LittleEndian64, PutAndGet) {
  uint8_t b[8] = {};
  PutU64(b, 0x0102030405060708u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(b), 8), Hex("08 07 06 05 04 03 02 01"));
  EXPECT_EQ(GetU64(b), 0x0102030405060708u);
  PutU64(b, UINT64_MAX);
  EXPECT_EQ(GetU64(b), UINT64_MAX);
  std::string s;
  AppendU64(s, uint64_t{5} << 32);
  EXPECT_EQ(s, Hex("00 00 00 00 05 00 00 00"));
}

TEST(RequestHeaderCodec, ExactBytesAndRoundTrip) {
  RequestHeader h = Header(100, 0x0605, 0x0F0E0D0C0B0A0908u);
  h.user_id = 0x04030201u;
  const auto b = EncodeRequestHeader(h);
  EXPECT_EQ(std::string(b.begin(), b.end()),
            Hex("01 02 03 04  02  64  05 06  08 09 0a 0b 0c 0d 0e 0f"));
  const RequestHeader d = DecodeRequestHeader(b);
  EXPECT_EQ(d.user_id, h.user_id);
  EXPECT_EQ(d.version, 2);
  EXPECT_EQ(d.op, 100);
  EXPECT_EQ(d.name_len, 0x0605);
  EXPECT_EQ(d.size, h.size);
}

TEST(RequestHeaderCodec, FirstSixBytesSitWhereV1HasThem) {
  const auto v2 = EncodeRequestHeader(Header(200, 3, 0));
  protocol::RequestHeader h1;
  h1.user_id = 7;
  h1.version = kVersion;
  h1.op = 200;
  const auto v1 = protocol::EncodeRequestHeader(h1);
  EXPECT_EQ(std::string(v2.begin(), v2.begin() + 6), std::string(v1.begin(), v1.begin() + 6));
}

TEST(ResponseHeaderCodec, ExactBytesAndRoundTrip) {
  const ResponseHeader h = Response(1016, 0x0201, 0x1122334455667788u);
  const auto b = EncodeResponseHeader(h);
  EXPECT_EQ(std::string(b.begin(), b.end()), Hex("02  f8 03  01 02  88 77 66 55 44 33 22 11"));
  const ResponseHeader d = DecodeResponseHeader(b);
  EXPECT_EQ(d.version, 2);
  EXPECT_EQ(d.status, 1016);
  EXPECT_EQ(d.name_len, 0x0201);
  EXPECT_EQ(d.size, h.size);
}

TEST(EncodeRequestPrefix, ExactBytesForEveryOp) {
  EXPECT_EQ(EncodeRequestPrefix(7, Op::kBackup, "a.txt", 5),
            Hex("07 00 00 00 02 64 05 00 05 00 00 00 00 00 00 00 61 2e 74 78 74"));
  EXPECT_EQ(EncodeRequestPrefix(7, Op::kRestore, "a", 0),
            Hex("07 00 00 00 02 c8 01 00 00 00 00 00 00 00 00 00 61"));
  EXPECT_EQ(EncodeRequestPrefix(7, Op::kDelete, "a", 0),
            Hex("07 00 00 00 02 c9 01 00 00 00 00 00 00 00 00 00 61"));
  EXPECT_EQ(EncodeRequestPrefix(7, Op::kList, "", 0),
            Hex("07 00 00 00 02 ca 00 00 00 00 00 00 00 00 00 00"));
  // Over 4 GiB: the whole u64 is written.
  EXPECT_EQ(EncodeRequestPrefix(1, Op::kBackup, "b", uint64_t{5} << 32),
            Hex("01 00 00 00 02 64 01 00 00 00 00 00 05 00 00 00 62"));
}

TEST(EncodeAuthRequest, CarriesTheMessageAsPayload) {
  EXPECT_EQ(EncodeAuthRequest(0x65, Op::kAuthStart, "n,,n=101,r=abc"),
            Hex("65 00 00 00 02 01 00 00 0e 00 00 00 00 00 00 00") + "n,,n=101,r=abc");
  EXPECT_EQ(EncodeAuthRequest(0x65, Op::kAuthFinish, "c=biws"),
            Hex("65 00 00 00 02 02 00 00 06 00 00 00 00 00 00 00") + "c=biws");
}

TEST(EncodeResponsePrefix, SameLayoutForEveryStatus) {
  EXPECT_EQ(EncodeResponsePrefix(ResponseCode::kRestoreOk, "f", 0x0102030405u),
            Hex("02 d2 00 01 00 05 04 03 02 01 00 00 00 66"));
  EXPECT_EQ(EncodeResponsePrefix(ResponseCode::kListOk, "", 3),
            Hex("02 d3 00 00 00 03 00 00 00 00 00 00 00"));
  EXPECT_EQ(EncodeResponsePrefix(ResponseCode::kOk, "f", 0),
            Hex("02 d4 00 01 00 00 00 00 00 00 00 00 00 66"));
}

TEST(EncodeMessageResponse, ErrorsAndAuthCarryTheirMessage) {
  EXPECT_EQ(EncodeMessageResponse(ResponseCode::kNotFound, "f", "no such file"),
            Hex("02 e9 03 01 00 0c 00 00 00 00 00 00 00 66") + "no such file");
  EXPECT_EQ(EncodeMessageResponse(ResponseCode::kAuthRequired, "", "log in first"),
            Hex("02 f5 03 00 00 0c 00 00 00 00 00 00 00") + "log in first");
  EXPECT_EQ(EncodeMessageResponse(ResponseCode::kAuthContinue, "", "r=x,s=y,i=4096"),
            Hex("02 dc 00 00 00 0e 00 00 00 00 00 00 00") + "r=x,s=y,i=4096");
  EXPECT_EQ(EncodeMessageResponse(ResponseCode::kAuthOk, "", "v=abc"),
            Hex("02 dd 00 00 00 05 00 00 00 00 00 00 00") + "v=abc");
  EXPECT_EQ(EncodeMessageResponse(ResponseCode::kOk, "f", ""),
            EncodeResponsePrefix(ResponseCode::kOk, "f", 0));
}

TEST(EncodeMessageResponse, LongMessagesAreCutOnACharacterBoundary) {
  const std::string ascii(2000, 'x');
  std::string out = EncodeMessageResponse(ResponseCode::kError, "", ascii);
  EXPECT_EQ(out.size(), kResponseHeaderSize + kMaxMessageSize);
  // 1023 ASCII bytes then a 3-byte character straddling the cap: the whole character goes.
  const std::string straddling = std::string(1023, 'x') + "\xe2\x82\xac" + "tail";
  out = EncodeMessageResponse(ResponseCode::kError, "", straddling);
  ASSERT_EQ(out.size(), kResponseHeaderSize + 1023);
  EXPECT_EQ(GetU64(reinterpret_cast<const uint8_t*>(out.data()) + 5), 1023u);
  // Ending exactly at the cap keeps it.
  const std::string fits = std::string(1021, 'x') + "\xe2\x82\xac" + "tail";
  out = EncodeMessageResponse(ResponseCode::kError, "", fits);
  EXPECT_EQ(out.substr(kResponseHeaderSize), fits.substr(0, 1024));
}

TEST(EncodeDigestTrailer, IsTheDigestsBytes) {
  const std::string t = EncodeDigestTrailer(CountingDigest());
  ASSERT_EQ(t.size(), kDigestSize);
  for (size_t i = 0; i < t.size(); ++i) EXPECT_EQ(static_cast<uint8_t>(t[i]), i);
}

TEST(CheckVersionAndOp, OnlyVersionTwoAndItsOps) {
  int known = 0;
  for (int op = 0; op <= 255; ++op) {
    const Status s = CheckVersionAndOp(Header(static_cast<uint8_t>(op), 0, 0));
    if (op == 1 || op == 2 || op == 100 || op == 200 || op == 201 || op == 202 || op == 103 ||
        op == 104 || (op >= 203 && op <= 206)) {
      EXPECT_TRUE(s.ok()) << op;
      ++known;
    } else {
      EXPECT_EQ(s.code(), Status::Code::kInvalid) << op;
    }
  }
  EXPECT_EQ(known, 12);
  for (int v : {0, 1, 3, 255}) {
    const Status s = CheckVersionAndOp(Header(200, 1, 0, static_cast<uint8_t>(v)));
    EXPECT_EQ(s.code(), Status::Code::kInvalid) << v;
    EXPECT_NE(s.message().find("version"), std::string::npos);
  }
}

TEST(CheckNameLen, FitsTheOp) {
  for (uint8_t op : std::initializer_list<uint8_t>{1, 2, 202}) {
    EXPECT_TRUE(CheckNameLen(Header(op, 0, 0)).ok()) << int{op};
    EXPECT_EQ(CheckNameLen(Header(op, 1, 0)).code(), Status::Code::kInvalid) << int{op};
  }
  for (uint8_t op : std::initializer_list<uint8_t>{100, 200, 201}) {
    EXPECT_EQ(CheckNameLen(Header(op, 0, 0)).code(), Status::Code::kInvalid) << int{op};
    EXPECT_TRUE(CheckNameLen(Header(op, 1, 0)).ok()) << int{op};
    EXPECT_TRUE(CheckNameLen(Header(op, 4096, 0)).ok()) << int{op};
    EXPECT_EQ(CheckNameLen(Header(op, 4097, 0)).code(), Status::Code::kInvalid) << int{op};
  }
}

TEST(CheckSize, FitsTheOp) {
  constexpr uint64_t kCap = 100;
  for (uint8_t op : std::initializer_list<uint8_t>{200, 201, 202}) {
    EXPECT_TRUE(CheckSize(Header(op, 1, 0), kCap).ok()) << int{op};
    EXPECT_EQ(CheckSize(Header(op, 1, 1), kCap).code(), Status::Code::kInvalid) << int{op};
  }
  for (uint8_t op : std::initializer_list<uint8_t>{1, 2}) {
    EXPECT_EQ(CheckSize(Header(op, 0, 0), kCap).code(), Status::Code::kInvalid) << int{op};
    EXPECT_TRUE(CheckSize(Header(op, 0, 1), kCap).ok()) << int{op};
    // The auth cap is the protocol's, not max_file_size.
    EXPECT_TRUE(CheckSize(Header(op, 0, 1024), kCap).ok()) << int{op};
    EXPECT_EQ(CheckSize(Header(op, 0, 1025), kCap).code(), Status::Code::kTooLarge) << int{op};
    EXPECT_EQ(CheckSize(Header(op, 0, UINT64_MAX), kCap).code(), Status::Code::kTooLarge);
  }
  EXPECT_TRUE(CheckSize(Header(100, 1, 0), kCap).ok());
  EXPECT_TRUE(CheckSize(Header(100, 1, kCap), kCap).ok());
  EXPECT_EQ(CheckSize(Header(100, 1, kCap + 1), kCap).code(), Status::Code::kTooLarge);
  EXPECT_TRUE(CheckSize(Header(100, 1, uint64_t{5} << 32), uint64_t{5} << 32).ok());
}

TEST(Ops, NamesAndPayloads) {
  EXPECT_STREQ(OpName(1), "auth-start");
  EXPECT_STREQ(OpName(2), "auth-finish");
  EXPECT_STREQ(OpName(100), "backup");
  EXPECT_STREQ(OpName(202), "list");
  EXPECT_STREQ(OpName(3), "unknown");
  EXPECT_TRUE(HasRequestPayload(Op::kAuthStart));
  EXPECT_TRUE(HasRequestPayload(Op::kAuthFinish));
  EXPECT_TRUE(HasRequestPayload(Op::kBackup));
  EXPECT_FALSE(HasRequestPayload(Op::kRestore));
  EXPECT_FALSE(HasRequestPayload(Op::kDelete));
  EXPECT_FALSE(HasRequestPayload(Op::kList));
  EXPECT_TRUE(HasResponseDigest(210));
  EXPECT_FALSE(HasResponseDigest(211));
}

TEST(Statuses, KnownSetKeepsV1sMeanings) {
  const std::vector<uint16_t> known = {210,  211,  212,  220,  221,  1001, 1002, 1003, 1010,
                                       1011, 1012, 1013, 1014, 1015, 1016, 1017, 1018};
  for (uint16_t s : known) EXPECT_TRUE(IsKnownStatus(s)) << s;
  int count = 0;
  for (int s = 0; s <= 0xFFFF; ++s) count += IsKnownStatus(static_cast<uint16_t>(s));
  EXPECT_EQ(count, static_cast<int>(known.size()));
  for (uint16_t s : std::initializer_list<uint16_t>{210, 211, 212, 1001, 1002, 1003})
    EXPECT_TRUE(protocol::IsKnownStatus(s));
}

TEST(CheckResponseHeader, SizeFitsTheStatus) {
  EXPECT_TRUE(CheckResponseHeader(Response(210, 1, UINT64_MAX)).ok());
  EXPECT_TRUE(CheckResponseHeader(Response(211, 0, 1000)).ok());
  EXPECT_EQ(CheckResponseHeader(Response(211, 32, 1000)).code(), Status::Code::kInvalid);
  EXPECT_TRUE(CheckResponseHeader(Response(212, 1, 0)).ok());
  EXPECT_EQ(CheckResponseHeader(Response(212, 1, 1)).code(), Status::Code::kInvalid);
  for (uint16_t s : std::initializer_list<uint16_t>{220, 221}) {
    EXPECT_EQ(CheckResponseHeader(Response(s, 0, 0)).code(), Status::Code::kInvalid) << s;
    EXPECT_TRUE(CheckResponseHeader(Response(s, 0, 1024)).ok()) << s;
    EXPECT_EQ(CheckResponseHeader(Response(s, 0, 1025)).code(), Status::Code::kInvalid) << s;
  }
  for (uint16_t s : std::initializer_list<uint16_t>{1001, 1002, 1003, 1010, 1013, 1017}) {
    EXPECT_TRUE(CheckResponseHeader(Response(s, 0, 0)).ok()) << s;
    EXPECT_TRUE(CheckResponseHeader(Response(s, 4096, 1024)).ok()) << s;
    EXPECT_EQ(CheckResponseHeader(Response(s, 0, 1025)).code(), Status::Code::kInvalid) << s;
    EXPECT_EQ(CheckResponseHeader(Response(s, 4097, 0)).code(), Status::Code::kInvalid) << s;
  }
  ResponseHeader v1 = Response(212, 0, 0);
  v1.version = 1;
  EXPECT_EQ(CheckResponseHeader(v1).code(), Status::Code::kInvalid);
  EXPECT_EQ(CheckResponseHeader(Response(213, 0, 0)).code(), Status::Code::kInvalid);
}

TEST(ListEntries, ExactBytes) {
  ListEntry e;
  e.name = "a.txt";
  e.size = 5;
  e.mtime_ns = -2;  // before the epoch: the field is signed
  e.sha256 = CountingDigest();
  std::string out;
  AppendListEntry(out, e);
  EXPECT_EQ(out, Hex("05 00") + "a.txt" + Hex("05 00 00 00 00 00 00 00 fe ff ff ff ff ff ff ff") +
                     EncodeDigestTrailer(e.sha256));
  EXPECT_EQ(out.size(), kListEntryFixedSize + 5);
}

TEST(VersionOps, HeaderChecks) {
  // LIST_VERSIONS: a name, no payload; RESTORE_VERSION: a name and exactly 8 bytes;
  // LIST_DELETED: neither.
  EXPECT_TRUE(CheckNameLen(Header(204, 1, 0)).ok());
  EXPECT_EQ(CheckNameLen(Header(204, 0, 0)).code(), Status::Code::kInvalid);
  EXPECT_TRUE(CheckSize(Header(204, 1, 0), 1000).ok());
  EXPECT_EQ(CheckSize(Header(204, 1, 8), 1000).code(), Status::Code::kInvalid);
  EXPECT_TRUE(CheckNameLen(Header(205, 3, 8)).ok());
  EXPECT_TRUE(CheckSize(Header(205, 3, 8), 1000).ok());
  for (uint64_t size : {0ull, 7ull, 9ull, 1000ull}) {
    EXPECT_EQ(CheckSize(Header(205, 3, size), 1000).code(), Status::Code::kInvalid) << size;
  }
  EXPECT_TRUE(CheckNameLen(Header(206, 0, 0)).ok());
  EXPECT_EQ(CheckNameLen(Header(206, 1, 0)).code(), Status::Code::kInvalid);
  EXPECT_EQ(CheckSize(Header(206, 0, 1), 1000).code(), Status::Code::kInvalid);
  EXPECT_STREQ(OpName(204), "list-versions");
  EXPECT_STREQ(OpName(205), "restore-version");
  EXPECT_STREQ(OpName(206), "list-deleted");
  EXPECT_TRUE(HasRequestPayload(Op::kRestoreVersion));
  EXPECT_FALSE(HasRequestPayload(Op::kListVersions));
  // 1018 carries a message like every error, and may echo the name.
  EXPECT_TRUE(CheckResponseHeader(Response(1018, 4096, 1024)).ok());
  EXPECT_EQ(CheckResponseHeader(Response(1018, 0, 1025)).code(), Status::Code::kInvalid);
}

TEST(VersionOps, RestoreVersionRequestBytes) {
  EXPECT_EQ(EncodeRestoreVersionRequest(7, "a", 0x0102030405060708),
            Hex("07 00 00 00 02 cd 01 00 08 00 00 00 00 00 00 00") + "a" +
                Hex("08 07 06 05 04 03 02 01"));
}

TEST(VersionEntries, ExactBytes) {
  VersionEntry e;
  e.version = 3;
  e.flags = kVersionCurrent | kVersionDeleted;
  e.stored_ns = 1;
  e.size = 0x0100;
  e.mtime_ns = -2;
  e.sha256 = CountingDigest();
  std::string out;
  AppendVersionEntry(out, e);
  EXPECT_EQ(out, Hex("03 00 00 00 00 00 00 00 03 01 00 00 00 00 00 00 00 00 01 00 00 00 00 00 00"
                     " fe ff ff ff ff ff ff ff") +
                     EncodeDigestTrailer(e.sha256));
  EXPECT_EQ(out.size(), kVersionEntrySize);
  EXPECT_EQ(kVersionEntrySize, 65u);
}

TEST(VersionEntries, RoundTripAndRefusals) {
  std::vector<VersionEntry> in(2);
  in[0].version = 1;
  in[0].stored_ns = INT64_MIN;
  in[0].sha256.fill(0xAB);
  in[1].version = UINT64_MAX;
  in[1].flags = kVersionCurrent;
  in[1].size = UINT64_MAX;
  in[1].mtime_ns = INT64_MAX;
  std::string payload;
  for (const VersionEntry& e : in) AppendVersionEntry(payload, e);
  const Result<std::vector<VersionEntry>> out = DecodeVersionEntries(payload);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->size(), 2u);
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ((*out)[i].version, in[i].version);
    EXPECT_EQ((*out)[i].flags, in[i].flags);
    EXPECT_EQ((*out)[i].stored_ns, in[i].stored_ns);
    EXPECT_EQ((*out)[i].size, in[i].size);
    EXPECT_EQ((*out)[i].mtime_ns, in[i].mtime_ns);
    EXPECT_EQ((*out)[i].sha256, in[i].sha256);
  }
  EXPECT_EQ(DecodeVersionEntries(payload.substr(1)).status().code(), Status::Code::kInvalid);
  std::string reversed;
  AppendVersionEntry(reversed, in[1]);
  AppendVersionEntry(reversed, in[0]);
  EXPECT_EQ(DecodeVersionEntries(reversed).status().code(), Status::Code::kInvalid);
  std::string zero;
  AppendVersionEntry(zero, VersionEntry{});
  EXPECT_EQ(DecodeVersionEntries(zero).status().code(), Status::Code::kInvalid);
}

TEST(ListEntries, RoundTrip) {
  std::vector<ListEntry> in(3);
  in[0].name = "a";
  in[0].size = 0;
  in[0].mtime_ns = 1700000000123456789;
  in[1].name = "a/b";
  in[1].size = uint64_t{5} << 32;
  in[1].mtime_ns = INT64_MIN;
  in[1].sha256.fill(0xAB);
  in[2].name = std::string(4096, 'z');
  in[2].size = UINT64_MAX;
  in[2].mtime_ns = INT64_MAX;
  in[2].sha256 = CountingDigest();
  std::string payload;
  for (const ListEntry& e : in) AppendListEntry(payload, e);
  const Result<std::vector<ListEntry>> out = DecodeListEntries(payload);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ((*out)[i].name, in[i].name);
    EXPECT_EQ((*out)[i].size, in[i].size);
    EXPECT_EQ((*out)[i].mtime_ns, in[i].mtime_ns);
    EXPECT_EQ((*out)[i].sha256, in[i].sha256);
  }
  EXPECT_TRUE(DecodeListEntries("").ok());
  EXPECT_TRUE(DecodeListEntries("")->empty());
}

TEST(ListEntries, RefusesBrokenPayloads) {
  ListEntry a;
  a.name = "a";
  ListEntry b;
  b.name = "b";
  std::string ab;
  AppendListEntry(ab, a);
  AppendListEntry(ab, b);
  // Cut anywhere inside an entry.
  for (size_t cut = 1; cut < ab.size(); ++cut) {
    if (cut == ab.size() / 2) continue;
    EXPECT_EQ(DecodeListEntries(std::string_view(ab).substr(0, cut)).status().code(),
              Status::Code::kInvalid)
        << cut;
  }
  std::string ba;
  AppendListEntry(ba, b);
  AppendListEntry(ba, a);
  EXPECT_EQ(DecodeListEntries(ba).status().code(), Status::Code::kInvalid);
  std::string twice;
  AppendListEntry(twice, a);
  AppendListEntry(twice, a);
  EXPECT_EQ(DecodeListEntries(twice).status().code(), Status::Code::kInvalid);
  EXPECT_EQ(DecodeListEntries(Hex("00 00") + std::string(48, '\0')).status().code(),
            Status::Code::kInvalid);
  std::string long_name = Hex("01 10") + std::string(4097, 'n') + std::string(48, '\0');
  EXPECT_EQ(DecodeListEntries(long_name).status().code(), Status::Code::kInvalid);
}

std::array<uint8_t, kSniffSize> First(std::string_view bytes) {
  std::array<uint8_t, kSniffSize> a{};
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(bytes[i]);
  return a;
}

TEST(Sniff, TheVersionByteDecidesFirst) {
  EXPECT_EQ(Sniff(First(protocol::EncodeRequestPrefix(7, protocol::Op::kList, "", 0))),
            Sniffed::kV1);
  EXPECT_EQ(Sniff(First(EncodeRequestPrefix(7, Op::kAuthStart, "", 1))), Sniffed::kV2);
  // user_id 790 is 16 03 00 00, a TLS record's first two bytes: still a request.
  EXPECT_EQ(Sniff(First(Hex("16 03 00 00 01"))), Sniffed::kV1);
  EXPECT_EQ(Sniff(First(Hex("16 03 00 00 02"))), Sniffed::kV2);
  EXPECT_EQ(Sniff(First(Hex("00 00 00 00 00"))), Sniffed::kOther);
  EXPECT_EQ(Sniff(First(Hex("07 00 00 00 03"))), Sniffed::kOther);
  EXPECT_EQ(Sniff(First(Hex("07 00 00 00 ff"))), Sniffed::kOther);
}

TEST(Sniff, TlsClientHello) {
  // TLS 1.0 and 1.2 record versions, as OpenSSL and browsers send them.
  EXPECT_EQ(Sniff(First(Hex("16 03 01 02 00"))), Sniffed::kTls);
  EXPECT_EQ(Sniff(First(Hex("16 03 03 00 f4"))), Sniffed::kTls);
  EXPECT_EQ(Sniff(First(Hex("16 02 01 02 00"))), Sniffed::kOther);
}

TEST(Sniff, HttpRequestLines) {
  for (std::string_view line :
       {"GET / HTTP/1.1", "HEAD /x", "POST /", "PUT /a", "DELETE /", "OPTIONS *", "CONNECT h:1",
        "TRACE /", "PATCH /", "PRI * HTTP/2.0"}) {
    EXPECT_EQ(Sniff(First(line)), Sniffed::kHttp) << line;
  }
  EXPECT_EQ(Sniff(First("GETX ")), Sniffed::kOther);
  EXPECT_EQ(Sniff(First("get /")), Sniffed::kOther);
}

TEST(Refusal, BytesForEachPeer) {
  EXPECT_EQ(Refusal(Sniffed::kV1), "");
  EXPECT_EQ(Refusal(Sniffed::kV2), "");
  EXPECT_EQ(Refusal(Sniffed::kTls), Hex("15 03 01 00 02 02 46"));
  EXPECT_EQ(Refusal(Sniffed::kOther), Hex("01 eb 03 00 00"));
  const std::string http = Refusal(Sniffed::kHttp);
  EXPECT_EQ(http.rfind("HTTP/1.0 400 Bad Request\r\n", 0), 0u) << http;
  const size_t body = http.find("\r\n\r\n");
  ASSERT_NE(body, std::string::npos);
  EXPECT_NE(http.find("Content-Length: " + std::to_string(http.size() - body - 4) + "\r\n"),
            std::string::npos)
      << http;
}

// The example exchange of docs/PROTOCOL.md, byte for byte: if this fails, one of the two is wrong.
TEST(ProtocolDoc, ExampleExchange) {
  const std::string first = "n,,n=101,r=rOprNGfwEbeRWgbNEkqO";
  EXPECT_EQ(EncodeAuthRequest(101, Op::kAuthStart, first),
            Hex("65 00 00 00  02  01  00 00  1f 00 00 00 00 00 00 00") + first);
  EXPECT_EQ(EncodeResponsePrefix(ResponseCode::kAuthContinue, "", 86),
            Hex("02  dc 00  00 00  56 00 00 00 00 00 00 00"));
  EXPECT_EQ(EncodeRequestPrefix(101, Op::kAuthFinish, "", 106),
            Hex("65 00 00 00  02  02  00 00  6a 00 00 00 00 00 00 00"));
  EXPECT_EQ(EncodeResponsePrefix(ResponseCode::kAuthOk, "", 46),
            Hex("02  dd 00  00 00  2e 00 00 00 00 00 00 00"));

  Digest hello{};
  const std::string hello_hex =
      Hex("2c f2 4d ba 5f b0 a3 0e 26 e8 3b 2a c5 b9 e2 9e 1b 16 1e 5c 1f a7 42 5e 73 04 33 62 93 "
          "8b 98 24");
  std::copy(hello_hex.begin(), hello_hex.end(), hello.begin());
  EXPECT_EQ(
      EncodeRequestPrefix(101, Op::kBackup, "a.txt", 5) + "hello" + EncodeDigestTrailer(hello),
      Hex("65 00 00 00  02  64  05 00  05 00 00 00 00 00 00 00") + "a.txt" + "hello" + hello_hex);
  EXPECT_EQ(EncodeRequestPrefix(101, Op::kList, "", 0),
            Hex("65 00 00 00  02  ca  00 00  00 00 00 00 00 00 00 00"));
  EXPECT_EQ(EncodeRequestPrefix(101, Op::kRestore, "a.txt", 0),
            Hex("65 00 00 00  02  c8  05 00  00 00 00 00 00 00 00 00") + "a.txt");

  EXPECT_EQ(EncodeMessageResponse(ResponseCode::kOk, "a.txt", ""),
            Hex("02  d4 00  05 00  00 00 00 00 00 00 00 00") + "a.txt");
  ListEntry e;
  e.name = "a.txt";
  e.size = 5;
  e.mtime_ns = 1700000000123456789;
  e.sha256 = hello;
  std::string listing;
  AppendListEntry(listing, e);
  EXPECT_EQ(EncodeResponsePrefix(ResponseCode::kListOk, "", listing.size()) + listing,
            Hex("02  d3 00  00 00  37 00 00 00 00 00 00 00  05 00") + "a.txt" +
                Hex("05 00 00 00 00 00 00 00  15 cd 85 3d fe 9c 97 17") + hello_hex);
  EXPECT_EQ(EncodeResponsePrefix(ResponseCode::kRestoreOk, "a.txt", 5),
            Hex("02  d2 00  05 00  05 00 00 00 00 00 00 00") + "a.txt");
  EXPECT_EQ(EncodeMessageResponse(ResponseCode::kNotFound, "b.txt", "no file named b.txt"),
            Hex("02  e9 03  05 00  13 00 00 00 00 00 00 00") + "b.txt" + "no file named b.txt");
  EXPECT_EQ(EncodeMessageResponse(ResponseCode::kAuthRequired, "", "log in first (AUTH_START)"),
            Hex("02  f5 03  00 00  19 00 00 00 00 00 00 00") + "log in first (AUTH_START)");
}

}  // namespace
}  // namespace backupd::protocol::v2

// tests (unprivileged): the issue 12 attribute ops of protocol v2 — the attributes block, the
// header rules of BACKUP_ATTRS, MAKE_FOLDER and LIST_ATTRS, their parsing, and attribute entries.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocol/request_parser_v2.h"
#include "protocol/wire_v2.h"
#include "tests/protocol/protocol_test_util.h"

namespace backupd::protocol::v2 {
namespace {

using State = RequestParser::State;

constexpr uint64_t kMax = 1024;

std::array<uint8_t, kAttributesSize> Block(std::string_view bytes) {
  std::array<uint8_t, kAttributesSize> b{};
  std::copy(bytes.begin(), bytes.end(), b.begin());
  return b;
}

TEST(Attributes, ExactBytes) {
  const std::string b = EncodeAttributes({0755, -2});
  EXPECT_EQ(b, std::string("\xed\x01\x00\x00"
                           "\x00\x00\x00\x00"
                           "\xfe\xff\xff\xff\xff\xff\xff\xff",
                           16));
  const Result<Attributes> back = DecodeAttributes(Block(b));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->mode, 0755u);
  EXPECT_EQ(back->mtime_ns, -2);
}

TEST(Attributes, RefusesMoreThanPermissionBitsAndAReservedField) {
  EXPECT_TRUE(DecodeAttributes(Block(EncodeAttributes({07777, 1}))).ok());
  EXPECT_EQ(DecodeAttributes(Block(EncodeAttributes({010000, 1}))).status().code(),
            Status::Code::kInvalid);
  // S_IFREG | 0644, as a careless client would send st_mode.
  EXPECT_EQ(DecodeAttributes(Block(EncodeAttributes({0100644, 1}))).status().code(),
            Status::Code::kInvalid);
  std::string reserved = EncodeAttributes({0644, 1});
  reserved[7] = '\x01';
  EXPECT_EQ(DecodeAttributes(Block(reserved)).status().code(), Status::Code::kInvalid);
}

TEST(AttributeOps, HeaderRules) {
  EXPECT_TRUE(IsKnownOp(103));
  EXPECT_TRUE(IsKnownOp(104));
  EXPECT_TRUE(IsKnownOp(203));
  EXPECT_STREQ(OpName(103), "backup-attrs");
  EXPECT_STREQ(OpName(104), "make-folder");
  EXPECT_STREQ(OpName(203), "list-attrs");
  EXPECT_TRUE(HasRequestPayload(Op::kBackupAttrs));
  EXPECT_TRUE(HasRequestPayload(Op::kMakeFolder));
  EXPECT_FALSE(HasRequestPayload(Op::kListAttrs));
  for (uint8_t op : std::initializer_list<uint8_t>{103, 104}) {
    EXPECT_EQ(CheckNameLen(Header(op, 0, 16)).code(), Status::Code::kInvalid) << int{op};
    EXPECT_TRUE(CheckNameLen(Header(op, 4096, 16)).ok()) << int{op};
    EXPECT_EQ(CheckNameLen(Header(op, 4097, 16)).code(), Status::Code::kInvalid) << int{op};
    EXPECT_EQ(CheckSize(Header(op, 1, 15), kMax).code(), Status::Code::kInvalid) << int{op};
    EXPECT_EQ(CheckSize(Header(op, 1, 0), kMax).code(), Status::Code::kInvalid) << int{op};
    EXPECT_TRUE(CheckSize(Header(op, 1, 16), kMax).ok()) << int{op};
  }
  EXPECT_TRUE(CheckSize(Header(103, 1, 16 + kMax), kMax).ok());
  EXPECT_EQ(CheckSize(Header(103, 1, 16 + kMax + 1), kMax).code(), Status::Code::kTooLarge);
  EXPECT_EQ(CheckSize(Header(103, 1, UINT64_MAX), kMax).code(), Status::Code::kTooLarge);
  EXPECT_EQ(CheckSize(Header(104, 1, 17), kMax).code(), Status::Code::kInvalid);
  EXPECT_TRUE(CheckNameLen(Header(203, 0, 0)).ok());
  EXPECT_EQ(CheckNameLen(Header(203, 1, 0)).code(), Status::Code::kInvalid);
  EXPECT_EQ(CheckSize(Header(203, 0, 1), kMax).code(), Status::Code::kInvalid);
}

TEST(AttributeOps, BackupAttrsStreamsTheFileAfterTheBlock) {
  const std::string file = "hello";
  const std::string req = EncodeRequestPrefix(9, Op::kBackupAttrs, "d/a", 16 + file.size()) +
                          EncodeAttributes({0640, 1700000000123456789}) + file +
                          EncodeDigestTrailer(CountingDigest());
  // Exact bytes of the prefix: user 9, version 2, op 103, name_len 3, size 21.
  EXPECT_EQ(req.substr(0, 19), std::string("\x09\x00\x00\x00\x02\x67\x03\x00"
                                           "\x15\x00\x00\x00\x00\x00\x00\x00"
                                           "d/a",
                                           19));
  RequestParser p(kMax);
  const size_t used = FeedAll(p, req);
  EXPECT_EQ(used, 16 + 3 + 16u);
  ASSERT_EQ(p.state(), State::kPayload);
  EXPECT_EQ(p.request().payload_size, file.size());
  EXPECT_EQ(p.payload_left(), file.size());
  ASSERT_TRUE(p.attributes().has_value());
  EXPECT_EQ(p.attributes()->mode, 0640u);
  EXPECT_EQ(p.attributes()->mtime_ns, 1700000000123456789);
  p.ConsumePayload(file.size());
  EXPECT_EQ(FeedAll(p, std::string_view(req).substr(used + file.size())), kDigestSize);
  ASSERT_TRUE(p.done());
  EXPECT_EQ(*p.request().digest, CountingDigest());
}

TEST(AttributeOps, EmptyFileGoesStraightToTheDigest) {
  RequestParser p(kMax);
  FeedAll(p, EncodeRequestPrefix(9, Op::kBackupAttrs, "e", 16) + EncodeAttributes({0, 0}));
  EXPECT_EQ(p.state(), State::kDigest);
  EXPECT_EQ(p.request().payload_size, 0u);
}

TEST(AttributeOps, MakeFolderIsDoneAfterTheBlock) {
  RequestParser p(kMax);
  const std::string req =
      EncodeRequestPrefix(9, Op::kMakeFolder, "photos", 16) + EncodeAttributes({0750, 5});
  EXPECT_EQ(FeedAll(p, req + "next"), req.size());
  ASSERT_TRUE(p.done());
  EXPECT_EQ(p.request().name, "photos");
  EXPECT_EQ(p.attributes()->mode, 0750u);
  EXPECT_EQ(p.attributes()->mtime_ns, 5);
  EXPECT_FALSE(p.request().digest.has_value());
}

TEST(AttributeOps, RefusalsAnswer1003Or1011) {
  std::string bad_mode =
      EncodeRequestPrefix(9, Op::kBackupAttrs, "a", 17) + EncodeAttributes({010000, 0}) + "x";
  std::string reserved =
      EncodeRequestPrefix(9, Op::kMakeFolder, "a", 16) + EncodeAttributes({0700, 0});
  reserved[reserved.size() - 12] = '\x01';
  for (const std::string& req : {bad_mode, reserved}) {
    RequestParser p(kMax);
    EXPECT_EQ(FeedAll(p, req), 16 + 1 + 16u);
    EXPECT_EQ(p.state(), State::kError);
    EXPECT_EQ(p.error_code(), ResponseCode::kError);
  }
  RequestParser short_size(kMax);
  FeedAll(short_size, EncodeRequestPrefix(9, Op::kBackupAttrs, "a", 15));
  EXPECT_EQ(short_size.state(), State::kError);
  EXPECT_EQ(short_size.error_code(), ResponseCode::kError);
  RequestParser over(kMax);
  FeedAll(over, EncodeRequestPrefix(9, Op::kBackupAttrs, "a", 16 + kMax + 1));
  EXPECT_EQ(over.error_code(), ResponseCode::kTooLarge);
}

TEST(AttrEntries, ExactBytes) {
  AttrEntry e;
  e.name = "a";
  e.kind = EntryKind::kFile;
  e.attributes = {0644, -2};
  e.size = 5;
  e.sha256 = CountingDigest();
  std::string out;
  AppendAttrEntry(out, e);
  EXPECT_EQ(out, std::string("\x01\x00"
                             "a"
                             "\x00"
                             "\xa4\x01\x00\x00"
                             "\x05\x00\x00\x00\x00\x00\x00\x00"
                             "\xfe\xff\xff\xff\xff\xff\xff\xff",
                             24) +
                     EncodeDigestTrailer(e.sha256));
  EXPECT_EQ(out.size(), kAttrEntryFixedSize + 1);
  EXPECT_EQ(kAttrEntryFixedSize, 55u);
}

TEST(AttrEntries, RoundTripFoldersBeforeTheirFiles) {
  std::vector<AttrEntry> in(3);
  in[0].name = "a";
  in[0].kind = EntryKind::kFolder;
  in[0].attributes = {0755, 1};
  in[1].name = "a-b";
  in[1].attributes = {0, INT64_MIN};
  in[1].size = UINT64_MAX;
  in[2].name = "a/x";
  in[2].attributes = {07777, INT64_MAX};
  in[2].sha256 = CountingDigest();
  std::string payload;
  for (const AttrEntry& e : in) AppendAttrEntry(payload, e);
  const Result<std::vector<AttrEntry>> out = DecodeAttrEntries(payload);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->size(), 3u);
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ((*out)[i].name, in[i].name);
    EXPECT_EQ((*out)[i].kind, in[i].kind);
    EXPECT_EQ((*out)[i].attributes.mode, in[i].attributes.mode);
    EXPECT_EQ((*out)[i].attributes.mtime_ns, in[i].attributes.mtime_ns);
    EXPECT_EQ((*out)[i].size, in[i].size);
    EXPECT_EQ((*out)[i].sha256, in[i].sha256);
  }
}

TEST(AttrEntries, RefusesBrokenPayloads) {
  AttrEntry a;
  a.name = "a";
  AttrEntry b;
  b.name = "b";
  std::string ab;
  AppendAttrEntry(ab, a);
  AppendAttrEntry(ab, b);
  for (size_t cut = 1; cut < ab.size(); ++cut) {
    if (cut == kAttrEntryFixedSize + 1) continue;
    EXPECT_FALSE(DecodeAttrEntries(std::string_view(ab).substr(0, cut)).ok()) << cut;
  }
  std::string ba;
  AppendAttrEntry(ba, b);
  AppendAttrEntry(ba, a);
  EXPECT_FALSE(DecodeAttrEntries(ba).ok());
  std::string kind = ab;
  kind[3] = '\x02';
  EXPECT_EQ(DecodeAttrEntries(kind).status().code(), Status::Code::kInvalid);
  std::string mode = ab;
  mode[6] = '\x10';  // mode 0x10000000
  EXPECT_EQ(DecodeAttrEntries(mode).status().code(), Status::Code::kInvalid);
  AttrEntry sized;
  sized.name = "f";
  sized.kind = EntryKind::kFolder;
  sized.size = 1;
  std::string folder;
  AppendAttrEntry(folder, sized);
  EXPECT_EQ(DecodeAttrEntries(folder).status().code(), Status::Code::kInvalid);
}

}  // namespace
}  // namespace backupd::protocol::v2

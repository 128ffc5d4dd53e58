// tests (unprivileged): fuzz target for v2::RequestParser; reads the input as one v2 connection's
// bytes, request after request, the way the worker does (Fill with short reads, file payload
// streamed past the parser, Fill again for the digest), and checks that against feeding each
// request whole, against the field bounds, and against the sniffer.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "protocol/request_parser_v2.h"
#include "protocol/wire_v2.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_peer.h"

namespace v2 = backupd::protocol::v2;
using backupd::Status;
using backupd::fuzz::Peer;

namespace {

using State = v2::RequestParser::State;

// Small enough that the driver's boundary values (4096, 4097) land on both sides of it.
constexpr uint64_t kMaxFileSize = 4096;

bool SameRequest(const v2::RequestParser& a, const v2::RequestParser& b) {
  const backupd::protocol::ParsedRequest& x = a.request();
  const backupd::protocol::ParsedRequest& y = b.request();
  return x.user_id == y.user_id && x.op == y.op && x.name == y.name &&
         x.payload_size == y.payload_size && x.digest == y.digest &&
         a.auth_message() == b.auth_message() && a.state() == b.state() &&
         a.attributes().has_value() == b.attributes().has_value() &&
         (!a.attributes() || (a.attributes()->mode == b.attributes()->mode &&
                              a.attributes()->mtime_ns == b.attributes()->mtime_ns)) &&
         a.error().code() == b.error().code() && a.error_code() == b.error_code();
}

// The same bytes fed in as few calls as the parser allows, payload skipped as one piece.
v2::RequestParser FeedWhole(const uint8_t* data, size_t size) {
  v2::RequestParser p(kMaxFileSize);
  size_t at = p.Feed(data, size);
  if (p.state() == State::kPayload) {
    const auto n = static_cast<size_t>(std::min<uint64_t>(p.payload_left(), size - at));
    p.ConsumePayload(n);
    at += n;
    p.Feed(data + at, size - at);
  }
  return p;
}

void CheckRefusal(const v2::RequestParser& p) {
  const Status::Code code = p.error().code();
  FUZZ_CHECK(code == Status::Code::kInvalid || code == Status::Code::kTooLarge);
  // Over a cap is 1011 and nothing else is.
  FUZZ_CHECK((code == Status::Code::kTooLarge) == (p.error_code() == v2::ResponseCode::kTooLarge));
  FUZZ_CHECK(p.error_code() == v2::ResponseCode::kUnsupported ||
             p.error_code() == v2::ResponseCode::kBadName ||
             p.error_code() == v2::ResponseCode::kError ||
             p.error_code() == v2::ResponseCode::kTooLarge);
  FUZZ_CHECK(p.payload_left() == 0 && p.want() == 0);
  FUZZ_CHECK(p.request().name.empty() || p.error_code() != v2::ResponseCode::kBadName);
}

void CheckDone(const v2::RequestParser& p, size_t used) {
  const v2::RequestHeader& h = p.header();
  FUZZ_CHECK(v2::CheckVersionAndOp(h).ok());
  FUZZ_CHECK(v2::CheckNameLen(h).ok());
  FUZZ_CHECK(v2::CheckSize(h, kMaxFileSize).ok());
  const backupd::protocol::ParsedRequest& r = p.request();
  FUZZ_CHECK(r.user_id == h.user_id && r.op == h.op);
  const auto op = static_cast<v2::Op>(h.op);
  size_t expected = v2::kRequestHeaderSize + h.name_len;
  if (v2::HasRequestPayload(op)) expected += static_cast<size_t>(h.size);
  const bool backup = op == v2::Op::kBackup || op == v2::Op::kBackupAttrs;
  if (backup) expected += backupd::protocol::kDigestSize;
  // Exactly the bytes the fields announce, never one more.
  FUZZ_CHECK(used == expected);
  FUZZ_CHECK(p.payload_left() == 0 && p.want() == 0);
  FUZZ_CHECK(r.digest.has_value() == backup);
  FUZZ_CHECK(p.attributes().has_value() == v2::HasAttributes(op));
  if (p.attributes()) FUZZ_CHECK(p.attributes()->mode <= v2::kMaxMode);
  if (v2::IsAuthOp(op)) {
    FUZZ_CHECK(p.auth_message().size() == h.size);
    FUZZ_CHECK(h.size >= 1 && h.size <= v2::kMaxAuthMessageSize);
    FUZZ_CHECK(r.payload_size == 0);
  } else if (op == v2::Op::kRestoreVersion) {
    // Its version number is kept like an auth message, and is not a file payload.
    FUZZ_CHECK(p.auth_message().size() == v2::kRestoreVersionPayloadSize);
    FUZZ_CHECK(r.payload_size == 0);
  } else {
    FUZZ_CHECK(p.auth_message().empty());
    const uint64_t file_size = op == v2::Op::kBackup        ? h.size
                               : op == v2::Op::kBackupAttrs ? h.size - v2::kAttributesSize
                                                            : 0;
    FUZZ_CHECK(r.payload_size == file_size);
  }
  if (op == v2::Op::kList || op == v2::Op::kListAttrs || op == v2::Op::kListDeleted ||
      v2::IsAuthOp(op)) {
    FUZZ_CHECK(r.name.empty());
  } else {
    const backupd::Result<std::string> again = backupd::protocol::NormalizeName(r.name);
    FUZZ_CHECK(again.ok() && *again == r.name);
  }
}

// A read that stopped Fill: only the end of input does, and then mid-field.
bool CheckStopped(const Status& read, const Peer& peer, const v2::RequestParser& p) {
  FUZZ_CHECK(read.code() == Status::Code::kClosed);
  FUZZ_CHECK(peer.pos() == peer.size() && p.want() > 0);
  return false;
}

// Parses the request starting at peer.pos(); true if it ended cleanly and another may follow.
bool OneRequest(Peer& peer) {
  const size_t start = peer.pos();
  if (peer.size() - start >= v2::kSniffSize) {
    std::array<uint8_t, v2::kSniffSize> first{};
    std::copy_n(peer.data() + start, first.size(), first.begin());
    const v2::Sniffed sniffed = v2::Sniff(first);
    // Whatever the sniffer does not call v2 the parser refuses at the header, as unsupported.
    if (sniffed != v2::Sniffed::kV2) {
      v2::RequestParser p(kMaxFileSize);
      p.Feed(peer.data() + start, peer.size() - start);
      FUZZ_CHECK(p.state() == State::kHeader ||
                 (p.state() == State::kError && p.error_code() == v2::ResponseCode::kUnsupported));
    }
    FUZZ_CHECK(v2::Refusal(sniffed).empty() ==
               (sniffed == v2::Sniffed::kV1 || sniffed == v2::Sniffed::kV2));
  }

  v2::RequestParser p(kMaxFileSize);
  Status read = p.Fill(peer.Source());
  if (!read.ok()) return CheckStopped(read, peer, p);
  // Fill asked for no byte past the fields it completed or refused.
  FUZZ_CHECK(peer.asked_end() <= peer.pos());
  FUZZ_CHECK(p.want() == 0);
  if (p.state() == State::kError) {
    CheckRefusal(p);
    const v2::RequestParser whole = FeedWhole(peer.data() + start, peer.size() - start);
    FUZZ_CHECK(SameRequest(whole, p));
    return false;
  }
  if (p.state() == State::kPayload) {
    FUZZ_CHECK(p.request().payload_size <= kMaxFileSize);
    FUZZ_CHECK(p.payload_left() == p.request().payload_size && p.payload_left() > 0);
    peer.StreamPayload(p);
    if (p.payload_left() > 0) {
      FUZZ_CHECK(peer.pos() == peer.size() && p.state() == State::kPayload);
      return false;
    }
    FUZZ_CHECK(p.state() == State::kDigest);
    read = p.Fill(peer.Source());
    if (!read.ok()) return CheckStopped(read, peer, p);
    FUZZ_CHECK(peer.asked_end() <= peer.pos());
  }
  FUZZ_CHECK(p.done());
  CheckDone(p, peer.pos() - start);
  const v2::RequestParser whole = FeedWhole(peer.data() + start, peer.pos() - start);
  FUZZ_CHECK(SameRequest(whole, p));
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A connection carries requests back to back until one fails or the bytes run out.
  Peer peer(data, size);
  while (peer.pos() < size && OneRequest(peer)) {
  }
  return 0;
}

// tests (unprivileged): fuzz target for RequestParser; reads the input as one connection's bytes,
// request after request, the way the worker does (Fill with short reads, payload streamed past
// the parser), and checks that against feeding each request whole and against the field bounds.
#include <cstddef>
#include <cstdint>
#include <string>

#include "protocol/request_parser.h"
#include "protocol/wire.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_peer.h"

namespace bp = backupd::protocol;
using backupd::fuzz::Peer;

namespace {

using State = bp::RequestParser::State;

// Small enough that the driver's boundary values (4096, 4097) land on both sides of it.
constexpr uint64_t kMaxFileSize = 4096;

bool SameRequest(const bp::ParsedRequest& a, const bp::ParsedRequest& b) {
  return a.user_id == b.user_id && a.op == b.op && a.name == b.name &&
         a.payload_size == b.payload_size;
}

void CheckDone(const bp::RequestParser& p, size_t used) {
  const bp::RequestHeader& h = p.header();
  FUZZ_CHECK(bp::CheckRequestHeader(h).ok());
  const bp::ParsedRequest& r = p.request();
  FUZZ_CHECK(r.user_id == h.user_id && r.op == h.op);
  const auto op = static_cast<bp::Op>(h.op);
  size_t expected = bp::kRequestHeaderSize + h.name_len;
  if (bp::HasRequestPayload(op)) expected += bp::kSizeFieldSize + r.payload_size;
  // Exactly the bytes the fields announce, never one more.
  FUZZ_CHECK(used == expected);
  FUZZ_CHECK(r.payload_size <= kMaxFileSize);
  FUZZ_CHECK(p.payload_left() == 0 && p.want() == 0);
  if (op == bp::Op::kList) {
    FUZZ_CHECK(r.name.empty());
  } else {
    const backupd::Result<std::string> again = bp::NormalizeName(r.name);
    FUZZ_CHECK(again.ok() && *again == r.name);
  }
}

// Parses the request starting at peer.pos(); true if it ended cleanly and another may follow.
bool OneRequest(Peer& peer) {
  const size_t start = peer.pos();
  bp::RequestParser p(kMaxFileSize);
  const backupd::Status read = p.Fill(peer.Source());
  const size_t fields = peer.pos() - start;

  // The same bytes fed at once must land in the same place.
  bp::RequestParser whole(kMaxFileSize);
  const size_t used = whole.Feed(peer.data() + start, peer.size() - start);
  FUZZ_CHECK(used == fields);
  FUZZ_CHECK(whole.state() == p.state());
  FUZZ_CHECK(SameRequest(whole.request(), p.request()));
  FUZZ_CHECK(whole.error().code() == p.error().code());

  if (!read.ok()) {
    // Only running out of input stops a read, and then mid-field.
    FUZZ_CHECK(read.code() == backupd::Status::Code::kClosed);
    FUZZ_CHECK(peer.pos() == peer.size() && p.want() > 0);
    return false;
  }
  // Fill asked for no byte past the fields it completed or refused.
  FUZZ_CHECK(peer.asked_end() <= peer.pos());
  FUZZ_CHECK(p.want() == 0);
  if (p.state() == State::kError) {
    FUZZ_CHECK(p.error().code() == backupd::Status::Code::kInvalid ||
               p.error().code() == backupd::Status::Code::kTooLarge);
    FUZZ_CHECK(p.payload_left() == 0);
    return false;
  }
  if (p.state() == State::kPayload) {
    FUZZ_CHECK(p.request().payload_size <= kMaxFileSize);
    FUZZ_CHECK(p.payload_left() == p.request().payload_size && p.payload_left() > 0);
    peer.StreamPayload(p);
    if (!p.done()) {
      FUZZ_CHECK(peer.pos() == peer.size());
      return false;
    }
  }
  FUZZ_CHECK(p.done());
  CheckDone(p, peer.pos() - start);
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

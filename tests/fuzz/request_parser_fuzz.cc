// tests (unprivileged): fuzz target for RequestParser; parses a stream of requests whole and in
// pieces and checks both agree and obey the field bounds.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "protocol/wire.h"
#include "tests/fuzz/fuzz_check.h"

namespace bp = backupd::protocol;

namespace {

// Small enough that the driver's boundary values (4096, 4097) land on both sides of it.
constexpr uint64_t kMaxFileSize = 4096;

struct Outcome {
  bp::RequestParser::State state;
  size_t used;
  std::string name;
  uint32_t payload_size;
  std::string payload;
};

// Feeds in pieces of 1, 2, 3, ... bytes so every field boundary is also a piece boundary somewhere.
Outcome ParseInPieces(const uint8_t* data, size_t size) {
  bp::RequestParser p(kMaxFileSize);
  size_t used = 0;
  size_t piece = 1;
  while (used < size) {
    const size_t n = std::min(piece++, size - used);
    const size_t took = p.Feed(data + used, n);
    FUZZ_CHECK(took <= n);
    used += took;
    if (took < n) {
      FUZZ_CHECK(p.done() || p.state() == bp::RequestParser::State::kError);
      break;
    }
  }
  return {p.state(), used, p.name(), p.payload_size(), p.payload()};
}

void CheckDone(const bp::RequestParser& p, size_t used) {
  const bp::RequestHeader& h = p.header();
  FUZZ_CHECK(bp::CheckRequestHeader(h).ok());
  const auto op = static_cast<bp::Op>(h.op);
  size_t expected = bp::kRequestHeaderSize + h.name_len;
  if (bp::HasRequestPayload(op)) expected += bp::kSizeFieldSize + p.payload_size();
  // Exactly the bytes the fields announce, never one more.
  FUZZ_CHECK(used == expected);
  FUZZ_CHECK(p.payload().size() == p.payload_size());
  FUZZ_CHECK(p.payload_size() <= kMaxFileSize);
  if (op == bp::Op::kList) {
    FUZZ_CHECK(p.name().empty());
  } else {
    const backupd::Result<std::string> again = bp::NormalizeName(p.name());
    FUZZ_CHECK(again.ok() && *again == p.name());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bp::RequestParser p(kMaxFileSize);
  const size_t used = p.Feed(data, size);
  FUZZ_CHECK(used <= size);
  if (p.done()) {
    CheckDone(p, used);
  } else if (p.state() == bp::RequestParser::State::kError) {
    FUZZ_CHECK(!p.error().ok());
  } else {
    FUZZ_CHECK(used == size);
    if (p.state() == bp::RequestParser::State::kPayload) {
      FUZZ_CHECK(p.payload_size() <= kMaxFileSize);
    }
  }

  const Outcome pieces = ParseInPieces(data, size);
  FUZZ_CHECK(pieces.state == p.state());
  FUZZ_CHECK(pieces.used == used);
  FUZZ_CHECK(pieces.name == p.name());
  FUZZ_CHECK(pieces.payload_size == p.payload_size());
  FUZZ_CHECK(pieces.payload == p.payload());

  // A connection carries requests back to back until one fails or the bytes run out.
  size_t offset = used;
  while (p.done() && offset < size) {
    p.Reset();
    const size_t took = p.Feed(data + offset, size - offset);
    FUZZ_CHECK(took <= size - offset);
    if (p.done()) CheckDone(p, took);
    offset += took;
  }
  return 0;
}

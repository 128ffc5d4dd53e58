// shared (any privilege): the request parser the worker runs on every connection and the fuzzers
// test. Pure: bytes in, a parsed request or a Status out; the caller does the reading.
#ifndef BACKUPD_PROTOCOL_REQUEST_PARSER_H_
#define BACKUPD_PROTOCOL_REQUEST_PARSER_H_

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>

#include "base/status.h"
#include "protocol/wire.h"

namespace backupd::protocol {

// A request as the handler sees it, whichever version framed it.
struct ParsedRequest {
  uint32_t user_id = 0;
  uint8_t op = 0;             // as sent, so a refused unknown op can still be reported
  std::string name;           // normalized; empty for list and until a valid name is read
  uint64_t payload_size = 0;  // 64 bits for v2's sake; v1 announces at most kMaxPayloadSize
  // v2 backup: the SHA-256 the client sent after the payload, from kDone on. v1 sends none.
  std::optional<Digest> digest;
};

// Gives the parser 1..max bytes from the connection, or the error that stopped the read.
using ByteSource = std::function<Result<size_t>(uint8_t* buf, size_t max)>;

namespace internal {

// The Fill of every parser version: pulls bytes through `read` while the parser wants some,
// never asking for more than the field in progress still needs.
template <typename Parser>
Status FillFields(Parser& parser, const ByteSource& read) {
  // No field is longer than a name, so each field takes one read when the bytes are already there.
  std::array<uint8_t, kMaxNameLen> buf;
  for (size_t need = parser.want(); need > 0; need = parser.want()) {
    const size_t max = std::min(need, buf.size());
    Result<size_t> got = read(buf.data(), max);
    if (!got.ok()) return got.status();
    // A source breaking its 1..max promise would hang this loop or lose bytes.
    if (*got == 0 || *got > max) std::abort();
    parser.Feed(buf.data(), *got);
  }
  return Status::Ok();
}

}  // namespace internal

// Parses one protocol v1 request: header, name and (backup) size field, each checked before the
// next byte is read (CheckRequestHeader, NormalizeName, CheckPayloadSize). The payload is not
// kept: once the size is known (state kPayload) the caller moves those bytes itself and reports
// them with ConsumePayload, so a file of any size costs no memory here. It never takes a byte past
// what the fields announce, so a pipelined next request stays with the caller. One parser per
// request.
//
// Version 2 frames requests differently (its own header, 64-bit sizes, a digest trailer, a login
// exchange first) but ends in the same ParsedRequest through the same NormalizeName and
// CheckPayloadSize rules: v2::RequestParser (request_parser_v2.h) has this class's surface, and the
// login stays out of ParsedRequest. The worker picks the parser once per connection (v2::Sniff),
// and the handlers, which read only ParsedRequest, stay version-blind. What the two share belongs
// here or in wire.h, not in either framing.
class RequestParser {
 public:
  enum class State { kHeader, kName, kSize, kPayload, kDone, kError };

  explicit RequestParser(uint64_t max_file_size);

  // Consumes bytes of the header, name and size field and returns how many it took: fewer than
  // `len` only once those fields are complete or one failed its check. Payload bytes are never
  // taken here.
  size_t Feed(const uint8_t* data, size_t len);
  // Pulls the fields through `read` until they are complete or one fails its check, never asking
  // for more than the field in progress still needs. Returns the read's error if one stops it;
  // otherwise the state is kPayload, kDone or kError.
  Status Fill(const ByteSource& read);
  // Records that the caller moved `n` more payload bytes; kDone once all have been. `n` over
  // payload_left() is a caller bug and aborts.
  void ConsumePayload(uint64_t n);

  State state() const { return state_; }
  bool done() const { return state_ == State::kDone; }
  // Bytes the field in progress still needs: all a caller may read before feeding again. 0 from
  // kPayload on.
  size_t want() const;
  // Payload bytes still to come; 0 before kPayload and from kDone on.
  uint64_t payload_left() const { return payload_left_; }
  // Invalid (header or name) or TooLarge (size) once state() is kError.
  const Status& error() const { return error_; }
  // The v1 header as sent, valid from kName on.
  const RequestHeader& header() const { return header_; }
  // user_id and op from kName on, name from kSize on, payload_size from kPayload on.
  const ParsedRequest& request() const { return request_; }

 private:
  void Fail(Status s);
  void AfterHeader();
  void AfterName();
  void AfterSize();

  uint64_t max_file_size_;
  State state_ = State::kHeader;
  Status error_;
  RequestHeader header_;
  ParsedRequest request_;
  std::string field_;  // the header, raw name or size field being assembled
  uint64_t payload_left_ = 0;
};

}  // namespace backupd::protocol

#endif  // BACKUPD_PROTOCOL_REQUEST_PARSER_H_

// shared (any privilege): the protocol v2 request parser the worker runs on a v2 connection and the
// fuzzers test. Pure: bytes in, a parsed request or a refusal out; the caller does the reading.
#ifndef BACKUPD_PROTOCOL_REQUEST_PARSER_V2_H_
#define BACKUPD_PROTOCOL_REQUEST_PARSER_V2_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "base/status.h"
#include "protocol/request_parser.h"
#include "protocol/wire_v2.h"

namespace backupd::protocol::v2 {

// Parses one protocol v2 request with the v1 parser's surface and contract: each field is checked
// before the next byte is read, the file payload is the caller's to move (ConsumePayload), and no
// byte past the request is ever taken, so pipelined requests stay with the caller. One parser per
// request. Two differences the caller sees:
// - a backup ends in a 32-byte digest after its payload (state kDigest): after streaming the
//   payload, Fill again to read it into request().digest;
// - the auth ops' payload is a SCRAM message of at most kMaxAuthMessageSize bytes, which the
//   parser keeps (auth_message()), because the worker relays it whole. Whether a login is needed
//   or done is the connection's business, not the parser's: it frames AUTH_* like any request;
// - BACKUP_ATTRS and MAKE_FOLDER open their payload with the attributes block (state
//   kAttributes), which the parser reads and checks (attributes()); for BACKUP_ATTRS the payload
//   the caller moves, payload_size and the digest are then the file's bytes only.
class RequestParser {
 public:
  enum class State { kHeader, kName, kAuthMessage, kAttributes, kPayload, kDigest, kDone, kError };

  explicit RequestParser(uint64_t max_file_size);

  // Consumes bytes of the header, name, auth message and digest and returns how many it took:
  // fewer than `len` only once those fields are complete, the payload is due, or a check failed.
  size_t Feed(const uint8_t* data, size_t len);
  // Pulls fields through `read` until the request is done, its payload is due, or a check fails.
  // Returns the read's error if one stops it; otherwise the state is kPayload, kDone or kError.
  Status Fill(const ByteSource& read);
  // Records that the caller moved `n` more payload bytes; kDigest once all have been. `n` over
  // payload_left() is a caller bug and aborts.
  void ConsumePayload(uint64_t n);

  State state() const { return state_; }
  bool done() const { return state_ == State::kDone; }
  // Bytes the field in progress still needs: all a caller may read before feeding again. 0 in
  // kPayload, kDone and kError.
  size_t want() const;
  // File payload bytes still to come; 0 outside kPayload.
  uint64_t payload_left() const { return payload_left_; }
  // Once state() is kError: why (Invalid or TooLarge), and the status the server answers with
  // (1017 version or op, 1010 name_len or name, 1003 a size the op forbids or a bad attributes
  // block, 1011 over a cap).
  const Status& error() const { return error_; }
  ResponseCode error_code() const { return error_code_; }
  // The v2 header as sent, valid from kName on.
  const RequestHeader& header() const { return header_; }
  // user_id and op from kName on, name after it, payload_size (backup only: auth messages are not
  // a file) from kPayload on, digest at kDone.
  const ParsedRequest& request() const { return request_; }
  // AUTH_START / AUTH_FINISH: the SCRAM message, at kDone.
  const std::string& auth_message() const { return auth_message_; }
  // BACKUP_ATTRS / MAKE_FOLDER: the attributes block, checked, from kPayload (or kDone) on.
  const std::optional<Attributes>& attributes() const { return attributes_; }
  // RESTORE_VERSION: the version asked for, at kDone (its 8-byte payload, kept like a SCRAM
  // message in the kAuthMessage state).
  uint64_t version() const;

 private:
  void Fail(ResponseCode code, Status s);
  void AfterHeader();
  void AfterName();
  void AfterAttributes();
  void AfterDigest();

  uint64_t max_file_size_;
  State state_ = State::kHeader;
  Status error_;
  ResponseCode error_code_ = ResponseCode::kError;
  RequestHeader header_;
  ParsedRequest request_;
  std::string field_;  // the header, raw name or digest being assembled
  std::string auth_message_;
  std::optional<Attributes> attributes_;
  uint64_t payload_left_ = 0;
};

}  // namespace backupd::protocol::v2

#endif  // BACKUPD_PROTOCOL_REQUEST_PARSER_V2_H_

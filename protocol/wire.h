// shared (any privilege): protocol version 1 on the wire — constants, header encode/decode, checks.
// Pure: no sockets, no files. docs/PROTOCOL.md is the spec in prose.
#ifndef BACKUPD_PROTOCOL_WIRE_H_
#define BACKUPD_PROTOCOL_WIRE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "base/status.h"

namespace backupd::protocol {

inline constexpr uint8_t kVersion1 = 1;

enum class Op : uint8_t { kBackup = 100, kRestore = 200, kDelete = 201, kList = 202 };

enum class ResponseCode : uint16_t {
  kRestoreOk = 210,  // name echoed, payload = the file
  kListOk = 211,     // name = 32 random alphanumerics, payload = "name\n" per file, sorted
  kOk = 212,         // backup or delete done, name echoed
  kNotFound = 1001,  // name echoed
  kNoFiles = 1002,   // the user has no files; no name
  kError = 1003,     // general error; no name or the name echoed
};

// Request: user_id u32 | version u8 | op u8 | name_len u16 | name | [backup: size u32 | bytes]
inline constexpr size_t kRequestHeaderSize = 8;
// Response: version u8 | status u16 | name_len u16 | name | [210/211: size u32 | bytes]
inline constexpr size_t kResponseHeaderSize = 5;
inline constexpr size_t kSizeFieldSize = 4;
inline constexpr size_t kMaxNameLen = 4096;
inline constexpr size_t kMaxComponentLen = 255;
inline constexpr size_t kListNameLen = 32;
// Names with this prefix (in any component) are the server's own: temp files, later metadata.
inline constexpr std::string_view kReservedPrefix = ".backupd-";

struct RequestHeader {
  uint32_t user_id = 0;
  uint8_t version = 0;
  uint8_t op = 0;
  uint16_t name_len = 0;
};

struct ResponseHeader {
  uint8_t version = 0;
  uint16_t status = 0;
  uint16_t name_len = 0;
};

// Little-endian helpers; `p` must point at enough bytes.
void PutU16(uint8_t* p, uint16_t v);
void PutU32(uint8_t* p, uint32_t v);
uint16_t GetU16(const uint8_t* p);
uint32_t GetU32(const uint8_t* p);

RequestHeader DecodeRequestHeader(const std::array<uint8_t, kRequestHeaderSize>& bytes);
std::array<uint8_t, kRequestHeaderSize> EncodeRequestHeader(const RequestHeader& h);
ResponseHeader DecodeResponseHeader(const std::array<uint8_t, kResponseHeaderSize>& bytes);
std::array<uint8_t, kResponseHeaderSize> EncodeResponseHeader(const ResponseHeader& h);

// Checks a decoded header before any more bytes are read: version 1, a known op, and a name_len
// that fits the op (0 for list, 1..kMaxNameLen otherwise). Invalid with a reason otherwise.
Status CheckRequestHeader(const RequestHeader& h);

// True for the ops that carry a size field and payload after the name (backup).
bool HasRequestPayload(Op op);
// True for the statuses whose response carries a size field and payload (210, 211).
bool HasResponsePayload(uint16_t status);
// True for a known op value.
bool IsKnownOp(uint8_t op);

// Turns a raw wire name into the canonical relative path the server stores it under: strips
// leading '/', refuses (Invalid) empty names, NUL bytes, empty / "." / ".." components,
// components over kMaxComponentLen, names over kMaxNameLen, and any component starting with
// kReservedPrefix. "a//b" is refused, not folded.
Result<std::string> NormalizeName(std::string_view raw);

// A whole response's bytes up to and including the size field (if the status has one); the
// payload itself is streamed by the caller.
std::string EncodeResponsePrefix(uint16_t status, std::string_view name, uint32_t payload_size);
// A whole request's bytes up to and including the size field (if the op has one).
std::string EncodeRequestPrefix(uint32_t user_id, Op op, std::string_view name,
                                uint32_t payload_size);

// 32 characters from [A-Za-z0-9] drawn from `rng`, the name a list response carries.
std::string RandomListName(std::mt19937_64& rng);

// True for the six status codes of version 1.
bool IsKnownStatus(uint16_t status);

// An incremental parser for one whole request, fed bytes as they arrive in pieces of any size.
// It runs the same checks the worker applies with its own bounded socket reads (CheckRequestHeader,
// NormalizeName, the max_file_size cap) and never consumes a byte past what the fields announce, so
// whatever follows a finished request stays with the caller. It keeps the payload in memory, so it
// is meant for fuzzing, tests and small payloads, not for streaming big files.
class RequestParser {
 public:
  enum class State { kHeader, kName, kSize, kPayload, kDone, kError };

  explicit RequestParser(uint64_t max_file_size);

  // Consumes bytes from `data` and returns how many it took: fewer than `len` only once the request
  // is done or in error. Feeding a done or failed parser consumes nothing.
  size_t Feed(const uint8_t* data, size_t len);
  // Starts over for the next request on the same connection.
  void Reset();

  State state() const { return state_; }
  bool done() const { return state_ == State::kDone; }
  // Invalid (header or name) or TooLarge (size over max_file_size) once state() is kError.
  const Status& error() const { return error_; }
  // Valid from kName on.
  const RequestHeader& header() const { return header_; }
  // The normalized name, valid from kSize on (or at kDone); empty for list.
  const std::string& name() const { return name_; }
  // The announced payload size, valid from kPayload on (or at kDone); 0 for ops without payload.
  uint32_t payload_size() const { return payload_size_; }
  // The payload bytes received so far.
  const std::string& payload() const { return payload_; }

 private:
  void Fail(Status s);
  void AfterHeader();
  void AfterName();
  void AfterSize();

  uint64_t max_file_size_;
  State state_ = State::kHeader;
  Status error_;
  RequestHeader header_;
  std::string buf_;  // the fixed-size field being assembled (header, raw name or size)
  std::string name_;
  uint32_t payload_size_ = 0;
  std::string payload_;
};

}  // namespace backupd::protocol

#endif  // BACKUPD_PROTOCOL_WIRE_H_

// shared (any privilege): protocol version 1 on the wire (constants, header encode/decode, checks)
// and what version 2 (wire_v2.h) shares with it: integer helpers, name rules, the size check, the
// digest type.
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
// The largest payload a v1 size field can announce, either way.
inline constexpr uint64_t kMaxPayloadSize = UINT32_MAX;
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

// A SHA-256 as v2 frames it; callers compute it, the protocol only carries it.
inline constexpr size_t kDigestSize = 32;
using Digest = std::array<uint8_t, kDigestSize>;

// Little-endian helpers; `p` must point at enough bytes.
void PutU16(uint8_t* p, uint16_t v);
void PutU32(uint8_t* p, uint32_t v);
void PutU64(uint8_t* p, uint64_t v);
uint16_t GetU16(const uint8_t* p);
uint32_t GetU32(const uint8_t* p);
uint64_t GetU64(const uint8_t* p);
void AppendU16(std::string& out, uint16_t v);
void AppendU32(std::string& out, uint32_t v);
void AppendU64(std::string& out, uint64_t v);
// The name_len field for `name`. The wire cannot express a name over 65535 bytes, so one here
// means the caller skipped its own checks: that aborts.
uint16_t WireNameLen(std::string_view name);

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
// "backup", "restore", "delete", "list" or "unknown": the op as logs and counters name it.
const char* OpName(uint8_t op);

// The file size check every version shares: TooLarge if `size` is over the configured cap.
Status CheckPayloadSize(uint64_t size, uint64_t max_file_size);

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

}  // namespace backupd::protocol

#endif  // BACKUPD_PROTOCOL_WIRE_H_

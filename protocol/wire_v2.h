// shared (any privilege): protocol version 2 on the wire — ops, statuses, header encode/decode and
// checks, list entries, the version sniffer. Pure: no sockets, no files, no crypto (callers compute
// digests and SCRAM messages; this only frames them). docs/PROTOCOL.md is the spec in prose.
#ifndef BACKUPD_PROTOCOL_WIRE_V2_H_
#define BACKUPD_PROTOCOL_WIRE_V2_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "protocol/wire.h"

// Version 2 reuses v1's names (Op, ResponseCode, RequestHeader, ...) in a namespace of its own, so
// code speaking both says which it means, and v1's enums keep exactly v1's values: a switch over
// protocol::ResponseCode stays exhaustive for v1 and never has to handle a status v1 cannot send.
namespace backupd::protocol::v2 {

inline constexpr uint8_t kVersion = 2;

enum class Op : uint8_t {
  kAuthStart = 1,   // payload = SCRAM client-first-message
  kAuthFinish = 2,  // payload = SCRAM client-final-message
  kBackup = static_cast<uint8_t>(protocol::Op::kBackup),
  kRestore = static_cast<uint8_t>(protocol::Op::kRestore),
  kDelete = static_cast<uint8_t>(protocol::Op::kDelete),
  kList = static_cast<uint8_t>(protocol::Op::kList),
  // Attributes (issue 12): a file with its mode and mtime, a folder, the listing that shows both.
  kBackupAttrs = 103,  // payload = attributes block, then the file; digest of the file only
  kMakeFolder = 104,   // payload = attributes block
  kListAttrs = 203,    // 211 with attribute entries
  // Versions (issue 12).
  kListVersions = 204,    // name = a file; answered 211 with version entries
  kRestoreVersion = 205,  // name = a file, payload = version u64; answered like a restore
  kListDeleted = 206,     // no name; answered 211 with list entries of deleted names
};

// v1's six keep their numbers and meanings; every response of every status has the same layout,
// and every status >= 1000 carries a message (UTF-8, at most kMaxMessageSize bytes) as payload.
enum class ResponseCode : uint16_t {
  kRestoreOk = static_cast<uint16_t>(protocol::ResponseCode::kRestoreOk),  // payload = the file
  kListOk = static_cast<uint16_t>(protocol::ResponseCode::kListOk),        // payload = list entries
  kOk = static_cast<uint16_t>(protocol::ResponseCode::kOk),                // backup or delete done
  kAuthContinue = 220,  // payload = SCRAM server-first-message
  kAuthOk = 221,        // payload = SCRAM server-final-message ("v=...")
  kNotFound = static_cast<uint16_t>(protocol::ResponseCode::kNotFound),
  kNoFiles = static_cast<uint16_t>(protocol::ResponseCode::kNoFiles),
  kError = static_cast<uint16_t>(protocol::ResponseCode::kError),  // malformed, or server failure
  kBadName = 1010,         // name_len wrong for the op, or the name breaks the name rules
  kTooLarge = 1011,        // size over max_file_size or over the auth message limit
  kNoSpace = 1012,         // quota exceeded or disk full
  kAuthRequired = 1013,    // no login yet, or a request for another user_id than the login's
  kAuthFailed = 1014,      // wrong proof, unknown user, malformed SCRAM message
  kBusy = 1015,            // try later (login slowed down or refused for this address)
  kDigestMismatch = 1016,  // the upload's bytes do not match its digest; nothing stored
  kUnsupported = 1017,     // version or op this server does not speak
  kForbidden = 1018,       // an append-only user's request that would delete or shorten history
};

// Request: user_id u32 | version u8 | op u8 | name_len u16 | size u64 | name | payload |
// [backup: digest]. The first six bytes sit where v1 has them, so one port serves both.
inline constexpr size_t kRequestHeaderSize = 16;
// Response: version u8 | status u16 | name_len u16 | size u64 | name | payload | [210: digest].
inline constexpr size_t kResponseHeaderSize = 13;
// SCRAM messages are a few hundred bytes; the cap keeps them in the parser's memory.
inline constexpr size_t kMaxAuthMessageSize = 1024;
// The message every error response carries.
inline constexpr size_t kMaxMessageSize = 1024;
// A list entry without its name: name_len u16 | ... | size u64 | mtime_ns i64 | sha256.
inline constexpr size_t kListEntryFixedSize = 2 + 8 + 8 + kDigestSize;
// A version entry: version u64 | flags u8 | stored_ns i64 | size u64 | mtime_ns i64 | sha256.
inline constexpr size_t kVersionEntrySize = 8 + 1 + 8 + 8 + 8 + kDigestSize;
// RESTORE_VERSION's payload: the version number.
inline constexpr size_t kRestoreVersionPayloadSize = 8;
inline constexpr uint8_t kVersionCurrent = 1;  // flags bit 0: the current file
inline constexpr uint8_t kVersionDeleted = 2;  // flags bit 1: deleted after this version

// The attributes block that opens a BACKUP_ATTRS or MAKE_FOLDER payload: mode u32 (permission
// bits only) | reserved u32 (0) | mtime_ns i64.
inline constexpr size_t kAttributesSize = 16;
inline constexpr uint32_t kMaxMode = 07777;
// An attribute entry without its name: name_len u16 | kind u8 | mode u32 | size u64 |
// mtime_ns i64 | sha256.
inline constexpr size_t kAttrEntryFixedSize = 2 + 1 + 4 + 8 + 8 + kDigestSize;

struct RequestHeader {
  uint32_t user_id = 0;
  uint8_t version = 0;
  uint8_t op = 0;
  uint16_t name_len = 0;
  uint64_t size = 0;
};

struct ResponseHeader {
  uint8_t version = 0;
  uint16_t status = 0;
  uint16_t name_len = 0;
  uint64_t size = 0;
};

// One file in a 211 payload.
struct ListEntry {
  std::string name;  // normalized, as the server stores it
  uint64_t size = 0;
  int64_t mtime_ns = 0;  // modification time, nanoseconds since the epoch
  Digest sha256{};
};

// A file's or folder's mode and modification time as the client had them.
struct Attributes {
  uint32_t mode = 0;     // permission bits, 0..kMaxMode; 0 in a listing: not known
  int64_t mtime_ns = 0;  // nanoseconds since the epoch
};

// One file or folder in a LIST_ATTRS 211 payload.
enum class EntryKind : uint8_t { kFile = 0, kFolder = 1 };
struct AttrEntry {
  std::string name;
  EntryKind kind = EntryKind::kFile;
  Attributes attributes;
  uint64_t size = 0;  // 0 for folders
  Digest sha256{};    // zeros for folders and files without a fresh digest
};

// One version in a LIST_VERSIONS answer.
struct VersionEntry {
  uint64_t version = 0;
  uint8_t flags = 0;      // kVersionCurrent, kVersionDeleted
  int64_t stored_ns = 0;  // when the server stored this version
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  Digest sha256{};  // zeros when no fresh digest is stored
};

RequestHeader DecodeRequestHeader(const std::array<uint8_t, kRequestHeaderSize>& bytes);
std::array<uint8_t, kRequestHeaderSize> EncodeRequestHeader(const RequestHeader& h);
ResponseHeader DecodeResponseHeader(const std::array<uint8_t, kResponseHeaderSize>& bytes);
std::array<uint8_t, kResponseHeaderSize> EncodeResponseHeader(const ResponseHeader& h);

// The three checks a request header passes, in this order, before any more bytes are read. Each
// failure has its own answer, so they are separate: the parser maps them to statuses.
// Version 2 and a known op; Invalid otherwise (answered 1017).
Status CheckVersionAndOp(const RequestHeader& h);
// name_len fits the op: 0 for auth and the lists without a name (list, LIST_ATTRS,
// LIST_DELETED), 1..kMaxNameLen otherwise; Invalid otherwise (1010).
Status CheckNameLen(const RequestHeader& h);
// size fits the op: 0 for restore, delete, the lists and LIST_VERSIONS, exactly 8 for
// RESTORE_VERSION, 1..kMaxAuthMessageSize for auth, at most max_file_size for backup,
// kAttributesSize plus at most max_file_size for BACKUP_ATTRS, exactly kAttributesSize for
// MAKE_FOLDER. Invalid for a size the op forbids (1003), TooLarge over a cap (1011).
Status CheckSize(const RequestHeader& h, uint64_t max_file_size);

// The 16 bytes of an attributes block.
std::string EncodeAttributes(const Attributes& a);
// Invalid for a mode outside 0..kMaxMode or a reserved field other than 0.
Result<Attributes> DecodeAttributes(const std::array<uint8_t, kAttributesSize>& bytes);
// True for the ops whose payload opens with an attributes block.
bool HasAttributes(Op op);

// True for a known v2 op value.
bool IsKnownOp(uint8_t op);
// True for the ops that carry a payload: the auth ops and RESTORE_VERSION (kept by the parser),
// backup and BACKUP_ATTRS (streamed after its attributes block) and MAKE_FOLDER (the block alone).
bool HasRequestPayload(Op op);
bool IsAuthOp(Op op);
// "auth-start", "auth-finish", or v1's OpName for the ops both versions share.
const char* OpName(uint8_t op);
// True for the statuses of version 2.
bool IsKnownStatus(uint16_t status);
// True for 210: its payload is followed by the file's digest.
bool HasResponseDigest(uint16_t status);

// What a client checks before reading past a response header: version 2, a known status, a
// name_len within kMaxNameLen (0 for 211), and a size the status allows (0 for 212; 1..1024 for
// 220 and 221; at most kMaxMessageSize for errors). Invalid otherwise: the stream is out of step.
Status CheckResponseHeader(const ResponseHeader& h);

// A request's bytes up to its payload: the header and the name. Backup then sends `payload_size`
// bytes and EncodeDigestTrailer; the other ops end here, with size 0.
std::string EncodeRequestPrefix(uint32_t user_id, Op op, std::string_view name,
                                uint64_t payload_size);
// A whole AUTH_START or AUTH_FINISH request carrying `message`.
std::string EncodeAuthRequest(uint32_t user_id, Op op, std::string_view message);
// A response's bytes up to its payload: the header and the name. The caller sends `payload_size`
// bytes after it (and, for 210, EncodeDigestTrailer).
std::string EncodeResponsePrefix(ResponseCode status, std::string_view name, uint64_t payload_size);
// A whole response for a status without a file or listing: an error with its message, 212 with
// none, 220/221 with the SCRAM message. A message over kMaxMessageSize is cut at a UTF-8 character
// boundary, so an echoed long name cannot break the frame.
std::string EncodeMessageResponse(ResponseCode status, std::string_view name,
                                  std::string_view message);
// The 32 bytes after a backup's payload or a 210's payload.
std::string EncodeDigestTrailer(const Digest& digest);

// Appends one 211 entry to `out`; the caller keeps entries sorted bytewise by name.
void AppendListEntry(std::string& out, const ListEntry& entry);
// Splits a whole 211 payload into its entries. Invalid if an entry is cut short, has an empty name
// or one over kMaxNameLen, or the names are not strictly ascending bytewise.
Result<std::vector<ListEntry>> DecodeListEntries(std::string_view payload);
// Appends one LIST_VERSIONS entry; the caller keeps versions ascending.
void AppendVersionEntry(std::string& out, const VersionEntry& entry);
// Splits a whole LIST_VERSIONS payload. Invalid if its size is not a multiple of
// kVersionEntrySize, a version is 0, or the versions are not strictly ascending.
Result<std::vector<VersionEntry>> DecodeVersionEntries(std::string_view payload);
// RESTORE_VERSION's whole request.
std::string EncodeRestoreVersionRequest(uint32_t user_id, std::string_view name, uint64_t version);

// Appends one LIST_ATTRS entry to `out`; the caller keeps entries sorted bytewise by name.
void AppendAttrEntry(std::string& out, const AttrEntry& entry);
// Splits a whole LIST_ATTRS payload into its entries. Invalid as DecodeListEntries is, and for a
// kind other than 0 or 1, a mode over kMaxMode, or a folder with a size.
Result<std::vector<AttrEntry>> DecodeAttrEntries(std::string_view payload);

// The first bytes of a connection tell which protocol the peer speaks. kSniffSize bytes suffice:
// the version byte is the fifth.
inline constexpr size_t kSniffSize = 5;
enum class Sniffed {
  kV1,     // version byte 1
  kV2,     // version byte 2
  kTls,    // a TLS record (0x16 0x03 ...): a TLS client on the plain port
  kHttp,   // an HTTP request line ("GET ", "POST ", ...)
  kOther,  // any other version byte
};
// The version byte decides first, so no user_id can be mistaken for TLS or HTTP; a TLS or HTTP
// peer whose fifth byte happens to be 1 or 2 is then refused by that version's header checks.
Sniffed Sniff(const std::array<uint8_t, kSniffSize>& first);
// What the server sends before closing a connection it will not serve: a TLS fatal alert
// (protocol_version) for kTls, an HTTP 400 for kHttp, a v1 1003 for kOther (the only answer every
// client version can read). Empty for kV1 and kV2, which the parsers answer.
std::string Refusal(Sniffed what);

}  // namespace backupd::protocol::v2

#endif  // BACKUPD_PROTOCOL_WIRE_V2_H_

// shared (any privilege): protocol v2 encode/decode, header checks, list entries, the sniffer.
#include "protocol/wire_v2.h"

#include <algorithm>

namespace backupd::protocol::v2 {

RequestHeader DecodeRequestHeader(const std::array<uint8_t, kRequestHeaderSize>& bytes) {
  RequestHeader h;
  h.user_id = GetU32(&bytes[0]);
  h.version = bytes[4];
  h.op = bytes[5];
  h.name_len = GetU16(&bytes[6]);
  h.size = GetU64(&bytes[8]);
  return h;
}

std::array<uint8_t, kRequestHeaderSize> EncodeRequestHeader(const RequestHeader& h) {
  std::array<uint8_t, kRequestHeaderSize> b{};
  PutU32(&b[0], h.user_id);
  b[4] = h.version;
  b[5] = h.op;
  PutU16(&b[6], h.name_len);
  PutU64(&b[8], h.size);
  return b;
}

ResponseHeader DecodeResponseHeader(const std::array<uint8_t, kResponseHeaderSize>& bytes) {
  ResponseHeader h;
  h.version = bytes[0];
  h.status = GetU16(&bytes[1]);
  h.name_len = GetU16(&bytes[3]);
  h.size = GetU64(&bytes[5]);
  return h;
}

std::array<uint8_t, kResponseHeaderSize> EncodeResponseHeader(const ResponseHeader& h) {
  std::array<uint8_t, kResponseHeaderSize> b{};
  b[0] = h.version;
  PutU16(&b[1], h.status);
  PutU16(&b[3], h.name_len);
  PutU64(&b[5], h.size);
  return b;
}

bool IsKnownOp(uint8_t op) {
  switch (static_cast<Op>(op)) {
    case Op::kAuthStart:
    case Op::kAuthFinish:
    case Op::kBackup:
    case Op::kRestore:
    case Op::kDelete:
    case Op::kList:
    case Op::kBackupAttrs:
    case Op::kMakeFolder:
    case Op::kListAttrs:
    case Op::kListVersions:
    case Op::kRestoreVersion:
    case Op::kListDeleted:
      return true;
  }
  return false;
}

bool IsAuthOp(Op op) { return op == Op::kAuthStart || op == Op::kAuthFinish; }

bool HasAttributes(Op op) { return op == Op::kBackupAttrs || op == Op::kMakeFolder; }

bool HasRequestPayload(Op op) {
  return IsAuthOp(op) || op == Op::kBackup || HasAttributes(op) || op == Op::kRestoreVersion;
}

const char* OpName(uint8_t op) {
  switch (static_cast<Op>(op)) {
    case Op::kAuthStart:
      return "auth-start";
    case Op::kAuthFinish:
      return "auth-finish";
    case Op::kBackupAttrs:
      return "backup-attrs";
    case Op::kMakeFolder:
      return "make-folder";
    case Op::kListAttrs:
      return "list-attrs";
    case Op::kListVersions:
      return "list-versions";
    case Op::kRestoreVersion:
      return "restore-version";
    case Op::kListDeleted:
      return "list-deleted";
    case Op::kBackup:
    case Op::kRestore:
    case Op::kDelete:
    case Op::kList:
      break;
  }
  return protocol::OpName(op);
}

bool IsKnownStatus(uint16_t status) {
  switch (static_cast<ResponseCode>(status)) {
    case ResponseCode::kRestoreOk:
    case ResponseCode::kListOk:
    case ResponseCode::kOk:
    case ResponseCode::kAuthContinue:
    case ResponseCode::kAuthOk:
    case ResponseCode::kNotFound:
    case ResponseCode::kNoFiles:
    case ResponseCode::kError:
    case ResponseCode::kBadName:
    case ResponseCode::kTooLarge:
    case ResponseCode::kNoSpace:
    case ResponseCode::kAuthRequired:
    case ResponseCode::kAuthFailed:
    case ResponseCode::kBusy:
    case ResponseCode::kDigestMismatch:
    case ResponseCode::kUnsupported:
    case ResponseCode::kForbidden:
      return true;
  }
  return false;
}

bool HasResponseDigest(uint16_t status) {
  return status == static_cast<uint16_t>(ResponseCode::kRestoreOk);
}

Status CheckVersionAndOp(const RequestHeader& h) {
  if (h.version != kVersion) {
    return Status::Invalid("unsupported protocol version " + std::to_string(h.version));
  }
  if (!IsKnownOp(h.op)) return Status::Invalid("unknown op " + std::to_string(h.op));
  return Status::Ok();
}

Status CheckNameLen(const RequestHeader& h) {
  const auto op = static_cast<Op>(h.op);
  if (op == Op::kList || op == Op::kListAttrs || op == Op::kListDeleted || IsAuthOp(op)) {
    if (h.name_len != 0) return Status::Invalid(std::string(OpName(h.op)) + " request with a name");
    return Status::Ok();
  }
  if (h.name_len == 0) return Status::Invalid("empty name");
  if (h.name_len > kMaxNameLen) {
    return Status::Invalid("name of " + std::to_string(h.name_len) + " bytes is over " +
                           std::to_string(kMaxNameLen));
  }
  return Status::Ok();
}

Status CheckSize(const RequestHeader& h, uint64_t max_file_size) {
  const auto op = static_cast<Op>(h.op);
  if (op == Op::kBackup) return CheckPayloadSize(h.size, max_file_size);
  if (HasAttributes(op)) {
    if (h.size < kAttributesSize || (op == Op::kMakeFolder && h.size != kAttributesSize)) {
      return Status::Invalid(std::string(OpName(h.op)) + " request with a payload size of " +
                             std::to_string(h.size) + " (the attributes block is " +
                             std::to_string(kAttributesSize) + " bytes)");
    }
    return CheckPayloadSize(h.size - kAttributesSize, max_file_size);
  }
  if (IsAuthOp(op)) {
    if (h.size == 0) return Status::Invalid("empty authentication message");
    if (h.size <= kMaxAuthMessageSize) return Status::Ok();
    return Status::TooLarge("authentication message of " + std::to_string(h.size) +
                            " bytes is over " + std::to_string(kMaxAuthMessageSize));
  }
  if (op == Op::kRestoreVersion) {
    if (h.size == kRestoreVersionPayloadSize) return Status::Ok();
    return Status::Invalid("restore-version request with a payload size of " +
                           std::to_string(h.size) + " (expected 8)");
  }
  if (h.size != 0) {
    return Status::Invalid(std::string(OpName(h.op)) + " request with a payload size of " +
                           std::to_string(h.size));
  }
  return Status::Ok();
}

Status CheckResponseHeader(const ResponseHeader& h) {
  if (h.version != kVersion) {
    return Status::Invalid("response of protocol version " + std::to_string(h.version));
  }
  if (!IsKnownStatus(h.status))
    return Status::Invalid("unknown status " + std::to_string(h.status));
  if (h.name_len > kMaxNameLen)
    return Status::Invalid("response name over " + std::to_string(kMaxNameLen) + " bytes");
  const std::string what = "status " + std::to_string(h.status);
  switch (static_cast<ResponseCode>(h.status)) {
    case ResponseCode::kRestoreOk:
      return Status::Ok();
    case ResponseCode::kListOk:
      if (h.name_len != 0) return Status::Invalid(what + " with a name");
      return Status::Ok();
    case ResponseCode::kOk:
      if (h.size != 0) return Status::Invalid(what + " with a payload");
      return Status::Ok();
    case ResponseCode::kAuthContinue:
    case ResponseCode::kAuthOk:
      if (h.size == 0 || h.size > kMaxAuthMessageSize) {
        return Status::Invalid(what + " with a message of " + std::to_string(h.size) + " bytes");
      }
      return Status::Ok();
    case ResponseCode::kNotFound:
    case ResponseCode::kNoFiles:
    case ResponseCode::kError:
    case ResponseCode::kBadName:
    case ResponseCode::kTooLarge:
    case ResponseCode::kNoSpace:
    case ResponseCode::kAuthRequired:
    case ResponseCode::kAuthFailed:
    case ResponseCode::kBusy:
    case ResponseCode::kDigestMismatch:
    case ResponseCode::kUnsupported:
    case ResponseCode::kForbidden:
      break;
  }
  if (h.size > kMaxMessageSize) {
    return Status::Invalid(what + " with a message of " + std::to_string(h.size) + " bytes");
  }
  return Status::Ok();
}

std::string EncodeRequestPrefix(uint32_t user_id, Op op, std::string_view name,
                                uint64_t payload_size) {
  std::string out;
  out.reserve(kRequestHeaderSize + name.size());
  AppendU32(out, user_id);
  out.push_back(static_cast<char>(kVersion));
  out.push_back(static_cast<char>(op));
  AppendU16(out, WireNameLen(name));
  AppendU64(out, payload_size);
  out.append(name);
  return out;
}

std::string EncodeAuthRequest(uint32_t user_id, Op op, std::string_view message) {
  return EncodeRequestPrefix(user_id, op, {}, message.size()) + std::string(message);
}

std::string EncodeResponsePrefix(ResponseCode status, std::string_view name,
                                 uint64_t payload_size) {
  std::string out;
  out.reserve(kResponseHeaderSize + name.size());
  out.push_back(static_cast<char>(kVersion));
  AppendU16(out, static_cast<uint16_t>(status));
  AppendU16(out, WireNameLen(name));
  AppendU64(out, payload_size);
  out.append(name);
  return out;
}

namespace {

// The longest prefix of `text` of at most `max` bytes that does not split a UTF-8 sequence.
std::string_view ClipUtf8(std::string_view text, size_t max) {
  if (text.size() <= max) return text;
  size_t end = max;
  while (end > 0 && (static_cast<uint8_t>(text[end]) & 0xC0u) == 0x80u) --end;
  return text.substr(0, end);
}

}  // namespace

std::string EncodeMessageResponse(ResponseCode status, std::string_view name,
                                  std::string_view message) {
  const std::string_view clipped = ClipUtf8(message, kMaxMessageSize);
  return EncodeResponsePrefix(status, name, clipped.size()) + std::string(clipped);
}

std::string EncodeDigestTrailer(const Digest& digest) {
  return std::string(digest.begin(), digest.end());
}

void AppendListEntry(std::string& out, const ListEntry& entry) {
  AppendU16(out, WireNameLen(entry.name));
  out.append(entry.name);
  AppendU64(out, entry.size);
  AppendU64(out, static_cast<uint64_t>(entry.mtime_ns));
  out.append(entry.sha256.begin(), entry.sha256.end());
}

namespace {

// Splits a payload of entries that each open with name_len u16 | name and go on with `fixed`
// bytes (besides the name_len) that `rest` decodes; names must be strictly ascending bytewise.
template <typename Entry, typename Rest>
Result<std::vector<Entry>> DecodeEntries(std::string_view payload, size_t fixed,
                                         std::string_view what, const Rest& rest) {
  std::vector<Entry> entries;
  const auto* p = reinterpret_cast<const uint8_t*>(payload.data());
  size_t at = 0;
  while (at < payload.size()) {
    const std::string where = std::string(what) + " " + std::to_string(entries.size());
    if (payload.size() - at < 2) return Status::Invalid(where + " cut short");
    const size_t name_len = GetU16(p + at);
    if (name_len == 0 || name_len > kMaxNameLen) {
      return Status::Invalid(where + " has a name of " + std::to_string(name_len) + " bytes");
    }
    if (payload.size() - at < fixed + name_len) return Status::Invalid(where + " cut short");
    at += 2;
    Entry e;
    e.name.assign(payload.substr(at, name_len));
    at += name_len;
    if (!entries.empty() && !(entries.back().name < e.name)) {
      return Status::Invalid(where + " is out of order");
    }
    Status s = rest(p + at, e);
    if (!s.ok()) return Status::Invalid(where + " " + s.message());
    at += fixed - 2;
    entries.push_back(std::move(e));
  }
  return entries;
}

}  // namespace

Result<std::vector<ListEntry>> DecodeListEntries(std::string_view payload) {
  return DecodeEntries<ListEntry>(payload, kListEntryFixedSize, "list entry",
                                  [](const uint8_t* p, ListEntry& e) {
                                    e.size = GetU64(p);
                                    e.mtime_ns = static_cast<int64_t>(GetU64(p + 8));
                                    std::copy_n(p + 16, kDigestSize, e.sha256.begin());
                                    return Status::Ok();
                                  });
}

std::string EncodeAttributes(const Attributes& a) {
  std::string out;
  AppendU32(out, a.mode);
  AppendU32(out, 0);
  AppendU64(out, static_cast<uint64_t>(a.mtime_ns));
  return out;
}

Result<Attributes> DecodeAttributes(const std::array<uint8_t, kAttributesSize>& bytes) {
  Attributes a;
  a.mode = GetU32(&bytes[0]);
  if (a.mode > kMaxMode) {
    return Status::Invalid("mode " + std::to_string(a.mode) + " is more than permission bits");
  }
  if (GetU32(&bytes[4]) != 0) return Status::Invalid("the attributes' reserved field is not 0");
  a.mtime_ns = static_cast<int64_t>(GetU64(&bytes[8]));
  return a;
}

void AppendAttrEntry(std::string& out, const AttrEntry& entry) {
  AppendU16(out, WireNameLen(entry.name));
  out.append(entry.name);
  out.push_back(static_cast<char>(entry.kind));
  AppendU32(out, entry.attributes.mode);
  AppendU64(out, entry.size);
  AppendU64(out, static_cast<uint64_t>(entry.attributes.mtime_ns));
  out.append(entry.sha256.begin(), entry.sha256.end());
}

Result<std::vector<AttrEntry>> DecodeAttrEntries(std::string_view payload) {
  return DecodeEntries<AttrEntry>(
      payload, kAttrEntryFixedSize, "attribute entry", [](const uint8_t* p, AttrEntry& e) {
        if (p[0] > static_cast<uint8_t>(EntryKind::kFolder)) {
          return Status::Invalid("has kind " + std::to_string(p[0]));
        }
        e.kind = static_cast<EntryKind>(p[0]);
        e.attributes.mode = GetU32(p + 1);
        if (e.attributes.mode > kMaxMode) {
          return Status::Invalid("has mode " + std::to_string(e.attributes.mode));
        }
        e.size = GetU64(p + 5);
        if (e.kind == EntryKind::kFolder && e.size != 0) {
          return Status::Invalid("is a folder with a size");
        }
        e.attributes.mtime_ns = static_cast<int64_t>(GetU64(p + 13));
        std::copy_n(p + 21, kDigestSize, e.sha256.begin());
        return Status::Ok();
      });
}

void AppendVersionEntry(std::string& out, const VersionEntry& entry) {
  AppendU64(out, entry.version);
  out.push_back(static_cast<char>(entry.flags));
  AppendU64(out, static_cast<uint64_t>(entry.stored_ns));
  AppendU64(out, entry.size);
  AppendU64(out, static_cast<uint64_t>(entry.mtime_ns));
  out.append(entry.sha256.begin(), entry.sha256.end());
}

Result<std::vector<VersionEntry>> DecodeVersionEntries(std::string_view payload) {
  if (payload.size() % kVersionEntrySize != 0) {
    return Status::Invalid("version list of " + std::to_string(payload.size()) +
                           " bytes is not a whole number of entries");
  }
  std::vector<VersionEntry> entries;
  const auto* p = reinterpret_cast<const uint8_t*>(payload.data());
  for (size_t at = 0; at < payload.size(); at += kVersionEntrySize) {
    VersionEntry e;
    e.version = GetU64(p + at);
    e.flags = p[at + 8];
    e.stored_ns = static_cast<int64_t>(GetU64(p + at + 9));
    e.size = GetU64(p + at + 17);
    e.mtime_ns = static_cast<int64_t>(GetU64(p + at + 25));
    std::copy_n(p + at + 33, kDigestSize, e.sha256.begin());
    if (e.version == 0 || (!entries.empty() && entries.back().version >= e.version)) {
      return Status::Invalid("version entry " + std::to_string(entries.size()) +
                             " is 0 or out of order");
    }
    entries.push_back(e);
  }
  return entries;
}

std::string EncodeRestoreVersionRequest(uint32_t user_id, std::string_view name, uint64_t version) {
  std::string out = EncodeRequestPrefix(user_id, Op::kRestoreVersion, name, 8);
  AppendU64(out, version);
  return out;
}

namespace {

// Request lines a browser, curl or a proxy probe would send; the space keeps "GETx" a user_id.
constexpr std::string_view kHttpMethods[] = {"GET ",     "HEAD ",    "POST ",  "PUT ",   "DELETE ",
                                             "OPTIONS ", "CONNECT ", "TRACE ", "PATCH ", "PRI "};

}  // namespace

Sniffed Sniff(const std::array<uint8_t, kSniffSize>& first) {
  if (first[4] == kVersion1) return Sniffed::kV1;
  if (first[4] == kVersion) return Sniffed::kV2;
  // A TLS record header: type 22 (handshake), then the record version's major byte 3.
  if (first[0] == 0x16 && first[1] == 0x03) return Sniffed::kTls;
  const std::string_view head(reinterpret_cast<const char*>(first.data()), first.size());
  for (std::string_view method : kHttpMethods) {
    const size_t n = std::min(method.size(), head.size());
    if (head.substr(0, n) == method.substr(0, n)) return Sniffed::kHttp;
  }
  return Sniffed::kOther;
}

std::string Refusal(Sniffed what) {
  switch (what) {
    case Sniffed::kV1:
    case Sniffed::kV2:
      return {};
    case Sniffed::kTls:
      // Alert record, TLS 1.0 record version (what a server uses before any version is agreed),
      // length 2: fatal (2), protocol_version (70). The client fails at once with a named alert.
      return std::string("\x15\x03\x01\x00\x02\x02\x46", 7);
    case Sniffed::kHttp: {
      static constexpr std::string_view kBody =
          "this port speaks the backupd protocol, not HTTP; see backup-client(1)\n";
      return "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
             "Content-Length: " +
             std::to_string(kBody.size()) + "\r\n\r\n" + std::string(kBody);
    }
    case Sniffed::kOther:
      break;
  }
  return protocol::EncodeResponsePrefix(static_cast<uint16_t>(protocol::ResponseCode::kError), {},
                                        0);
}

}  // namespace backupd::protocol::v2

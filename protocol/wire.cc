// shared (any privilege): protocol v1 encode/decode, header checks, name rules.
#include "protocol/wire.h"

#include <cstdlib>
#include <limits>

namespace backupd::protocol {

void PutU16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v & 0xFFu);
  p[1] = static_cast<uint8_t>(v >> 8);
}

void PutU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>((v >> (8 * i)) & 0xFFu);
}

void PutU64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>((v >> (8 * i)) & 0xFFu);
}

uint16_t GetU16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

uint32_t GetU32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

uint64_t GetU64(const uint8_t* p) {
  return static_cast<uint64_t>(GetU32(p)) | (static_cast<uint64_t>(GetU32(p + 4)) << 32);
}

void AppendU16(std::string& out, uint16_t v) {
  uint8_t b[2];
  PutU16(b, v);
  out.append(reinterpret_cast<const char*>(b), sizeof b);
}

void AppendU32(std::string& out, uint32_t v) {
  uint8_t b[4];
  PutU32(b, v);
  out.append(reinterpret_cast<const char*>(b), sizeof b);
}

void AppendU64(std::string& out, uint64_t v) {
  uint8_t b[8];
  PutU64(b, v);
  out.append(reinterpret_cast<const char*>(b), sizeof b);
}

uint16_t WireNameLen(std::string_view name) {
  if (name.size() > std::numeric_limits<uint16_t>::max()) std::abort();
  return static_cast<uint16_t>(name.size());
}

RequestHeader DecodeRequestHeader(const std::array<uint8_t, kRequestHeaderSize>& bytes) {
  RequestHeader h;
  h.user_id = GetU32(&bytes[0]);
  h.version = bytes[4];
  h.op = bytes[5];
  h.name_len = GetU16(&bytes[6]);
  return h;
}

std::array<uint8_t, kRequestHeaderSize> EncodeRequestHeader(const RequestHeader& h) {
  std::array<uint8_t, kRequestHeaderSize> b{};
  PutU32(&b[0], h.user_id);
  b[4] = h.version;
  b[5] = h.op;
  PutU16(&b[6], h.name_len);
  return b;
}

ResponseHeader DecodeResponseHeader(const std::array<uint8_t, kResponseHeaderSize>& bytes) {
  ResponseHeader h;
  h.version = bytes[0];
  h.status = GetU16(&bytes[1]);
  h.name_len = GetU16(&bytes[3]);
  return h;
}

std::array<uint8_t, kResponseHeaderSize> EncodeResponseHeader(const ResponseHeader& h) {
  std::array<uint8_t, kResponseHeaderSize> b{};
  b[0] = h.version;
  PutU16(&b[1], h.status);
  PutU16(&b[3], h.name_len);
  return b;
}

bool IsKnownOp(uint8_t op) {
  switch (static_cast<Op>(op)) {
    case Op::kBackup:
    case Op::kRestore:
    case Op::kDelete:
    case Op::kList:
      return true;
  }
  return false;
}

const char* OpName(uint8_t op) {
  switch (static_cast<Op>(op)) {
    case Op::kBackup:
      return "backup";
    case Op::kRestore:
      return "restore";
    case Op::kDelete:
      return "delete";
    case Op::kList:
      return "list";
  }
  return "unknown";
}

bool HasRequestPayload(Op op) { return op == Op::kBackup; }

bool HasResponsePayload(uint16_t status) {
  return status == static_cast<uint16_t>(ResponseCode::kRestoreOk) ||
         status == static_cast<uint16_t>(ResponseCode::kListOk);
}

bool IsKnownStatus(uint16_t status) {
  switch (static_cast<ResponseCode>(status)) {
    case ResponseCode::kRestoreOk:
    case ResponseCode::kListOk:
    case ResponseCode::kOk:
    case ResponseCode::kNotFound:
    case ResponseCode::kNoFiles:
    case ResponseCode::kError:
      return true;
  }
  return false;
}

Status CheckRequestHeader(const RequestHeader& h) {
  if (h.version != kVersion1) {
    return Status::Invalid("unsupported protocol version " + std::to_string(h.version));
  }
  if (!IsKnownOp(h.op)) return Status::Invalid("unknown op " + std::to_string(h.op));
  if (static_cast<Op>(h.op) == Op::kList) {
    if (h.name_len != 0) return Status::Invalid("list request with a name");
    return Status::Ok();
  }
  if (h.name_len == 0) return Status::Invalid("empty name");
  if (h.name_len > kMaxNameLen) {
    return Status::Invalid("name of " + std::to_string(h.name_len) + " bytes is over " +
                           std::to_string(kMaxNameLen));
  }
  return Status::Ok();
}

Status CheckPayloadSize(uint64_t size, uint64_t max_file_size) {
  if (size <= max_file_size) return Status::Ok();
  return Status::TooLarge("payload of " + std::to_string(size) + " bytes is over max_file_size " +
                          std::to_string(max_file_size));
}

Result<std::string> NormalizeName(std::string_view raw) {
  if (raw.size() > kMaxNameLen) return Status::Invalid("name too long");
  if (raw.find('\0') != std::string_view::npos) return Status::Invalid("name contains NUL");
  // As tar does: an absolute name is stored relative to the user's folder.
  const size_t first = raw.find_first_not_of('/');
  if (first == std::string_view::npos) return Status::Invalid("empty name");
  std::string_view rest = raw.substr(first);
  size_t pos = 0;
  while (true) {
    const size_t slash = rest.find('/', pos);
    const std::string_view comp =
        rest.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
    if (comp.empty()) return Status::Invalid("empty path component");
    if (comp == "." || comp == "..") return Status::Invalid("'.' or '..' path component");
    if (comp.size() > kMaxComponentLen) return Status::Invalid("path component too long");
    if (comp.substr(0, kReservedPrefix.size()) == kReservedPrefix) {
      return Status::Invalid("reserved name prefix");
    }
    if (slash == std::string_view::npos) break;
    pos = slash + 1;
  }
  return std::string(rest);
}

std::string EncodeResponsePrefix(uint16_t status, std::string_view name, uint32_t payload_size) {
  std::string out;
  out.reserve(kResponseHeaderSize + name.size() + kSizeFieldSize);
  out.push_back(static_cast<char>(kVersion1));
  AppendU16(out, status);
  AppendU16(out, WireNameLen(name));
  out.append(name);
  if (HasResponsePayload(status)) AppendU32(out, payload_size);
  return out;
}

std::string EncodeRequestPrefix(uint32_t user_id, Op op, std::string_view name,
                                uint32_t payload_size) {
  std::string out;
  out.reserve(kRequestHeaderSize + name.size() + kSizeFieldSize);
  AppendU32(out, user_id);
  out.push_back(static_cast<char>(kVersion1));
  out.push_back(static_cast<char>(op));
  AppendU16(out, WireNameLen(name));
  out.append(name);
  if (HasRequestPayload(op)) AppendU32(out, payload_size);
  return out;
}

std::string RandomListName(std::mt19937_64& rng) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::uniform_int_distribution<size_t> pick(0, kAlphabet.size() - 1);
  std::string out(kListNameLen, '\0');
  for (char& c : out) c = kAlphabet[pick(rng)];
  return out;
}

}  // namespace backupd::protocol

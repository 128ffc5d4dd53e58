// shared (any privilege): the protocol v2 request parser.
#include "protocol/request_parser_v2.h"

#include <algorithm>
#include <array>
#include <cstdlib>

namespace backupd::protocol::v2 {

RequestParser::RequestParser(uint64_t max_file_size) : max_file_size_(max_file_size) {}

size_t RequestParser::want() const {
  switch (state_) {
    case State::kHeader:
      return kRequestHeaderSize - field_.size();
    case State::kName:
      return header_.name_len - field_.size();
    case State::kAuthMessage:
      return static_cast<size_t>(header_.size) - auth_message_.size();
    case State::kAttributes:
      return kAttributesSize - field_.size();
    case State::kDigest:
      return kDigestSize - field_.size();
    case State::kPayload:
    case State::kDone:
    case State::kError:
      break;
  }
  return 0;
}

void RequestParser::Fail(ResponseCode code, Status s) {
  state_ = State::kError;
  error_code_ = code;
  error_ = std::move(s);
}

void RequestParser::AfterHeader() {
  std::array<uint8_t, kRequestHeaderSize> b{};
  std::copy(field_.begin(), field_.end(), b.begin());
  field_.clear();
  header_ = DecodeRequestHeader(b);
  request_.user_id = header_.user_id;
  request_.op = header_.op;
  Status s = CheckVersionAndOp(header_);
  if (!s.ok()) return Fail(ResponseCode::kUnsupported, std::move(s));
  s = CheckNameLen(header_);
  if (!s.ok()) return Fail(ResponseCode::kBadName, std::move(s));
  s = CheckSize(header_, max_file_size_);
  if (!s.ok()) {
    const bool too_large = s.code() == Status::Code::kTooLarge;
    return Fail(too_large ? ResponseCode::kTooLarge : ResponseCode::kError, std::move(s));
  }
  state_ = State::kName;
  if (header_.name_len == 0) AfterName();
}

void RequestParser::AfterName() {
  if (header_.name_len != 0) {
    Result<std::string> n = NormalizeName(field_);
    field_.clear();
    if (!n.ok()) return Fail(ResponseCode::kBadName, n.status());
    request_.name = std::move(n).value();
  }
  const auto op = static_cast<Op>(header_.op);
  if (IsAuthOp(op) || op == Op::kRestoreVersion) {
    state_ = State::kAuthMessage;
  } else if (HasAttributes(op)) {
    state_ = State::kAttributes;
  } else if (op == Op::kBackup) {
    request_.payload_size = header_.size;
    payload_left_ = header_.size;
    state_ = header_.size == 0 ? State::kDigest : State::kPayload;
  } else {
    state_ = State::kDone;
  }
}

void RequestParser::AfterAttributes() {
  std::array<uint8_t, kAttributesSize> b{};
  std::copy(field_.begin(), field_.end(), b.begin());
  field_.clear();
  Result<Attributes> a = DecodeAttributes(b);
  if (!a.ok()) return Fail(ResponseCode::kError, a.status());
  attributes_ = *a;
  if (static_cast<Op>(header_.op) == Op::kMakeFolder) {
    state_ = State::kDone;
    return;
  }
  request_.payload_size = header_.size - kAttributesSize;
  payload_left_ = request_.payload_size;
  state_ = payload_left_ == 0 ? State::kDigest : State::kPayload;
}

void RequestParser::AfterDigest() {
  Digest d{};
  std::copy(field_.begin(), field_.end(), d.begin());
  field_.clear();
  request_.digest = d;
  state_ = State::kDone;
}

size_t RequestParser::Feed(const uint8_t* data, size_t len) {
  size_t used = 0;
  while (used < len) {
    const size_t need = want();
    if (need == 0) break;
    const size_t take = std::min(need, len - used);
    // The auth message is kept whole; the other fields are assembled, decoded and dropped.
    std::string& into = state_ == State::kAuthMessage ? auth_message_ : field_;
    into.append(reinterpret_cast<const char*>(data + used), take);
    used += take;
    if (take < need) break;
    switch (state_) {
      case State::kHeader:
        AfterHeader();
        break;
      case State::kName:
        AfterName();
        break;
      case State::kAuthMessage:
        state_ = State::kDone;
        break;
      case State::kAttributes:
        AfterAttributes();
        break;
      case State::kDigest:
        AfterDigest();
        break;
      case State::kPayload:
      case State::kDone:
      case State::kError:
        break;
    }
  }
  return used;
}

uint64_t RequestParser::version() const {
  if (auth_message_.size() != kRestoreVersionPayloadSize) return 0;
  return GetU64(reinterpret_cast<const uint8_t*>(auth_message_.data()));
}

Status RequestParser::Fill(const ByteSource& read) { return internal::FillFields(*this, read); }

void RequestParser::ConsumePayload(uint64_t n) {
  if (n > payload_left_) std::abort();
  payload_left_ -= n;
  if (state_ == State::kPayload && payload_left_ == 0) state_ = State::kDigest;
}

}  // namespace backupd::protocol::v2

// shared (any privilege): the v1 request parser.
#include "protocol/request_parser.h"

#include <algorithm>
#include <array>
#include <cstdlib>

namespace backupd::protocol {

RequestParser::RequestParser(uint64_t max_file_size) : max_file_size_(max_file_size) {}

size_t RequestParser::want() const {
  switch (state_) {
    case State::kHeader:
      return kRequestHeaderSize - field_.size();
    case State::kName:
      return header_.name_len - field_.size();
    case State::kSize:
      return kSizeFieldSize - field_.size();
    case State::kPayload:
    case State::kDone:
    case State::kError:
      break;
  }
  return 0;
}

void RequestParser::Fail(Status s) {
  state_ = State::kError;
  error_ = std::move(s);
}

void RequestParser::AfterHeader() {
  std::array<uint8_t, kRequestHeaderSize> b{};
  std::copy(field_.begin(), field_.end(), b.begin());
  field_.clear();
  header_ = DecodeRequestHeader(b);
  request_.user_id = header_.user_id;
  request_.op = header_.op;
  Status s = CheckRequestHeader(header_);
  if (!s.ok()) return Fail(std::move(s));
  state_ = State::kName;
  if (header_.name_len == 0) AfterName();
}

void RequestParser::AfterName() {
  if (header_.name_len != 0) {
    Result<std::string> n = NormalizeName(field_);
    field_.clear();
    if (!n.ok()) return Fail(n.status());
    request_.name = std::move(n).value();
  }
  state_ = HasRequestPayload(static_cast<Op>(header_.op)) ? State::kSize : State::kDone;
}

void RequestParser::AfterSize() {
  const uint32_t size = GetU32(reinterpret_cast<const uint8_t*>(field_.data()));
  field_.clear();
  Status s = CheckPayloadSize(size, max_file_size_);
  if (!s.ok()) return Fail(std::move(s));
  request_.payload_size = size;
  payload_left_ = size;
  state_ = size == 0 ? State::kDone : State::kPayload;
}

size_t RequestParser::Feed(const uint8_t* data, size_t len) {
  size_t used = 0;
  while (used < len) {
    const size_t need = want();
    if (need == 0) break;
    const size_t take = std::min(need, len - used);
    field_.append(reinterpret_cast<const char*>(data + used), take);
    used += take;
    if (take < need) break;
    switch (state_) {
      case State::kHeader:
        AfterHeader();
        break;
      case State::kName:
        AfterName();
        break;
      case State::kSize:
        AfterSize();
        break;
      case State::kPayload:
      case State::kDone:
      case State::kError:
        break;
    }
  }
  return used;
}

Status RequestParser::Fill(const ByteSource& read) { return internal::FillFields(*this, read); }

void RequestParser::ConsumePayload(uint64_t n) {
  if (n > payload_left_) std::abort();
  payload_left_ -= n;
  if (state_ == State::kPayload && payload_left_ == 0) state_ = State::kDone;
}

}  // namespace backupd::protocol

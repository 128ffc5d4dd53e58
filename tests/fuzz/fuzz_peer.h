// tests (unprivileged): the client side of a fuzzed connection, shared by the request parser
// targets.
#ifndef BACKUPD_TESTS_FUZZ_FUZZ_PEER_H_
#define BACKUPD_TESTS_FUZZ_FUZZ_PEER_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "protocol/request_parser.h"

namespace backupd::fuzz {

// Hands out the input in reads of 1, 2, ... 7 bytes, so every field boundary is also a read
// boundary somewhere, and remembers how far the parser asked to see.
class Peer {
 public:
  Peer(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  protocol::ByteSource Source() {
    return [this](uint8_t* buf, size_t max) -> Result<size_t> {
      asked_end_ = std::max(asked_end_, pos_ + max);
      if (pos_ == size_) return Status::Closed("end of input");
      const size_t n = std::min({max, NextPiece(), size_ - pos_});
      std::memcpy(buf, data_ + pos_, n);
      pos_ += n;
      return n;
    };
  }
  // What the worker's upload loop does: reads payload in pieces and tells the parser each one.
  template <typename Parser>
  void StreamPayload(Parser& p) {
    while (p.payload_left() > 0 && pos_ < size_) {
      const auto n =
          static_cast<size_t>(std::min<uint64_t>({p.payload_left(), NextPiece(), size_ - pos_}));
      pos_ += n;
      p.ConsumePayload(n);
    }
  }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  size_t pos() const { return pos_; }
  size_t asked_end() const { return asked_end_; }

 private:
  size_t NextPiece() {
    piece_ = piece_ % 7 + 1;
    return piece_;
  }

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  size_t piece_ = 0;
  size_t asked_end_ = 0;
};

}  // namespace backupd::fuzz

#endif  // BACKUPD_TESTS_FUZZ_FUZZ_PEER_H_

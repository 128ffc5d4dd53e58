// tests (unprivileged): the connection the parser tests read from, for both protocol versions.
#ifndef BACKUPD_TESTS_PROTOCOL_FAKE_CONNECTION_H_
#define BACKUPD_TESTS_PROTOCOL_FAKE_CONNECTION_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "protocol/request_parser.h"

namespace backupd::protocol {

// A connection as Fill sees it: hands out at most `chunk` bytes per read from `bytes`, and
// remembers the largest read it was asked for, to prove the parser never asks past a request.
class FakeConnection {
 public:
  FakeConnection(std::string bytes, size_t chunk) : bytes_(std::move(bytes)), chunk_(chunk) {}

  ByteSource Source() {
    return [this](uint8_t* buf, size_t max) -> Result<size_t> {
      asked_end_ = std::max(asked_end_, pos_ + max);
      if (pos_ == bytes_.size()) return Status::Closed("client closed the connection");
      const size_t n = std::min({max, chunk_, bytes_.size() - pos_});
      std::memcpy(buf, bytes_.data() + pos_, n);
      pos_ += n;
      return n;
    };
  }
  // What a worker streaming the payload itself does: takes the bytes off the stream.
  template <typename Parser>
  void SkipPayload(Parser& p) {
    const auto n = static_cast<size_t>(p.payload_left());
    ASSERT_LE(n, bytes_.size() - pos_);
    pos_ += n;
    p.ConsumePayload(n);
  }
  size_t pos() const { return pos_; }
  size_t asked_end() const { return asked_end_; }

 private:
  std::string bytes_;
  size_t chunk_;
  size_t pos_ = 0;
  size_t asked_end_ = 0;
};

}  // namespace backupd::protocol

#endif  // BACKUPD_TESTS_PROTOCOL_FAKE_CONNECTION_H_

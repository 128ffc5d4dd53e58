// tests (unprivileged): what the protocol tests share — feeding bytes to either request parser,
// a v2 request header to encode, and a digest whose every byte is known.
#ifndef BACKUPD_TESTS_PROTOCOL_PROTOCOL_TEST_UTIL_H_
#define BACKUPD_TESTS_PROTOCOL_PROTOCOL_TEST_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocol/wire_v2.h"

namespace backupd::protocol {

// Feeds all of `bytes` to a v1 or v2 RequestParser; what it consumed.
template <typename Parser>
size_t FeedAll(Parser& p, std::string_view bytes) {
  return p.Feed(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

namespace v2 {

// Byte i is i.
inline Digest CountingDigest() {
  Digest d{};
  for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<uint8_t>(i);
  return d;
}

// A header of user 7.
inline RequestHeader Header(uint8_t op, uint16_t name_len, uint64_t size,
                            uint8_t version = kVersion) {
  RequestHeader h;
  h.user_id = 7;
  h.version = version;
  h.op = op;
  h.name_len = name_len;
  h.size = size;
  return h;
}

}  // namespace v2
}  // namespace backupd::protocol

#endif  // BACKUPD_TESTS_PROTOCOL_PROTOCOL_TEST_UTIL_H_

// test process (any privilege): a minimal protocol v2 client over plain TCP — the SCRAM login,
// requests out, whole responses in — for integration tests that need a logged-in connection.
#ifndef BACKUPD_TESTS_HARNESS_V2_CLIENT_H_
#define BACKUPD_TESTS_HARNESS_V2_CLIENT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/unique_fd.h"

namespace backupd::testing {

struct V2Response {
  uint16_t status = 0;
  std::string payload;
};

class V2Client {
 public:
  // Every read gives up after 5 s, so a server that hangs fails the test.
  bool Connect(uint16_t port);
  // The connection's own address ("127.0.0.1:PORT"), as RawClient::LocalAddress gives it.
  std::string LocalAddress() const;
  bool Send(std::string_view bytes);
  // The next response; status 0 when the server closed the connection instead.
  V2Response Read();
  // Whether response bytes are waiting to be read, without reading them or waiting.
  bool HasResponse();
  // The SCRAM login as `user` with `secret`; the status that ended it (221 when logged in, and
  // then the server's signature has been checked too). `between` runs after the server's first
  // answer, before the client's proof goes.
  uint16_t Login(uint32_t user, const std::string& secret,
                 const std::function<void()>& between = {});
  // A backup of `content` as `name`, with its digest; the status.
  uint16_t Backup(uint32_t user, const std::string& name, const std::string& content);

 private:
  bool ReadExactly(void* buf, size_t n);

  UniqueFd fd_;
};

}  // namespace backupd::testing

#endif  // BACKUPD_TESTS_HARNESS_V2_CLIENT_H_

// test process (any privilege): a protocol v1 client over a plain TCP socket, able to send
// well-formed and deliberately malformed requests and to read responses with a deadline.
#ifndef BACKUPD_TESTS_HARNESS_RAW_CLIENT_H_
#define BACKUPD_TESTS_HARNESS_RAW_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "base/status.h"
#include "protocol/wire.h"

namespace backupd::testing {

// One response as read from the wire.
struct Response {
  uint8_t version = 0;
  uint16_t status = 0;
  std::string name;
  bool has_payload = false;  // status 210/211 carried a size field
  std::string payload;
};

// One connection to 127.0.0.1:port. Every read waits at most its timeout, so a server that never
// answers fails a test instead of hanging it.
class RawClient {
 public:
  RawClient() = default;
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  Status Connect(uint16_t port);
  // Connects to 127.0.0.1:port from `source` (an IPv4 address of this host: any of 127/8), so a
  // test can be two clients on one machine.
  Status ConnectFrom(const std::string& source, uint16_t port);
  void Close();
  bool connected() const { return fd_ >= 0; }
  // The connection's own address as the daemon logs its peer ("127.0.0.1:PORT"); "" unconnected.
  std::string LocalAddress() const;

  // Writes every byte (a peer that closed yields Closed).
  Status Send(std::string_view bytes);
  Result<Response> ReadResponse(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Like ReadResponse, but hands the payload to `sink` in pieces instead of keeping it, for
  // payloads too big to hold; Response::payload stays empty.
  Result<Response> ReadResponseStreaming(const std::function<void(std::string_view)>& sink,
                                         std::chrono::milliseconds timeout);
  // Sends a well-formed request (payload only for backup) and reads its response.
  Result<Response> Call(uint32_t user_id, protocol::Op op, std::string_view name,
                        std::string_view payload = {});
  // True once the server closed the connection (EOF or reset) within `timeout`; bytes that
  // arrive first mean it did not. Keep `timeout` under the daemon's idle_timeout, or an idle close
  // passes for an intended one.
  bool WaitClosed(std::chrono::milliseconds timeout);

 private:
  Status ReadExact(char* buf, size_t n, std::chrono::steady_clock::time_point deadline);
  int fd_ = -1;
};

// A request header with any field values, malformed ones included.
std::string RawHeader(uint32_t user_id, uint8_t version, uint8_t op, uint16_t name_len);
// The encoded prefix of a well-formed request: header, name and (backup only) the size field.
std::string RequestBytes(uint32_t user_id, protocol::Op op, std::string_view name,
                         uint32_t payload_size = 0);

// Checks that a request got a response (not a transport error) with `status`.
inline ::testing::AssertionResult HasStatus(const Result<Response>& r, uint16_t status) {
  if (!r.ok()) return ::testing::AssertionFailure() << "no response: " << r.status().ToString();
  if (r->status != status) {
    return ::testing::AssertionFailure()
           << "status " << r->status << " (want " << status << "), name '" << r->name << "', "
           << r->payload.size() << " payload bytes";
  }
  if (r->version != protocol::kVersion1) {
    return ::testing::AssertionFailure() << "response version " << int{r->version};
  }
  return ::testing::AssertionSuccess();
}

}  // namespace backupd::testing

#endif  // BACKUPD_TESTS_HARNESS_RAW_CLIENT_H_

// worker (unprivileged): what the request handlers of both protocol versions share — moving a
// request's file payload off the connection, timing a request, describing a client cut off.
#ifndef BACKUPD_WORKER_PAYLOAD_H_
#define BACKUPD_WORKER_PAYLOAD_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "worker/connection.h"
#include "worker/pace.h"

namespace backupd::worker {

// The buffer a payload is moved through: big enough for few syscalls, never bigger than the file.
inline std::vector<char> PayloadBuffer(uint64_t payload_size) {
  constexpr uint64_t kBufferSize = 256 * 1024;
  return std::vector<char>(static_cast<size_t>(std::min(payload_size, kBufferSize)));
}

// Reads the next piece of the payload into `buf`; the parser (either version's) counts it, so the
// request ends exactly where its size field said.
template <typename Parser>
Result<size_t> ReadPayload(Connection& conn, Parser& parser, std::vector<char>& buf,
                           Deadline deadline) {
  const auto max = static_cast<size_t>(std::min<uint64_t>(parser.payload_left(), buf.size()));
  Result<size_t> got = conn.ReadSome(buf.data(), max, deadline);
  if (got.ok()) parser.ConsumePayload(*got);
  return got;
}

// Reads and drops the rest of the payload, so the connection stays usable after a failed upload.
// False if the client went away meanwhile.
template <typename Parser>
bool DiscardPayload(Connection& conn, Parser& parser, std::vector<char>& buf, Deadline deadline) {
  while (parser.payload_left() > 0) {
    if (!ReadPayload(conn, parser, buf, deadline).ok()) return false;
  }
  return true;
}

// The staller's note for a client that `why` cut off while `doing` (after `bytes` of the request);
// "" when `why` is not a deadline (the client went away: no staller).
inline std::string StallNote(const Status& why, std::string_view doing, uint64_t bytes) {
  if (why.code() != Status::Code::kTimeout) return "";
  return std::string(doing) + " after " + std::to_string(bytes) + " bytes: " + why.message();
}

// What a client cut off before its header and name were in was doing, and which limit ended it.
inline const char* InHeader(const RequestDeadlines& deadlines) {
  return deadlines.header <= deadlines.request ? "request header and name (header_timeout)"
                                               : "request header and name (request_timeout)";
}

// Runs `serve` (which returns a Handled) and fills in the record's byte counts and duration.
template <typename Serve>
auto Measured(Connection& conn, Serve serve) {
  const auto started = Clock::now();
  const uint64_t in0 = conn.bytes_in();
  const uint64_t out0 = conn.bytes_out();
  auto h = serve();
  h.record.bytes_in = conn.bytes_in() - in0;
  h.record.bytes_out = conn.bytes_out() - out0;
  h.record.micros = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count());
  return h;
}

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_PAYLOAD_H_

// client (the user's privilege): protocol v1 requests over one connection, streamed and bounded.
#ifndef BACKUPD_CLIENT_CLIENT_H_
#define BACKUPD_CLIENT_CLIENT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "client/connection.h"
#include "client/output_file.h"
#include "client/progress.h"

namespace backupd::client {

// The server's answer to one request: its v1 status code (protocol::ResponseCode) and the name it
// carried. A Reply is returned for every well-formed answer, error statuses included.
struct Reply {
  uint16_t status = 0;
  std::string name;
  uint64_t bytes = 0;  // payload bytes sent (backup) or received (restore, list)
};

// A list answer: the Reply and, for status 211, the names in the server's order.
struct ListReply {
  Reply reply;
  std::vector<std::string> names;
};

// Sends one user's requests one after another over one connection and reads each answer
// strictly: version 1, a status that fits the request, name_len <= kMaxNameLen, and exactly the
// payload the size field announces. A transport failure or a malformed answer closes the
// connection (the stream can no longer be trusted) and is returned as a non-OK Status; later calls
// fail at once. A peer that is not backupd (HTTP, TLS, SSH, or one that hangs up at once) is named
// as such as soon as its first bytes arrive, not after the timeout. Local file errors are returned
// as a Status too but leave the connection usable: connected() tells the two apart.
class Client {
 public:
  Client(Connection conn, uint32_t user_id) : conn_(std::move(conn)), user_id_(user_id) {}

  // Streams the regular file at `path` as `name`. A file over 4 GiB - 1 (the v1 size field is
  // u32) is refused locally with TooLarge before anything is sent.
  Result<Reply> Backup(std::string_view name, const std::string& path,
                       const ProgressFn& progress = {});
  // Restores `name` into `output`: the payload goes to a temp file beside it, which is fsynced
  // and renamed to `output` only when complete (mode 0666 & ~umask). With Existing::kKeep the
  // rename never replaces a file, even one created meanwhile (that is an error). Any other status
  // or failure leaves `output` untouched and no temp file behind.
  Result<Reply> RestoreToFile(std::string_view name, const std::string& output, Existing existing,
                              const ProgressFn& progress = {});
  // Restores `name` by writing the payload to `fd` (e.g. standard output) as it arrives.
  Result<Reply> RestoreToFd(std::string_view name, int fd, const ProgressFn& progress = {});
  Result<Reply> Delete(std::string_view name);
  Result<ListReply> List();

  // False once a transport or protocol error has closed the connection.
  bool connected() const { return conn_.is_open(); }

 private:
  // Sends a restore request and copies a 210 payload to `fd`. A write error is returned only after
  // the rest of the payload has been read, so the connection stays in step for the next request.
  Result<Reply> Restore(std::string_view name, int fd, const ProgressFn& progress);
  // Reads one answer's header and name for `op`; for 210/211 also the size field into *size.
  Result<Reply> ReadReply(uint8_t op, uint32_t* size);
  // Closes the connection and returns `st`: the stream is out of step after it.
  Status Fail(Status st);

  Connection conn_;
  uint32_t user_id_;
  bool answered_ = false;  // a v1 header has arrived: the peer is a backupd server
};

}  // namespace backupd::client

#endif  // BACKUPD_CLIENT_CLIENT_H_

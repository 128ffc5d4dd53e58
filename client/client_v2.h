// client (the user's privilege): protocol v2 over one connection — the SCRAM login, pipelined
// uploads, restores checked against their digest, long listings.
#ifndef BACKUPD_CLIENT_CLIENT_V2_H_
#define BACKUPD_CLIENT_CLIENT_V2_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "client/connection.h"
#include "client/output_file.h"
#include "client/progress.h"
#include "client/scram_cache.h"
#include "protocol/wire_v2.h"

namespace backupd::client {

// One v2 answer: its status (protocol::v2::ResponseCode), the name it echoed and, for a status
// >= 1000, the server's message (escaped: it is untrusted text). A local digest check that failed
// on a restore is a 210 with digest_ok false.
struct ReplyV2 {
  uint16_t status = 0;
  std::string name;
  std::string message;
  uint64_t bytes = 0;  // payload bytes sent (backup) or received (restore, list)
  bool digest_ok = true;
};

struct ListReplyV2 {
  ReplyV2 reply;
  std::vector<protocol::v2::ListEntry> entries;  // for 211, in the server's (sorted) order
};

struct ListAttrsReplyV2 {
  ReplyV2 reply;
  std::vector<protocol::v2::AttrEntry> entries;  // for 211: files and folders, sorted by name
};

// A LIST_VERSIONS answer: the reply, and for 211 the versions in ascending order.
struct VersionsReplyV2 {
  ReplyV2 reply;
  std::vector<protocol::v2::VersionEntry> versions;
};

// A file to back up: its local path and the name to store it under; with `attributes` it goes as
// BACKUP_ATTRS, so the server keeps its mode and sets its mtime. With `folder`, a folder to keep:
// MAKE_FOLDER with `attributes` (required), nothing read from `path`.
struct Upload {
  std::string path;
  std::string name;
  std::optional<protocol::v2::Attributes> attributes = std::nullopt;
  bool folder = false;
};

// Pipelined uploads keep at most this many answers outstanding, and at most kMaxPendingAnswerBytes
// of them counted at their largest (header, echoed name, longest message): the server blocks
// writing answers the client has not read yet while the client blocks writing the next upload, so
// what is outstanding must fit in the socket buffers, which are 200 KiB or more on Linux.
inline constexpr size_t kMaxPipelined = 64;
inline constexpr size_t kMaxPendingAnswerBytes = 64 * 1024;

// Speaks v2 for one user over one connection: Login first, then any number of requests. Answers
// are read strictly (v2::CheckResponseHeader, a status that fits the request); a transport
// failure or a malformed answer closes the connection and is returned as a non-OK Status, as is a
// server that cannot prove it holds the user's verifier (Denied). Local file errors leave the
// connection usable: connected() tells the two apart.
class ClientV2 {
 public:
  ClientV2(Connection conn, uint32_t user_id) : conn_(std::move(conn)), user_id_(user_id) {}

  // The SCRAM-SHA-256 login with `secret`. 221 when logged in (the server's signature checked);
  // 1014 (wrong secret, unknown user), 1015 (busy) or another error status as a ReplyV2, after
  // which the server has closed the connection. With a `cache`, keys kept there for the salt and
  // iteration count the server names stand in for the PBKDF2, and freshly derived ones are kept
  // there once the server has proved itself.
  Result<ReplyV2> Login(const std::string& secret, const ScramCache* cache = nullptr);

  // Uploads each file with its SHA-256 as the trailer, streaming it (any size), and makes each
  // folder, sending the next request before the previous answer arrives (within kMaxPipelined /
  // kMaxPendingAnswerBytes). `done` is called for each upload in order with its outcome: a
  // ReplyV2, or a local Status (the file could not be opened: nothing was sent for it) or the
  // connection's failure, after which the uploads not yet reported were not done and are not
  // reported.
  using UploadDone = std::function<void(size_t index, const Result<ReplyV2>& outcome)>;
  using UploadProgress = std::function<void(size_t index, uint64_t done, uint64_t total)>;
  void Backup(const std::vector<Upload>& uploads, const UploadDone& done,
              const UploadProgress& progress = {});

  // Restores `name` into `output` through a TempOutput, committed only when the digest trailer
  // matches the bytes written; otherwise nothing is left and the reply has digest_ok false.
  // `attributes` are given to the file before it takes the name `output`.
  Result<ReplyV2> RestoreToFile(std::string_view name, const std::string& output, Existing existing,
                                const ProgressFn& progress = {},
                                const OutputAttributes& attributes = {});
  // Restores `name` to `fd` as it arrives; digest_ok tells whether what was written is right.
  Result<ReplyV2> RestoreToFd(std::string_view name, int fd, const ProgressFn& progress = {});
  Result<ReplyV2> Delete(std::string_view name);
  Result<ListReplyV2> List();
  // LIST_ATTRS: every stored file and folder with its kind, mode, size, mtime and digest.
  Result<ListAttrsReplyV2> ListAttrs();

  // Versions (issue 12): the versions of `name`; version `version` of `name` restored like
  // RestoreToFile / RestoreToFd; the names with history but no current file, as List's entries.
  Result<VersionsReplyV2> ListVersions(std::string_view name);
  Result<ReplyV2> RestoreVersionToFile(std::string_view name, uint64_t version,
                                       const std::string& output, Existing existing,
                                       const ProgressFn& progress = {});
  Result<ReplyV2> RestoreVersionToFd(std::string_view name, uint64_t version, int fd,
                                     const ProgressFn& progress = {});
  Result<ListReplyV2> ListDeleted();

  bool connected() const { return conn_.is_open(); }

 private:
  // Sends the whole request for one upload, hashing the file as it goes.
  Status SendUpload(int fd, uint64_t size, const Upload& up, size_t index,
                    const UploadProgress& progress);
  // Reads one answer's header (checked) and name; the payload is the caller's to read, except
  // an error's message, which is read into the reply.
  Result<ReplyV2> ReadReply(protocol::v2::Op op, uint64_t* size);
  // Reads a 211 payload of `size` bytes entry by entry (each `fixed` bytes besides its name), so
  // memory stays bounded per entry, handing each entry's bytes to `take`.
  Status ReadEntries(uint64_t size, size_t fixed, const std::string& what,
                     const std::function<Status(std::string_view entry)>& take);
  // Sends `request` (a restore or restore-version of `name`) and reads its 210 into `fd`.
  Result<ReplyV2> Restore(protocol::v2::Op op, std::string_view name, const std::string& request,
                          int fd, const ProgressFn& progress);
  Result<ReplyV2> RestoreToTemp(protocol::v2::Op op, std::string_view name,
                                const std::string& request, const std::string& output,
                                Existing existing, const ProgressFn& progress,
                                const OutputAttributes& attributes = {});
  // Sends the request of `op` (list or list-deleted) and reads its list entries.
  Result<ListReplyV2> ReadList(protocol::v2::Op op);
  // Sends `op` (a listing without a name) and, for 211, reads its entries one by one with
  // `decode` into `entries`, each name after the one before.
  template <typename Entry>
  Result<ReplyV2> ReadListing(protocol::v2::Op op, size_t fixed, const std::string& what,
                              Result<std::vector<Entry>> (*decode)(std::string_view),
                              std::vector<Entry>* entries);
  Status Fail(Status st);

  Connection conn_;
  uint32_t user_id_;
  bool answered_ = false;
};

}  // namespace backupd::client

#endif  // BACKUPD_CLIENT_CLIENT_V2_H_

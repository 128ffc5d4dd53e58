// worker (unprivileged, chrooted): the four operations of protocol v1 on a user's folder.
#include "worker/request_handler.h"

#include <fcntl.h>
#include <linux/openat2.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <string>
#include <vector>

#include "protocol/request_parser.h"
#include "protocol/wire.h"
#include "worker/list_sender.h"
#include "worker/payload.h"
#include "worker/user_dir.h"

namespace backupd::worker {

namespace {

using protocol::Op;
using protocol::RequestParser;
using protocol::ResponseCode;

uint16_t CodeOf(ResponseCode c) { return static_cast<uint16_t>(c); }

// Error statuses from storage: a missing file is 1001, anything else (a refused symlink, EIO,
// ENOSPC) is the general error.
ResponseCode StorageErrorCode(const Status& s) {
  return s.code() == Status::Code::kNotFound ? ResponseCode::kNotFound : ResponseCode::kError;
}

class Request {
 public:
  Request(Connection& conn, const HandlerContext& ctx, const RequestDeadlines& deadlines)
      : conn_(conn),
        ctx_(ctx),
        deadlines_(deadlines),
        bytes_in0_(conn.bytes_in()),
        parser_(ctx.max_file_size) {}

  Handled Run();

 private:
  // The normalized name, empty for list and until a valid name was read: what every response
  // echoes, as the protocol has it.
  const std::string& name() const { return parser_.request().name; }
  uint32_t user_id() const { return parser_.request().user_id; }
  // Sends a response without payload and records it.
  void Reply(ResponseCode code);
  Status ReplyWithPayloadPrefix(ResponseCode code, std::string_view name, uint32_t size);
  // Streams an upload into a temp file and commits it; nothing when the client was lost
  // (LostClient has said so). When it returns, a failed upload's temp file and every handle the
  // request had on the folder are gone, so no answer comes before that cleanup.
  std::optional<Status> Store(UniqueFd* replaced);
  void Backup();
  void Restore();
  void Delete();
  void List();
  Result<size_t> ReadPayload(std::vector<char>& buf) {
    return worker::ReadPayload(conn_, parser_, buf, deadlines_.request);
  }
  bool DiscardPayload(std::vector<char>& buf) {
    return worker::DiscardPayload(conn_, parser_, buf, deadlines_.request);
  }
  void Fail(ResponseCode code, const Status& why);
  // The client is gone or cut off while `doing`: nobody is left to answer.
  void LostClient(const Status& why, std::string_view doing);
  // The user's folder (made if missing with `create`); NotFound when missing otherwise, Denied
  // when legacy_v1 refuses this peer.
  Result<UserDir> Folder(bool create);

  Connection& conn_;
  const HandlerContext& ctx_;
  const RequestDeadlines deadlines_;
  const uint64_t bytes_in0_;
  Handled out_;
  RequestParser parser_;
};

void Request::Reply(ResponseCode code) {
  std::string bytes = protocol::EncodeResponsePrefix(CodeOf(code), name(), 0);
  out_.record.status = CodeOf(code);
  if (!conn_.WriteAll(bytes.data(), bytes.size(), deadlines_.request).ok()) out_.keep_open = false;
}

Status Request::ReplyWithPayloadPrefix(ResponseCode code, std::string_view name, uint32_t size) {
  std::string bytes = protocol::EncodeResponsePrefix(CodeOf(code), name, size);
  out_.record.status = CodeOf(code);
  return conn_.WriteAll(bytes.data(), bytes.size(), deadlines_.request);
}

void Request::Fail(ResponseCode code, const Status& why) {
  ipc::SetField(out_.record.detail, why.ToString());
  Reply(code);
}

void Request::LostClient(const Status& why, std::string_view doing) {
  out_.keep_open = false;
  ipc::SetField(out_.record.detail, why.ToString());
  out_.stalled = StallNote(why, doing, conn_.bytes_in() - bytes_in0_);
}

Result<UserDir> Request::Folder(bool create) {
  if (!ctx_.folder_refused.ok()) return ctx_.folder_refused;
  if (ctx_.folder_fd >= 0) {
    if (user_id() != ctx_.folder_user) {
      return Status::Denied("this connection serves user " + std::to_string(ctx_.folder_user) +
                            " only");
    }
    // Each request's UserDir owns its descriptor; the connection's stays open for the next one.
    int fd = ctx_.sys->OpenAt2(ctx_.folder_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0,
                               RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
    if (fd < 0) return Status::FromErrno(errno, "open the user's folder");
    return UserDir(ctx_.sys, UniqueFd(fd));
  }
  if (ctx_.folders == nullptr) return UserDir::Open(ctx_.sys, ctx_.storage_fd, user_id(), create);
  Result<UniqueFd> fd = ctx_.folders->V1Folder(user_id(), create);
  if (!fd.ok()) return fd.status();
  return UserDir(ctx_.sys, std::move(*fd));
}

std::optional<Status> Request::Store(UniqueFd* replaced) {
  std::vector<char> buf = PayloadBuffer(parser_.payload_left());
  Result<UserDir> dir = Folder(true);
  if (dir.ok()) dir->policy = VersionPolicyFor(ctx_, user_id());
  Result<Upload> upload = dir.ok() ? dir->BeginUpload(name()) : Result<Upload>(dir.status());
  if (!upload.ok()) {
    out_.keep_open = DiscardPayload(buf);
    return upload.status();
  }
  while (parser_.payload_left() > 0) {
    Result<size_t> got = ReadPayload(buf);
    if (!got.ok()) {
      LostClient(got.status(), "upload");
      return std::nullopt;
    }
    Status w = upload->Write(buf.data(), *got);
    if (!w.ok()) {
      out_.keep_open = DiscardPayload(buf);
      return w;
    }
  }
  Status c = upload->Commit();
  if (c.ok()) *replaced = upload->TakeReplaced();
  return c;
}

void Request::Backup() {
  // Freeing the blocks of the file the upload replaced is left to after the answer.
  UniqueFd replaced;
  std::optional<Status> stored = Store(&replaced);
  if (!stored) return;
  if (!stored->ok()) return Fail(ResponseCode::kError, *stored);
  Reply(ResponseCode::kOk);
}

void Request::Restore() {
  Result<UserDir> dir = Folder(false);
  Result<OpenFile> file = dir.ok() ? dir->OpenForRead(name()) : Result<OpenFile>(dir.status());
  if (!file.ok()) {
    Fail(StorageErrorCode(file.status()), file.status());
    return;
  }
  if (file->size > protocol::kMaxPayloadSize) {
    Fail(ResponseCode::kError, Status::TooLarge("file too large for protocol v1"));
    return;
  }
  Status s =
      ReplyWithPayloadPrefix(ResponseCode::kRestoreOk, name(), static_cast<uint32_t>(file->size));
  if (s.ok()) s = conn_.SendFile(file->fd.get(), file->size, deadlines_.request);
  // Part of the payload may be out already: only closing the connection tells the client.
  if (!s.ok()) LostClient(s, "restore");
}

void Request::Delete() {
  UniqueFd removed;  // closed after the answer: freeing a large file's blocks delays no one
  Result<UserDir> dir = Folder(false);
  if (dir.ok()) dir->policy = VersionPolicyFor(ctx_, user_id());
  Status s = dir.ok() ? dir->Remove(name(), UserDir::Folders::kRefuse, &removed) : dir.status();
  if (!s.ok() && dir.ok() && dir->policy.append_only && s.code() == Status::Code::kDenied) {
    WarnAboutUser(ctx_, user_id(), "append-only: v1 delete of " + name() + " refused");
  }
  if (!s.ok()) {
    Fail(StorageErrorCode(s), s);
    return;
  }
  Reply(ResponseCode::kOk);
}

void Request::List() {
  Result<UserDir> dir = Folder(false);
  if (!dir.ok() && dir.status().code() == Status::Code::kNotFound) {
    return Reply(ResponseCode::kNoFiles);
  }
  if (!dir.ok()) return Fail(ResponseCode::kError, dir.status());
  const ListFormat format{1, UserDir::ListOptions::kNamesOnly,
                          [](std::string& out, const StoredFile& f) {
                            out += f.name;
                            out += '\n';
                          }};
  Result<ListCount> count =
      CountList(*dir, format, ctx_.max_files_listed,
                [this](std::string_view line) { WarnAboutUser(ctx_, user_id(), line); });
  if (!count.ok()) return Fail(ResponseCode::kError, count.status());
  if (count->files == 0) return Reply(ResponseCode::kNoFiles);
  if (count->bytes > protocol::kMaxPayloadSize) {
    return Fail(ResponseCode::kError, Status::TooLarge("list too long for protocol v1"));
  }
  std::string list_name = protocol::RandomListName(*ctx_.rng);
  Status s =
      ReplyWithPayloadPrefix(ResponseCode::kListOk, list_name, static_cast<uint32_t>(count->bytes));
  Result<uint64_t> sent = s.ok() ? SendList(*dir, format, count->bytes, conn_, deadlines_.request)
                                 : Result<uint64_t>(s);
  if (!sent.ok()) {
    LostClient(sent.status(), "list");
  } else if (*sent != count->bytes) {
    // Files went between the count and the walk that sends them: the list is cut off here
    // rather than padded with names that are not stored (docs/PROTOCOL.md).
    out_.keep_open = false;
    ipc::SetField(out_.record.detail, "the files changed while they were listed: list cut off");
  }
}

Handled Request::Run() {
  out_.keep_open = true;
  ipc::SetField(out_.record.peer, conn_.peer());
  Status s = parser_.Fill([this](uint8_t* buf, size_t max) {
    return conn_.ReadSome(buf, max, deadlines_.HeaderOrRequest());
  });
  // Whatever was decoded before a failure is reported: op and user once the header is in.
  const protocol::ParsedRequest& request = parser_.request();
  out_.record.op = request.op;
  out_.record.user_id = request.user_id;
  ipc::SetField(out_.record.text, request.name);
  if (!s.ok()) {
    LostClient(s, InHeader(deadlines_));
    return out_;
  }
  if (parser_.state() == RequestParser::State::kError) {
    // Past a malformed field the framing is lost: answer and close. An oversized upload is
    // refused on its size field alone, its payload left unread.
    out_.keep_open = false;
    Fail(ResponseCode::kError, parser_.error());
    return out_;
  }
  // From here on the client is held to min_rate: the payload, and reading the answer.
  conn_.BeginPace(ctx_.min_rate);
  switch (static_cast<Op>(request.op)) {
    case Op::kBackup:
      Backup();
      break;
    case Op::kRestore:
      Restore();
      break;
    case Op::kDelete:
      Delete();
      break;
    case Op::kList:
      List();
      break;
  }
  return out_;
}

}  // namespace

VersionPolicy VersionPolicyFor(const HandlerContext& ctx, uint32_t user_id) {
  VersionPolicy policy = ctx.versions;
  policy.append_only = std::find(ctx.append_only_users.begin(), ctx.append_only_users.end(),
                                 user_id) != ctx.append_only_users.end();
  return policy;
}

void WarnAboutUser(const HandlerContext& ctx, uint32_t user_id, std::string_view line) {
  if (ctx.warn) ctx.warn("user " + std::to_string(user_id) + ": " + std::string(line));
}

Handled HandleRequest(Connection& conn, const HandlerContext& ctx,
                      const RequestDeadlines& deadlines) {
  Handled h = Measured(conn, [&] { return Request(conn, ctx, deadlines).Run(); });
  conn.EndPace();
  return h;
}

}  // namespace backupd::worker

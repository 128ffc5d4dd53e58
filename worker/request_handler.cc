// worker (unprivileged, chrooted): the four operations of protocol v1 on a user's folder.
#include "worker/request_handler.h"

#include <unistd.h>

#include <array>
#include <string>
#include <vector>

#include "protocol/wire.h"
#include "worker/user_dir.h"

namespace backupd::worker {

namespace {

using protocol::Op;
using protocol::ResponseCode;

constexpr size_t kBufferSize = 256 * 1024;

uint16_t CodeOf(ResponseCode c) { return static_cast<uint16_t>(c); }

// Error statuses from storage: a missing file is 1001, anything else (a refused symlink, EIO,
// ENOSPC) is the general error.
ResponseCode StorageErrorCode(const Status& s) {
  return s.code() == Status::Code::kNotFound ? ResponseCode::kNotFound : ResponseCode::kError;
}

class Request {
 public:
  Request(Connection& conn, const HandlerContext& ctx, Deadline deadline)
      : conn_(conn), ctx_(ctx), deadline_(deadline) {}

  Handled Run();

 private:
  // Sends a response without payload and records it.
  void Reply(ResponseCode code, bool echo_name);
  Status ReplyWithPayloadPrefix(ResponseCode code, std::string_view name, uint32_t size);
  void Backup();
  void Restore();
  void Delete();
  void List();
  // Reads and drops `left` payload bytes so the connection stays usable after a failed upload.
  bool Discard(uint64_t left);
  void Fail(ResponseCode code, const Status& why, bool echo_name);

  Connection& conn_;
  const HandlerContext& ctx_;
  Deadline deadline_;
  Handled out_;
  protocol::RequestHeader header_;
  std::string name_;
};

void Request::Reply(ResponseCode code, bool echo_name) {
  std::string bytes =
      protocol::EncodeResponsePrefix(CodeOf(code), echo_name ? name_ : std::string_view(), 0);
  out_.record.status = CodeOf(code);
  if (!conn_.WriteAll(bytes.data(), bytes.size(), deadline_).ok()) out_.keep_open = false;
}

Status Request::ReplyWithPayloadPrefix(ResponseCode code, std::string_view name, uint32_t size) {
  std::string bytes = protocol::EncodeResponsePrefix(CodeOf(code), name, size);
  out_.record.status = CodeOf(code);
  return conn_.WriteAll(bytes.data(), bytes.size(), deadline_);
}

void Request::Fail(ResponseCode code, const Status& why, bool echo_name) {
  ipc::SetField(out_.record.detail, why.ToString());
  Reply(code, echo_name);
}

bool Request::Discard(uint64_t left) {
  std::vector<char> buf(static_cast<size_t>(std::min<uint64_t>(left, kBufferSize)));
  while (left > 0) {
    Result<size_t> got = conn_.ReadSome(
        buf.data(), static_cast<size_t>(std::min<uint64_t>(left, buf.size())), deadline_);
    if (!got.ok()) return false;
    left -= *got;
  }
  return true;
}

void Request::Backup() {
  std::array<uint8_t, protocol::kSizeFieldSize> size_bytes;
  if (!conn_.ReadExact(size_bytes.data(), size_bytes.size(), deadline_).ok()) {
    out_.keep_open = false;
    return;
  }
  uint32_t size = protocol::GetU32(size_bytes.data());
  if (size > ctx_.max_file_size) {
    // The payload is not read: answer and close rather than swallow an oversized upload.
    out_.keep_open = false;
    Fail(ResponseCode::kError,
         Status::TooLarge("size " + std::to_string(size) + " over max_file_size"), true);
    return;
  }
  Result<UserDir> dir = UserDir::Open(ctx_.sys, ctx_.storage_fd, header_.user_id, true);
  Result<Upload> upload = dir.ok() ? dir->BeginUpload(name_) : Result<Upload>(dir.status());
  if (!upload.ok()) {
    out_.keep_open = Discard(size);
    Fail(ResponseCode::kError, upload.status(), true);
    return;
  }
  std::vector<char> buf(static_cast<size_t>(std::min<uint64_t>(size, kBufferSize)));
  uint64_t left = size;
  while (left > 0) {
    Result<size_t> got = conn_.ReadSome(
        buf.data(), static_cast<size_t>(std::min<uint64_t>(left, buf.size())), deadline_);
    if (!got.ok()) {
      // The client is gone or too slow: the Upload's destructor removes the temp file.
      out_.keep_open = false;
      ipc::SetField(out_.record.detail, got.status().ToString());
      return;
    }
    left -= *got;
    Status w = upload->Write(buf.data(), *got);
    if (!w.ok()) {
      out_.keep_open = Discard(left);
      Fail(ResponseCode::kError, w, true);
      return;
    }
  }
  Status c = upload->Commit();
  if (!c.ok()) {
    Fail(ResponseCode::kError, c, true);
    return;
  }
  Reply(ResponseCode::kOk, true);
}

void Request::Restore() {
  Result<UserDir> dir = UserDir::Open(ctx_.sys, ctx_.storage_fd, header_.user_id, false);
  Result<OpenFile> file = dir.ok() ? dir->OpenForRead(name_) : Result<OpenFile>(dir.status());
  if (!file.ok()) {
    Fail(StorageErrorCode(file.status()), file.status(), true);
    return;
  }
  OpenFile f = *file;
  if (f.size > 0xFFFFFFFFu) {
    ::close(f.fd);
    Fail(ResponseCode::kError, Status::TooLarge("file too large for protocol v1"), true);
    return;
  }
  Status s = ReplyWithPayloadPrefix(ResponseCode::kRestoreOk, name_, static_cast<uint32_t>(f.size));
  if (s.ok()) s = conn_.SendFile(f.fd, f.size, deadline_);
  ::close(f.fd);
  if (!s.ok()) {
    // Part of the payload may be out already: only closing the connection tells the client.
    out_.keep_open = false;
    ipc::SetField(out_.record.detail, s.ToString());
  }
}

void Request::Delete() {
  Result<UserDir> dir = UserDir::Open(ctx_.sys, ctx_.storage_fd, header_.user_id, false);
  Status s = dir.ok() ? dir->Remove(name_) : dir.status();
  if (!s.ok()) {
    Fail(StorageErrorCode(s), s, true);
    return;
  }
  Reply(ResponseCode::kOk, true);
}

void Request::List() {
  Result<UserDir> dir = UserDir::Open(ctx_.sys, ctx_.storage_fd, header_.user_id, false);
  Result<std::vector<std::string>> names =
      dir.ok() ? dir->List() : Result<std::vector<std::string>>(dir.status());
  if (!names.ok() && names.status().code() != Status::Code::kNotFound) {
    Fail(ResponseCode::kError, names.status(), false);
    return;
  }
  if (!names.ok() || names->empty()) {
    Reply(ResponseCode::kNoFiles, false);
    return;
  }
  std::string payload;
  for (const std::string& n : *names) {
    payload += n;
    payload += '\n';
  }
  if (payload.size() > 0xFFFFFFFFu) {
    Fail(ResponseCode::kError, Status::TooLarge("list too long for protocol v1"), false);
    return;
  }
  std::string list_name = protocol::RandomListName(*ctx_.rng);
  Status s = ReplyWithPayloadPrefix(ResponseCode::kListOk, list_name,
                                    static_cast<uint32_t>(payload.size()));
  if (s.ok()) s = conn_.WriteAll(payload.data(), payload.size(), deadline_);
  if (!s.ok()) out_.keep_open = false;
}

Handled Request::Run() {
  out_.keep_open = true;
  ipc::SetField(out_.record.peer, conn_.peer());
  std::array<uint8_t, protocol::kRequestHeaderSize> hb;
  Status s = conn_.ReadExact(hb.data(), hb.size(), deadline_);
  if (!s.ok()) {
    out_.keep_open = false;
    ipc::SetField(out_.record.detail, s.ToString());
    return out_;
  }
  header_ = protocol::DecodeRequestHeader(hb);
  out_.record.op = header_.op;
  out_.record.user_id = header_.user_id;
  s = protocol::CheckRequestHeader(header_);
  if (!s.ok()) {
    out_.keep_open = false;
    Fail(ResponseCode::kError, s, false);
    return out_;
  }
  std::string raw(header_.name_len, '\0');
  if (!conn_.ReadExact(raw.data(), raw.size(), deadline_).ok()) {
    out_.keep_open = false;
    return out_;
  }
  auto op = static_cast<Op>(header_.op);
  if (op != Op::kList) {
    Result<std::string> name = protocol::NormalizeName(raw);
    if (!name.ok()) {
      out_.keep_open = false;
      Fail(ResponseCode::kError, name.status(), false);
      return out_;
    }
    name_ = std::move(*name);
  }
  ipc::SetField(out_.record.text, name_);
  switch (op) {
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

Handled HandleRequest(Connection& conn, const HandlerContext& ctx, Deadline deadline) {
  auto started = Clock::now();
  uint64_t in0 = conn.bytes_in();
  uint64_t out0 = conn.bytes_out();
  Handled h = Request(conn, ctx, deadline).Run();
  h.record.bytes_in = conn.bytes_in() - in0;
  h.record.bytes_out = conn.bytes_out() - out0;
  h.record.micros = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count());
  return h;
}

}  // namespace backupd::worker

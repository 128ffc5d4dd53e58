// client (the user's privilege): protocol v1 requests, strict answers, bounded streaming.
#include "client/client.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "base/unique_fd.h"
#include "client/output_file.h"
#include "protocol/wire.h"

namespace backupd::client {
namespace {

using protocol::Op;
using protocol::ResponseCode;

// Payload bytes move through a buffer of this size, whatever the file size.
constexpr size_t kChunkSize = 64 * 1024;

// The statuses a v1 server may answer `op` with: the op's own success code or a generic error.
// Anything else means the stream is out of step (e.g. a 210 payload arriving for a list).
bool StatusFits(uint8_t op, uint16_t status) {
  switch (static_cast<ResponseCode>(status)) {
    case ResponseCode::kNotFound:
    case ResponseCode::kNoFiles:
    case ResponseCode::kError:
      return true;
    case ResponseCode::kRestoreOk:
      return op == static_cast<uint8_t>(Op::kRestore);
    case ResponseCode::kListOk:
      return op == static_cast<uint8_t>(Op::kList);
    case ResponseCode::kOk:
      return op == static_cast<uint8_t>(Op::kBackup) || op == static_cast<uint8_t>(Op::kDelete);
  }
  return false;
}

}  // namespace

Status Client::Fail(Status st) {
  conn_.Close();
  return st;
}

Result<Reply> Client::ReadReply(uint8_t op, uint32_t* size) {
  std::array<uint8_t, protocol::kResponseHeaderSize> raw{};
  const std::string context = std::string("answer to ") + protocol::OpName(op) + ": ";
  Status st =
      conn_.ReadAnswerHeader(raw.data(), raw.size(), protocol::kVersion1, !answered_, context);
  if (!st.ok()) return Fail(st);
  answered_ = true;
  protocol::ResponseHeader h = protocol::DecodeResponseHeader(raw);
  if (!StatusFits(op, h.status)) {
    return Fail(Status::Invalid(context + "unexpected status " + std::to_string(h.status)));
  }
  if (h.name_len > protocol::kMaxNameLen) {
    return Fail(Status::Invalid(context + "name_len " + std::to_string(h.name_len) + " over " +
                                std::to_string(protocol::kMaxNameLen)));
  }
  Reply reply;
  reply.status = h.status;
  reply.name.resize(h.name_len);
  st = conn_.ReadExact(reply.name.data(), reply.name.size());
  if (!st.ok()) return Fail(st);
  *size = 0;
  if (protocol::HasResponsePayload(h.status)) {
    std::array<uint8_t, protocol::kSizeFieldSize> raw_size{};
    st = conn_.ReadExact(raw_size.data(), raw_size.size());
    if (!st.ok()) return Fail(st);
    *size = protocol::GetU32(raw_size.data());
  }
  return reply;
}

Result<Reply> Client::Backup(std::string_view name, const std::string& path,
                             const ProgressFn& progress) {
  if (!conn_.is_open()) return Status::Closed("not connected");
  Status st = CheckRequestName(name);
  if (!st.ok()) return st;
  UniqueFd file(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!file.valid()) return Status::FromErrno(errno, path);
  struct stat sb {};
  if (fstat(file.get(), &sb) < 0) return Status::FromErrno(errno, path);
  if (!S_ISREG(sb.st_mode)) return Status::Invalid(path + ": not a regular file");
  const auto size = static_cast<uint64_t>(sb.st_size);
  if (size > protocol::kMaxPayloadSize) {
    return Status::TooLarge(path + ": " + std::to_string(size) +
                            " bytes; protocol v1 carries at most " +
                            std::to_string(protocol::kMaxPayloadSize));
  }
  const std::string prefix =
      protocol::EncodeRequestPrefix(user_id_, Op::kBackup, name, static_cast<uint32_t>(size));
  st = conn_.WriteAll(prefix.data(), prefix.size());
  std::vector<uint8_t> buf(kChunkSize);
  uint64_t sent = 0;
  while (st.ok() && sent < size) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - sent));
    ssize_t n = read(file.get(), buf.data(), want);
    if (n < 0 && errno == EINTR) continue;
    // The header promised `size` bytes: after a short file the stream cannot be resynchronised.
    if (n < 0) return Fail(Status::FromErrno(errno, "read " + path));
    if (n == 0) return Fail(Status::IoError(path + ": file shrank while being sent"));
    st = conn_.WriteAll(buf.data(), static_cast<size_t>(n));
    sent += static_cast<uint64_t>(n);
    if (progress) progress(sent, size);
  }
  uint32_t ignored = 0;
  Result<Reply> reply = ReadReply(static_cast<uint8_t>(Op::kBackup), &ignored);
  if (!st.ok()) {
    // The server may have refused early (e.g. too large) and hung up: its answer says why.
    conn_.Close();
    return reply.ok() ? reply : Result<Reply>(st);
  }
  if (reply.ok()) reply->bytes = size;
  return reply;
}

Result<Reply> Client::Restore(std::string_view name, int fd, const ProgressFn& progress) {
  if (!conn_.is_open()) return Status::Closed("not connected");
  Status st = CheckRequestName(name);
  if (!st.ok()) return st;
  const std::string prefix = protocol::EncodeRequestPrefix(user_id_, Op::kRestore, name, 0);
  st = conn_.WriteAll(prefix.data(), prefix.size());
  if (!st.ok()) return Fail(st);
  uint32_t size = 0;
  Result<Reply> reply = ReadReply(static_cast<uint8_t>(Op::kRestore), &size);
  if (!reply.ok() || reply->status != static_cast<uint16_t>(ResponseCode::kRestoreOk)) return reply;
  std::vector<uint8_t> buf(kChunkSize);
  Status write_status;
  uint64_t got = 0;
  while (got < size) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - got));
    st = conn_.ReadExact(buf.data(), want);
    if (!st.ok()) return Fail(st);
    if (write_status.ok()) write_status = WriteAllToFd(fd, buf.data(), want, "restored data");
    got += want;
    if (progress) progress(got, size);
  }
  if (!write_status.ok()) return write_status;
  reply->bytes = size;
  return reply;
}

Result<Reply> Client::RestoreToFd(std::string_view name, int fd, const ProgressFn& progress) {
  return Restore(name, fd, progress);
}

Result<Reply> Client::RestoreToFile(std::string_view name, const std::string& output,
                                    Existing existing, const ProgressFn& progress) {
  if (!conn_.is_open()) return Status::Closed("not connected");
  Result<TempOutput> tmp = TempOutput::Create(output);
  if (!tmp.ok()) return tmp.status();
  Result<Reply> reply = Restore(name, tmp->fd(), progress);
  if (!reply.ok() || reply->status != static_cast<uint16_t>(ResponseCode::kRestoreOk)) return reply;
  Status st = tmp->Commit(existing);
  if (!st.ok()) return st;
  return reply;
}

Result<Reply> Client::Delete(std::string_view name) {
  if (!conn_.is_open()) return Status::Closed("not connected");
  Status st = CheckRequestName(name);
  if (!st.ok()) return st;
  const std::string prefix = protocol::EncodeRequestPrefix(user_id_, Op::kDelete, name, 0);
  st = conn_.WriteAll(prefix.data(), prefix.size());
  if (!st.ok()) return Fail(st);
  uint32_t ignored = 0;
  return ReadReply(static_cast<uint8_t>(Op::kDelete), &ignored);
}

Result<ListReply> Client::List() {
  if (!conn_.is_open()) return Status::Closed("not connected");
  const std::string prefix = protocol::EncodeRequestPrefix(user_id_, Op::kList, "", 0);
  Status st = conn_.WriteAll(prefix.data(), prefix.size());
  if (!st.ok()) return Fail(st);
  uint32_t size = 0;
  Result<Reply> reply = ReadReply(static_cast<uint8_t>(Op::kList), &size);
  if (!reply.ok()) return reply.status();
  ListReply list{std::move(*reply), {}};
  if (list.reply.status != static_cast<uint16_t>(ResponseCode::kListOk)) return list;
  // Names are read line by line so memory stays bounded per line, whatever the payload size.
  std::vector<char> buf(kChunkSize);
  std::string line;
  uint64_t got = 0;
  while (got < size) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - got));
    st = conn_.ReadExact(buf.data(), want);
    if (!st.ok()) return Fail(st);
    got += want;
    for (size_t i = 0; i < want; ++i) {
      if (buf[i] != '\n') {
        line.push_back(buf[i]);
        if (line.size() > protocol::kMaxNameLen) {
          return Fail(Status::Invalid("answer to list: a name longer than " +
                                      std::to_string(protocol::kMaxNameLen) + " bytes"));
        }
        continue;
      }
      if (line.empty()) return Fail(Status::Invalid("answer to list: an empty name"));
      list.names.push_back(std::move(line));
      line.clear();
    }
  }
  if (!line.empty()) return Fail(Status::Invalid("answer to list: last name lacks its newline"));
  list.reply.bytes = size;
  return list;
}

}  // namespace backupd::client

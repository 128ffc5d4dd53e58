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

Status CheckRequestName(std::string_view name) {
  if (name.empty()) return Status::Invalid("empty name");
  if (name.size() > protocol::kMaxNameLen) {
    return Status::Invalid("name longer than " + std::to_string(protocol::kMaxNameLen) + " bytes");
  }
  return Status::Ok();
}

Status WriteAllFd(int fd, const uint8_t* p, size_t len, const std::string& what) {
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "write " + what);
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

// The mode a plain open(O_CREAT, 0666) would give: umask can only be read by setting it.
mode_t CreationMode() {
  mode_t mask = umask(0);
  umask(mask);
  return static_cast<mode_t>(0666 & ~mask);
}

// Makes a finished temp file durable and moves it over `output`; the folder is fsynced so the
// rename itself survives a crash.
Status CommitTemp(int fd, const std::string& tmp, const std::string& output, const std::string& dir,
                  Existing existing) {
  if (fchmod(fd, CreationMode()) < 0) return Status::FromErrno(errno, "chmod " + tmp);
  if (fsync(fd) < 0) return Status::FromErrno(errno, "fsync " + tmp);
  // RENAME_NOREPLACE: a file created at `output` while the payload arrived is kept, atomically.
  const unsigned flags = existing == Existing::kKeep ? RENAME_NOREPLACE : 0;
  if (renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, output.c_str(), flags) < 0) {
    if (errno == EEXIST) return Status::FromErrno(errno, "keep " + output + ", created meanwhile");
    return Status::FromErrno(errno, "rename to " + output);
  }
  UniqueFd dir_fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd.valid()) return Status::FromErrno(errno, "open folder " + dir);
  if (fsync(dir_fd.get()) < 0 && errno != EINVAL)
    return Status::FromErrno(errno, "fsync folder " + dir);
  return Status::Ok();
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// Why the first bytes a peer sent cannot come from a backupd server, from the usual suspects'
// opening bytes: an HTTP status line, a TLS record (alert 0x15 or handshake 0x16, version 3.x), an
// SSH banner (sent before any request), or a small version byte from a newer backupd.
std::string NotBackupd(const std::string& peer, std::string_view seen) {
  if (StartsWith(seen, "HTTP/"))
    return peer + " is not a backupd server (it answers like an HTTP server)";
  if (StartsWith(seen, "SSH-"))
    return peer + " is not a backupd server (it answers like an SSH server)";
  if (seen.size() >= 2 && (seen[0] == '\x15' || seen[0] == '\x16') && seen[1] == '\x03') {
    return peer + " is not a backupd server (it answers like a TLS server)";
  }
  const auto version = static_cast<uint8_t>(seen[0]);
  if (version >= 2 && version <= 15) {
    return peer + " answers with protocol version " + std::to_string(version) + ", expected 1";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string bytes;
  for (char c : seen) {
    const auto b = static_cast<uint8_t>(c);
    bytes += std::string(bytes.empty() ? "" : " ") + kHex[b >> 4] + kHex[b & 15];
  }
  return peer + " is not a backupd server (its answer begins with bytes " + bytes + ")";
}

// How many of a foreign answer's first bytes are shown and classified.
constexpr size_t kSniffLen = 8;

}  // namespace

Status Client::ReadHeader(uint8_t* raw, size_t len, const std::string& context) {
  size_t got = 0;
  while (got < len) {
    Result<size_t> n = conn_.ReadSome(raw + got, len - got);
    if (!n.ok() && n.status().code() == Status::Code::kClosed) {
      if (got == 0 && !answered_) {
        return Status::Closed(conn_.peer() +
                              " closed the connection without answering (is it a backupd server?)");
      }
      return Status::Closed("server closed the connection after " + std::to_string(got) + " of " +
                            std::to_string(len) + " bytes");
    }
    if (!n.ok()) return n.status();
    got += *n;
    // An HTTP server waits for the rest of what it takes for a request line; whatever else it has
    // sent already shows it is not backupd, so waiting for a full header would only burn the
    // timeout.
    if (raw[0] != protocol::kVersion1) {
      if (answered_) {
        return Status::Invalid(context + "protocol version " + std::to_string(raw[0]) +
                               ", expected 1");
      }
      std::string seen(reinterpret_cast<const char*>(raw), got);
      if (got < kSniffLen) seen += conn_.ReadPending(kSniffLen - got);
      return Status::Invalid(NotBackupd(conn_.peer(), seen));
    }
  }
  answered_ = true;
  return Status::Ok();
}

Status Client::Fail(Status st) {
  conn_.Close();
  return st;
}

Result<Reply> Client::ReadReply(uint8_t op, uint32_t* size) {
  std::array<uint8_t, protocol::kResponseHeaderSize> raw{};
  const std::string context = std::string("answer to ") + protocol::OpName(op) + ": ";
  Status st = ReadHeader(raw.data(), raw.size(), context);
  if (!st.ok()) return Fail(st);
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
    if (write_status.ok()) write_status = WriteAllFd(fd, buf.data(), want, "restored data");
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
  size_t slash = output.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : output.substr(0, slash + 1);
  const std::string base = slash == std::string::npos ? output : output.substr(slash + 1);
  if (base.empty()) return Status::Invalid("output '" + output + "' names a folder");
  std::string tmp = dir + (slash == std::string::npos ? "/." : ".") + base + ".restore-XXXXXX";
  UniqueFd fd(mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "create a temp file beside " + output);
  Result<Reply> reply = Restore(name, fd.get(), progress);
  Status st = reply.status();
  if (reply.ok() && reply->status == static_cast<uint16_t>(ResponseCode::kRestoreOk)) {
    st = CommitTemp(fd.get(), tmp, output, dir, existing);
    if (st.ok()) return reply;
  }
  unlink(tmp.c_str());
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

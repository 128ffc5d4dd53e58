// client (the user's privilege): protocol v2 — login, pipelined uploads, digest-checked restores.
#include "client/client_v2.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <deque>
#include <utility>

#include "base/random.h"
#include "base/text.h"
#include "base/unique_fd.h"
#include "client/chunk_digest.h"
#include "protocol/digest.h"
#include "protocol/scram.h"

namespace backupd::client {
namespace {

namespace v2 = protocol::v2;
using v2::Op;
using v2::ResponseCode;

// Payload bytes move through buffers of this size, or of the file's if smaller: 1 MiB takes a
// GiB in a thousand reads and writes each way, and SHA-256 (SHA-NI) runs at full speed on it.
constexpr size_t kChunkSize = 1024 * 1024;

// An upload hashes inline: its bound on one machine is the server's session child, and a client
// hashing thread only took a core from it (bench/RESULTS.md, issue 11, fourth step).
std::vector<uint8_t> PayloadBuffer(uint64_t size) {
  return std::vector<uint8_t>(static_cast<size_t>(std::min<uint64_t>(size, kChunkSize)));
}

uint16_t Code(ResponseCode c) { return static_cast<uint16_t>(c); }

// The success status of `op`; any error status (>= 1000, known: CheckResponseHeader) may answer
// any request. Another success status means the stream is out of step.
bool StatusFits(Op op, uint16_t status) {
  if (status >= 1000) return true;
  switch (op) {
    case Op::kAuthStart:
      return status == Code(ResponseCode::kAuthContinue);
    case Op::kAuthFinish:
      return status == Code(ResponseCode::kAuthOk);
    case Op::kBackup:
    case Op::kDelete:
      return status == Code(ResponseCode::kOk);
    case Op::kRestore:
      return status == Code(ResponseCode::kRestoreOk);
    case Op::kList:
    case Op::kListVersions:
    case Op::kListDeleted:
      return status == Code(ResponseCode::kListOk);
    case Op::kBackupAttrs:
    case Op::kMakeFolder:
      return status == Code(ResponseCode::kOk);
    case Op::kListAttrs:
      return status == Code(ResponseCode::kListOk);
    case Op::kRestoreVersion:
      return status == Code(ResponseCode::kRestoreOk);
  }
  return false;
}

// What the server may send back to a pipelined upload at most: header, echoed name, message.
size_t AnswerCost(const std::string& name) {
  return v2::kResponseHeaderSize + name.size() + v2::kMaxMessageSize;
}

}  // namespace

Status ClientV2::Fail(Status st) {
  conn_.Close();
  return st;
}

Result<ReplyV2> ClientV2::ReadReply(Op op, uint64_t* size) {
  const std::string context =
      std::string("answer to ") + v2::OpName(static_cast<uint8_t>(op)) + ": ";
  std::array<uint8_t, v2::kResponseHeaderSize> raw{};
  Status st = conn_.ReadAnswerHeader(raw.data(), raw.size(), v2::kVersion, !answered_, context);
  if (!st.ok()) return Fail(st);
  answered_ = true;
  const v2::ResponseHeader h = v2::DecodeResponseHeader(raw);
  st = v2::CheckResponseHeader(h);
  if (!st.ok()) return Fail(Status::Invalid(context + st.message()));
  if (!StatusFits(op, h.status)) {
    return Fail(Status::Invalid(context + "unexpected status " + std::to_string(h.status)));
  }
  ReplyV2 reply;
  reply.status = h.status;
  reply.name.resize(h.name_len);
  st = conn_.ReadExact(reply.name.data(), reply.name.size());
  if (!st.ok()) return Fail(st);
  *size = h.size;
  if (h.status >= 1000) {
    // CheckResponseHeader capped an error's size at kMaxMessageSize.
    std::string message(h.size, '\0');
    st = conn_.ReadExact(message.data(), message.size());
    if (!st.ok()) return Fail(st);
    reply.message = EscapeUntrusted(message);
    *size = 0;
  }
  return reply;
}

Result<ReplyV2> ClientV2::Login(const std::string& secret, const ScramCache* cache) {
  if (!conn_.is_open()) return Status::Closed("not connected");
  Result<std::string> nonce = RandomToken(protocol::kScramNonceBytes);
  if (!nonce.ok()) return nonce.status();
  const std::string user = std::to_string(user_id_);
  protocol::ScramClient scram(user, secret, *nonce);
  Result<std::string> first = scram.ClientFirst();
  if (!first.ok())
    return Status::Invalid("the secret for user " + user + ": " + first.status().message());

  std::string request = v2::EncodeAuthRequest(user_id_, Op::kAuthStart, *first);
  Status st = conn_.WriteAll(request.data(), request.size());
  if (!st.ok()) return Fail(st);
  uint64_t size = 0;
  Result<ReplyV2> reply = ReadReply(Op::kAuthStart, &size);
  if (!reply.ok()) return reply;
  // After a refused login step the server closes the connection.
  if (reply->status != Code(ResponseCode::kAuthContinue)) {
    conn_.Close();
    return reply;
  }
  std::string server_first(size, '\0');
  st = conn_.ReadExact(server_first.data(), server_first.size());
  if (!st.ok()) return Fail(st);
  if (cache != nullptr) {
    if (std::optional<protocol::ScramClientKeys> keys = cache->Load(user_id_, secret)) {
      scram.UseKeys(*keys);
    }
  }
  Result<std::string> final_message = scram.ClientFinal(server_first);
  if (!final_message.ok()) {
    return Fail(Status::Invalid("the server's login message: " + final_message.status().message()));
  }

  request = v2::EncodeAuthRequest(user_id_, Op::kAuthFinish, *final_message);
  st = conn_.WriteAll(request.data(), request.size());
  if (!st.ok()) return Fail(st);
  reply = ReadReply(Op::kAuthFinish, &size);
  if (!reply.ok()) return reply;
  if (reply->status != Code(ResponseCode::kAuthOk)) {
    conn_.Close();
    return reply;
  }
  std::string server_final(size, '\0');
  st = conn_.ReadExact(server_final.data(), server_final.size());
  if (!st.ok()) return Fail(st);
  if (!scram.VerifyServerFinal(server_final).ok()) {
    return Fail(Status::Denied("server could not prove it knows user " + user +
                               "'s verifier (not the real backupd?)"));
  }
  if (cache != nullptr && scram.derived()) cache->Save(user_id_, secret, scram.keys());
  return reply;
}

Status ClientV2::SendUpload(int fd, uint64_t size, const Upload& up, size_t index,
                            const UploadProgress& progress) {
  const std::string& path = up.path;
  std::string prefix;
  if (up.attributes) {
    prefix =
        v2::EncodeRequestPrefix(user_id_, Op::kBackupAttrs, up.name, v2::kAttributesSize + size) +
        v2::EncodeAttributes(*up.attributes);
  } else {
    prefix = v2::EncodeRequestPrefix(user_id_, Op::kBackup, up.name, size);
  }
  Status st = conn_.WriteAll(prefix.data(), prefix.size());
  protocol::Sha256 sha;
  std::vector<uint8_t> buf = PayloadBuffer(size);
  uint64_t sent = 0;
  while (st.ok() && sent < size) {
    const auto want = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - sent));
    ssize_t n = read(fd, buf.data(), want);
    if (n < 0 && errno == EINTR) continue;
    // The header promised `size` bytes: after a short file the stream cannot be resynchronised.
    if (n < 0) return Fail(Status::FromErrno(errno, "read " + path));
    if (n == 0) return Fail(Status::IoError(path + ": file shrank while being sent"));
    sha.Update(buf.data(), static_cast<size_t>(n));
    st = conn_.WriteAll(buf.data(), static_cast<size_t>(n));
    sent += static_cast<uint64_t>(n);
    if (progress) progress(index, sent, size);
  }
  if (!st.ok()) return st;
  const std::string trailer = v2::EncodeDigestTrailer(sha.Finish());
  return conn_.WriteAll(trailer.data(), trailer.size());
}

void ClientV2::Backup(const std::vector<Upload>& uploads, const UploadDone& done,
                      const UploadProgress& progress) {
  struct Pending {
    size_t index;
    size_t cost;
  };
  std::deque<Pending> pending;
  size_t pending_bytes = 0;
  // Reads the oldest outstanding answer; false once the connection is gone.
  auto read_oldest = [&]() {
    const Pending p = pending.front();
    pending.pop_front();
    pending_bytes -= p.cost;
    uint64_t ignored = 0;
    Result<ReplyV2> reply = ReadReply(Op::kBackup, &ignored);
    done(p.index, reply);
    return reply.ok();
  };
  auto drain = [&]() {
    while (!pending.empty()) {
      if (!read_oldest()) return false;
    }
    return true;
  };

  for (size_t i = 0; i < uploads.size(); ++i) {
    if (!conn_.is_open()) {
      done(i, Status::Closed("not connected"));
      return;
    }
    const Upload& up = uploads[i];
    Status st = CheckRequestName(up.name);
    if (st.ok() && up.folder && !up.attributes) {
      st = Status::Invalid(up.path + ": a folder goes with its attributes");
    }
    UniqueFd file;
    struct stat sb {};
    if (st.ok() && !up.folder) {
      file = UniqueFd(open(up.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
      if (!file.valid()) st = Status::FromErrno(errno, up.path);
    }
    if (st.ok() && !up.folder && fstat(file.get(), &sb) < 0) {
      st = Status::FromErrno(errno, up.path);
    }
    if (st.ok() && !up.folder && !S_ISREG(sb.st_mode)) {
      st = Status::Invalid(up.path + ": not a regular file");
    }
    if (!st.ok()) {
      // Outcomes are reported in order, so the answers before this file come first.
      if (!drain()) return;
      done(i, st);
      continue;
    }
    const size_t cost = AnswerCost(up.name);
    while (!pending.empty() &&
           (pending.size() >= kMaxPipelined || pending_bytes + cost > kMaxPendingAnswerBytes)) {
      if (!read_oldest()) return;
    }
    if (up.folder) {
      const std::string request =
          v2::EncodeRequestPrefix(user_id_, Op::kMakeFolder, up.name, v2::kAttributesSize) +
          v2::EncodeAttributes(*up.attributes);
      st = conn_.WriteAll(request.data(), request.size());
    } else {
      st = SendUpload(file.get(), static_cast<uint64_t>(sb.st_size), up, i, progress);
    }
    if (!st.ok() && !conn_.is_open()) {
      // A local read failure mid-file: the stream is cut, no answer can be read any more.
      done(i, st);
      return;
    }
    pending.push_back({i, cost});
    pending_bytes += cost;
    if (!st.ok()) {
      // The server may have refused an earlier request (or this one, early) and hung up: its
      // answers say why. The first request it did not answer gets the send error.
      while (!pending.empty()) {
        const Pending p = pending.front();
        pending.pop_front();
        uint64_t ignored = 0;
        Result<ReplyV2> reply = ReadReply(Op::kBackup, &ignored);
        done(p.index, reply.ok() ? reply : Result<ReplyV2>(st));
        if (!reply.ok()) return;
      }
      conn_.Close();
      return;
    }
  }
  drain();
}

Result<ReplyV2> ClientV2::Restore(Op op, std::string_view name, const std::string& request, int fd,
                                  const ProgressFn& progress) {
  if (!conn_.is_open()) return Status::Closed("not connected");
  Status st = CheckRequestName(name);
  if (!st.ok()) return st;
  st = conn_.WriteAll(request.data(), request.size());
  if (!st.ok()) return Fail(st);
  uint64_t size = 0;
  Result<ReplyV2> reply = ReadReply(op, &size);
  if (!reply.ok() || reply->status != Code(ResponseCode::kRestoreOk)) return reply;
  ChunkDigest digest(size, kChunkSize);
  Status write_status;
  uint64_t got = 0;
  while (got < size) {
    const auto want = static_cast<size_t>(std::min<uint64_t>(digest.capacity(), size - got));
    uint8_t* buf = digest.Next();
    st = conn_.ReadExact(buf, want);
    if (!st.ok()) return Fail(st);
    digest.Submit(want);
    // A write error is returned only after the rest has been read: the stream stays in step.
    if (write_status.ok()) write_status = WriteAllToFd(fd, buf, want, "restored data");
    got += want;
    if (progress) progress(got, size);
  }
  protocol::Digest trailer{};
  st = conn_.ReadExact(trailer.data(), trailer.size());
  if (!st.ok()) return Fail(st);
  if (!write_status.ok()) return write_status;
  reply->digest_ok = digest.Finish() == trailer;
  reply->bytes = size;
  return reply;
}

Result<ReplyV2> ClientV2::RestoreToFd(std::string_view name, int fd, const ProgressFn& progress) {
  return Restore(Op::kRestore, name, v2::EncodeRequestPrefix(user_id_, Op::kRestore, name, 0), fd,
                 progress);
}

Result<ReplyV2> ClientV2::RestoreToFile(std::string_view name, const std::string& output,
                                        Existing existing, const ProgressFn& progress,
                                        const OutputAttributes& attributes) {
  return RestoreToTemp(Op::kRestore, name, v2::EncodeRequestPrefix(user_id_, Op::kRestore, name, 0),
                       output, existing, progress, attributes);
}

Result<ReplyV2> ClientV2::RestoreToTemp(Op op, std::string_view name, const std::string& request,
                                        const std::string& output, Existing existing,
                                        const ProgressFn& progress,
                                        const OutputAttributes& attributes) {
  if (!conn_.is_open()) return Status::Closed("not connected");
  Result<TempOutput> tmp = TempOutput::Create(output);
  if (!tmp.ok()) return tmp.status();
  Result<ReplyV2> reply = Restore(op, name, request, tmp->fd(), progress);
  if (!reply.ok() || reply->status != Code(ResponseCode::kRestoreOk) || !reply->digest_ok) {
    return reply;
  }
  Status st = tmp->Commit(existing, attributes);
  if (!st.ok()) return st;
  return reply;
}

Result<ReplyV2> ClientV2::Delete(std::string_view name) {
  if (!conn_.is_open()) return Status::Closed("not connected");
  Status st = CheckRequestName(name);
  if (!st.ok()) return st;
  const std::string prefix = v2::EncodeRequestPrefix(user_id_, Op::kDelete, name, 0);
  st = conn_.WriteAll(prefix.data(), prefix.size());
  if (!st.ok()) return Fail(st);
  uint64_t ignored = 0;
  return ReadReply(Op::kDelete, &ignored);
}

Status ClientV2::ReadEntries(uint64_t size, size_t fixed, const std::string& what,
                             const std::function<Status(std::string_view entry)>& take) {
  uint64_t got = 0;
  std::string entry;
  while (got < size) {
    std::array<uint8_t, 2> raw_len{};
    if (size - got < fixed) return Fail(Status::Invalid(what + ": an entry cut short"));
    Status st = conn_.ReadExact(raw_len.data(), raw_len.size());
    if (!st.ok()) return Fail(st);
    const uint16_t name_len = protocol::GetU16(raw_len.data());
    const uint64_t entry_size = fixed + name_len;
    if (entry_size > size - got) return Fail(Status::Invalid(what + ": an entry cut short"));
    entry.assign(reinterpret_cast<const char*>(raw_len.data()), raw_len.size());
    entry.resize(entry_size);
    st = conn_.ReadExact(entry.data() + raw_len.size(), entry_size - raw_len.size());
    if (!st.ok()) return Fail(st);
    got += entry_size;
    st = take(entry);
    if (!st.ok()) return Fail(Status::Invalid(what + ": " + st.message()));
  }
  return Status::Ok();
}

Result<ListReplyV2> ClientV2::List() { return ReadList(Op::kList); }

template <typename Entry>
Result<ReplyV2> ClientV2::ReadListing(Op op, size_t fixed, const std::string& what,
                                      Result<std::vector<Entry>> (*decode)(std::string_view),
                                      std::vector<Entry>* entries) {
  if (!conn_.is_open()) return Status::Closed("not connected");
  const std::string prefix = v2::EncodeRequestPrefix(user_id_, op, "", 0);
  Status st = conn_.WriteAll(prefix.data(), prefix.size());
  if (!st.ok()) return Fail(st);
  uint64_t size = 0;
  Result<ReplyV2> reply = ReadReply(op, &size);
  if (!reply.ok() || reply->status != Code(ResponseCode::kListOk)) return reply;
  st = ReadEntries(size, fixed, what, [&](std::string_view entry) {
    Result<std::vector<Entry>> decoded = decode(entry);
    if (!decoded.ok()) return decoded.status();
    Entry& e = decoded->front();
    if (!entries->empty() && !(entries->back().name < e.name)) {
      return Status::Invalid("names out of order");
    }
    entries->push_back(std::move(e));
    return Status::Ok();
  });
  if (!st.ok()) return st;
  reply->bytes = size;
  return reply;
}

Result<ListReplyV2> ClientV2::ReadList(Op op) {
  ListReplyV2 list;
  Result<ReplyV2> reply = ReadListing<v2::ListEntry>(op, v2::kListEntryFixedSize, "answer to list",
                                                     &v2::DecodeListEntries, &list.entries);
  if (!reply.ok()) return reply.status();
  list.reply = std::move(*reply);
  return list;
}

Result<ListAttrsReplyV2> ClientV2::ListAttrs() {
  ListAttrsReplyV2 list;
  Result<ReplyV2> reply =
      ReadListing<v2::AttrEntry>(Op::kListAttrs, v2::kAttrEntryFixedSize, "answer to list-attrs",
                                 &v2::DecodeAttrEntries, &list.entries);
  if (!reply.ok()) return reply.status();
  list.reply = std::move(*reply);
  return list;
}

Result<VersionsReplyV2> ClientV2::ListVersions(std::string_view name) {
  if (!conn_.is_open()) return Status::Closed("not connected");
  Status st = CheckRequestName(name);
  if (!st.ok()) return st;
  const std::string prefix = v2::EncodeRequestPrefix(user_id_, Op::kListVersions, name, 0);
  st = conn_.WriteAll(prefix.data(), prefix.size());
  if (!st.ok()) return Fail(st);
  uint64_t size = 0;
  Result<ReplyV2> reply = ReadReply(Op::kListVersions, &size);
  if (!reply.ok()) return reply.status();
  VersionsReplyV2 out{std::move(*reply), {}};
  if (out.reply.status != Code(ResponseCode::kListOk)) return out;
  // A name's versions are few (retention keeps them so); a payload that is not a whole number of
  // entries, or absurdly long, means the stream is out of step.
  constexpr uint64_t kMaxVersionsBytes = uint64_t{v2::kVersionEntrySize} * 1000000;
  if (size > kMaxVersionsBytes || size % v2::kVersionEntrySize != 0) {
    return Fail(Status::Invalid("answer to list-versions: a payload of " + std::to_string(size) +
                                " bytes"));
  }
  std::string payload(size, '\0');
  st = conn_.ReadExact(payload.data(), payload.size());
  if (!st.ok()) return Fail(st);
  Result<std::vector<v2::VersionEntry>> versions = v2::DecodeVersionEntries(payload);
  if (!versions.ok()) {
    return Fail(Status::Invalid("answer to list-versions: " + versions.status().message()));
  }
  out.versions = std::move(*versions);
  out.reply.bytes = size;
  return out;
}

Result<ReplyV2> ClientV2::RestoreVersionToFile(std::string_view name, uint64_t version,
                                               const std::string& output, Existing existing,
                                               const ProgressFn& progress) {
  return RestoreToTemp(Op::kRestoreVersion, name,
                       v2::EncodeRestoreVersionRequest(user_id_, name, version), output, existing,
                       progress);
}

Result<ReplyV2> ClientV2::RestoreVersionToFd(std::string_view name, uint64_t version, int fd,
                                             const ProgressFn& progress) {
  return Restore(Op::kRestoreVersion, name,
                 v2::EncodeRestoreVersionRequest(user_id_, name, version), fd, progress);
}

Result<ListReplyV2> ClientV2::ListDeleted() { return ReadList(Op::kListDeleted); }

}  // namespace backupd::client

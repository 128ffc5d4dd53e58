// worker (unprivileged, chrooted): the login steps and the file operations of protocol v2.
#include "worker/request_handler_v2.h"

#include <array>
#include <cerrno>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "protocol/digest.h"
#include "protocol/request_parser_v2.h"
#include "worker/client_test_hooks.h"
#include "worker/list_sender.h"
#include "worker/payload.h"

namespace backupd::worker {

namespace {

namespace v2 = protocol::v2;
using v2::Op;
using v2::RequestParser;
using v2::ResponseCode;

uint16_t CodeOf(ResponseCode c) { return static_cast<uint16_t>(c); }

// The statuses after which the client may not go on (docs/PROTOCOL.md, Part 2, Connections); a
// 1003 for a malformed header closes too, but that is decided where the header is refused.
bool ClosesConnection(ResponseCode c) {
  switch (c) {
    case ResponseCode::kBadName:
    case ResponseCode::kTooLarge:
    case ResponseCode::kAuthRequired:
    case ResponseCode::kAuthFailed:
    case ResponseCode::kBusy:
    case ResponseCode::kUnsupported:
      return true;
    default:
      return false;
  }
}

// Only a status whose request's name was read and valid echoes it (PROTOCOL.md, Part 2).
bool EchoesName(ResponseCode c) {
  return c == ResponseCode::kNotFound || c == ResponseCode::kError || c == ResponseCode::kNoSpace ||
         c == ResponseCode::kDigestMismatch || c == ResponseCode::kForbidden;
}

// The message of a storage failure about `name`. UserDir's messages name files relative to the
// user's folder, never a server path.
std::string StorageMessage(const Status& s, const std::string& name) {
  return StorageStatusV2(s) == ResponseCode::kNotFound ? "no file named " + name : s.message();
}

class RequestV2 {
 public:
  RequestV2(Connection& conn, const HandlerContext& ctx, Authenticator& auth, Login& login,
            const RequestDeadlines& deadlines)
      : conn_(conn),
        ctx_(ctx),
        auth_(auth),
        login_(login),
        deadlines_(deadlines),
        bytes_in0_(conn.bytes_in()),
        parser_(ctx.max_file_size) {}

  Handled Run();

 private:
  const std::string& name() const { return parser_.request().name; }
  protocol::ByteSource Source(Deadline deadline) {
    return
        [this, deadline](uint8_t* buf, size_t max) { return conn_.ReadSome(buf, max, deadline); };
  }
  // Pulls the rest of the request's fields; false (the connection to be closed) if the client
  // went away or a field was refused, which is then answered.
  bool FillFields();
  // Commits the upload batch (the group commit) and sends its answers in order; every answer
  // and every wait for the client goes after it, so the answers keep the requests' order.
  void FlushBatch();
  // Sends a whole response whose payload is `payload` (a message, a SCRAM message, or nothing).
  void Reply(ResponseCode code, std::string_view name, std::string_view payload);
  // An error response with its message; `why` goes to the access log.
  void Fail(ResponseCode code, std::string_view message, const Status& why);
  void FailStorage(const Status& s);
  // The client is gone or cut off while `doing`: nobody is left to answer.
  void LostClient(const Status& why, std::string_view doing);
  // LostClient while the header, name or an AUTH message was being read.
  void LostInHeader(const Status& why);
  void Auth();
  void Backup();
  void Restore();
  void Delete();
  void List();
  // Issue 12: a folder with its attributes, the listing of files and folders with theirs.
  void MakeFolder();
  void ListAttrs();
  // A 211 of `format`'s entries, or 1002 with `none` when there are none.
  void SendListing(const ListFormat& format, std::string_view none);
  // Versions (issue 12): LIST_VERSIONS, RESTORE_VERSION, LIST_DELETED.
  void ListVersions();
  void RestoreVersion();
  void ListDeleted();
  // Sends `file` as a 210 for the request's name (restore and restore-version).
  void SendRestore(OpenFile& file);
  // Sends a 211 whose payload is `entries`, built whole (a name's versions, the deleted names).
  void SendEntries(const std::string& entries);
  // Reads the rest of a backup whose bytes are not being stored; false if the client went away.
  bool DiscardRest(std::vector<char>& buf);
  struct Stored {
    enum Outcome { kDone, kClientLost, kStorageFailed, kMismatch } outcome;
    Status why;
    std::optional<Upload> upload = std::nullopt;  // kDone: staged, to be committed in the batch
  };
  // Streams a backup into a temp file and stages it (Upload::Stage) if its digest matches.
  // Unless kDone the temp file is gone when this returns, so no answer goes out while it exists.
  Stored Store();
  Status SendHashed(int fd, uint64_t size);

  Connection& conn_;
  const HandlerContext& ctx_;
  Authenticator& auth_;
  Login& login_;
  const RequestDeadlines deadlines_;
  const uint64_t bytes_in0_;
  Handled out_;
  RequestParser parser_;
};

void RequestV2::FlushBatch() {
  if (login_.batch.empty()) return;
  conn_.Answered();
  std::string answers;
  // Held until the answers are out: closing the files the uploads replaced frees their blocks.
  std::vector<UploadBatch::Done> done = login_.batch.Commit(ctx_.sys);
  for (UploadBatch::Done& d : done) {
    const ResponseCode code = d.status.ok() ? ResponseCode::kOk : StorageStatusV2(d.status);
    const bool named = d.status.ok() || EchoesName(code);
    answers += v2::EncodeMessageResponse(code, named ? d.name : std::string(),
                                         d.status.ok() ? "" : StorageMessage(d.status, d.name));
    // The request at hand, when it is in the batch, is the one without a record yet.
    ipc::Report& record = d.record ? *d.record : out_.record;
    record.status = CodeOf(code);
    if (!d.status.ok()) ipc::SetField(record.detail, d.status.ToString());
    if (ClosesConnection(code)) out_.keep_open = false;
    if (d.record) out_.earlier.push_back(*d.record);
  }
  if (!conn_.WriteAll(answers.data(), answers.size(), deadlines_.request).ok()) {
    out_.keep_open = false;
  }
}

void RequestV2::Reply(ResponseCode code, std::string_view name, std::string_view payload) {
  FlushBatch();
  std::string bytes = v2::EncodeMessageResponse(code, name, payload);
  out_.record.status = CodeOf(code);
  if (ClosesConnection(code)) out_.keep_open = false;
  if (!conn_.WriteAll(bytes.data(), bytes.size(), deadlines_.request).ok()) out_.keep_open = false;
}

void RequestV2::Fail(ResponseCode code, std::string_view message, const Status& why) {
  ipc::SetField(out_.record.detail, why.ToString());
  Reply(code, EchoesName(code) ? std::string_view(name()) : std::string_view(), message);
}

void RequestV2::FailStorage(const Status& s) {
  Fail(StorageStatusV2(s), StorageMessage(s, name()), s);
}

void RequestV2::LostClient(const Status& why, std::string_view doing) {
  // The batch's uploads are whole and stored: they are committed, and answered if it can be.
  FlushBatch();
  out_.keep_open = false;
  ipc::SetField(out_.record.detail, why.ToString());
  out_.stalled = StallNote(why, doing, conn_.bytes_in() - bytes_in0_);
}

void RequestV2::LostInHeader(const Status& why) { LostClient(why, InHeader(deadlines_)); }

bool RequestV2::FillFields() {
  Status s = parser_.Fill(Source(deadlines_.HeaderOrRequest()));
  ipc::SetField(out_.record.text, name());
  if (!s.ok()) {
    LostInHeader(s);
    return false;
  }
  if (parser_.state() == RequestParser::State::kError) {
    // Past a refused field the framing is lost: answer and close.
    out_.keep_open = false;
    Fail(parser_.error_code(), parser_.error().message(), parser_.error());
    return false;
  }
  return true;
}

void RequestV2::Auth() {
  if (!FillFields()) return;
  const auto op = static_cast<Op>(parser_.header().op);
  const uint32_t user = parser_.header().user_id;
  // The order rules are the session's, so an authenticator only ever sees a well-formed exchange.
  if (login_.phase == Login::Phase::kLoggedIn) {
    Fail(ResponseCode::kAuthFailed, "this connection is logged in already",
         Status::Invalid("auth op after login"));
    return;
  }
  if (op == Op::kAuthStart && login_.phase != Login::Phase::kNone) {
    Fail(ResponseCode::kAuthFailed, "one login per connection", Status::Invalid("second start"));
    return;
  }
  if (op == Op::kAuthFinish && login_.phase != Login::Phase::kStarted) {
    Fail(ResponseCode::kAuthFailed, "AUTH_FINISH without AUTH_START",
         Status::Invalid("finish without start"));
    return;
  }
  if (op == Op::kAuthFinish && user != login_.user_id) {
    Fail(ResponseCode::kAuthFailed, "AUTH_FINISH for another user than AUTH_START's",
         Status::Invalid("finish for user " + std::to_string(user) + " after start for " +
                         std::to_string(login_.user_id)));
    return;
  }
  Result<AuthStep> step = op == Op::kAuthStart ? auth_.Start(user, parser_.auth_message())
                                               : auth_.Finish(parser_.auth_message());
  if (!step.ok()) {
    out_.keep_open = false;
    Fail(ResponseCode::kError, "logins cannot be checked right now", step.status());
    return;
  }
  const ResponseCode code = step->status;
  if (code == ResponseCode::kAuthFailed || code == ResponseCode::kBusy) {
    Fail(code, step->message, Status::Denied("login refused: " + step->message));
    return;
  }
  if (op == Op::kAuthStart && code == ResponseCode::kAuthContinue) {
    login_.phase = Login::Phase::kStarted;
    login_.user_id = user;
    Reply(code, {}, step->message);
    return;
  }
  if (op == Op::kAuthFinish && code == ResponseCode::kAuthOk && step->user_dir.valid()) {
    login_.phase = Login::Phase::kLoggedIn;
    login_.dir.emplace(ctx_.sys, std::move(step->user_dir));
    login_.dir->policy = VersionPolicyFor(ctx_, login_.user_id);
    Reply(code, {}, step->message);
    return;
  }
  out_.keep_open = false;
  Fail(ResponseCode::kError, "the login could not be completed",
       Status::Invalid("authenticator answered " + std::to_string(CodeOf(code))));
}

bool RequestV2::DiscardRest(std::vector<char>& buf) {
  if (!DiscardPayload(conn_, parser_, buf, deadlines_.request)) return false;
  Status s = parser_.Fill(Source(deadlines_.request));
  return s.ok() && parser_.done();
}

RequestV2::Stored RequestV2::Store() {
  std::vector<char> buf = PayloadBuffer(parser_.payload_left());
  Status record = login_.batch.OpenRecord(*login_.dir);
  Result<Upload> upload =
      record.ok() ? login_.dir->BeginUpload(name(), login_.batch.record()) : Result<Upload>(record);
  if (!upload.ok()) {
    out_.keep_open = DiscardRest(buf);
    return {Stored::kStorageFailed, upload.status()};
  }
  protocol::Sha256 hash;
  while (parser_.payload_left() > 0) {
    Result<size_t> got = ReadPayload(conn_, parser_, buf, deadlines_.request);
    if (!got.ok()) return {Stored::kClientLost, got.status()};
    hash.Update(buf.data(), *got);
    Status w = upload->Write(buf.data(), *got);
    if (!w.ok()) {
      out_.keep_open = DiscardRest(buf);
      return {Stored::kStorageFailed, w};
    }
  }
  Status s = parser_.Fill(Source(deadlines_.request));
  if (!s.ok()) return {Stored::kClientLost, s};
  const protocol::Digest sent = *parser_.request().digest;
  if (!protocol::SameDigest(hash.Finish(), sent))
    return {Stored::kMismatch, Status::Invalid("digest mismatch")};
  if (const std::optional<v2::Attributes>& a = parser_.attributes()) {
    Status t = upload->SetAttributes(a->mode, a->mtime_ns);
    if (!t.ok()) return {Stored::kStorageFailed, t};
  }
  Status c = upload->Stage(sent);
  if (!c.ok()) return {Stored::kStorageFailed, c};
  return {Stored::kDone, c, std::move(*upload)};
}

void RequestV2::Backup() {
  Stored stored = Store();
  switch (stored.outcome) {
    case Stored::kDone:
      login_.batch.Add(std::move(*stored.upload), name(), parser_.header().size);
      // The group commit: while the client's next request is already here, this answer waits
      // for it, so that one sync serves the batch (docs/PROTOCOL.md, Part 2).
      if (!login_.batch.full() && conn_.HasInput()) {
        out_.deferred = true;
        return;
      }
      return FlushBatch();
    case Stored::kClientLost:
      return LostClient(stored.why, "upload");
    case Stored::kStorageFailed:
      return FailStorage(stored.why);
    case Stored::kMismatch:
      return Fail(ResponseCode::kDigestMismatch,
                  "the bytes received do not match the upload's SHA-256; nothing was stored",
                  stored.why);
  }
}

// The restore payload when no fresh digest is stored: read and hashed as it is sent, so the
// trailer is the digest of exactly the bytes the client got.
Status RequestV2::SendHashed(int fd, uint64_t size) {
  std::vector<char> buf = PayloadBuffer(size);
  protocol::Sha256 hash;
  for (uint64_t left = size; left > 0;) {
    const auto want = static_cast<size_t>(std::min<uint64_t>(left, buf.size()));
    ssize_t n = ctx_.sys->Read(fd, buf.data(), want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, "read " + name());
    if (n == 0) return Status::IoError(name() + " shrank while it was sent");
    hash.Update(buf.data(), static_cast<size_t>(n));
    Status s = conn_.WriteAll(buf.data(), static_cast<size_t>(n), deadlines_.request);
    if (!s.ok()) return s;
    left -= static_cast<uint64_t>(n);
  }
  std::string trailer = v2::EncodeDigestTrailer(hash.Finish());
  return conn_.WriteAll(trailer.data(), trailer.size(), deadlines_.request);
}

void RequestV2::Restore() {
  Result<OpenFile> file = login_.dir->OpenForRead(name());
  if (!file.ok()) return FailStorage(file.status());
  SendRestore(*file);
}

void RequestV2::SendRestore(OpenFile& file) {
  std::string prefix = v2::EncodeResponsePrefix(ResponseCode::kRestoreOk, name(), file.size);
  out_.record.status = CodeOf(ResponseCode::kRestoreOk);
  Status s = conn_.WriteAll(prefix.data(), prefix.size(), deadlines_.request);
  if (s.ok() && file.digest) {
    s = conn_.SendFile(file.fd.get(), file.size, deadlines_.request);
    std::string trailer = v2::EncodeDigestTrailer(*file.digest);
    if (s.ok()) s = conn_.WriteAll(trailer.data(), trailer.size(), deadlines_.request);
  } else if (s.ok()) {
    s = SendHashed(file.fd.get(), file.size);
  }
  // Part of the payload may be out already: only closing the connection tells the client.
  if (!s.ok()) LostClient(s, "restore");
}

void RequestV2::Delete() {
  UniqueFd removed;  // closed after the answer: freeing a large file's blocks delays no one
  Status s = login_.dir->Remove(name(), UserDir::Folders::kIfEmpty, &removed);
  if (!s.ok() && login_.dir->policy.append_only && s.code() == Status::Code::kDenied) {
    WarnAboutUser(ctx_, login_.user_id, "append-only: delete of " + name() + " refused");
    return Fail(ResponseCode::kForbidden, s.message(), s);
  }
  if (!s.ok()) return FailStorage(s);
  Reply(ResponseCode::kOk, name(), {});
}

void RequestV2::SendEntries(const std::string& entries) {
  const std::string prefix = v2::EncodeResponsePrefix(ResponseCode::kListOk, {}, entries.size());
  out_.record.status = CodeOf(ResponseCode::kListOk);
  Status s = conn_.WriteAll(prefix.data(), prefix.size(), deadlines_.request);
  if (s.ok()) s = conn_.WriteAll(entries.data(), entries.size(), deadlines_.request);
  if (!s.ok()) LostClient(s, "list");
}

void RequestV2::ListVersions() {
  Result<std::vector<FileVersion>> versions = login_.dir->Versions(name());
  if (!versions.ok()) {
    if (versions.status().code() != Status::Code::kNotFound) return FailStorage(versions.status());
    return Fail(ResponseCode::kNotFound, "no file or history named " + name(), versions.status());
  }
  std::string entries;
  for (const FileVersion& v : *versions) {
    const uint8_t flags =
        (v.current ? v2::kVersionCurrent : 0) | (v.deleted ? v2::kVersionDeleted : 0);
    v2::AppendVersionEntry(entries, {v.number, flags, v.stored_ns, v.size, v.mtime_ns,
                                     v.digest.value_or(protocol::Digest{})});
  }
  SendEntries(entries);
}

void RequestV2::RestoreVersion() {
  const uint64_t version = parser_.version();
  Result<OpenFile> file = login_.dir->OpenVersion(name(), version);
  if (!file.ok() && file.status().code() == Status::Code::kNotFound) {
    return Fail(ResponseCode::kNotFound, "no version " + std::to_string(version) + " of " + name(),
                file.status());
  }
  if (!file.ok()) return FailStorage(file.status());
  SendRestore(*file);
}

void RequestV2::ListDeleted() {
  Result<std::vector<StoredFile>> deleted = login_.dir->ListDeleted(ctx_.max_files_listed);
  if (!deleted.ok() && deleted.status().code() == Status::Code::kTooLarge) {
    return Fail(ResponseCode::kError, deleted.status().message(), deleted.status());
  }
  if (!deleted.ok()) return FailStorage(deleted.status());
  if (deleted->empty()) {
    return Fail(ResponseCode::kNoFiles, "no deleted files", Status::NotFound("no deleted files"));
  }
  std::string entries;
  for (const StoredFile& f : *deleted) {
    v2::AppendListEntry(entries,
                        {f.name, f.size, f.mtime_ns, f.digest.value_or(protocol::Digest{})});
  }
  SendEntries(entries);
}

void RequestV2::List() {
  const ListFormat format{v2::kListEntryFixedSize, UserDir::ListOptions::kWithDigests,
                          [](std::string& out, const StoredFile& f) {
                            v2::AppendListEntry(out, {f.name, f.size, f.mtime_ns,
                                                      f.digest.value_or(protocol::Digest{})});
                          }};
  SendListing(format, "no files stored");
}

void RequestV2::ListAttrs() {
  const ListFormat format{v2::kAttrEntryFixedSize, UserDir::ListOptions::kWithDigests,
                          [](std::string& out, const StoredFile& f) {
                            v2::AppendAttrEntry(
                                out, {f.name,
                                      f.folder ? v2::EntryKind::kFolder : v2::EntryKind::kFile,
                                      {f.mode, f.mtime_ns},
                                      f.size,
                                      f.digest.value_or(protocol::Digest{})});
                          },
                          UserDir::ListFolders::kVisit};
  SendListing(format, "no files or folders stored");
}

void RequestV2::MakeFolder() {
  const v2::Attributes& a = *parser_.attributes();
  Status s = login_.dir->MakeFolder(name(), a.mode, a.mtime_ns);
  if (!s.ok()) return FailStorage(s);
  Reply(ResponseCode::kOk, name(), {});
}

void RequestV2::SendListing(const ListFormat& format, std::string_view none) {
  UserDir& dir = *login_.dir;
  Result<ListCount> count =
      CountList(dir, format, ctx_.max_files_listed,
                [this](std::string_view line) { WarnAboutUser(ctx_, login_.user_id, line); });
  if (!count.ok() && count.status().code() == Status::Code::kTooLarge) {
    // Not 1011, which closes the connection: nothing is wrong with the request or the stream.
    return Fail(ResponseCode::kError, count.status().message(), count.status());
  }
  if (!count.ok()) return FailStorage(count.status());
  if (count->files == 0) {
    Fail(ResponseCode::kNoFiles, none, Status::NotFound("no files"));
    return;
  }
  AfterListingCounted(dir);
  std::string prefix = v2::EncodeResponsePrefix(ResponseCode::kListOk, {}, count->bytes);
  out_.record.status = CodeOf(ResponseCode::kListOk);
  Status s = conn_.WriteAll(prefix.data(), prefix.size(), deadlines_.request);
  Result<uint64_t> sent =
      s.ok() ? SendList(dir, format, count->bytes, conn_, deadlines_.request) : Result<uint64_t>(s);
  if (!sent.ok()) return LostClient(sent.status(), "list");
  // Files went between the count and the walk that sends them: the list is cut off here rather
  // than padded with entries for files that are not stored (docs/PROTOCOL.md).
  if (*sent != count->bytes) {
    LostClient(Status::Invalid("the files changed while they were listed: list cut off"), "list");
  }
}

Handled RequestV2::Run() {
  out_.keep_open = true;
  ipc::SetField(out_.record.peer, conn_.peer());
  if (!login_.batch.empty()) conn_.AnswerBeforeWaiting([this] { FlushBatch(); });
  // The header alone first: a request the login does not allow is refused before its name.
  std::array<uint8_t, v2::kRequestHeaderSize> head{};
  size_t have = 0;
  while (parser_.state() == RequestParser::State::kHeader) {
    Result<size_t> got =
        conn_.ReadSome(head.data() + have, parser_.want(), deadlines_.HeaderOrRequest());
    if (!got.ok()) {
      LostInHeader(got.status());
      return out_;
    }
    parser_.Feed(head.data() + have, *got);
    have += *got;
    // A version 1 request can be shorter than a v2 header: waiting for 16 bytes would hang it.
    if (have >= v2::kSniffSize && head[v2::kSniffSize - 1] != v2::kVersion) {
      out_.record.op = head[v2::kSniffSize];
      out_.record.user_id = protocol::GetU32(head.data());
      out_.keep_open = false;
      Fail(ResponseCode::kUnsupported, "this connection speaks protocol version 2",
           Status::Invalid("version " + std::to_string(head[v2::kSniffSize - 1]) +
                           " request on a version 2 connection"));
      return out_;
    }
  }
  const v2::RequestHeader& h = parser_.header();
  out_.record.op = h.op;
  out_.record.user_id = h.user_id;
  if (parser_.state() == RequestParser::State::kError) {
    out_.keep_open = false;
    Fail(parser_.error_code(), parser_.error().message(), parser_.error());
    return out_;
  }
  if (UnknownBeforeIssue12(h.op)) {
    out_.keep_open = false;
    const std::string message = "unknown op " + std::to_string(h.op);
    Fail(ResponseCode::kUnsupported, message, Status::Invalid(message + " (test hook)"));
    return out_;
  }
  const auto op = static_cast<Op>(h.op);
  if (v2::IsAuthOp(op)) {
    Auth();
    return out_;
  }
  if (login_.phase != Login::Phase::kLoggedIn) {
    Fail(ResponseCode::kAuthRequired, "log in first (AUTH_START)",
         Status::Denied("request before login"));
    return out_;
  }
  if (h.user_id != login_.user_id) {
    Fail(ResponseCode::kAuthRequired,
         "this connection is logged in as user " + std::to_string(login_.user_id),
         Status::Denied("request for user " + std::to_string(h.user_id) + " on a login as " +
                        std::to_string(login_.user_id)));
    return out_;
  }
  if (!FillFields()) return out_;
  // Uploads join the batch with or without attributes (backup-client sends them with): any other
  // request is answered after it.
  if (op != Op::kBackup && op != Op::kBackupAttrs) FlushBatch();
  // From here on the client is held to min_rate: the payload, and reading the answer.
  conn_.BeginPace(ctx_.min_rate);
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
    case Op::kBackupAttrs:
      Backup();
      break;
    case Op::kMakeFolder:
      MakeFolder();
      break;
    case Op::kListAttrs:
      ListAttrs();
      break;
    case Op::kListVersions:
      ListVersions();
      break;
    case Op::kRestoreVersion:
      RestoreVersion();
      break;
    case Op::kListDeleted:
      ListDeleted();
      break;
    case Op::kAuthStart:
    case Op::kAuthFinish:
      break;
  }
  if (RetiresAfter(h.op)) out_.keep_open = false;
  return out_;
}

}  // namespace

v2::ResponseCode StorageStatusV2(const Status& s) {
  switch (s.code()) {
    case Status::Code::kNotFound:
      return ResponseCode::kNotFound;
    case Status::Code::kNoSpace:
      return ResponseCode::kNoSpace;
    case Status::Code::kTooLarge:
      return ResponseCode::kTooLarge;
    case Status::Code::kInvalid:
      return ResponseCode::kBadName;
    default:
      return ResponseCode::kError;
  }
}

Handled HandleRequestV2(Connection& conn, const HandlerContext& ctx, Authenticator& auth,
                        Login& login, const RequestDeadlines& deadlines) {
  Handled h = Measured(conn, [&] { return RequestV2(conn, ctx, auth, login, deadlines).Run(); });
  conn.EndPace();
  conn.Answered();
  if (h.deferred) login.batch.SetLastRecord(h.record);
  return h;
}

}  // namespace backupd::worker

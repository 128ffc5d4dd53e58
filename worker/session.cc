// worker (unprivileged, chrooted): a connection's request loop, picked by its first bytes.
#include "worker/session.h"

#include <algorithm>
#include <array>
#include <string>

#include "protocol/wire.h"
#include "protocol/wire_v2.h"
#include "worker/request_handler_v2.h"
#include "worker/upload_step_hook.h"

namespace backupd::worker {

namespace {

namespace v2 = protocol::v2;

// How long a connection the server ends is drained first. Closing a socket with unread bytes
// makes the kernel send a reset, which can destroy the answer before the client reads it; the
// rest of a refused request (a TLS ClientHello, an HTTP request) is normally there already.
constexpr std::chrono::milliseconds kLingerTime{200};
constexpr size_t kLingerBytes = 64 * 1024;

void Linger(Connection& conn) {
  // The client sees the end at once, not after the drain: a cut-off listing's client learns
  // only from it that it should ask again (client/listing_retry.h).
  conn.EndWriting();
  AtUploadStep(UploadStep::kDraining);
  const Deadline until = Clock::now() + kLingerTime;
  std::array<char, 4096> buf;
  for (size_t drained = 0; drained < kLingerBytes;) {
    Result<size_t> got = conn.ReadSome(buf.data(), buf.size(), until);
    if (!got.ok()) return;
    drained += *got;
  }
}

const char* Describe(v2::Sniffed what) {
  switch (what) {
    case v2::Sniffed::kTls:
      return "a TLS ClientHello on the plain port";
    case v2::Sniffed::kHttp:
      return "an HTTP request";
    default:
      return "an unknown protocol version";
  }
}

void Refuse(Connection& conn, const SessionContext& ctx, v2::Sniffed what, Deadline deadline) {
  ipc::Report record{};
  ipc::SetField(record.peer, conn.peer());
  ipc::SetField(record.detail, std::string("refused: ") + Describe(what));
  if (what == v2::Sniffed::kOther) {
    record.status = static_cast<uint16_t>(protocol::ResponseCode::kError);
  }
  std::string bytes = v2::Refusal(what);
  if (conn.WriteAll(bytes.data(), bytes.size(), deadline).ok()) Linger(conn);
  record.bytes_out = conn.bytes_out();
  record.bytes_in = conn.bytes_in();
  ctx.report(record);
}

// The header of the v1 request waiting on `conn`, read and put back for the handler.
Result<std::array<uint8_t, protocol::kRequestHeaderSize>> PeekV1Header(Connection& conn,
                                                                       Deadline deadline) {
  std::array<uint8_t, protocol::kRequestHeaderSize> header{};
  for (size_t got = 0; got < header.size();) {
    Result<size_t> n = conn.ReadSome(header.data() + got, header.size() - got, deadline);
    if (!n.ok()) return n.status();
    got += *n;
  }
  conn.Unread(header.data(), header.size());
  return header;
}

// Which setting a deadline that passed came from: header_timeout's, unless `other` came first.
std::string Limit(Deadline header, Deadline other, const char* other_name) {
  return header <= other ? " (header_timeout)" : std::string(" (") + other_name + ")";
}

bool Stopping(const SessionContext& ctx) { return ctx.stopping && ctx.stopping(); }

// Waits for the next request until `deadline`. A stop ends the wait, unless the connection is
// `owed` its first request: then it has kStopGrace more, with the stop's signal (taken already)
// no longer able to cut it short.
Status WaitForNext(Connection& conn, const SessionContext& ctx, Deadline deadline, bool owed) {
  if (!(owed && Stopping(ctx))) {
    Status waited = conn.WaitForRequest(deadline, ctx.wait_mask);
    if (waited.ok() || !owed || !Stopping(ctx)) return waited;
  }
  return conn.WaitForRequest(std::min(deadline, Clock::now() + kStopGrace), nullptr);
}

bool EnterFolder(Connection& conn, const SessionContext& ctx, int folder_fd) {
  return !ctx.enter_folder || ctx.enter_folder(conn, folder_fd);
}

}  // namespace

void ServeConnection(Connection& conn, const SessionContext& ctx) {
  // A connection owes its first header (v2: its whole login) header_timeout after it began, so a
  // client that sends nothing, or a byte now and then, holds a worker that long at most.
  const Deadline opening = Clock::now() + ctx.header_timeout;
  const auto stalled = [&](const std::string& what) {
    if (ctx.stalled) ctx.stalled(conn.peer(), what);
  };
  const Deadline silent_until = Clock::now() + ctx.idle_timeout;
  Status waited = WaitForNext(conn, ctx, std::min(opening, silent_until), /*owed=*/true);
  if (!waited.ok()) {
    if (waited.code() == Status::Code::kTimeout && !Stopping(ctx)) {
      stalled("sent nothing" + Limit(opening, silent_until, "idle_timeout"));
    }
    return;
  }
  const Deadline first_cap = Clock::now() + ctx.request_timeout;
  const Deadline first_deadline = std::min(opening, first_cap);
  std::array<uint8_t, v2::kSniffSize> first{};
  for (size_t got = 0; got < first.size();) {
    // Every request of either version is longer than this, so a client stopping short of it
    // sent nothing a server could answer.
    Result<size_t> n = conn.ReadSome(first.data() + got, first.size() - got, first_deadline);
    if (!n.ok()) {
      if (n.status().code() == Status::Code::kTimeout) {
        stalled("sent " + std::to_string(got) + " bytes, then nothing" +
                Limit(opening, first_cap, "request_timeout"));
      }
      return;
    }
    got += *n;
  }
  conn.Unread(first.data(), first.size());
  const v2::Sniffed what = v2::Sniff(first);
  if (what != v2::Sniffed::kV1 && what != v2::Sniffed::kV2) {
    Refuse(conn, ctx, what, first_deadline);
    return;
  }
  HandlerContext handler = ctx.handler;
  UniqueFd v1_folder;  // once handed out: the one user's folder this v1 connection is served in
  Login login;
  bool served = false;  // a request past the login has been answered: a stop may end it now
  for (bool first_request = true;; first_request = false) {
    // The opening deadline holds until v1's first request or v2's login is in; after that each
    // request has header_timeout from its first byte, and the wait for it is idle_timeout.
    const bool opening_phase =
        what == v2::Sniffed::kV1 ? first_request : login.phase != Login::Phase::kLoggedIn;
    const Deadline idle_until = Clock::now() + ctx.idle_timeout;
    waited =
        WaitForNext(conn, ctx, opening_phase ? std::min(opening, idle_until) : idle_until, !served);
    if (!waited.ok()) {
      if (waited.code() == Status::Code::kTimeout && opening_phase && opening <= idle_until &&
          !Stopping(ctx)) {
        stalled("did not finish logging in (header_timeout)");
      }
      return;
    }
    const Deadline now = Clock::now();
    const RequestDeadlines deadlines{opening_phase ? opening : now + ctx.header_timeout,
                                     now + ctx.request_timeout};
    if (what == v2::Sniffed::kV1 && !v1_folder.valid() && handler.folders != nullptr) {
      Result<std::array<uint8_t, protocol::kRequestHeaderSize>> header =
          PeekV1Header(conn, deadlines.HeaderOrRequest());
      if (!header.ok()) {
        if (header.status().code() == Status::Code::kTimeout) {
          stalled("sent part of a request header" +
                  Limit(deadlines.header, deadlines.request, "request_timeout"));
        }
        return;
      }
      const uint32_t user = protocol::GetU32(header->data());
      // Only a backup makes a missing folder, as when each request asked for its own.
      const bool create = (*header)[5] == static_cast<uint8_t>(protocol::Op::kBackup);
      Result<UniqueFd> folder = handler.folders->V1Folder(user, create);
      handler.folder_refused = folder.ok() ? Status::Ok() : folder.status();
      if (folder.ok()) {
        v1_folder = std::move(*folder);
        handler.folder_fd = v1_folder.get();
        handler.folder_user = user;
        if (!EnterFolder(conn, ctx, handler.folder_fd)) return;
      }
    }
    const bool had_folder = login.dir.has_value();
    const bool past_login = what == v2::Sniffed::kV1 || login.phase == Login::Phase::kLoggedIn;
    Handled h = what == v2::Sniffed::kV1
                    ? HandleRequest(conn, handler, deadlines)
                    : HandleRequestV2(conn, handler, *ctx.auth, login, deadlines);
    for (const ipc::Report& r : h.earlier) ctx.report(r);
    if (!h.deferred) ctx.report(h.record);
    if (!h.stalled.empty()) stalled(h.stalled);
    if (!h.keep_open) {
      Linger(conn);
      return;
    }
    if (!had_folder && login.dir.has_value() && !EnterFolder(conn, ctx, login.dir->fd())) return;
    served = served || past_login;
    // A deferred answer is owed: the next request, already here, is served and answers it.
    if (!h.deferred && served && Stopping(ctx)) return;
  }
}

}  // namespace backupd::worker

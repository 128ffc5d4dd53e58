// worker (unprivileged, chrooted): a connection's request loop, picked by its first bytes.
#include "worker/session.h"

#include <array>
#include <string>

#include "protocol/wire_v2.h"
#include "worker/request_handler_v2.h"

namespace backupd::worker {

namespace {

namespace v2 = protocol::v2;

// How long a connection the server ends is drained first. Closing a socket with unread bytes
// makes the kernel send a reset, which can destroy the answer before the client reads it; the
// rest of a refused request (a TLS ClientHello, an HTTP request) is normally there already.
constexpr std::chrono::milliseconds kLingerTime{200};
constexpr size_t kLingerBytes = 64 * 1024;

void Linger(Connection& conn) {
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

}  // namespace

void ServeConnection(Connection& conn, const SessionContext& ctx) {
  if (!conn.WaitForRequest(Clock::now() + ctx.idle_timeout, ctx.wait_mask).ok()) return;
  const Deadline first_deadline = Clock::now() + ctx.request_timeout;
  std::array<uint8_t, v2::kSniffSize> first{};
  for (size_t got = 0; got < first.size();) {
    // Every request of either version is longer than this, so a client stopping short of it
    // sent nothing a server could answer.
    Result<size_t> n = conn.ReadSome(first.data() + got, first.size() - got, first_deadline);
    if (!n.ok()) return;
    got += *n;
  }
  conn.Unread(first.data(), first.size());
  const v2::Sniffed what = v2::Sniff(first);
  if (what != v2::Sniffed::kV1 && what != v2::Sniffed::kV2) {
    Refuse(conn, ctx, what, first_deadline);
    return;
  }
  Login login;
  for (;;) {
    if (!conn.WaitForRequest(Clock::now() + ctx.idle_timeout, ctx.wait_mask).ok()) return;
    const Deadline deadline = Clock::now() + ctx.request_timeout;
    Handled h = what == v2::Sniffed::kV1
                    ? HandleRequest(conn, ctx.handler, deadline)
                    : HandleRequestV2(conn, ctx.handler, *ctx.auth, login, deadline);
    ctx.report(h.record);
    if (!h.keep_open) {
      Linger(conn);
      return;
    }
    if (ctx.stopping()) return;
  }
}

}  // namespace backupd::worker

// client (the user's privilege): a listing asked for again when the server cut it off, as it does
// when files change between the walk that counts a listing and the walk that sends it.
#ifndef BACKUPD_CLIENT_LISTING_RETRY_H_
#define BACKUPD_CLIENT_LISTING_RETRY_H_

#include <functional>

#include "base/status.h"
#include "client/client_v2.h"

namespace backupd::client {

// Gives the client a new connection, logged in as the one it had; Ok when it did.
using Reconnect = std::function<Status()>;

// How many times a listing lost with its connection is asked for again before the caller goes on
// without it (backup) or fails (list, restore of a folder).
inline constexpr int kListingRetries = 3;

// Whether a listing failed as a cut-off one does: the server closed the connection (a timeout or
// a malformed answer is no such thing, and is not asked for again).
inline bool CutOff(const Status& why, const ClientV2& client) {
  return !client.connected() && why.code() == Status::Code::kClosed;
}

// `ask` (ClientV2::List, ListAttrs, ...) on `client`. A server that cut a listing off has closed
// the connection (docs/PROTOCOL.md, Lists), so an answer lost that way is asked for again on a
// connection from `reconnect`, up to kListingRetries times, after `retrying` is told why. Returns
// the first answer that arrived whole, whatever its status, else the last failure (the client
// then has no connection), or reconnect's failure.
template <typename Reply>
Result<Reply> ListRetrying(ClientV2& client, const Reconnect& reconnect,
                           Result<Reply> (ClientV2::*ask)(),
                           const std::function<void(const Status& why)>& retrying) {
  Result<Reply> r = (client.*ask)();
  for (int retry = 0; retry < kListingRetries && !r.ok() && CutOff(r.status(), client); ++retry) {
    retrying(r.status());
    Status st = reconnect();
    if (!st.ok()) return st;
    r = (client.*ask)();
  }
  return r;
}

}  // namespace backupd::client

#endif  // BACKUPD_CLIENT_LISTING_RETRY_H_

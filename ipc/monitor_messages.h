// worker (unprivileged) <-> supervisor's login monitor (root): the fixed-size messages of the
// per-worker SOCK_SEQPACKET channel, and sending and receiving them whole. The monitor treats
// every request as untrusted: one malformed or out-of-order message ends the worker.
#ifndef BACKUPD_IPC_MONITOR_MESSAGES_H_
#define BACKUPD_IPC_MONITOR_MESSAGES_H_

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "base/status.h"
#include "base/unique_fd.h"
#include "ipc/peer_table.h"

namespace backupd::ipc {

inline constexpr uint32_t kMonitorMagic = 0x42444d4e;  // "BDMN"

// The SCRAM messages a worker relays, and every answer's text, fit in this many bytes: the wire's
// own cap on an auth message (protocol::v2::kMaxAuthMessageSize, asserted in daemon/monitor.cc).
inline constexpr size_t kMonitorMaxText = 1024;

enum class MonitorRequestType : uint8_t {
  kAuthStart = 1,   // AUTH_START: the client-first-message
  kAuthFinish = 2,  // AUTH_FINISH: the client-final-message
  kLegacyV1 = 3,    // a protocol v1 request's folder
  kReset = 4,       // the connection ended: the channel is ready for the next one
};

// What every message begins with. `sequence` is chosen by the worker and echoed in the answer, so
// an answer that arrives after the worker gave up waiting is never taken for the next one's.
struct MonitorHeader {
  uint32_t magic = kMonitorMagic;
  uint32_t sequence = 0;
  uint8_t type = 0;  // MonitorRequestType (an answer echoes its request's)
  uint8_t reserved[3] = {};
};

// The client's address: the key of the failed-login throttle and of legacy_v1 = loopback, and the
// peer named in the log. IPv4 as ::ffff:a.b.c.d, as in the peer table.
struct MonitorPeer {
  PeerAddress address{};
  uint16_t port = 0;
  uint8_t reserved[2] = {};
};

struct AuthStartRequest {
  MonitorHeader header;
  uint32_t user_id = 0;  // the AUTH_START header's; must name the same user as client-first
  MonitorPeer peer;
  uint16_t length = 0;  // bytes of `text` used, <= kMonitorMaxText
  uint8_t reserved[2] = {};
  char text[kMonitorMaxText] = {};
};

struct AuthFinishRequest {
  MonitorHeader header;
  uint16_t length = 0;
  uint8_t reserved[2] = {};
  char text[kMonitorMaxText] = {};
};

struct LegacyV1Request {
  MonitorHeader header;
  uint32_t user_id = 0;
  MonitorPeer peer;
  uint8_t create = 0;  // 1: make the folder if missing (a backup); 0: a missing one is 1001
  uint8_t reserved[3] = {};
};

struct ResetRequest {
  MonitorHeader header;
};

// The answer to AuthStart, AuthFinish and LegacyV1 (Reset has none). `status` is a protocol v2
// response code: 220, 221, 1014, 1015 or 1003 to a login step; 212 (the folder), 1001 (no folder,
// not created), 1013 (legacy_v1 refuses this peer; `text` says why) or 1003 to LegacyV1. `text`
// is the SCRAM server message or the refusal's text. With 221, and with 212, the message carries
// the user's folder as an SCM_RIGHTS descriptor.
struct MonitorAnswer {
  MonitorHeader header;
  uint16_t status = 0;
  uint16_t length = 0;
  char text[kMonitorMaxText] = {};
};

// No padding bytes: a message copies no stray memory of its sender, and equal fields mean equal
// bytes.
static_assert(std::has_unique_object_representations_v<AuthStartRequest>);
static_assert(std::has_unique_object_representations_v<AuthFinishRequest>);
static_assert(std::has_unique_object_representations_v<LegacyV1Request>);
static_assert(std::has_unique_object_representations_v<ResetRequest>);
static_assert(std::has_unique_object_representations_v<MonitorAnswer>);

// The largest request: a receive buffer of this size takes any of them, and a longer datagram is
// refused as truncated.
inline constexpr size_t kMonitorMaxRequest = sizeof(AuthStartRequest);
static_assert(sizeof(AuthFinishRequest) <= kMonitorMaxRequest &&
              sizeof(LegacyV1Request) <= kMonitorMaxRequest &&
              sizeof(ResetRequest) <= kMonitorMaxRequest);

// Copies `s` into a text field and its length; false (nothing copied) if it does not fit.
bool SetText(char (&text)[kMonitorMaxText], uint16_t* length, std::string_view s);
// The text of a received message; empty if its length field is out of bounds.
std::string_view GetText(const char (&text)[kMonitorMaxText], uint16_t length);

// Sends one message as one datagram, with `pass_fd` (>= 0) attached by SCM_RIGHTS. Never blocks
// (MSG_DONTWAIT): a full channel is Timeout, a peer gone is Closed.
Status SendMonitorMessage(int fd, const void* message, size_t size, int pass_fd = -1);

template <typename Message>
Status SendMonitorMessage(int fd, const Message& message, int pass_fd = -1) {
  static_assert(std::has_unique_object_representations_v<Message>);
  return SendMonitorMessage(fd, &message, sizeof message, pass_fd);
}

// One datagram received whole into a buffer of `capacity` bytes, and the descriptor it carried.
struct ReceivedMessage {
  size_t size = 0;
  UniqueFd fd;
};

// Receives the next datagram without blocking. Timeout when none is waiting (EAGAIN), Closed
// when the peer is gone, Invalid for one longer than `capacity`, with more than one descriptor or
// with anything else in its control data (whatever descriptors came with it are closed).
Result<ReceivedMessage> ReceiveMonitorMessage(int fd, void* buffer, size_t capacity);

}  // namespace backupd::ipc

#endif  // BACKUPD_IPC_MONITOR_MESSAGES_H_

// client (the user's privilege): one blocking TCP connection to a backupd server.
#ifndef BACKUPD_CLIENT_CONNECTION_H_
#define BACKUPD_CLIENT_CONNECTION_H_

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>

#include "base/status.h"
#include "base/unique_fd.h"
#include "client/parse.h"
#include "client/tls.h"

namespace backupd::client {

// Owns a connected stream socket and moves bytes over it in full or not at all, bare or inside
// TLS after StartTls. Every connect, handshake, read and write is bounded by the timeout given at
// creation (zero means no limit), so a silent server cannot hang the client. Move-only; the
// descriptor is close-on-exec.
class Connection {
 public:
  // Resolves `endpoint` with getaddrinfo (IPv4, IPv6 or a host name) and connects to the first
  // address that answers. The error names the endpoint and the last failure; a refused connection
  // asks whether backupd runs there.
  static Result<Connection> Open(const Endpoint& endpoint, std::chrono::milliseconds timeout);
  // Adopts an already-connected stream descriptor (a socketpair end in tests), named `peer`.
  static Connection Adopt(int fd, std::chrono::milliseconds timeout,
                          std::string peer = "the server");

  // Runs the TLS handshake and verifies the server as `host` (see TlsConnect); every later read
  // and write goes through TLS. Denied when the server's certificate is not trusted.
  Status StartTls(const std::string& host, const TlsOptions& options);

  // Sends all `len` bytes; Closed if the server went away, Timeout if it stopped reading.
  Status WriteAll(const void* data, size_t len);
  // Reads exactly `len` bytes; a connection closed early is Closed ("after k of n bytes").
  Status ReadExact(void* data, size_t len);
  // Reads at least one and at most `len` bytes, waiting no longer than the timeout; returns how
  // many. Closed when the peer hung up before sending any.
  Result<size_t> ReadSome(void* data, size_t len);
  // Up to `len` bytes that have already arrived, without waiting; none on any error.
  std::string ReadPending(size_t len);
  // Reads an answer's header of `len` bytes into `raw`, stopping at once when its first byte is
  // not `version`. For the connection's `first` answer such bytes are named as the kind of peer
  // that sends them (HTTP, TLS, SSH, a backupd of another version), so a wrong port fails at once
  // rather than after the timeout. `context` prefixes the other messages.
  Status ReadAnswerHeader(uint8_t* raw, size_t len, uint8_t version, bool first,
                          const std::string& context);

  // "HOST:PORT" of the server (or the name given to Adopt), for messages.
  const std::string& peer() const { return peer_; }
  bool is_open() const { return fd_.valid(); }
  void Close();

 private:
  Connection(UniqueFd fd, std::string peer) : fd_(std::move(fd)), peer_(std::move(peer)) {}
  Status SetTimeout(std::chrono::milliseconds timeout);

  UniqueFd fd_;
  SslPtr ssl_;  // set by StartTls; freed before the socket closes
  std::string peer_;
};

}  // namespace backupd::client

#endif  // BACKUPD_CLIENT_CONNECTION_H_

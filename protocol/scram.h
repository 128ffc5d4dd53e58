// shared (pure computation; the worker, the monitor and the C++ client use it): SCRAM-SHA-256
// (RFC 5802, RFC 7677) messages and proofs, both sides. No sockets, no files, no randomness:
// callers pass the nonce and salt in (from base/random.h).
#ifndef BACKUPD_PROTOCOL_SCRAM_H_
#define BACKUPD_PROTOCOL_SCRAM_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "protocol/wire_v2.h"

namespace backupd::protocol {

// Every SCRAM message is refused beyond this many bytes, before it is looked at: what a v2 auth
// op may carry, so one bound holds on the wire and in the parser.
constexpr size_t kScramMaxMessage = v2::kMaxAuthMessageSize;
// RFC 7677's minimum, and enough: the iteration count only slows a guesser who holds a verifier,
// and our secrets are 192 random bits (RandomToken(24)), not passwords, so no number of guesses
// a stolen users file allows comes anywhere near them. More would only make every login cost
// the monitor more CPU. Clients refuse fewer (a server cannot talk them into a cheap proof).
constexpr uint32_t kScramIterations = 4096;
// Bounds what a server may ask of a client and what the users file may ask of the monitor.
constexpr uint32_t kScramMaxIterations = 1000000;
constexpr size_t kScramSaltBytes = 16;  // what `backupd user` generates
constexpr size_t kScramMinSaltBytes = 8;
constexpr size_t kScramMaxSaltBytes = 64;
// Nonces (each side's part) are 16..128 printable characters without ','.
constexpr size_t kScramMinNonce = 16;
constexpr size_t kScramMaxNonce = 128;
// Bytes for RandomToken() to make a nonce of (24 characters).
constexpr size_t kScramNonceBytes = 18;

using ScramKey = std::array<unsigned char, 32>;  // one SHA-256 output

// What the server stores for a user instead of the secret. StoredKey lets it check a proof,
// ServerKey lets it prove itself; neither lets anyone compute a proof (that needs ClientKey,
// which only the secret yields). Its destructor wipes the keys.
struct ScramVerifier {
  std::string salt;  // raw bytes
  uint32_t iterations = kScramIterations;
  ScramKey stored_key{};
  ScramKey server_key{};

  ScramVerifier() = default;
  ScramVerifier(const ScramVerifier&) = default;
  ScramVerifier& operator=(const ScramVerifier&) = default;
  ~ScramVerifier();
};

// secret, salt, iterations -> StoredKey, ServerKey. Invalid if the secret is not printable
// ASCII (see ScramClient) or the salt or count are out of bounds.
Result<ScramVerifier> DeriveScramVerifier(std::string_view secret, std::string_view salt,
                                          uint32_t iterations);

// backupd's SCRAM user names are user ids in decimal (1 to 10 digits, <= UINT32_MAX); digits
// need no SASLprep and no "=2C" escaping. Nothing is the answer for anything else.
std::optional<uint32_t> ParseScramUserId(std::string_view user);

// What a client's secret yields for one salt and iteration count: ClientKey and ServerKey
// (RFC 5802 section 5.1 lets a client keep them, to skip the PBKDF2 of its next login to a
// server that sends the same salt and count). As good as the secret for logging in to a server
// holding that verifier; its destructor wipes the keys.
struct ScramClientKeys {
  std::string salt;  // raw bytes
  uint32_t iterations = 0;
  ScramKey client_key{};
  ScramKey server_key{};

  ScramClientKeys() = default;
  ScramClientKeys(const ScramClientKeys&) = default;
  ScramClientKeys& operator=(const ScramClientKeys&) = default;
  ~ScramClientKeys();
};

// One line that keeps `keys` for logins as `user` to `server` (any text without spaces or line
// ends), sealed with an HMAC keyed by `secret`: DecodeScramCache gives the keys back only for the
// same server, user and secret, so a changed secret or an edited line is never used.
std::string EncodeScramCache(std::string_view server, std::string_view user,
                             std::string_view secret, const ScramClientKeys& keys);
std::optional<ScramClientKeys> DecodeScramCache(std::string_view line, std::string_view server,
                                                std::string_view user, std::string_view secret);

// The client side: ClientFirst(), then ClientFinal(server-first), then
// VerifyServerFinal(server-final), which is what makes the login mutual: only a server holding
// the verifier's ServerKey can produce it. Any failure ends the exchange (later calls fail too).
//
// The user name and the secret must be printable ASCII (0x21..0x7E) and the name must not hold
// ',' or '=': SASLprep leaves such strings unchanged, so none is implemented, and the RFC 7677
// test vector ("user", "pencil") stays usable. backupd's names are ids (ParseScramUserId).
class ScramClient {
 public:
  ScramClient(std::string user, std::string secret, std::string client_nonce);
  ~ScramClient();
  ScramClient(const ScramClient&) = delete;
  ScramClient& operator=(const ScramClient&) = delete;

  // "n,,n=USER,r=NONCE".
  Result<std::string> ClientFirst();
  // "c=biws,r=NONCE,p=PROOF". Refuses a server-first that does not extend our nonce, or asks
  // for fewer than kScramIterations or more than kScramMaxIterations.
  Result<std::string> ClientFinal(std::string_view server_first);
  // Before ClientFinal: keys derived earlier, used instead of the PBKDF2 when the server-first
  // names their salt and iteration count (and ignored when it names others).
  void UseKeys(const ScramClientKeys& keys) { cached_ = keys; }
  // After ClientFinal: the keys it used, and whether it derived them (not taken from UseKeys).
  const ScramClientKeys& keys() const { return keys_; }
  bool derived() const { return derived_; }
  // OK only for "v=" with the right ServerSignature (compared in constant time); Denied for a
  // wrong one or a server's "e=" error.
  Status VerifyServerFinal(std::string_view server_final);

 private:
  enum class Step { kStart, kSentFirst, kSentFinal, kDone, kFailed };
  Step step_ = Step::kStart;
  std::string user_;
  std::string secret_;
  std::string client_nonce_;
  std::string client_first_bare_;
  ScramKey server_signature_{};
  std::optional<ScramClientKeys> cached_;
  ScramClientKeys keys_;
  bool derived_ = false;
};

// The server side: Start(client-first) names the user; the caller looks the verifier up and
// calls ServerFirst(verifier, server nonce), then ServerFinal(client-final), which checks the
// channel binding, the nonce and the proof (in constant time) and answers "v=SIGNATURE".
// A wrong proof is Status::Denied("authentication failed"); malformed input is Invalid. Any
// failure ends the exchange.
class ScramServer {
 public:
  static Result<ScramServer> Start(std::string_view client_first);
  ~ScramServer();
  ScramServer(ScramServer&&) = default;
  ScramServer& operator=(ScramServer&&) = default;

  // The name from client-first (printable, no ',' or '='); ParseScramUserId() gives the id.
  const std::string& user() const { return user_; }
  // "r=CLIENTNONCE+SERVERNONCE,s=SALT,i=ITERATIONS".
  Result<std::string> ServerFirst(const ScramVerifier& verifier, std::string_view server_nonce);
  // "v=SERVERSIGNATURE" when the proof holds.
  Result<std::string> ServerFinal(std::string_view client_final);

 private:
  ScramServer() = default;
  enum class Step { kStarted, kSentFirst, kDone, kFailed };
  Step step_ = Step::kStarted;
  std::string user_;
  std::string client_first_bare_;
  std::string nonce_;  // client's + server's
  std::string server_first_;
  ScramVerifier verifier_;
};

}  // namespace backupd::protocol

#endif  // BACKUPD_PROTOCOL_SCRAM_H_

// tests (unprivileged): fuzz target for the SCRAM messages; the server's side reads a client-first
// and a client-final (what the monitor does as root), the client's side a server-first and a
// server-final (what a client does with a hostile server's words). Input: one byte choosing the
// side, a 16-bit little-endian length of the first message, the first message, then the second.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/base64.h"
#include "base/status.h"
#include "protocol/scram.h"
#include "tests/fuzz/fuzz_check.h"

namespace bp = backupd::protocol;
using backupd::Status;

namespace {

// RFC 7677's example, so its messages are seeds that reach every step.
constexpr std::string_view kUser = "user";
constexpr std::string_view kSecret = "pencil";
constexpr std::string_view kClientNonce = "rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view kSalt = "W22ZaJ0SNY7soEsUEjb6gQ==";
constexpr uint32_t kIterations = 4096;

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Whatever a malformed or hostile message gets: a refusal, never an internal error.
void CheckRefusal(const Status& s, std::string_view message) {
  FUZZ_CHECK(s.code() == Status::Code::kInvalid || s.code() == Status::Code::kDenied ||
             s.code() == Status::Code::kTooLarge);
  FUZZ_CHECK((s.code() == Status::Code::kTooLarge) == (message.size() > bp::kScramMaxMessage));
}

const bp::ScramVerifier& Verifier() {
  static const bp::ScramVerifier verifier = [] {
    backupd::Result<bp::ScramVerifier> v =
        bp::DeriveScramVerifier(kSecret, *backupd::Base64Decode(kSalt), kIterations);
    FUZZ_CHECK(v.ok());
    return *v;
  }();
  return verifier;
}

void Server(std::string_view client_first, std::string_view client_final) {
  backupd::Result<bp::ScramServer> server = bp::ScramServer::Start(client_first);
  if (!server.ok()) {
    CheckRefusal(server.status(), client_first);
    return;
  }
  const std::string& user = server->user();
  FUZZ_CHECK(!user.empty() && user.find_first_of(",=") == std::string::npos);
  for (char c : user) FUZZ_CHECK(c >= 0x21 && c <= 0x7E);
  const std::string client_nonce = std::string(client_first.substr(client_first.find(",r=") + 3));
  FUZZ_CHECK(client_first == "n,,n=" + user + ",r=" + client_nonce);

  backupd::Result<std::string> server_first = server->ServerFirst(Verifier(), kServerNonce);
  FUZZ_CHECK(server_first.ok());
  FUZZ_CHECK(*server_first == "r=" + client_nonce + std::string(kServerNonce) +
                                  ",s=" + std::string(kSalt) + ",i=" + std::to_string(kIterations));

  backupd::Result<std::string> server_final = server->ServerFinal(client_final);
  if (!server_final.ok()) {
    CheckRefusal(server_final.status(), client_final);
    return;
  }
  // Accepted: then the message is exactly what a client knowing the secret sends, and the
  // answer proves the server to that client.
  bp::ScramClient client(user, std::string(kSecret), client_nonce);
  FUZZ_CHECK(client.ClientFirst().ok());
  backupd::Result<std::string> expected = client.ClientFinal(*server_first);
  FUZZ_CHECK(expected.ok() && *expected == client_final);
  FUZZ_CHECK(client.VerifyServerFinal(*server_final).ok());
  FUZZ_CHECK(!server->ServerFinal(client_final).ok());
}

void Client(std::string_view server_first, std::string_view server_final) {
  bp::ScramClient client{std::string(kUser), std::string(kSecret), std::string(kClientNonce)};
  backupd::Result<std::string> client_first = client.ClientFirst();
  FUZZ_CHECK(client_first.ok());
  FUZZ_CHECK(*client_first == "n,,n=" + std::string(kUser) + ",r=" + std::string(kClientNonce));

  backupd::Result<std::string> client_final = client.ClientFinal(server_first);
  if (!client_final.ok()) {
    CheckRefusal(client_final.status(), server_first);
    FUZZ_CHECK(!client.VerifyServerFinal(server_final).ok());
    return;
  }
  // The nonce the server chose, echoed.
  const std::string_view nonce = server_first.substr(2, server_first.find(",s=") - 2);
  FUZZ_CHECK(StartsWith(server_first, "r=" + std::string(kClientNonce)));
  FUZZ_CHECK(StartsWith(*client_final, "c=biws,r=" + std::string(nonce) + ",p="));

  const Status verified = client.VerifyServerFinal(server_final);
  if (!verified.ok()) {
    CheckRefusal(verified, server_final);
    return;
  }
  FUZZ_CHECK(StartsWith(server_final, "v=") && EndsWith(server_final, "="));
  FUZZ_CHECK(!client.VerifyServerFinal(server_final).ok());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const bool client_side = data[0] & 1;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 3, size - 3);
  const size_t first_len = std::min<size_t>(data[1] | size_t{data[2]} << 8, rest.size());
  const std::string_view first = rest.substr(0, first_len);
  const std::string_view second = rest.substr(first_len);
  if (client_side) {
    Client(first, second);
  } else {
    Server(first, second);
  }
  return 0;
}

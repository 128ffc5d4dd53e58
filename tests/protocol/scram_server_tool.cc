// test helper (any user): one SCRAM-SHA-256 login served by the real ScramServer over stdin and
// stdout, so the Python client's test can log in against the C++ side.
//
//   scram_server_tool SECRET   reads client-first, writes server-first, reads client-final,
//                              writes server-final ("v=...", or "e=invalid-proof" and exit 1).
// The verifier is derived from SECRET under a random salt, as `backupd user add` does.
#include <iostream>
#include <string>

#include "base/random.h"
#include "protocol/scram.h"

namespace {

int Refuse(const backupd::Status& s) {
  std::cerr << "scram_server_tool: " << s.message() << "\n";
  std::cout << "e=invalid-proof" << std::endl;
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace backupd;
  if (argc != 2) {
    std::cerr << "usage: scram_server_tool SECRET\n";
    return 2;
  }
  std::string salt(protocol::kScramSaltBytes, '\0');
  Status s = RandomBytes(salt.data(), salt.size());
  Result<std::string> nonce = RandomToken(protocol::kScramNonceBytes);
  if (!s.ok() || !nonce.ok()) return Refuse(s.ok() ? nonce.status() : s);
  Result<protocol::ScramVerifier> verifier =
      protocol::DeriveScramVerifier(argv[1], salt, protocol::kScramIterations);
  if (!verifier.ok()) return Refuse(verifier.status());

  std::string line;
  if (!std::getline(std::cin, line)) return Refuse(Status::Closed("no client-first"));
  Result<protocol::ScramServer> server = protocol::ScramServer::Start(line);
  if (!server.ok()) return Refuse(server.status());
  Result<std::string> first = server->ServerFirst(*verifier, *nonce);
  if (!first.ok()) return Refuse(first.status());
  std::cout << *first << std::endl;
  if (!std::getline(std::cin, line)) return Refuse(Status::Closed("no client-final"));
  Result<std::string> final_msg = server->ServerFinal(line);
  if (!final_msg.ok()) return Refuse(final_msg.status());
  std::cout << *final_msg << std::endl;
  return 0;
}

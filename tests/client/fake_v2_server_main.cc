// tests: fake_v2_server, the scripted v2 server as a program for the command-line clients' tests:
// listens on 127.0.0.1, port 0, prints the port, serves connections one at a time until killed.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "base/unique_fd.h"
#include "tests/client/fake_v2_server.h"

using backupd::UniqueFd;
using backupd::testing::FakeV2Options;

int main(int argc, char** argv) {
  FakeV2Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--forge") {
      options.login = FakeV2Options::Login::kForgedSignature;
    } else if (arg == "--busy") {
      options.login = FakeV2Options::Login::kBusy;
    } else if (arg == "--bad-upload-digest") {
      options.refuse_upload_digest = true;
    } else if (arg == "--bad-restore-digest") {
      options.corrupt_restore_digest = true;
    } else if (arg == "--refuse-list") {
      options.refuse_list = true;
    } else if (arg == "--hold") {
      options.hold_answers = true;
    } else if (arg == "--secret" && i + 1 < argc) {
      options.secret = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: fake_v2_server [--forge|--busy|--bad-upload-digest|"
                   "--bad-restore-digest|--refuse-list|--hold] [--secret SECRET]\n");
      return 2;
    }
  }
  UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (!listener.valid() || bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), len) < 0 ||
      listen(listener.get(), 16) < 0 ||
      getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) < 0) {
    std::perror("fake_v2_server: listen");
    return 1;
  }
  std::printf("%u\n", ntohs(addr.sin_port));
  std::fflush(stdout);
  backupd::testing::FakeV2Server server(options);
  for (;;) {
    UniqueFd conn(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn.valid()) continue;
    server.Serve(conn.get());
    if (options.hold_answers) std::fprintf(stderr, "held %zu\n", server.most_held());
  }
}

// tests (unprivileged): fuzz target for the config parser; the input up to its first NUL is a
// config file, read by LoadConfig as the daemon reads /etc/backupd.conf, and each NUL-separated
// piece after it is one argument on backupd's command line (-o KEY=VALUE, a PORT, ...).
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/unique_fd.h"
#include "conf/config.h"
#include "tests/fuzz/fuzz_check.h"

namespace conf = backupd::conf;
using backupd::Status;

namespace {

// The file LoadConfig reads: a memfd, named by its /proc path, so no input touches the disk.
struct MemFile {
  backupd::UniqueFd fd;
  std::string path;
};

const MemFile& ConfigFile() {
  static const MemFile file = [] {
    MemFile f{backupd::UniqueFd(memfd_create("backupd.conf", MFD_CLOEXEC)), ""};
    FUZZ_CHECK(f.fd.valid());
    f.path = "/proc/self/fd/" + std::to_string(f.fd.get());
    return f;
  }();
  return file;
}

void WriteConfigFile(std::string_view text) {
  const int fd = ConfigFile().fd.get();
  FUZZ_CHECK(ftruncate(fd, 0) == 0);
  FUZZ_CHECK(pwrite(fd, text.data(), text.size(), 0) == static_cast<ssize_t>(text.size()));
}

// A refusal is one line (the daemon prints it as "backupd: MESSAGE") unless an argument, which
// it may quote, held a line break: a file's lines cannot.
void CheckRefusal(const Status& s, bool args_one_line) {
  FUZZ_CHECK(s.code() == Status::Code::kInvalid);
  FUZZ_CHECK(!s.message().empty());
  FUZZ_CHECK(!args_one_line || s.message().find('\n') == std::string::npos);
}

bool Absolute(const std::string& path) {
  return path.empty() ||
         (path.front() == '/' && std::filesystem::path(path).lexically_normal() == path);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  WriteConfigFile(input.substr(0, nul));

  const bool args_one_line = input.find('\n', nul) == std::string_view::npos;
  std::vector<std::string> args = {"backupd"};
  for (size_t at = nul; at != std::string_view::npos && at < input.size();) {
    const size_t next = input.find('\0', at + 1);
    args.emplace_back(input.substr(at + 1, next == input.npos ? input.npos : next - at - 1));
    at = next;
  }
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  const backupd::Result<conf::CommandLine> cmd =
      conf::ParseCommandLine(static_cast<int>(argv.size()), argv.data());
  if (!cmd.ok()) {
    CheckRefusal(cmd.status(), args_one_line);
    return 0;
  }
  conf::CommandLine with_file = *cmd;
  with_file.config_path = ConfigFile().path;
  with_file.config_given = true;

  const backupd::Result<conf::Config> config = conf::LoadConfig(with_file);
  if (!config.ok()) {
    CheckRefusal(config.status(), args_one_line);
    return 0;
  }
  // Whatever loads is a configuration the daemon can start with.
  FUZZ_CHECK(conf::Validate(*config).ok());
  FUZZ_CHECK(!config->listen.empty());
  FUZZ_CHECK(config->workers >= 1 && config->workers <= config->workers_max);
  FUZZ_CHECK(config->workers_max <= conf::kMaxWorkers);
  FUZZ_CHECK(config->max_file_size >= 1 && config->max_file_size <= conf::kMaxFileSizeLimit);
  FUZZ_CHECK(!config->storage.empty());
  for (const std::string* path :
       {&config->storage, &config->tls_cert, &config->tls_key, &config->users_file}) {
    FUZZ_CHECK(Absolute(*path));
  }
  if (cmd->port) {
    for (const conf::ListenAddress& a : config->listen) FUZZ_CHECK(a.port == *cmd->port);
  }
  return 0;
}

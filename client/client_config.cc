// client (the user's privilege): parsing client.conf and reading the secret file.
#include "client/client_config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "base/unique_fd.h"

namespace backupd::client {
namespace {

constexpr std::string_view kSpace = " \t\r\n";

std::string_view Trim(std::string_view s) {
  const size_t first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kSpace) - first + 1);
}

std::optional<bool> ParseBool(std::string_view v) {
  if (v == "yes" || v == "true" || v == "on" || v == "1") return true;
  if (v == "no" || v == "false" || v == "off" || v == "0") return false;
  return std::nullopt;
}

// Both files are small; anything bigger is not what the user meant to point at.
constexpr size_t kMaxFileSize = 64 * 1024;

// The whole file at `fd`, at most kMaxFileSize bytes.
Result<std::string> ReadSmall(int fd, const std::string& path) {
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, path);
    if (n == 0) return text;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxFileSize) {
      return Status::TooLarge(path + ": over " + std::to_string(kMaxFileSize) + " bytes");
    }
  }
}

}  // namespace

Result<ClientConfig> ParseClientConfig(std::string_view text, const std::string& file) {
  ClientConfig config;
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const size_t eol = text.find('\n');
    std::string_view line = Trim(text.substr(0, eol));
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    if (line.empty() || line[0] == '#') continue;
    const std::string where = file + ":" + std::to_string(line_no) + ": ";
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) return Status::Invalid(where + "expected KEY = VALUE");
    const std::string key(Trim(line.substr(0, eq)));
    const std::string value(Trim(line.substr(eq + 1)));
    if (value.empty()) return Status::Invalid(where + "'" + key + "' has no value");
    std::optional<std::string>* slot = nullptr;
    if (key == "paths") {
      for (size_t at = 0; (at = value.find_first_not_of(kSpace, at)) != std::string::npos;) {
        const size_t end = value.find_first_of(kSpace, at);
        config.paths.push_back(value.substr(at, end - at));
        at = end;
      }
      continue;
    }
    if (key == "exclude" || key == "exclude_from") {
      (key == "exclude" ? config.exclude : config.exclude_from).push_back(value);
      continue;
    }
    if (key == "server") {
      slot = &config.server;
    } else if (key == "user") {
      slot = &config.user;
    } else if (key == "secret_file") {
      slot = &config.secret_file;
    } else if (key == "ca") {
      slot = &config.ca;
    } else if (key == "tls") {
      if (config.tls) return Status::Invalid(where + "'tls' given twice");
      config.tls = ParseBool(value);
      if (!config.tls) return Status::Invalid(where + "tls must be yes or no, not '" + value + "'");
      continue;
    } else {
      return Status::Invalid(where + "unknown key '" + key +
                             "' (known: server, user, secret_file, tls, ca, paths, exclude, "
                             "exclude_from)");
    }
    if (*slot) return Status::Invalid(where + "'" + key + "' given twice");
    *slot = value;
  }
  return config;
}

Result<std::string> ReadSmallFile(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) return Status::FromErrno(errno, path);
  return ReadSmall(fd.get(), path);
}

Result<ClientConfig> LoadClientConfig(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid() && errno == ENOENT) return ClientConfig{};
  if (!fd.valid()) return Status::FromErrno(errno, path);
  Result<std::string> text = ReadSmall(fd.get(), path);
  if (!text.ok()) return text.status();
  return ParseClientConfig(*text, path);
}

std::string DefaultClientConfigPath() {
  const char* xdg = getenv("XDG_CONFIG_HOME");
  if (xdg != nullptr && xdg[0] == '/') return std::string(xdg) + "/backupd/client.conf";
  const char* home = getenv("HOME");
  if (home != nullptr && home[0] != '\0') return std::string(home) + "/.config/backupd/client.conf";
  return "";
}

Result<std::string> ReadSecretFile(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) return Status::FromErrno(errno, "secret file " + path);
  struct stat sb {};
  if (fstat(fd.get(), &sb) < 0) return Status::FromErrno(errno, "secret file " + path);
  if (!S_ISREG(sb.st_mode)) return Status::Invalid("secret file " + path + ": not a regular file");
  // As ssh does with a private key: a secret others can read is no longer the user's alone.
  if ((sb.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return Status::Denied("secret file " + path + " is accessible by others; run: chmod 600 " +
                          path);
  }
  Result<std::string> text = ReadSmall(fd.get(), path);
  if (!text.ok()) return text.status();
  const std::string secret(Trim(std::string_view(*text).substr(0, text->find('\n'))));
  if (secret.empty()) return Status::Invalid("secret file " + path + ": the first line is empty");
  return secret;
}

}  // namespace backupd::client

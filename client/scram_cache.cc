// client (the user's privilege): the SCRAM keys of the last login, read from and written to the
// file beside the secret file.
#include "client/scram_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "base/atomic_file.h"
#include "base/unique_fd.h"

namespace backupd::client {

std::optional<protocol::ScramClientKeys> ScramCache::Load(uint32_t user,
                                                          const std::string& secret) const {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK));
  struct stat sb {};
  // Only a file this user made and nobody else may change: keys planted by someone else would
  // fail the seal anyway, but are not even read.
  if (!fd.valid() || fstat(fd.get(), &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_uid != geteuid() ||
      (sb.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return std::nullopt;
  }
  char buf[1024];  // one line of about 250 bytes
  size_t got = 0;
  for (;;) {
    ssize_t n = read(fd.get(), buf + got, sizeof(buf) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
    if (got == sizeof(buf)) return std::nullopt;
  }
  std::string_view line(buf, got);
  line = line.substr(0, line.find('\n'));
  return protocol::DecodeScramCache(line, server, std::to_string(user), secret);
}

void ScramCache::Save(uint32_t user, const std::string& secret,
                      const protocol::ScramClientKeys& keys) const {
  // Only into a folder nobody else may write to: in /tmp, say, another user could have made the
  // temp file first and read the keys from it.
  const size_t slash = path.rfind('/');
  const std::string folder = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  struct stat sb {};
  if (stat(folder.c_str(), &sb) != 0 || (sb.st_uid != geteuid() && sb.st_uid != 0) ||
      (sb.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return;
  }
  const std::string line = protocol::EncodeScramCache(server, std::to_string(user), secret, keys);
  if (!line.empty()) WriteFileAtomically(path, line + "\n", 0600);
}

}  // namespace backupd::client

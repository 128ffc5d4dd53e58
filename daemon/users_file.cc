// supervisor (root) and `backupd user` (root): reading, checking and writing the users file.
#include "daemon/users_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <cerrno>
#include <cstdio>
#include <optional>

#include "base/atomic_file.h"
#include "base/base64.h"
#include "base/text.h"
#include "base/unique_fd.h"

namespace backupd::daemon {
namespace {

constexpr std::string_view kScheme = "SCRAM-SHA-256$";
// Far beyond any real list of users (about 150 bytes each); a bound on what we read as root.
constexpr size_t kMaxFileSize = 64 << 20;

std::string Octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

Status CheckOwnerAndMode(const std::string& path, const struct stat& st) {
  if (!S_ISREG(st.st_mode)) return Status::Invalid(path + ": not a regular file");
  if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
    return Status::Denied(path + ": owned by uid " + std::to_string(st.st_uid) +
                          ", not root; fix: chown root:root " + path);
  }
  if ((st.st_mode & 077) != 0) {
    return Status::Denied(path + ": group or others may access it (mode " + Octal(st.st_mode) +
                          "), and it holds the users' verifiers; fix: chmod 600 " + path);
  }
  return Status::Ok();
}

Result<std::string> ReadAll(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) return Status::FromErrno(errno, path);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno(errno, path);
  Status s = CheckOwnerAndMode(path, st);
  if (!s.ok()) return s;
  std::string text;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, path);
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxFileSize) return Status::TooLarge(path + ": larger than 64 MiB");
  }
  return text;
}

std::optional<protocol::ScramKey> DecodeKey(std::string_view text) {
  std::optional<std::string> raw = Base64Decode(text);
  if (!raw || raw->size() != protocol::ScramKey().size()) return std::nullopt;
  protocol::ScramKey key;
  std::copy(raw->begin(), raw->end(), key.begin());
  return key;
}

std::string EncodeKey(const protocol::ScramKey& key) {
  return Base64Encode(std::string_view(reinterpret_cast<const char*>(key.data()), key.size()));
}

Result<Users> ParseUsers(const std::string& path, std::string_view text) {
  Users users;
  size_t pos = 0;
  for (int number = 1; pos < text.size(); ++number) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    std::string where = path + ":" + std::to_string(number) + ": ";
    if (line.empty() || line[0] == '#') continue;
    size_t space = line.find(' ');
    if (space == std::string_view::npos) {
      return Status::Invalid(where + "expected 'ID SCRAM-SHA-256$...'");
    }
    std::optional<uint32_t> id = protocol::ParseScramUserId(line.substr(0, space));
    if (!id) return Status::Invalid(where + "the user id must be decimal (0 to 4294967295)");
    Result<protocol::ScramVerifier> v = ParseVerifier(line.substr(space + 1));
    if (!v.ok())
      return Status::Invalid(where + "user " + std::to_string(*id) + ": " + v.status().message());
    if (!users.emplace(*id, *v).second) {
      return Status::Invalid(where + "user " + std::to_string(*id) + " is listed twice");
    }
  }
  return users;
}

}  // namespace

std::string FormatVerifier(const protocol::ScramVerifier& v) {
  return std::string(kScheme) + std::to_string(v.iterations) + ":" + Base64Encode(v.salt) + "$" +
         EncodeKey(v.stored_key) + ":" + EncodeKey(v.server_key);
}

Result<protocol::ScramVerifier> ParseVerifier(std::string_view text) {
  if (text.substr(0, kScheme.size()) != kScheme) {
    return Status::Invalid("expected a verifier starting with 'SCRAM-SHA-256$'");
  }
  text.remove_prefix(kScheme.size());
  size_t dollar = text.find('$');
  if (dollar == std::string_view::npos) {
    return Status::Invalid("expected ITERATIONS:SALT$STOREDKEY:SERVERKEY");
  }
  std::string_view params = text.substr(0, dollar), keys = text.substr(dollar + 1);
  size_t c1 = params.find(':'), c2 = keys.find(':');
  if (c1 == std::string_view::npos || c2 == std::string_view::npos) {
    return Status::Invalid("expected ITERATIONS:SALT$STOREDKEY:SERVERKEY");
  }
  protocol::ScramVerifier v;
  std::optional<uint64_t> iterations =
      ParseDecimal(params.substr(0, c1), protocol::kScramMaxIterations);
  if (!iterations || *iterations < protocol::kScramIterations) {
    return Status::Invalid("iteration count must be " + std::to_string(protocol::kScramIterations) +
                           " to " + std::to_string(protocol::kScramMaxIterations));
  }
  v.iterations = static_cast<uint32_t>(*iterations);
  std::optional<std::string> salt = Base64Decode(params.substr(c1 + 1));
  if (!salt || salt->size() < protocol::kScramMinSaltBytes ||
      salt->size() > protocol::kScramMaxSaltBytes) {
    return Status::Invalid("the salt must be base64 of 8 to 64 bytes");
  }
  v.salt = *salt;
  std::optional<protocol::ScramKey> stored = DecodeKey(keys.substr(0, c2));
  std::optional<protocol::ScramKey> server = DecodeKey(keys.substr(c2 + 1));
  if (!stored || !server)
    return Status::Invalid("StoredKey and ServerKey must be base64 of 32 bytes");
  v.stored_key = *stored;
  v.server_key = *server;
  return v;
}

Result<Users> LoadUsersFile(const std::string& path) {
  Result<std::string> text = ReadAll(path);
  if (!text.ok()) return text.status();
  Result<Users> users = ParseUsers(path, *text);
  OPENSSL_cleanse(text->data(), text->size());
  return users;
}

Result<UniqueFd> LockUsersFolder(const std::string& path, bool create) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  if (create && ::mkdir(dir.c_str(), 0755) == 0) {
    // mkdir's mode passed through the umask; the folder is meant to be listable by all.
    if (::chmod(dir.c_str(), 0755) != 0) return Status::FromErrno(errno, "chmod " + dir);
  } else if (create && errno != EEXIST) {
    return Status::FromErrno(errno, "cannot create " + dir);
  }
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, dir);
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return Status::FromErrno(errno, "cannot lock " + dir);
  }
  return fd;
}

Status WriteUsersFile(const std::string& path, const Users& users) {
  std::string text =
      "# backupd users: ID SCRAM-SHA-256$ITERATIONS:SALT$STOREDKEY:SERVERKEY, one per line.\n"
      "# Written by `backupd user` (backupd(8)); the secrets themselves are not stored here.\n";
  for (const auto& [id, verifier] : users) {
    text += std::to_string(id) + " " + FormatVerifier(verifier) + "\n";
  }
  Status s = WriteFileAtomically(path, text, 0600);
  OPENSSL_cleanse(text.data(), text.size());
  return s;
}

}  // namespace backupd::daemon

// `backupd scrub` and `backupd prune` (root until the storage folder is open, then the worker
// user): parse their words, read the config, open the storage, drop privileges, list the users.
#include "daemon/storage_command.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "base/text.h"
#include "daemon/command_words.h"
#include "daemon/log.h"
#include "daemon/preflight.h"
#include "protocol/scram.h"

namespace backupd::daemon {
namespace {

// The user folders in storage: every entry whose name is a user id, in order.
Result<std::vector<uint32_t>> UserFolders(int storage_fd) {
  UniqueFd copy(::openat(storage_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!copy.valid()) return Status::FromErrno(errno, "open storage");
  DIR* d = ::fdopendir(copy.get());
  if (d == nullptr) return Status::FromErrno(errno, "read storage");
  copy.release();
  std::vector<uint32_t> users;
  errno = 0;
  while (const dirent* e = ::readdir(d)) {
    std::optional<uint32_t> id = protocol::ParseScramUserId(e->d_name);
    if (id && std::to_string(*id) == e->d_name) users.push_back(*id);
    errno = 0;
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) return Status::FromErrno(err, "read storage");
  std::sort(users.begin(), users.end());
  return users;
}

Status DropToWorker(const worker::Identity& id) {
  // The workers' umask (worker/privdrop.cc): scrub and prune make files with the same code.
  ::umask(077);
  if (!id.drop) return Status::Ok();
  const gid_t groups[1] = {id.gid};
  if (::setgroups(1, groups) != 0) return Status::FromErrno(errno, "setgroups");
  if (::setresgid(id.gid, id.gid, id.gid) != 0) return Status::FromErrno(errno, "setresgid");
  if (::setresuid(id.uid, id.uid, id.uid) != 0) return Status::FromErrno(errno, "setresuid");
  if (::geteuid() != id.uid) return Status::Denied("still not uid " + std::to_string(id.uid));
  return Status::Ok();
}

}  // namespace

Result<StorageArgs> ParseStorageArgs(const std::vector<std::string>& words, bool* help) {
  Result<CommandWords> parsed = ParseCommandWords(words);
  if (!parsed.ok()) return parsed.status();
  *help = parsed->help;
  StorageArgs a;
  a.config = parsed->config;
  if (parsed->positional.size() > 1) {
    return Status::Invalid("unexpected argument '" + EscapeUntrusted(parsed->positional[1]) + "'");
  }
  if (!parsed->positional.empty()) a.user = parsed->positional[0];
  return a;
}

Result<Storage> OpenStorageAsWorkerUser(const StorageArgs& a) {
  std::optional<uint32_t> only;
  if (a.user) {
    only = protocol::ParseScramUserId(*a.user);
    if (!only) {
      return Status::Invalid("user id must be decimal digits (0 to 4294967295), got '" +
                             EscapeUntrusted(*a.user) + "'");
    }
  }
  Result<conf::Config> config = conf::LoadConfig(a.config);
  if (!config.ok()) return config.status();
  Result<worker::Identity> identity = ResolveIdentity(*config);
  if (!identity.ok()) return identity.status();
  Status s = CheckOpenat2();
  if (!s.ok()) return s;
  s = SetUpLogging(*config, ChooseLogTarget(*config, true));
  if (!s.ok()) return s;
  Storage out;
  out.fd = UniqueFd(::open(config->storage.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!out.fd.valid()) return Status::FromErrno(errno, "open storage " + config->storage);
  s = DropToWorker(*identity);
  if (!s.ok()) return s;
  if (only) {
    out.users.push_back(*only);
  } else {
    Result<std::vector<uint32_t>> all = UserFolders(out.fd.get());
    if (!all.ok()) return all.status();
    out.users = std::move(*all);
  }
  out.config = std::move(*config);
  return Result<Storage>(std::move(out));
}

int RunStorageCommand(std::string_view name, std::string_view usage,
                      const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                      const StorageJob& run) {
  bool help = false;
  Result<StorageArgs> a = ParseStorageArgs(args, &help);
  if (help) {
    out << usage;
    return 0;
  }
  if (!a.ok()) {
    err << "backupd " << name << ": " << a.status().message() << "\n" << usage;
    return 2;
  }
  return run(*a, out, err);
}

}  // namespace backupd::daemon

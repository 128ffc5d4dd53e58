// `backupd scrub ...` (root until the storage folder is open, then the worker user; a short-lived
// command): re-reads stored files and reports those whose bytes no longer match their digest.
#include "daemon/scrub_command.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/text.h"
#include "base/unique_fd.h"
#include "conf/config.h"
#include "daemon/command_words.h"
#include "daemon/log.h"
#include "daemon/preflight.h"
#include "protocol/digest.h"
#include "protocol/scram.h"
#include "worker/sys.h"
#include "worker/user_dir.h"
#include "worker/user_lock.h"

namespace backupd::daemon {
namespace {

constexpr char kUsage[] =
    "Usage: backupd scrub [-c FILE] [USER]   check every stored file of USER (default: of every\n"
    "                                        user) against its stored SHA-256; changes nothing\n";
constexpr size_t kReadChunk = 1 << 16;

struct Args {
  std::optional<std::string> user;
  conf::CommandLine config;
};

// The shared words (ParseCommandWords), then at most one user id.
Result<Args> Parse(const std::vector<std::string>& words, bool* help) {
  Result<CommandWords> parsed = ParseCommandWords(words);
  if (!parsed.ok()) return parsed.status();
  *help = parsed->help;
  Args a;
  a.config = parsed->config;
  if (parsed->positional.size() > 1) {
    return Status::Invalid("unexpected argument '" + EscapeUntrusted(parsed->positional[1]) + "'");
  }
  if (!parsed->positional.empty()) a.user = parsed->positional[0];
  return a;
}

struct Totals {
  uint64_t files = 0;
  uint64_t damaged = 0;
  uint64_t unverifiable = 0;
  uint64_t stale = 0;
  uint64_t bytes = 0;
};

std::string Hex(const protocol::Digest& d) {
  std::string out;
  AppendHex(out, d.data(), d.size());
  return out;
}

// The SHA-256 of what `fd` holds from where it is to its end; the bytes read are added to `bytes`.
Result<protocol::Digest> DigestOf(int fd, uint64_t* bytes) {
  protocol::Sha256 sha;
  std::vector<char> buf(kReadChunk);
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, "read");
    if (n == 0) return sha.Finish();
    sha.Update(buf.data(), static_cast<size_t>(n));
    *bytes += static_cast<uint64_t>(n);
  }
}

// One damaged file (or folder that cannot be read) on `out` and in the log.
void ReportDamage(std::ostream& out, uint32_t user, const std::string& name,
                  const std::string& detail, Totals* totals) {
  const std::string line =
      "damaged: user " + std::to_string(user) + " " + EscapeUntrusted(name) + ": " + detail;
  out << line << "\n";
  BACKUPD_LOG(kError) << "scrub: " << line;
  ++totals->damaged;
}

// Checks every file UserDir lists for `user`: its walk, confined beneath the user's folder, never
// follows a symlink, so neither does scrub.
Status ScrubUser(int storage_fd, uint32_t user, std::ostream& out, Totals* totals) {
  Result<worker::UserDir> dir = worker::UserDir::Open(&worker::RealSys(), storage_fd, user, false);
  if (!dir.ok()) return dir.status();
  // A scrub or pruning of this user on any node of the storage finishes first.
  Result<worker::UserLock> lock =
      worker::UserLock::Take(&worker::RealSys(), dir->fd(), worker::UserLock::Wait::kYes);
  if (!lock.ok()) return lock.status();
  auto visit = [&](const worker::StoredFile& stored) {
    Result<worker::OpenFile> file = dir->OpenForRead(stored.name);
    // Deleted or replaced by something not a file since the walk read its folder: not stored now.
    if (!file.ok() && file.status().code() == Status::Code::kNotFound) return Status::Ok();
    ++totals->files;
    if (!file.ok()) {
      ReportDamage(out, user, stored.name, file.status().message(), totals);
      return Status::Ok();
    }
    Result<protocol::Digest> actual = DigestOf(file->fd.get(), &totals->bytes);
    if (!actual.ok()) {
      ReportDamage(out, user, stored.name, actual.status().message(), totals);
    } else if (file->digest && !protocol::SameDigest(*file->digest, *actual)) {
      ReportDamage(out, user, stored.name,
                   "expected sha256 " + Hex(*file->digest) + ", actual " + Hex(*actual), totals);
    } else if (file->stale_digest) {
      ++totals->stale;
      out << "stale digest: user " << user << " " << EscapeUntrusted(stored.name)
          << ": the file changed after its upload (size, mtime or inode), not checked\n";
    } else if (!file->digest) {
      ++totals->unverifiable;
    }
    return Status::Ok();
  };
  auto unreadable = [&](const std::string& folder, const Status& why) {
    ReportDamage(out, user, folder + "/", "folder not read: " + why.message(), totals);
  };
  return dir->List(worker::UserDir::ListOptions::kNamesOnly, visit, unreadable);
}

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

// The worker user's credentials, which own every user folder: a file planted by whoever took over
// that account can then give scrub no more than that account already has.
Status DropToWorker(const worker::Identity& id) {
  if (!id.drop) return Status::Ok();
  const gid_t groups[1] = {id.gid};
  if (::setgroups(1, groups) != 0) return Status::FromErrno(errno, "setgroups");
  if (::setresgid(id.gid, id.gid, id.gid) != 0) return Status::FromErrno(errno, "setresgid");
  if (::setresuid(id.uid, id.uid, id.uid) != 0) return Status::FromErrno(errno, "setresuid");
  if (::geteuid() != id.uid) return Status::Denied("still not uid " + std::to_string(id.uid));
  return Status::Ok();
}

int Run(const Args& a, std::ostream& out, std::ostream& err) {
  auto fail = [&err](const Status& s) {
    err << "backupd scrub: " << s.message() << "\n";
    return 2;
  };
  std::optional<uint32_t> only;
  if (a.user) {
    only = protocol::ParseScramUserId(*a.user);
    if (!only) {
      return fail(Status::Invalid("user id must be decimal digits (0 to 4294967295), got '" +
                                  EscapeUntrusted(*a.user) + "'"));
    }
  }
  Result<conf::Config> config = conf::LoadConfig(a.config);
  if (!config.ok()) return fail(config.status());
  Result<worker::Identity> identity = ResolveIdentity(*config);
  if (!identity.ok()) return fail(identity.status());
  Status s = CheckOpenat2();
  if (!s.ok()) return fail(s);
  s = SetUpLogging(*config, ChooseLogTarget(*config, true));
  if (!s.ok()) return fail(s);
  UniqueFd storage(::open(config->storage.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!storage.valid()) return fail(Status::FromErrno(errno, "open storage " + config->storage));
  s = DropToWorker(*identity);
  if (!s.ok()) return fail(s);

  std::vector<uint32_t> users;
  if (only) {
    users.push_back(*only);
  } else {
    Result<std::vector<uint32_t>> all = UserFolders(storage.get());
    if (!all.ok()) return fail(all.status());
    users = std::move(*all);
  }
  const auto start = std::chrono::steady_clock::now();
  Totals totals;
  for (uint32_t user : users) {
    s = ScrubUser(storage.get(), user, out, &totals);
    if (s.code() == Status::Code::kNotFound && only) {
      return fail(Status::NotFound("no user " + std::to_string(user) + ": nothing stored in " +
                                   config->storage + "/" + std::to_string(user)));
    }
    if (!s.ok()) return fail(s);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  char took[32];
  std::snprintf(took, sizeof took, "%.1f", seconds);
  const std::string summary = "scrubbed " + std::to_string(totals.files) + " files, " +
                              std::to_string(totals.damaged) + " damaged, " +
                              std::to_string(totals.unverifiable) + " without a digest, " +
                              std::to_string(totals.stale) + " stale, " +
                              std::to_string(totals.bytes) + " bytes, " + took + " s";
  out << summary << "\n";
  if (totals.damaged > 0) {
    BACKUPD_LOG(kError) << "scrub: " << summary;
  } else {
    BACKUPD_LOG(kInfo) << "scrub: " << summary;
  }
  return totals.damaged > 0 ? 1 : 0;
}

}  // namespace

int RunScrubCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  bool help = false;
  Result<Args> a = Parse(args, &help);
  if (help) {
    out << kUsage;
    return 0;
  }
  if (!a.ok()) {
    err << "backupd scrub: " << a.status().message() << "\n" << kUsage;
    return 2;
  }
  return Run(*a, out, err);
}

}  // namespace backupd::daemon

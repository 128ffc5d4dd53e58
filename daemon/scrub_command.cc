// `backupd scrub ...` (root until the storage folder is open, then the worker user; a short-lived
// command): re-reads stored files and reports those whose bytes no longer match their digest.
#include "daemon/scrub_command.h"

#include <fcntl.h>
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
#include "daemon/log.h"
#include "daemon/storage_command.h"
#include "protocol/digest.h"
#include "worker/sys.h"
#include "worker/user_dir.h"
#include "worker/user_lock.h"

namespace backupd::daemon {
namespace {

constexpr char kUsage[] =
    "Usage: backupd scrub [-c FILE] [USER]   check every stored file of USER (default: of every\n"
    "                                        user) against its stored SHA-256; changes nothing\n";
constexpr size_t kReadChunk = 1 << 16;

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

// Hashes `file` and compares the bytes with its stored digest; `what` names it in the report.
void CheckFile(std::ostream& out, uint32_t user, const std::string& what, worker::OpenFile& file,
               Totals* totals) {
  ++totals->files;
  Result<protocol::Digest> actual = DigestOf(file.fd.get(), &totals->bytes);
  if (!actual.ok()) {
    ReportDamage(out, user, what, actual.status().message(), totals);
  } else if (file.digest && !protocol::SameDigest(*file.digest, *actual)) {
    ReportDamage(out, user, what,
                 "expected sha256 " + Hex(*file.digest) + ", actual " + Hex(*actual), totals);
  } else if (file.stale_digest) {
    ++totals->stale;
    out << "stale digest: user " << user << " " << EscapeUntrusted(what)
        << ": the file changed after its upload (size, mtime or inode), not checked\n";
  } else if (!file.digest) {
    ++totals->unverifiable;
  }
}

// Checks every file UserDir lists for `user`, then every old version in its histories: its walks,
// confined beneath the user's folder, never follow a symlink, so neither does scrub.
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
    if (!file.ok()) {
      ++totals->files;
      ReportDamage(out, user, stored.name, file.status().message(), totals);
      return Status::Ok();
    }
    CheckFile(out, user, stored.name, *file, totals);
    return Status::Ok();
  };
  auto unreadable = [&](const std::string& folder, const Status& why) {
    ReportDamage(out, user, folder + "/", "folder not read: " + why.message(), totals);
  };
  Status s = dir->List(worker::UserDir::ListOptions::kNamesOnly, visit, unreadable);
  if (!s.ok()) return s;
  // Old versions (docs/STORAGE.md, Versions) are stored files too, named with their number.
  auto old_version = [&](const std::string& name, uint64_t number, worker::OpenFile& file) {
    CheckFile(out, user, name + " version " + std::to_string(number), file, totals);
    return Status::Ok();
  };
  auto unreadable_version = [&](const std::string& what, const Status& why) {
    ReportDamage(out, user, what, "history not read: " + why.message(), totals);
  };
  return dir->ForEachOldVersion(old_version, unreadable_version);
}

int Run(const StorageArgs& a, std::ostream& out, std::ostream& err) {
  auto fail = [&err](const Status& s) {
    err << "backupd scrub: " << s.message() << "\n";
    return 2;
  };
  Result<Storage> storage = OpenStorageAsWorkerUser(a);
  if (!storage.ok()) return fail(storage.status());
  const auto start = std::chrono::steady_clock::now();
  Totals totals;
  for (uint32_t user : storage->users) {
    Status s = ScrubUser(storage->fd.get(), user, out, &totals);
    if (s.code() == Status::Code::kNotFound && a.user) {
      return fail(Status::NotFound("no user " + std::to_string(user) + ": nothing stored in " +
                                   storage->config.storage + "/" + std::to_string(user)));
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
  return RunStorageCommand("scrub", kUsage, args, out, err, Run);
}

}  // namespace backupd::daemon

// `backupd prune ...` (root until the storage folder is open, then the worker user; a short-lived
// command): retention over every history, with the workers' own version store.
#include "daemon/prune_command.h"

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/text.h"
#include "daemon/log.h"
#include "daemon/storage_command.h"
#include "worker/sys.h"
#include "worker/user_dir.h"
#include "worker/user_lock.h"
#include "worker/versions.h"

namespace backupd::daemon {
namespace {

constexpr char kUsage[] =
    "Usage: backupd prune [-c FILE] [USER]   remove the old versions of USER's files (default: of\n"
    "                                        every user) that keep_versions and keep_days no\n"
    "                                        longer keep; append-only users too\n";

int Run(const StorageArgs& a, std::ostream& out, std::ostream& err) {
  auto fail = [&err](const Status& s) {
    err << "backupd prune: " << s.message() << "\n";
    return 2;
  };
  Result<Storage> storage = OpenStorageAsWorkerUser(a);
  if (!storage.ok()) return fail(storage.status());
  worker::VersionPolicy retention;
  retention.keep_versions = storage->config.keep_versions;
  retention.keep_days = storage->config.keep_days;
  const auto start = std::chrono::steady_clock::now();
  const int64_t now = worker::NowNs();
  worker::Pruned total;
  uint64_t failed = 0;
  for (uint32_t user : storage->users) {
    Result<worker::UserDir> dir =
        worker::UserDir::Open(&worker::RealSys(), storage->fd.get(), user, false);
    if (!dir.ok() && dir.status().code() == Status::Code::kNotFound && a.user) {
      return fail(Status::NotFound("no user " + std::to_string(user) + ": nothing stored in " +
                                   storage->config.storage + "/" + std::to_string(user)));
    }
    if (!dir.ok()) return fail(dir.status());
    // A scrub or pruning of this user on any node of the storage finishes first.
    Result<worker::UserLock> lock =
        worker::UserLock::Take(&worker::RealSys(), dir->fd(), worker::UserLock::Wait::kYes);
    if (!lock.ok()) return fail(lock.status());
    worker::Pruned pruned;
    auto unreadable = [&](const std::string& what, const Status& why) {
      const std::string line = "not pruned: user " + std::to_string(user) + " " +
                               EscapeUntrusted(what) + ": " + why.message();
      out << line << "\n";
      BACKUPD_LOG(kError) << "prune: " << line;
      ++failed;
    };
    Status s = dir->Prune(retention, now, &pruned, unreadable);
    if (!s.ok()) return fail(s);
    if (pruned.versions > 0) {
      const std::string line = "user " + std::to_string(user) + ": pruned " +
                               std::to_string(pruned.versions) + " versions, " +
                               std::to_string(pruned.bytes) + " bytes";
      out << line << "\n";
      BACKUPD_LOG(kInfo) << "prune: " << line;
    }
    total.versions += pruned.versions;
    total.bytes += pruned.bytes;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  char took[32];
  std::snprintf(took, sizeof took, "%.1f", seconds);
  const std::string summary = "pruned " + std::to_string(total.versions) + " versions, " +
                              std::to_string(total.bytes) + " bytes, " + std::to_string(failed) +
                              " not pruned, " + took + " s";
  out << summary << "\n";
  BACKUPD_LOG(kInfo) << "prune: " << summary;
  return failed > 0 ? 1 : 0;
}

}  // namespace

int RunPruneCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  return RunStorageCommand("prune", kUsage, args, out, err, Run);
}

}  // namespace backupd::daemon

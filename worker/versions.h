// worker (unprivileged, chrooted) and `backupd prune`/`scrub` (as the worker user): the history of
// one stored name, old versions kept as plain files beside the current one (docs/STORAGE.md).
#ifndef BACKUPD_WORKER_VERSIONS_H_
#define BACKUPD_WORKER_VERSIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/unique_fd.h"
#include "worker/sys.h"
#include "worker/user_dir.h"

namespace backupd::worker {

// Nanoseconds since the epoch (CLOCK_REALTIME): what "now" is for retention by age.
int64_t NowNs();

// The folder `.backupd-versions-<hex SHA-256 of leaf>` beside the stored file `leaf`. It holds
// every version of the name that is kept, the current file's included, each a hard link `<N>`
// (N decimal, from 1, only growing) with its digest record (on its inode, or a sidecar as UserDir
// names it), an empty `<N>.stored` whose mtime is when the version was stored, an empty
// `<N>.deleted` when the name was deleted after that version, and `name`, the leaf itself (the
// folder's name is a hash).
// Numbers are allocated by link(2) failing with EEXIST, so uploads racing on one name through
// two nodes both get a number and neither is lost.
class History {
 public:
  // The history of `leaf` in the folder `folder` (not owned: it must outlive the History);
  // NotFound when there is none and !create.
  static Result<History> Open(Sys* sys, int folder, const std::string& leaf, bool create);
  History(History&&) noexcept = default;
  History& operator=(History&&) = delete;
  History(const History&) = delete;

  // Every version, ascending. A current file that is not in the history (stored while history
  // was off) comes last, numbered one above the highest.
  Result<std::vector<FileVersion>> List();
  // Before an upload's rename: puts the temp file `temp` (and its sidecar temp `sidecar_temp`,
  // "" for none) of the folder into the history under the next number, adopting the current
  // file first if it is not in yet. Nothing is left in the history if this fails.
  Status AddUpload(const std::string& temp, const std::string& sidecar_temp);
  // After the rename: makes the name hold the highest version again if a racing upload renamed
  // an older one in after it.
  Status Settle();
  // Before a delete unlinks the name: marks the current file's version deleted (adopting it
  // first if needed).
  Status MarkDeleted();
  // Keeps the current file, the newest `keep_versions` versions and those stored less than
  // `keep_days` days before `now_ns`; the folder goes when no version is left in it.
  Status Prune(uint32_t keep_versions, uint32_t keep_days, int64_t now_ns, Pruned* pruned);
  // Removes every version and the folder itself (a delete while history is off).
  Status RemoveAll();
  // Version `number` for reading; NotFound if it is not kept.
  Result<OpenFile> OpenVersion(uint64_t number);

  // The folder's name for `leaf`, and the leaf a history folder was made for ("" if unreadable).
  static std::string FolderName(std::string_view leaf);
  static bool IsFolderName(std::string_view entry);
  static std::string LeafIn(Sys* sys, int history_fd);

 private:
  History(Sys* sys, int folder, UniqueFd dir, std::string leaf)
      : sys_(sys), folder_(folder), dir_(std::move(dir)), leaf_(std::move(leaf)) {}
  // The version numbers kept, ascending, and which are marked deleted.
  Result<std::vector<uint64_t>> Numbers();
  // Links `from` (in folder_) into the history under the next free number; its number.
  Result<uint64_t> LinkIn(const std::string& from, const std::string& sidecar);
  // The number of the version that is the current file's inode; 0 when none is.
  Result<uint64_t> CurrentNumber(const std::vector<uint64_t>& numbers, bool* exists);
  void RemoveVersion(uint64_t number);

  Sys* sys_;
  int folder_;
  UniqueFd dir_;
  std::string leaf_;
};

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_VERSIONS_H_

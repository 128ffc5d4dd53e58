// worker session child (unprivileged, confined to one user's folder): the files a connection's
// uploads replaced or its deletes removed, held until the client is no longer waiting.
#ifndef BACKUPD_WORKER_UNLINKED_FILES_H_
#define BACKUPD_WORKER_UNLINKED_FILES_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/unique_fd.h"
#include "worker/user_dir.h"

namespace backupd::worker {

// Closing the last descriptor of an unlinked file frees its inode and blocks: for a small upload
// that replaces a file, the dearest step after making the new one. A v2 connection holds the
// files until its client is quiet (session.cc) or holds more than a cap allows, so that a client
// pipelining a run of requests hears its answers before the server spends time on frees.
// The caps bound what holding costs: descriptors (max_files) and space the disk does not get back
// yet (kMaxBytes). Destroying it closes what it holds.
class UnlinkedFiles {
 public:
  static constexpr uint64_t kMaxBytes = uint64_t{64} << 20;

  bool empty() const { return files_.empty(); }
  size_t size() const { return files_.size(); }
  // Takes `file` (nothing if it holds no descriptor); past max_files files or kMaxBytes, closes
  // every file held.
  void Hold(Unlinked file, size_t max_files);
  // Closes every file held.
  void Release();

 private:
  std::vector<UniqueFd> files_;
  uint64_t bytes_ = 0;
};

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_UNLINKED_FILES_H_

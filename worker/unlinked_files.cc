// worker session child (unprivileged, confined to one user's folder): unlinked files held until
// the client no longer waits on the server.
#include "worker/unlinked_files.h"

#include <utility>

namespace backupd::worker {

void UnlinkedFiles::Hold(Unlinked file, size_t max_files) {
  if (!file.fd.valid()) return;
  files_.push_back(std::move(file.fd));
  bytes_ += file.bytes;
  if (files_.size() > max_files || bytes_ > kMaxBytes) Release();
}

void UnlinkedFiles::Release() {
  files_.clear();
  bytes_ = 0;
}

}  // namespace backupd::worker

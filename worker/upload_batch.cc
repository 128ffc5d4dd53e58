// worker session child (unprivileged, confined to one user's folder): a batch of pipelined v2
// uploads made durable with one fsync per distinct folder before any of them is answered.
#include "worker/upload_batch.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <utility>

namespace backupd::worker {

void UploadBatch::Add(Upload upload, std::string name, uint64_t size) {
  pending_.push_back({std::move(upload), std::move(name), std::nullopt});
  bytes_ += size;
}

std::vector<UploadBatch::Done> UploadBatch::Commit(Sys* sys) {
  struct Synced {
    dev_t dev;
    ino_t ino;
    Status status;
  };
  std::vector<Synced> synced;  // a few folders at most: a list beats a map
  std::vector<Done> done;
  done.reserve(pending_.size());
  for (Pending& p : pending_) {
    struct stat st {};
    const bool known = sys->FstatAt(p.upload.folder_fd(), "", &st, AT_EMPTY_PATH) == 0;
    const Synced* same = nullptr;
    for (const Synced& s : synced) {
      if (known && s.dev == st.st_dev && s.ino == st.st_ino) same = &s;
    }
    Status status = same != nullptr ? same->status : p.upload.SyncFolder();
    if (same == nullptr && known) synced.push_back({st.st_dev, st.st_ino, status});
    if (status.ok()) p.upload.Finish();
    done.push_back({std::move(p.name), std::move(status), std::move(p.record)});
  }
  pending_.clear();
  bytes_ = 0;
  return done;
}

}  // namespace backupd::worker

// worker session child (unprivileged, confined to one user's folder): a batch of pipelined v2
// uploads made durable together — one syncfs, one fsync per distinct folder — before any of them
// is answered.
#include "worker/upload_batch.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <cerrno>

#include <utility>

namespace backupd::worker {

void UploadBatch::Add(Upload upload, std::string name, uint64_t size) {
  pending_.push_back({std::move(upload), std::move(name), std::nullopt});
  bytes_ += size;
}

Status UploadBatch::OpenRecord(UserDir& dir) {
  // With nothing pending, whatever the record names is gone (stored or refused and unlinked): a
  // fresh one keeps it to one batch's entries.
  if (pending_.empty()) record_.reset();
  return record_ ? Status::Ok() : dir.StartBatch(&record_);
}

namespace {

// Whether syncfs(2) on `fd`'s file system waits until its files' data and metadata are on the
// disk, as fsync of each would. Not so for FUSE or network file systems (their syncfs may not
// reach the server), which then get an fsync per file.
bool SyncfsIsDurable(Sys* sys, int fd) {
  struct statfs st {};
  if (sys->Fstatfs(fd, &st) != 0) return false;
  switch (st.f_type) {
    case EXT4_SUPER_MAGIC:  // also ext2 and ext3
    case XFS_SUPER_MAGIC:
    case BTRFS_SUPER_MAGIC:
    case TMPFS_MAGIC:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::vector<UploadBatch::Done> UploadBatch::Commit(Sys* sys) {
  // A batch is made durable in three rounds, so that no file is renamed in before its bytes are
  // durable and none is answered before its rename is: the temp files and sidecars synced (one
  // syncfs for all where that is durable: an fsync each costs a disk flush each), the renames,
  // then one fsync per distinct folder (told apart by device and inode: every upload opened its
  // own descriptor of it).
  const bool whole =
      pending_.size() > 1 && SyncfsIsDurable(sys, pending_.front().upload.folder_fd());
  Status synced = Status::Ok();
  if (whole && sys->Syncfs(pending_.front().upload.folder_fd()) != 0) {
    synced = Status::FromErrno(errno, "syncfs");
  }
  std::vector<Done> done;
  done.reserve(pending_.size());
  for (Pending& p : pending_) {
    Status status = synced;
    if (status.ok()) status = p.upload.Sync(whole);
    if (status.ok()) status = p.upload.Publish();
    done.push_back(
        {std::move(p.name), std::move(status), std::move(p.record), p.upload.TakeReplaced()});
  }
  struct Synced {
    dev_t dev;
    ino_t ino;
    Status status;
  };
  std::vector<Synced> folders;  // a few at most: a list beats a map
  for (size_t i = 0; i < pending_.size(); ++i) {
    if (!done[i].status.ok()) continue;
    Upload& upload = pending_[i].upload;
    struct stat st {};
    const bool known = sys->FstatAt(upload.folder_fd(), "", &st, AT_EMPTY_PATH) == 0;
    const Synced* same = nullptr;
    for (const Synced& f : folders) {
      if (known && f.dev == st.st_dev && f.ino == st.st_ino) same = &f;
    }
    done[i].status = same != nullptr ? same->status : upload.SyncFolder();
    if (same == nullptr && known) folders.push_back({st.st_dev, st.st_ino, done[i].status});
    if (done[i].status.ok()) upload.Finish();
  }
  pending_.clear();
  bytes_ = 0;
  record_.reset();
  return done;
}

}  // namespace backupd::worker

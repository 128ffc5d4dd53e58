// worker session child (unprivileged, confined to one user's folder): a v2 connection's uploads
// stored but not yet answered, made durable together — one fsync per distinct folder for the
// whole batch — before their answers go out, in the order the requests came.
#ifndef BACKUPD_WORKER_UPLOAD_BATCH_H_
#define BACKUPD_WORKER_UPLOAD_BATCH_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "ipc/report.h"
#include "worker/sys.h"
#include "worker/user_dir.h"

namespace backupd::worker {

// Each Upload in it is sealed and published (its bytes and sidecar synced, renamed in); what it
// still owes before the client may hear of it is its folder's fsync. Dropping a batch unanswered
// (the connection ended) leaves its files in place, their folders perhaps unsynced: nobody was
// told they were stored.
class UploadBatch {
 public:
  // What may wait for one folder sync: past either, the batch is committed and answered.
  static constexpr size_t kMaxUploads = 64;
  static constexpr uint64_t kMaxBytes = uint64_t{4} << 20;

  // One upload's outcome. `record` is its request's access-log record when that request was
  // measured before the batch was committed (a later request commits it), else empty.
  struct Done {
    std::string name;
    Status status;
    std::optional<ipc::Report> record;
  };

  bool empty() const { return pending_.empty(); }
  bool full() const { return pending_.size() >= kMaxUploads || bytes_ >= kMaxBytes; }
  // A sealed and published upload of `size` bytes, to be answered as `name`.
  void Add(Upload upload, std::string name, uint64_t size);
  // The access-log record of the upload added last, whose answer is left to a later request.
  void SetLastRecord(const ipc::Report& record) { pending_.back().record = record; }
  // Syncs each distinct folder once (told apart by device and inode: every upload opened its
  // own descriptor of it) and finishes the uploads whose folder synced; each one's outcome, in
  // the order they were added. Leaves the batch empty.
  std::vector<Done> Commit(Sys* sys);

 private:
  struct Pending {
    Upload upload;
    std::string name;
    std::optional<ipc::Report> record;
  };
  std::vector<Pending> pending_;
  uint64_t bytes_ = 0;
};

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_UPLOAD_BATCH_H_

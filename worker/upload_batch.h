// worker session child (unprivileged, confined to one user's folder): a v2 connection's uploads
// stored but not yet answered, made durable together — one syncfs and one fsync per distinct
// folder for the whole batch — before their answers go out, in the order the requests came.
#ifndef BACKUPD_WORKER_UPLOAD_BATCH_H_
#define BACKUPD_WORKER_UPLOAD_BATCH_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/unique_fd.h"
#include "ipc/report.h"
#include "worker/sys.h"
#include "worker/user_dir.h"

namespace backupd::worker {

// Each Upload in it is staged: its bytes written to a temp file (its digest on it or in a sidecar),
// digest checked, nothing synced or renamed. Dropping a batch uncommitted (the connection ended)
// unlinks them all: nobody was told they were stored.
class UploadBatch {
 public:
  // What may wait for one commit: past either, the batch is committed and answered.
  static constexpr size_t kMaxUploads = 64;
  static constexpr uint64_t kMaxBytes = uint64_t{4} << 20;

  // One upload's outcome. `record` is its request's access-log record when that request was
  // measured before the batch was committed (a later request commits it), else empty.
  // `replaced` is the file it replaced (Upload::TakeReplaced), to be dropped after the answers.
  struct Done {
    std::string name;
    Status status;
    std::optional<ipc::Report> record;
    UniqueFd replaced;
  };

  bool empty() const { return pending_.empty(); }
  // Makes sure of the record naming the temp files of the batch's uploads
  // (UploadRecord::CreateBatch), made in `dir` for the first upload of a batch and removed by
  // Commit: one record per batch, not one per upload. Then record() is it, for BeginUpload.
  Status OpenRecord(UserDir& dir);
  UploadRecord* record() { return record_ ? &*record_ : nullptr; }
  bool full() const { return pending_.size() >= kMaxUploads || bytes_ >= kMaxBytes; }
  // A staged upload of `size` bytes (Upload::Stage), to be answered as `name`.
  void Add(Upload upload, std::string name, uint64_t size);
  // The access-log record of the upload added last, whose answer is left to a later request.
  void SetLastRecord(const ipc::Report& record) { pending_.back().record = record; }
  // Makes the uploads durable (synced, renamed in, each distinct folder synced once) and
  // finishes them; each one's outcome, in the order they were added. Leaves the batch empty.
  std::vector<Done> Commit(Sys* sys);

 private:
  struct Pending {
    Upload upload;
    std::string name;
    std::optional<ipc::Report> record;
  };
  // Declared before the uploads: removed only after their temp files are gone.
  std::optional<UploadRecord> record_;
  std::vector<Pending> pending_;
  uint64_t bytes_ = 0;
};

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_UPLOAD_BATCH_H_

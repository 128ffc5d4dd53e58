// client (the user's privilege): one backup run — the walk's files compared with the server's v2
// listing, the changed ones uploaded over one pipelined connection, the outcome counted.
#ifndef BACKUPD_CLIENT_BACKUP_RUN_H_
#define BACKUPD_CLIENT_BACKUP_RUN_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "client/client_v2.h"
#include "client/listing_retry.h"
#include "client/tree_walk.h"
#include "protocol/wire_v2.h"

namespace backupd::client {

// Of files: scanned = sent + unchanged + failed, every file found, and every entry the walk could
// not read and folder the server could not make (a folder made or already kept is not counted).
struct RunCounts {
  uint64_t scanned = 0;
  uint64_t sent = 0;
  uint64_t unchanged = 0;
  uint64_t failed = 0;
  uint64_t bytes_sent = 0;  // file bytes of the files stored
};

// "scanned 3, sent 1, unchanged 2, failed 0, bytes sent 12, 0.05 s": seconds with two decimals.
std::string FormatSummary(const RunCounts& counts, std::chrono::nanoseconds elapsed);

// The SHA-256 of the file at `path`; an error says which step failed ("open: ..."), not the path.
Result<protocol::Digest> HashFile(const std::string& path);

// Which files a run sends: the changed ones (after one LIST_ATTRS), the changed ones with the
// content of same-size same-mtime files compared too (as rsync's --checksum), or every one (as
// rsync's --ignore-times; no list is asked for).
enum class Compare { kChanged, kChecksum, kAll };

// Which walked entries need sending, given the server's attribute listing (sorted by name, as v2
// sends it). A file goes when the server lacks it or holds another size, mtime or mode (nothing
// is hashed); with kChecksum also when, all three the same, its SHA-256 differs from the stored
// one, which it does when none is stored. A folder goes (MAKE_FOLDER) unless the server keeps it
// with the same mode and mtime. Every upload carries its attributes.
struct RunPlan {
  std::vector<Upload> uploads;
  std::vector<uint64_t> sizes;        // of each upload, as walked (0 for a folder)
  uint64_t unchanged = 0;             // files
  std::vector<WalkFailure> failures;  // files that could not be hashed
};
RunPlan PlanRun(const std::vector<WalkEntry>& entries,
                const std::vector<protocol::v2::AttrEntry>& stored, Compare compare);

// The same for a server from before issue 12, which lists files only (LIST, op 202) and stores
// them only with op 100: a file goes when the server lacks it or holds another size or SHA-256
// (the file is hashed when the sizes match: such a server's mtime is when it stored the file),
// every file when `stored` is null; no upload carries attributes and no folder goes.
RunPlan PlanRunForOldServer(const std::vector<WalkEntry>& entries,
                            const std::vector<protocol::v2::ListEntry>* stored);

struct RunHooks {
  // Each file that failed, with why (walk, hash, or a local error before sending).
  std::function<void(const std::string& path, const std::string& why)> failed;
  // Each upload's outcome (a file or a folder), as ClientV2::Backup reports it; returns true when
  // the server stored it.
  std::function<bool(const Upload& upload, const Result<ReplyV2>& outcome)> uploaded;
  // Progress: files done of all to send, payload bytes done of all to send (folders not counted).
  std::function<void(uint64_t files, uint64_t files_total, uint64_t bytes, uint64_t bytes_total)>
      progress;
  // How the run went on after a setback: a listing asked for again or given up on, a server that
  // predates issue 12.
  std::function<void(const std::string& note)> note;
};

// Runs the backup of `walk` over `client` (logged in): one LIST_ATTRS (unless kAll), then one
// pipelined ClientV2::Backup of the changed files and folders. A listing cut off is asked for
// again (ListRetrying); when none arrives whole, every file is sent, as with kAll. A server that
// answers 1017 (unknown op) to LIST_ATTRS, BACKUP_ATTRS or MAKE_FOLDER has closed the connection
// and predates issue 12: the run goes on, on a connection from `reconnect`, as
// PlanRunForOldServer says. Not OK when nothing could be sent: no connection for it, a listing
// lost otherwise than by a close (a timeout, a malformed answer), or one answered with an error
// status other than 1002 (nothing yet) or 1017.
Result<RunCounts> RunBackup(ClientV2& client, const Reconnect& reconnect, const WalkResult& walk,
                            const RunHooks& hooks, Compare compare = Compare::kChanged);

}  // namespace backupd::client

#endif  // BACKUPD_CLIENT_BACKUP_RUN_H_

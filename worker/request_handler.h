// worker (unprivileged, chrooted): reads one request off a connection, does it, answers it.
#ifndef BACKUPD_WORKER_REQUEST_HANDLER_H_
#define BACKUPD_WORKER_REQUEST_HANDLER_H_

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "ipc/report.h"
#include "worker/connection.h"
#include "worker/folder_source.h"
#include "worker/pace.h"
#include "worker/sys.h"
#include "worker/user_dir.h"

namespace backupd::worker {

// What serving one request needs besides the connection.
struct HandlerContext {
  Sys* sys = nullptr;
  int storage_fd = -1;  // O_DIRECTORY descriptor of the storage root (v1 only)
  // Where v1 requests get their user's folder (the login monitor, which applies legacy_v1); when
  // null, beneath storage_fd.
  FolderSource* folders = nullptr;
  // Set by the session once a v1 connection has its user's folder (handed out by `folders` for
  // the user of one of its requests): requests are served beneath folder_fd, and one naming
  // another user gets 1003. `folder_refused`, when not ok, answers the request at hand instead:
  // NotFound (the user has no folder yet) or why the folder was refused.
  int folder_fd = -1;
  uint32_t folder_user = 0;
  Status folder_refused;
  uint64_t max_file_size = 0;
  // How slow a payload may move once the header and name are in (grace: header_timeout).
  MinRate min_rate;
  // A list of more files is refused; the worker sets the config's max_files_listed.
  uint64_t max_files_listed = UINT64_MAX;
  // The config's keep_versions and keep_days, and its append_only_users (VersionPolicyFor).
  VersionPolicy versions;
  std::vector<uint32_t> append_only_users;
  std::mt19937_64* rng = nullptr;
  // One line for the daemon's log at warning level (workers open no log file); unset: dropped.
  std::function<void(std::string_view)> warn;
};

// The outcome of one request: the access record to report, and whether the connection can carry
// another request (it cannot after a malformed request or a broken transfer).
struct Handled {
  ipc::Report record;
  bool keep_open = false;
  // Set when a deadline cut the client off (header_timeout, min_rate, request_timeout): what it
  // was doing, for the one warning a staller gets.
  std::string stalled;
  // v2 group commit (worker/upload_batch.h): this request's answer is left to a later one, which
  // reports it; and the records of earlier requests answered in this call, before this one's.
  bool deferred = false;
  std::vector<ipc::Report> earlier;
};

// Serves the request whose first byte is waiting on `conn`: its header and name must be in by
// `deadlines.header`, its payload must keep up with ctx.min_rate, and the whole request must
// finish before `deadlines.request`. Never throws; every failure the client can still hear about
// gets a status.
Handled HandleRequest(Connection& conn, const HandlerContext& ctx,
                      const RequestDeadlines& deadlines);

// What `user_id`'s uploads and deletes do with history.
VersionPolicy VersionPolicyFor(const HandlerContext& ctx, uint32_t user_id);

// ctx.warn with the user named first, or nothing when ctx.warn is unset.
void WarnAboutUser(const HandlerContext& ctx, uint32_t user_id, std::string_view line);

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_REQUEST_HANDLER_H_

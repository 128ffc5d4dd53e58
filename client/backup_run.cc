// client (the user's privilege): deciding what a run sends, and sending it on one connection.
#include "client/backup_run.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>

#include "base/unique_fd.h"
#include "protocol/digest.h"

namespace backupd::client {
namespace v2 = protocol::v2;

std::string FormatSummary(const RunCounts& c, std::chrono::nanoseconds elapsed) {
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "scanned %" PRIu64 ", sent %" PRIu64 ", unchanged %" PRIu64 ", failed %" PRIu64
                ", bytes sent %" PRIu64 ", %.2f s",
                c.scanned, c.sent, c.unchanged, c.failed, c.bytes_sent,
                std::chrono::duration<double>(elapsed).count());
  return buf;
}

Result<protocol::Digest> HashFile(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) return Status::FromErrno(errno, "open");
  protocol::Sha256 sha;
  std::vector<uint8_t> buf(1024 * 1024);
  for (;;) {
    ssize_t n = read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, "read");
    if (n == 0) return sha.Finish();
    sha.Update(buf.data(), static_cast<size_t>(n));
  }
}

namespace {

// The server's entry named `name`, or null.
const v2::AttrEntry* Find(const std::vector<v2::AttrEntry>& stored, const std::string& name) {
  auto it =
      std::lower_bound(stored.begin(), stored.end(), name,
                       [](const v2::AttrEntry& s, const std::string& n) { return s.name < n; });
  return it != stored.end() && it->name == name ? &*it : nullptr;
}

}  // namespace

RunPlan PlanRun(const std::vector<WalkEntry>& entries, const std::vector<v2::AttrEntry>& stored,
                Compare compare) {
  RunPlan plan;
  for (const WalkEntry& e : entries) {
    const bool folder = e.kind == WalkEntry::Kind::kFolder;
    const v2::EntryKind kind = folder ? v2::EntryKind::kFolder : v2::EntryKind::kFile;
    const v2::AttrEntry* s = Find(stored, e.name);
    bool changed = s == nullptr || s->kind != kind || s->attributes.mode != e.mode ||
                   s->attributes.mtime_ns != e.mtime_ns || s->size != e.size;
    if (!changed && !folder && compare == Compare::kChecksum) {
      changed = s->sha256 == protocol::Digest{};
      if (!changed) {
        Result<protocol::Digest> local = HashFile(e.path);
        if (!local.ok()) {
          plan.failures.push_back({e.path, local.status().message()});
          continue;
        }
        changed = *local != s->sha256;
      }
    }
    if (!changed) {
      if (!folder) ++plan.unchanged;
      continue;
    }
    plan.uploads.push_back({e.path, e.name, v2::Attributes{e.mode, e.mtime_ns}, folder});
    plan.sizes.push_back(e.size);
  }
  return plan;
}

Result<RunCounts> RunBackup(ClientV2& client, const WalkResult& walk, const RunHooks& hooks,
                            Compare compare) {
  std::vector<v2::AttrEntry> stored;
  if (compare != Compare::kAll) {
    Result<ListAttrsReplyV2> listed = client.ListAttrs();
    if (!listed.ok()) return listed.status();
    const uint16_t status = listed->reply.status;
    if (status != static_cast<uint16_t>(v2::ResponseCode::kListOk) &&
        status != static_cast<uint16_t>(v2::ResponseCode::kNoFiles)) {
      return Status::IoError("list-attrs: " + listed->reply.message + " (" +
                             std::to_string(status) + ")");
    }
    stored = std::move(listed->entries);
  }
  RunCounts counts;
  for (const WalkFailure& f : walk.failures) hooks.failed(f.path, f.why);
  counts.failed = walk.failures.size();
  RunPlan plan = PlanRun(walk.entries, stored, compare);
  for (const WalkFailure& f : plan.failures) hooks.failed(f.path, f.why);
  counts.failed += plan.failures.size();
  counts.unchanged = plan.unchanged;
  const auto files_total = static_cast<uint64_t>(std::count_if(
      plan.uploads.begin(), plan.uploads.end(), [](const Upload& u) { return !u.folder; }));
  counts.scanned = counts.failed + counts.unchanged + files_total;

  uint64_t bytes_total = 0;
  for (uint64_t size : plan.sizes) bytes_total += size;
  uint64_t files_done = 0;
  uint64_t bytes_finished = 0;  // of the files sent before the one in flight
  size_t in_flight = plan.uploads.size();
  size_t reported = 0;
  client.Backup(
      plan.uploads,
      [&](size_t i, const Result<ReplyV2>& outcome) {
        reported = i + 1;
        const bool file = !plan.uploads[i].folder;
        if (file) ++files_done;
        if (hooks.uploaded(plan.uploads[i], outcome)) {
          counts.sent += file ? 1 : 0;
          counts.bytes_sent += plan.sizes[i];
        } else {
          // A folder that was not made counts as scanned and failed, as the walk's failures do.
          counts.scanned += file ? 0 : 1;
          ++counts.failed;
        }
      },
      [&](size_t i, uint64_t done, uint64_t) {
        if (i != in_flight) {
          if (in_flight < plan.uploads.size()) bytes_finished += plan.sizes[in_flight];
          in_flight = i;
        }
        if (hooks.progress) {
          hooks.progress(files_done, files_total, bytes_finished + done, bytes_total);
        }
      });
  // After a lost connection the files not reported were not stored.
  for (size_t i = reported; i < plan.uploads.size(); ++i) {
    hooks.failed(plan.uploads[i].path, "not sent: the connection was lost");
    counts.scanned += plan.uploads[i].folder ? 1 : 0;
    ++counts.failed;
  }
  return counts;
}

}  // namespace backupd::client

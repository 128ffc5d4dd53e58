// client (the user's privilege): deciding what a run sends, and sending it on one connection.
#include "client/backup_run.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <optional>
#include <set>
#include <string_view>

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

uint16_t Code(v2::ResponseCode c) { return static_cast<uint16_t>(c); }

// The server's entry named `name` in a listing sorted by name, or null.
template <typename Entry>
const Entry* Find(const std::vector<Entry>& stored, const std::string& name) {
  auto it = std::lower_bound(stored.begin(), stored.end(), name,
                             [](const Entry& s, const std::string& n) { return s.name < n; });
  return it != stored.end() && it->name == name ? &*it : nullptr;
}

// Whether the file at `path` holds other bytes than those whose SHA-256 the server keeps (zeros:
// none kept, so it may).
Result<bool> ContentDiffers(const std::string& path, const protocol::Digest& stored) {
  if (stored == protocol::Digest{}) return true;
  Result<protocol::Digest> local = HashFile(path);
  if (!local.ok()) return local.status();
  return *local != stored;
}

// Puts `e` in `plan`: sent when `changed` or, given the digest the server keeps, when the file's
// content differs from it (the file is hashed); unchanged otherwise.
void Add(RunPlan& plan, const WalkEntry& e, bool changed, const protocol::Digest* stored,
         const std::optional<v2::Attributes>& attributes) {
  if (!changed && stored != nullptr) {
    Result<bool> differs = ContentDiffers(e.path, *stored);
    if (!differs.ok()) {
      plan.failures.push_back({e.path, differs.status().message()});
      return;
    }
    changed = *differs;
  }
  const bool folder = e.kind == WalkEntry::Kind::kFolder;
  if (!changed) {
    if (!folder) ++plan.unchanged;
    return;
  }
  plan.uploads.push_back({e.path, e.name, attributes, folder});
  plan.sizes.push_back(e.size);
}

// The uploads of `plan` from `from` on as a server before issue 12 takes them: files, by op 100.
RunPlan WithoutAttributes(const RunPlan& plan, size_t from) {
  RunPlan out;
  for (size_t i = from; i < plan.uploads.size(); ++i) {
    if (plan.uploads[i].folder) continue;
    out.uploads.push_back({plan.uploads[i].path, plan.uploads[i].name});
    out.sizes.push_back(plan.sizes[i]);
  }
  return out;
}

// The uploads of `plan` from `from` on, as they are.
RunPlan From(const RunPlan& plan, size_t from) {
  RunPlan out;
  out.uploads.assign(plan.uploads.begin() + static_cast<std::ptrdiff_t>(from), plan.uploads.end());
  out.sizes.assign(plan.sizes.begin() + static_cast<std::ptrdiff_t>(from), plan.sizes.end());
  return out;
}

// The folders of `entries` with no entry below them: what a server without MAKE_FOLDER loses.
size_t EmptyFolders(const std::vector<WalkEntry>& entries) {
  std::set<std::string_view> parents;
  for (const WalkEntry& e : entries) {
    const size_t slash = e.name.rfind('/');
    if (slash != std::string::npos) parents.insert(std::string_view(e.name).substr(0, slash));
  }
  return static_cast<size_t>(std::count_if(entries.begin(), entries.end(), [&](const WalkEntry& e) {
    return e.kind == WalkEntry::Kind::kFolder && parents.count(e.name) == 0;
  }));
}

// The one note for a server that answered 1017 to `op`, an addition of issue 12.
std::string OldServerNote(v2::Op op, const std::vector<WalkEntry>& entries) {
  const auto number = static_cast<uint8_t>(op);
  std::string note = std::string("the server does not know ") + v2::OpName(number) + " (op " +
                     std::to_string(number) +
                     ", answered 1017): it predates protocol v2's additions of issue 12; files "
                     "go without their mode and modification time";
  if (op == v2::Op::kListAttrs) note += ", compared by size and SHA-256";
  const size_t empty = EmptyFolders(entries);
  if (empty > 0) note += "; " + std::to_string(empty) + " empty folder(s) not kept";
  return note;
}

// An answer to a listing that a run can go on from: 211, or 1002 (nothing stored yet).
Status CheckListed(const ReplyV2& reply, const std::string& what) {
  if (reply.status == Code(v2::ResponseCode::kListOk) ||
      reply.status == Code(v2::ResponseCode::kNoFiles)) {
    return Status::Ok();
  }
  return Status::IoError(what + ": " + reply.message + " (" + std::to_string(reply.status) + ")");
}

// After `tries` a listing is still not whole (`why`): the run goes on without it, sending every
// file, on a new connection.
Status GoOnWithoutListing(int tries, const Status& why, const Reconnect& reconnect,
                          const RunHooks& hooks) {
  Status st = reconnect();
  if (!st.ok()) return st;
  hooks.note("no whole list of what is stored after " + std::to_string(tries) + " tries (" +
             why.ToString() + "): sending every file, as --full does");
  return Status::Ok();
}

// What the run sends: PlanRun after one LIST_ATTRS, or PlanRunForOldServer after a LIST.
Result<RunPlan> Plan(ClientV2& client, const Reconnect& reconnect,
                     const std::vector<WalkEntry>& entries, const RunHooks& hooks,
                     Compare compare) {
  if (compare == Compare::kAll) return PlanRun(entries, {}, compare);
  int tries = 1;
  const auto retrying = [&](const Status& why) {
    ++tries;
    hooks.note("the list of what is stored did not arrive whole (" + why.ToString() +
               "; files changed while it was sent?): asking again");
  };
  Result<ListAttrsReplyV2> listed = ListRetrying(client, reconnect, &ClientV2::ListAttrs, retrying);
  if (!listed.ok()) {
    if (!CutOff(listed.status(), client)) return listed.status();
    Status st = GoOnWithoutListing(tries, listed.status(), reconnect, hooks);
    if (!st.ok()) return st;
    return PlanRun(entries, {}, Compare::kAll);
  }
  if (listed->reply.status != Code(v2::ResponseCode::kUnsupported)) {
    Status st = CheckListed(listed->reply, "list-attrs");
    if (!st.ok()) return st;
    return PlanRun(entries, listed->entries, compare);
  }
  hooks.note(OldServerNote(v2::Op::kListAttrs, entries));
  Status st = reconnect();
  if (!st.ok()) return st;
  tries = 1;
  Result<ListReplyV2> files = ListRetrying(client, reconnect, &ClientV2::List, retrying);
  if (!files.ok()) {
    if (!CutOff(files.status(), client)) return files.status();
    st = GoOnWithoutListing(tries, files.status(), reconnect, hooks);
    if (!st.ok()) return st;
    return PlanRunForOldServer(entries, nullptr);
  }
  st = CheckListed(files->reply, "list");
  if (!st.ok()) return st;
  return PlanRunForOldServer(entries, &files->entries);
}

}  // namespace

RunPlan PlanRun(const std::vector<WalkEntry>& entries, const std::vector<v2::AttrEntry>& stored,
                Compare compare) {
  RunPlan plan;
  for (const WalkEntry& e : entries) {
    const bool folder = e.kind == WalkEntry::Kind::kFolder;
    const v2::EntryKind kind = folder ? v2::EntryKind::kFolder : v2::EntryKind::kFile;
    const v2::AttrEntry* s = Find(stored, e.name);
    const bool changed = s == nullptr || s->kind != kind || s->attributes.mode != e.mode ||
                         s->attributes.mtime_ns != e.mtime_ns || s->size != e.size;
    const bool hash = !changed && !folder && compare == Compare::kChecksum;
    Add(plan, e, changed, hash ? &s->sha256 : nullptr, v2::Attributes{e.mode, e.mtime_ns});
  }
  return plan;
}

RunPlan PlanRunForOldServer(const std::vector<WalkEntry>& entries,
                            const std::vector<v2::ListEntry>* stored) {
  if (stored == nullptr) return WithoutAttributes(PlanRun(entries, {}, Compare::kAll), 0);
  RunPlan plan;
  for (const WalkEntry& e : entries) {
    if (e.kind == WalkEntry::Kind::kFolder) continue;
    const v2::ListEntry* s = Find(*stored, e.name);
    const bool changed = s == nullptr || s->size != e.size;
    Add(plan, e, changed, changed ? nullptr : &s->sha256, std::nullopt);
  }
  return plan;
}

Result<RunCounts> RunBackup(ClientV2& client, const Reconnect& reconnect, const WalkResult& walk,
                            const RunHooks& hooks, Compare compare) {
  Result<RunPlan> planned = Plan(client, reconnect, walk.entries, hooks, compare);
  if (!planned.ok()) return planned.status();
  RunPlan plan = std::move(*planned);
  RunCounts counts;
  for (const WalkFailure& f : walk.failures) hooks.failed(f.path, f.why);
  counts.failed = walk.failures.size();
  for (const WalkFailure& f : plan.failures) hooks.failed(f.path, f.why);
  counts.failed += plan.failures.size();
  counts.unchanged = plan.unchanged;
  const auto files_total = static_cast<uint64_t>(std::count_if(
      plan.uploads.begin(), plan.uploads.end(), [](const Upload& u) { return !u.folder; }));
  counts.scanned = counts.failed + counts.unchanged + files_total;

  uint64_t bytes_total = 0;
  for (uint64_t size : plan.sizes) bytes_total += size;
  uint64_t files_done = 0;
  uint64_t bytes_answered = 0;  // of the uploads whose outcome is known
  uint64_t bytes_finished = 0;  // of the files sent before the one in flight
  size_t reported = 0;
  std::string not_sent = "the connection was lost";
  // A server ends a connection between requests when a reload retires its worker (backupd(8),
  // SIGHUP): the upload it did not answer, and what follows, go again on a new connection, a few
  // times per run. Sending an upload twice stores the same bytes twice, nothing worse.
  constexpr int kMaxReconnects = 3;
  int reconnects = 0;
  for (;;) {
    constexpr size_t kNone = SIZE_MAX;
    size_t unknown_op = kNone;  // the upload a server before issue 12 answered 1017
    size_t lost_at = kNone;     // the first upload whose connection ended before its answer
    size_t in_flight = plan.uploads.size();
    reported = 0;
    client.Backup(
        plan.uploads,
        [&](size_t i, const Result<ReplyV2>& outcome) {
          // The server closed after its 1017 or before an answer: what followed was not done,
          // and is sent again.
          if (unknown_op != kNone || lost_at != kNone) return;
          if (outcome.ok() && outcome->status == Code(v2::ResponseCode::kUnsupported) &&
              plan.uploads[i].attributes) {
            unknown_op = i;
            return;
          }
          if (!outcome.ok() && !client.connected() && reconnects < kMaxReconnects) {
            lost_at = i;
            return;
          }
          reported = i + 1;
          bytes_answered += plan.sizes[i];
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
    if (lost_at != kNone) {
      ++reconnects;
      hooks.note("the server ended the connection before answering " + plan.uploads[lost_at].path +
                 ": sending it and the rest again on a new connection");
      plan = From(plan, lost_at);
    } else if (unknown_op != kNone) {
      const v2::Op op =
          plan.uploads[unknown_op].folder ? v2::Op::kMakeFolder : v2::Op::kBackupAttrs;
      hooks.note(OldServerNote(op, walk.entries));
      plan = WithoutAttributes(plan, unknown_op);
    } else {
      break;
    }
    bytes_finished = bytes_answered;
    reported = 0;
    Status st = reconnect();
    if (!st.ok()) {
      not_sent = st.ToString();
      break;
    }
  }
  // After a lost connection the files not reported were not stored.
  for (size_t i = reported; i < plan.uploads.size(); ++i) {
    hooks.failed(plan.uploads[i].path, "not sent: " + not_sent);
    counts.scanned += plan.uploads[i].folder ? 1 : 0;
    ++counts.failed;
  }
  return counts;
}

}  // namespace backupd::client

// worker (unprivileged, chrooted): counting a user's list, then streaming it within its count.
#include "worker/list_sender.h"

#include <string>

namespace backupd::worker {

namespace {

// Entries are gathered into writes of about this size.
constexpr size_t kChunk = 64 * 1024;

}  // namespace

Result<ListCount> CountList(UserDir& dir, const ListFormat& format, uint64_t max_files,
                            const std::function<void(std::string_view)>& warn) {
  ListCount count;
  Status s = dir.List(
      UserDir::ListOptions::kNamesOnly,
      [&](const StoredFile& file) {
        if (++count.files > max_files) {
          return Status::TooLarge("more than " + std::to_string(max_files) +
                                  " files stored (max_files_listed)");
        }
        count.bytes += format.fixed_size + file.name.size();
        return Status::Ok();
      },
      [&](const std::string& folder, const Status& why) {
        warn("list: left out folder " + folder + ", which cannot be read: " + why.message());
      },
      format.folders);
  if (!s.ok()) return s;
  return count;
}

Result<uint64_t> SendList(UserDir& dir, const ListFormat& format, uint64_t announced,
                          Connection& conn, Deadline deadline) {
  uint64_t sent = 0;
  std::string chunk;
  bool full = false;
  Status s = dir.List(
      format.options,
      [&](const StoredFile& file) {
        const size_t before = chunk.size();
        format.append(chunk, file);
        if (sent + chunk.size() > announced) {
          chunk.resize(before);
          full = true;
          return Status::TooLarge("the list outgrew its count");
        }
        if (chunk.size() < kChunk) return Status::Ok();
        Status w = conn.WriteAll(chunk.data(), chunk.size(), deadline);
        sent += chunk.size();
        chunk.clear();
        return w;
      },
      [](const std::string&, const Status&) {}, format.folders);
  if (!s.ok() && !full) return s;
  Status w = conn.WriteAll(chunk.data(), chunk.size(), deadline);
  if (!w.ok()) return w;
  return sent + chunk.size();
}

}  // namespace backupd::worker

// worker (unprivileged, chrooted): a user's list sent while its folders are walked, for the
// handlers of both protocol versions: one walk counts what the response header announces, a
// second streams the entries, so no list is ever held whole in memory.
#ifndef BACKUPD_WORKER_LIST_SENDER_H_
#define BACKUPD_WORKER_LIST_SENDER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "worker/connection.h"
#include "worker/user_dir.h"

namespace backupd::worker {

// How one protocol version writes a list entry.
struct ListFormat {
  size_t fixed_size = 0;  // an entry's bytes besides its name
  UserDir::ListOptions options = UserDir::ListOptions::kNamesOnly;
  std::function<void(std::string& out, const StoredFile& file)> append;
  // kVisit: folders are entries too (LIST_ATTRS), counted against max_files like files.
  UserDir::ListFolders folders = UserDir::ListFolders::kSkip;
};

struct ListCount {
  uint64_t files = 0;
  uint64_t bytes = 0;  // of all entries: what the response's size field announces
};

// The first walk: how many files and entry bytes the list has. TooLarge as soon as there are
// more than `max_files`. Each folder that cannot be read gets one line through `warn` (and is left
// out of the list).
Result<ListCount> CountList(UserDir& dir, const ListFormat& format, uint64_t max_files,
                            const std::function<void(std::string_view)>& warn);

// The second walk: sends the entries, never more than `announced` bytes in all, and returns how
// many bytes it sent. Files may have come or gone since the count: an entry that no longer fits
// ends the list, and a list that ends short of `announced` is the caller's to cut off (by closing
// the connection), as no made-up entry may fill it.
Result<uint64_t> SendList(UserDir& dir, const ListFormat& format, uint64_t announced,
                          Connection& conn, Deadline deadline);

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_LIST_SENDER_H_

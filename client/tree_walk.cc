// client (the user's privilege): walking files and folders with fts(3).
#include "client/tree_walk.h"

#include <fts.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "protocol/wire.h"

namespace backupd::client {
namespace {

using Kind = WalkEntry::Kind;

int64_t MtimeNs(const struct stat& sb) {
  return int64_t{sb.st_mtim.tv_sec} * 1000000000 + sb.st_mtim.tv_nsec;
}

const char* SkippedKind(mode_t mode) {
  if (S_ISLNK(mode)) return "a symlink (not followed without --follow-symlinks)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a regular file or folder";
}

struct FtsCloser {
  void operator()(FTS* fts) const { fts_close(fts); }
};

// Adds `e` to `out` if the server would take its name; a failure otherwise.
void AddEntry(WalkEntry e, WalkResult* out) {
  Result<std::string> normalized = protocol::NormalizeName(e.name);
  if (!normalized.ok()) {
    out->failures.push_back(
        {e.path, "cannot be stored as '" + e.name + "': " + normalized.status().message()});
    return;
  }
  out->entries.push_back(std::move(e));
}

void WalkOne(const std::string& root, const std::string& prefix, const WalkOptions& options,
             WalkResult* out) {
  char* argv[] = {const_cast<char*>(root.c_str()), nullptr};
  const int flags =
      FTS_NOCHDIR | (options.follow_symlinks ? FTS_LOGICAL : FTS_PHYSICAL | FTS_COMFOLLOW);
  std::unique_ptr<FTS, FtsCloser> fts(fts_open(argv, flags, nullptr));
  if (!fts) {
    out->failures.push_back({root, std::strerror(errno)});
    return;
  }
  while (FTSENT* ent = fts_read(fts.get())) {
    const std::string path(ent->fts_path, ent->fts_pathlen);
    // Below the root: the path as the excludes see it. fts_path starts with the root as given.
    std::string relative;
    if (ent->fts_level > 0) {
      relative = path.substr(root.size());
      relative.erase(0, relative.find_first_not_of('/'));
    }
    const std::string name =
        ent->fts_level == 0 ? prefix : (prefix.empty() ? relative : prefix + "/" + relative);
    switch (ent->fts_info) {
      case FTS_DP:
        continue;
      case FTS_D:
        if (ent->fts_level > 0 && options.exclude != nullptr &&
            options.exclude->Excluded(relative, true)) {
          fts_set(fts.get(), ent, FTS_SKIP);
          continue;
        }
        // A walked PATH's own folder is kept too, unless it has no stored name ("." or "/").
        if (ent->fts_level > 0 || !prefix.empty()) {
          const struct stat& sb = *ent->fts_statp;
          AddEntry({Kind::kFolder, path, name, static_cast<uint32_t>(sb.st_mode & 07777),
                    MtimeNs(sb), 0},
                   out);
        }
        continue;
      case FTS_F: {
        if (ent->fts_level > 0 && options.exclude != nullptr &&
            options.exclude->Excluded(relative, false)) {
          continue;
        }
        const struct stat& sb = *ent->fts_statp;
        // A file PATH keeps its own name: StoredPrefix of the file itself.
        AddEntry({Kind::kFile, path, name, static_cast<uint32_t>(sb.st_mode & 07777), MtimeNs(sb),
                  static_cast<uint64_t>(sb.st_size)},
                 out);
        continue;
      }
      case FTS_DC:
        out->failures.push_back({path, "a folder loop (it is its own ancestor through a symlink)"});
        continue;
      case FTS_DNR:
      case FTS_ERR:
      case FTS_NS:
        out->failures.push_back({path, std::strerror(ent->fts_errno)});
        continue;
      case FTS_SLNONE:
        out->notes.push_back(path + ": skipped: a dangling symlink");
        continue;
      default:
        if (ent->fts_level > 0 && options.exclude != nullptr &&
            options.exclude->Excluded(relative, false)) {
          continue;
        }
        out->notes.push_back(path + ": skipped: " + SkippedKind(ent->fts_statp->st_mode));
        continue;
    }
  }
  if (errno != 0) out->failures.push_back({root, std::strerror(errno)});
}

}  // namespace

Result<std::string> StoredPrefix(const std::string& path) {
  std::string out;
  size_t at = 0;
  while (at < path.size()) {
    size_t end = path.find('/', at);
    if (end == std::string::npos) end = path.size();
    const std::string_view piece(path.data() + at, end - at);
    if (piece == "..") {
      return Status::Invalid("'" + path +
                             "' has a '..' component; give the path without it (e.g. absolute)");
    }
    if (!piece.empty() && piece != ".") {
      if (!out.empty()) out += '/';
      out += piece;
    }
    at = end + 1;
  }
  return out;
}

WalkResult Walk(const std::vector<std::string>& paths, const WalkOptions& options) {
  WalkResult out;
  for (const std::string& path : paths) {
    Result<std::string> prefix = StoredPrefix(path);
    if (!prefix.ok()) {
      out.failures.push_back({path, prefix.status().message()});
      continue;
    }
    errno = 0;
    WalkOne(path, *prefix, options, &out);
  }
  return out;
}

}  // namespace backupd::client

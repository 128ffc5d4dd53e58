// worker (unprivileged, chrooted) and `backupd prune`/`scrub` (as the worker user): old versions of
// stored names, hard links in a reserved folder beside the current file, and the UserDir
// operations built on them (list, restore, deleted names, retention, the walk scrub reads).
#include "worker/versions.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/text.h"
#include "protocol/digest.h"
#include "protocol/wire.h"

namespace backupd::worker {
namespace {

constexpr std::string_view kFolderPrefix = ".backupd-versions-";
static_assert(kFolderPrefix.substr(0, protocol::kReservedPrefix.size()) ==
                  protocol::kReservedPrefix,
              "history folders must carry the prefix no user name may have");
constexpr const char* kLeafFile = "name";
constexpr std::string_view kStoredSuffix = ".stored";
constexpr std::string_view kDeletedSuffix = ".deleted";
constexpr mode_t kFileMode = 0600;
constexpr int64_t kNsPerDay = int64_t{86400} * 1000000000;
// Links tried before giving up on a number that keeps being taken, and settle rounds.
constexpr int kAttempts = 64;
constexpr int kSettleRounds = 8;

int64_t NsOf(const struct timespec& t) {
  return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

// A version's file name: a decimal without leading zeros; 0 for anything else.
uint64_t NumberOf(std::string_view entry) {
  if (entry.empty() || entry.size() > 19 || entry[0] == '0') return 0;
  uint64_t n = 0;
  for (char c : entry) {
    if (c < '0' || c > '9') return 0;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

bool SameFile(const struct stat& a, const struct stat& b) {
  return a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

// Creates the empty file `name` in `dir` (0600); true if it exists afterwards.
bool MakeEmpty(Sys* sys, int dir, const std::string& name) {
  UniqueFd fd(sys->OpenAt2(dir, name.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, kFileMode,
                           RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS));
  return fd.valid() || errno == EEXIST;
}

// Every folder beneath the user's, depth-first, with the histories in it: `visit` gets the
// folder, its path ("" or "a/b/") and each history's leaf.
using HistoryVisitor =
    std::function<Status(int folder, const std::string& path, const std::string& leaf)>;

Status WalkHistories(Sys* sys, int user_fd, const HistoryVisitor& visit,
                     const UserDir::UnreadableFolder& unreadable) {
  struct Level {
    UniqueFd fd;
    std::string path;
  };
  std::vector<Level> todo;
  Result<UniqueFd> top = storage::OpenOrMakeFolder(sys, user_fd, ".", false);
  if (!top.ok()) return top.status();
  todo.push_back({std::move(*top), ""});
  bool first = true;
  while (!todo.empty()) {
    Level at = std::move(todo.back());
    todo.pop_back();
    std::vector<std::string> folders;
    std::vector<std::string> histories;
    Status s =
        storage::ReadEntries(sys, at.fd.get(), at.path.empty() ? "." : at.path,
                             [&](const char* name, storage::EntryKind kind) {
                               if (kind != storage::EntryKind::kFolder) return;
                               const std::string_view entry(name);
                               if (History::IsFolderName(entry)) {
                                 histories.emplace_back(name);
                               } else if (entry.substr(0, protocol::kReservedPrefix.size()) !=
                                          protocol::kReservedPrefix) {
                                 folders.emplace_back(name);
                               }
                             });
    if (!s.ok()) {
      if (first) return s;
      unreadable(at.path.substr(0, at.path.size() - 1), s);
      continue;
    }
    first = false;
    for (const std::string& h : histories) {
      Result<UniqueFd> dir = storage::OpenOrMakeFolder(sys, at.fd.get(), h, false);
      const std::string leaf = dir.ok() ? History::LeafIn(sys, dir->get()) : std::string();
      // A history whose name file is gone or does not hash to its folder is not ours to touch.
      if (leaf.empty() || History::FolderName(leaf) != h) continue;
      s = visit(at.fd.get(), at.path, leaf);
      if (!s.ok()) return s;
    }
    for (const std::string& f : folders) {
      if (at.path.size() + f.size() + 1 >= protocol::kMaxNameLen) continue;
      Result<UniqueFd> child = storage::OpenOrMakeFolder(sys, at.fd.get(), f, false);
      if (!child.ok()) {
        if (child.status().code() != Status::Code::kNotFound)
          unreadable(at.path + f, child.status());
        continue;
      }
      todo.push_back({std::move(*child), at.path + f + "/"});
    }
  }
  return Status::Ok();
}

}  // namespace

int64_t NowNs() {
  struct timespec t {};
  ::clock_gettime(CLOCK_REALTIME, &t);
  return NsOf(t);
}

std::string History::FolderName(std::string_view leaf) {
  const protocol::Digest d = protocol::Sha256Of(leaf);
  std::string name(kFolderPrefix);
  AppendHex(name, d.data(), d.size());
  return name;
}

bool History::IsFolderName(std::string_view entry) {
  return entry.substr(0, kFolderPrefix.size()) == kFolderPrefix;
}

std::string History::LeafIn(Sys* sys, int history_fd) {
  uint8_t buf[NAME_MAX + 2];
  const std::optional<size_t> got =
      storage::ReadSmallFile(sys, history_fd, kLeafFile, buf, sizeof buf);
  if (!got || *got == 0 || *got > NAME_MAX) return {};
  return std::string(reinterpret_cast<const char*>(buf), *got);
}

Result<History> History::Open(Sys* sys, int folder, const std::string& leaf, bool create) {
  Result<UniqueFd> dir = storage::OpenOrMakeFolder(sys, folder, FolderName(leaf), create);
  if (!dir.ok()) return dir.status();
  if (create) {
    UniqueFd fd(sys->OpenAt2(dir->get(), kLeafFile, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC,
                             kFileMode, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS));
    if (fd.valid()) {
      if (sys->Write(fd.get(), leaf.data(), leaf.size()) != static_cast<ssize_t>(leaf.size())) {
        return Status::FromErrno(errno, "write the history of " + leaf);
      }
    } else if (errno != EEXIST) {
      return Status::FromErrno(errno, "make the history of " + leaf);
    }
  }
  return History(sys, folder, std::move(*dir), leaf);
}

Result<std::vector<uint64_t>> History::Numbers() {
  std::vector<uint64_t> numbers;
  Status s = storage::ReadEntries(sys_, dir_.get(), "history of " + leaf_,
                                  [&](const char* name, storage::EntryKind kind) {
                                    const uint64_t n = NumberOf(name);
                                    if (kind == storage::EntryKind::kFile && n != 0) {
                                      numbers.push_back(n);
                                    }
                                  });
  if (!s.ok()) return s;
  std::sort(numbers.begin(), numbers.end());
  return numbers;
}

Result<uint64_t> History::CurrentNumber(const std::vector<uint64_t>& numbers, bool* exists) {
  struct stat cur {};
  *exists = false;
  if (sys_->FstatAt(folder_, leaf_.c_str(), &cur, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return uint64_t{0};
    return Status::FromErrno(errno, "stat " + leaf_);
  }
  if (!S_ISREG(cur.st_mode)) return uint64_t{0};
  *exists = true;
  for (auto n = numbers.rbegin(); n != numbers.rend(); ++n) {
    struct stat st {};
    if (sys_->FstatAt(dir_.get(), std::to_string(*n).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        SameFile(st, cur)) {
      return *n;
    }
  }
  return uint64_t{0};
}

Result<uint64_t> History::LinkIn(const std::string& from, const std::string& sidecar) {
  Result<std::vector<uint64_t>> numbers = Numbers();
  if (!numbers.ok()) return numbers.status();
  uint64_t number = numbers->empty() ? 1 : numbers->back() + 1;
  for (int attempt = 0;; ++attempt, ++number) {
    if (attempt == kAttempts) return Status::IoError("no free version number for " + leaf_);
    if (sys_->LinkAt(folder_, from.c_str(), dir_.get(), std::to_string(number).c_str()) == 0) break;
    if (errno != EEXIST) return Status::FromErrno(errno, "keep a version of " + leaf_);
  }
  const std::string name = std::to_string(number);
  // A sidecar that cannot be linked only leaves the version without a digest.
  if (!sidecar.empty()) {
    sys_->LinkAt(folder_, sidecar.c_str(), dir_.get(), storage::SidecarNameOf(name).c_str());
  }
  return number;
}

void History::RemoveVersion(uint64_t number) {
  const std::string name = std::to_string(number);
  sys_->UnlinkAt(dir_.get(), storage::SidecarNameOf(name).c_str(), 0);
  sys_->UnlinkAt(dir_.get(), (name + std::string(kStoredSuffix)).c_str(), 0);
  sys_->UnlinkAt(dir_.get(), (name + std::string(kDeletedSuffix)).c_str(), 0);
  sys_->UnlinkAt(dir_.get(), name.c_str(), 0);
}

Status History::AddUpload(const std::string& temp, const std::string& sidecar_temp) {
  Result<std::vector<uint64_t>> numbers = Numbers();
  if (!numbers.ok()) return numbers.status();
  bool exists = false;
  Result<uint64_t> current = CurrentNumber(*numbers, &exists);
  if (!current.ok()) return current.status();
  // Stored while history was off: it becomes a version, stored (as far as anyone knows) at its
  // mtime, since it has no stamp.
  if (exists && *current == 0) {
    Result<uint64_t> adopted = LinkIn(leaf_, storage::SidecarNameOf(leaf_));
    if (!adopted.ok()) return adopted.status();
  }
  Result<uint64_t> number = LinkIn(temp, sidecar_temp);
  if (!number.ok()) return number.status();
  if (!MakeEmpty(sys_, dir_.get(), std::to_string(*number) + std::string(kStoredSuffix))) {
    Status s = Status::FromErrno(errno, "stamp a version of " + leaf_);
    RemoveVersion(*number);
    return s;
  }
  if (sys_->Fsync(dir_.get()) != 0) {
    Status s = Status::FromErrno(errno, "fsync the history of " + leaf_);
    RemoveVersion(*number);
    return s;
  }
  return Status::Ok();
}

Status History::Settle() {
  for (int round = 0; round < kSettleRounds; ++round) {
    Result<std::vector<uint64_t>> numbers = Numbers();
    if (!numbers.ok()) return numbers.status();
    if (numbers->empty()) return Status::Ok();
    const std::string top = std::to_string(numbers->back());
    struct stat want {};
    struct stat cur {};
    if (sys_->FstatAt(dir_.get(), top.c_str(), &want, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (sys_->FstatAt(folder_, leaf_.c_str(), &cur, AT_SYMLINK_NOFOLLOW) == 0 &&
        SameFile(want, cur)) {
      return Status::Ok();
    }
    // A racing upload renamed an older version in after ours: put the newest back.
    const std::string temp = ".backupd-tmp-settle-" + std::to_string(::getpid()) + "-" + top;
    const std::string side = temp + "-sha256";
    sys_->UnlinkAt(folder_, temp.c_str(), 0);
    sys_->UnlinkAt(folder_, side.c_str(), 0);
    if (sys_->LinkAt(dir_.get(), top.c_str(), folder_, temp.c_str()) != 0) {
      return Status::FromErrno(errno, "settle " + leaf_);
    }
    const bool has_sidecar =
        sys_->LinkAt(dir_.get(), storage::SidecarNameOf(top).c_str(), folder_, side.c_str()) == 0;
    if (sys_->RenameAt(folder_, temp.c_str(), folder_, leaf_.c_str()) != 0) {
      Status s = Status::FromErrno(errno, "settle " + leaf_);
      sys_->UnlinkAt(folder_, temp.c_str(), 0);
      sys_->UnlinkAt(folder_, side.c_str(), 0);
      return s;
    }
    const std::string sidecar = storage::SidecarNameOf(leaf_);
    if (has_sidecar) {
      sys_->RenameAt(folder_, side.c_str(), folder_, sidecar.c_str());
    } else {
      sys_->UnlinkAt(folder_, sidecar.c_str(), 0);
    }
    // rename(2) of a name onto another link of the same inode does nothing and leaves the source:
    // a racing settle that put the same version back first would leave our temp names behind.
    sys_->UnlinkAt(folder_, temp.c_str(), 0);
    sys_->UnlinkAt(folder_, side.c_str(), 0);
  }
  return Status::Ok();
}

Status History::MarkDeleted() {
  Result<std::vector<uint64_t>> numbers = Numbers();
  if (!numbers.ok()) return numbers.status();
  bool exists = false;
  Result<uint64_t> current = CurrentNumber(*numbers, &exists);
  if (!current.ok()) return current.status();
  if (!exists) return Status::Ok();
  uint64_t number = *current;
  if (number == 0) {
    Result<uint64_t> adopted = LinkIn(leaf_, storage::SidecarNameOf(leaf_));
    if (!adopted.ok()) return adopted.status();
    number = *adopted;
  }
  if (!MakeEmpty(sys_, dir_.get(), std::to_string(number) + std::string(kDeletedSuffix))) {
    return Status::FromErrno(errno, "mark " + leaf_ + " deleted");
  }
  if (sys_->Fsync(dir_.get()) != 0) {
    return Status::FromErrno(errno, "fsync the history of " + leaf_);
  }
  return Status::Ok();
}

Result<std::vector<FileVersion>> History::List() {
  Result<std::vector<uint64_t>> numbers = Numbers();
  if (!numbers.ok()) return numbers.status();
  bool exists = false;
  Result<uint64_t> current = CurrentNumber(*numbers, &exists);
  if (!current.ok()) return current.status();
  std::vector<FileVersion> out;
  for (uint64_t n : *numbers) {
    const std::string name = std::to_string(n);
    struct stat st {};
    if (sys_->FstatAt(dir_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    FileVersion v;
    v.number = n;
    v.current = exists && n == *current;
    struct stat mark {};
    v.deleted = sys_->FstatAt(dir_.get(), (name + std::string(kDeletedSuffix)).c_str(), &mark,
                              AT_SYMLINK_NOFOLLOW) == 0;
    v.stored_ns = sys_->FstatAt(dir_.get(), (name + std::string(kStoredSuffix)).c_str(), &mark,
                                AT_SYMLINK_NOFOLLOW) == 0
                      ? NsOf(mark.st_mtim)
                      : NsOf(st.st_mtim);
    v.size = static_cast<uint64_t>(st.st_size);
    v.mtime_ns = NsOf(st.st_mtim);
    v.digest = storage::FreshDigest(sys_, dir_.get(), name, st, -1, nullptr);
    out.push_back(v);
  }
  if (exists && *current == 0) {
    struct stat st {};
    if (sys_->FstatAt(folder_, leaf_.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      FileVersion v;
      v.number = numbers->empty() ? 1 : numbers->back() + 1;
      v.current = true;
      v.stored_ns = NsOf(st.st_mtim);
      v.size = static_cast<uint64_t>(st.st_size);
      v.mtime_ns = v.stored_ns;
      v.digest = storage::FreshDigest(sys_, folder_, leaf_, st, -1, nullptr);
      out.push_back(v);
    }
  }
  return out;
}

Status History::Prune(uint32_t keep_versions, uint32_t keep_days, int64_t now_ns, Pruned* pruned) {
  if (keep_versions <= 1 && keep_days == 0) {
    // No history is kept at all: the current file (if any) stays where it is.
    Result<std::vector<FileVersion>> all = List();
    if (all.ok()) {
      for (const FileVersion& v : *all) {
        if (v.current) continue;
        ++pruned->versions;
        pruned->bytes += v.size;
      }
    }
    return RemoveAll();
  }
  Result<std::vector<FileVersion>> all = List();
  if (!all.ok()) return all.status();
  const int64_t young = now_ns - static_cast<int64_t>(keep_days) * kNsPerDay;
  uint64_t position = 0;  // 0 for the newest
  for (auto v = all->rbegin(); v != all->rend(); ++v, ++position) {
    if (v->current || position < keep_versions || (keep_days > 0 && v->stored_ns > young)) {
      continue;
    }
    RemoveVersion(v->number);
    ++pruned->versions;
    pruned->bytes += v->size;
  }
  Result<std::vector<uint64_t>> left = Numbers();
  if (left.ok() && left->empty()) return RemoveAll();
  return Status::Ok();
}

Status History::RemoveAll() {
  std::vector<std::string> names;
  Status s = storage::ReadEntries(sys_, dir_.get(), "history of " + leaf_,
                                  [&](const char* name, storage::EntryKind kind) {
                                    if (kind == storage::EntryKind::kFile) names.emplace_back(name);
                                  });
  if (!s.ok()) return s;
  for (const std::string& name : names) sys_->UnlinkAt(dir_.get(), name.c_str(), 0);
  if (sys_->UnlinkAt(folder_, FolderName(leaf_).c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    return Status::FromErrno(errno, "remove the history of " + leaf_);
  }
  return Status::Ok();
}

Result<OpenFile> History::OpenVersion(uint64_t number) {
  const std::string name = std::to_string(number);
  UniqueFd fd(sys_->OpenAt2(dir_.get(), name.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                            0, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS));
  if (!fd.valid()) return Status::FromErrno(errno, "open version " + name + " of " + leaf_);
  struct stat st {};
  if (sys_->FstatAt(fd.get(), "", &st, AT_EMPTY_PATH) != 0) {
    return Status::FromErrno(errno, "stat version " + name + " of " + leaf_);
  }
  if (!S_ISREG(st.st_mode)) return Status::NotFound("no version " + name + " of " + leaf_);
  OpenFile file;
  file.size = static_cast<uint64_t>(st.st_size);
  file.digest = storage::FreshDigest(sys_, dir_.get(), name, st, fd.get(), &file.stale_digest);
  file.fd = std::move(fd);
  return Result<OpenFile>(std::move(file));
}

// UserDir's version operations.

Result<std::vector<FileVersion>> UserDir::Versions(const std::string& name) {
  std::string leaf;
  Result<UniqueFd> folder = storage::OpenFolderOf(sys_, fd_.get(), name, false, &leaf);
  if (!folder.ok()) return folder.status();
  Result<History> history = History::Open(sys_, folder->get(), leaf, false);
  if (history.ok()) {
    Result<std::vector<FileVersion>> versions = history->List();
    if (versions.ok() && versions->empty()) return Status::NotFound("no file named " + name);
    return versions;
  }
  if (history.status().code() != Status::Code::kNotFound) return history.status();
  // No history: the current file alone is version 1.
  Result<OpenFile> file = OpenForRead(name);
  if (!file.ok()) return file.status();
  struct stat st {};
  if (sys_->FstatAt(file->fd.get(), "", &st, AT_EMPTY_PATH) != 0) {
    return Status::FromErrno(errno, "stat " + name);
  }
  FileVersion v;
  v.number = 1;
  v.current = true;
  v.stored_ns = NsOf(st.st_mtim);
  v.size = file->size;
  v.mtime_ns = v.stored_ns;
  v.digest = file->digest;
  return std::vector<FileVersion>{v};
}

Result<OpenFile> UserDir::OpenVersion(const std::string& name, uint64_t number) {
  Result<std::vector<FileVersion>> versions = Versions(name);
  if (!versions.ok()) return versions.status();
  const auto v = std::find_if(versions->begin(), versions->end(),
                              [number](const FileVersion& f) { return f.number == number; });
  const Status absent = Status::NotFound("no version " + std::to_string(number) + " of " + name);
  if (v == versions->end()) return absent;
  std::string leaf;
  Result<UniqueFd> folder = storage::OpenFolderOf(sys_, fd_.get(), name, false, &leaf);
  if (!folder.ok()) return folder.status();
  Result<History> history = History::Open(sys_, folder->get(), leaf, false);
  if (history.ok()) {
    Result<OpenFile> in = history->OpenVersion(number);
    if (in.ok() || !v->current) return in;
  }
  // The current file outside the history (stored while history was off) is read by its name.
  return OpenForRead(name);
}

Result<std::vector<StoredFile>> UserDir::ListDeleted(uint64_t max) {
  std::vector<StoredFile> out;
  Status s = WalkHistories(
      sys_, fd_.get(),
      [&](int folder, const std::string& path, const std::string& leaf) -> Status {
        struct stat st {};
        if (sys_->FstatAt(folder, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(st.st_mode)) {
          return Status::Ok();
        }
        Result<History> history = History::Open(sys_, folder, leaf, false);
        if (!history.ok()) return Status::Ok();
        Result<std::vector<FileVersion>> versions = history->List();
        if (!versions.ok() || versions->empty()) return Status::Ok();
        if (out.size() == max) {
          return Status::TooLarge("more than " + std::to_string(max) +
                                  " deleted files (max_files_listed)");
        }
        const FileVersion& newest = versions->back();
        StoredFile f;
        f.name = path + leaf;
        f.size = newest.size;
        f.mtime_ns = newest.mtime_ns;
        f.digest = newest.digest;
        out.push_back(std::move(f));
        return Status::Ok();
      },
      [](const std::string&, const Status&) {});
  if (!s.ok()) return s;
  std::sort(out.begin(), out.end(),
            [](const StoredFile& a, const StoredFile& b) { return a.name < b.name; });
  return out;
}

Status UserDir::Prune(const VersionPolicy& retention, int64_t now_ns, Pruned* pruned,
                      const UnreadableFolder& unreadable) {
  return WalkHistories(
      sys_, fd_.get(),
      [&](int folder, const std::string& path, const std::string& leaf) -> Status {
        Result<History> history = History::Open(sys_, folder, leaf, false);
        Status s = history.ok() ? history->Prune(retention.keep_versions, retention.keep_days,
                                                 now_ns, pruned)
                                : history.status();
        if (!s.ok()) unreadable(path + leaf, s);
        return Status::Ok();
      },
      unreadable);
}

Status UserDir::ForEachOldVersion(const VersionVisitor& visit, const UnreadableFolder& unreadable) {
  return WalkHistories(
      sys_, fd_.get(),
      [&](int folder, const std::string& path, const std::string& leaf) -> Status {
        Result<History> history = History::Open(sys_, folder, leaf, false);
        Result<std::vector<FileVersion>> versions =
            history.ok() ? history->List() : Result<std::vector<FileVersion>>(history.status());
        if (!versions.ok()) {
          unreadable(path + leaf, versions.status());
          return Status::Ok();
        }
        for (const FileVersion& v : *versions) {
          if (v.current) continue;
          Result<OpenFile> file = history->OpenVersion(v.number);
          if (!file.ok()) {
            unreadable(path + leaf + " version " + std::to_string(v.number), file.status());
            continue;
          }
          Status s = visit(path + leaf, v.number, *file);
          if (!s.ok()) return s;
        }
        return Status::Ok();
      },
      unreadable);
}

}  // namespace backupd::worker

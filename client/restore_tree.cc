// client (the user's privilege): a folder restore, name checks first, folders made without
// following symlinks, modes and times set last.
#include "client/restore_tree.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "base/text.h"
#include "base/timespec.h"
#include "base/unique_fd.h"
#include "protocol/wire.h"

namespace backupd::client {
namespace v2 = protocol::v2;

std::vector<RestoreTarget> SelectUnder(std::string_view prefix,
                                       const std::vector<v2::AttrEntry>& stored,
                                       std::vector<std::string>* refused) {
  std::vector<RestoreTarget> out;
  const std::string under = prefix.empty() ? "" : std::string(prefix) + "/";
  for (const v2::AttrEntry& e : stored) {
    if (!prefix.empty() && e.name == prefix && e.kind == v2::EntryKind::kFolder) {
      out.push_back({e.name, "", e.kind, e.attributes});
      continue;
    }
    if (e.name.compare(0, under.size(), under) != 0) continue;
    Result<std::string> normal = protocol::NormalizeName(e.name);
    if (!normal.ok() || *normal != e.name || e.name.size() == under.size()) {
      refused->push_back("refused the server's name '" + EscapeUntrusted(e.name) +
                         "': not a plain relative path (it could point outside the output folder)");
      continue;
    }
    out.push_back({e.name, e.name.substr(under.size()), e.kind, e.attributes});
  }
  return out;
}

std::vector<v2::AttrEntry> FilesAsAttrEntries(const std::vector<v2::ListEntry>& files) {
  std::vector<v2::AttrEntry> entries;
  entries.reserve(files.size());
  for (const v2::ListEntry& f : files) {
    entries.push_back({f.name, v2::EntryKind::kFile, {0, f.mtime_ns}, f.size, f.sha256});
  }
  return entries;
}

uint32_t RestorableMode(uint32_t mode) { return mode & (geteuid() == 0 ? 07777u : 01777u); }

namespace {

// Opens (making it if missing) each folder of `relative` below `root`, refusing symlinks.
Result<UniqueFd> OpenFolder(int root, const std::string& relative) {
  UniqueFd at(fcntl(root, F_DUPFD_CLOEXEC, 0));
  if (!at.valid()) return Status::FromErrno(errno, "dup");
  size_t start = 0;
  while (start < relative.size()) {
    size_t slash = relative.find('/', start);
    if (slash == std::string::npos) slash = relative.size();
    const std::string piece = relative.substr(start, slash - start);
    if (mkdirat(at.get(), piece.c_str(), 0777) < 0 && errno != EEXIST) {
      return Status::FromErrno(errno, "mkdir " + relative.substr(0, slash));
    }
    UniqueFd next(openat(at.get(), piece.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid()) return Status::FromErrno(errno, relative.substr(0, slash));
    at = std::move(next);
    start = slash + 1;
  }
  return at;
}

// The folder's kept mode and mtime, each only when known.
Status SetFolderAttributes(int fd, const v2::Attributes& a) {
  if (a.mode != 0 && fchmod(fd, RestorableMode(a.mode)) < 0)
    return Status::FromErrno(errno, "chmod");
  if (a.mtime_ns != 0) {
    const timespec times[2] = {{0, UTIME_NOW}, EpochNsToTimespec(a.mtime_ns)};
    if (futimens(fd, times) < 0) return Status::FromErrno(errno, "set the time");
  }
  return Status::Ok();
}

size_t Depth(const std::string& relative) {
  return relative.empty() ? 0 : 1 + std::count(relative.begin(), relative.end(), '/');
}

}  // namespace

size_t RestoreTree(ClientV2& client, const std::vector<RestoreTarget>& targets,
                   const std::string& dir, Existing existing, const RestoreTreeHooks& hooks) {
  const bool made_dir = mkdir(dir.c_str(), 0777) == 0;
  if (!made_dir && errno != EEXIST) {
    hooks.failed(dir, Status::FromErrno(errno, "mkdir").message());
    return targets.size();
  }
  UniqueFd root(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) {
    hooks.failed(dir, Status::FromErrno(errno, "open").message());
    return targets.size();
  }
  size_t failed = 0;
  std::vector<const RestoreTarget*> folders;
  for (const RestoreTarget& t : targets) {
    if (t.kind != v2::EntryKind::kFolder) continue;
    Result<UniqueFd> made = OpenFolder(root.get(), t.relative);
    if (!made.ok()) {
      hooks.failed(t.name, made.status().message());
      ++failed;
      continue;
    }
    if (!t.relative.empty() || made_dir) folders.push_back(&t);
  }
  for (size_t i = 0; i < targets.size(); ++i) {
    const RestoreTarget& t = targets[i];
    if (t.kind == v2::EntryKind::kFolder) continue;
    const size_t slash = t.relative.rfind('/');
    Result<UniqueFd> parent =
        OpenFolder(root.get(), slash == std::string::npos ? "" : t.relative.substr(0, slash));
    if (!parent.ok()) {
      hooks.failed(t.name, parent.status().message());
      ++failed;
      continue;
    }
    // The folder just opened, by its descriptor: a folder swapped for a symlink since cannot
    // redirect the file.
    const std::string base = slash == std::string::npos ? t.relative : t.relative.substr(slash + 1);
    struct stat sb {};
    if (existing == Existing::kKeep &&
        fstatat(parent->get(), base.c_str(), &sb, AT_SYMLINK_NOFOLLOW) == 0) {
      hooks.exists(dir + "/" + t.relative);
      ++failed;
      continue;
    }
    const std::string output = "/proc/self/fd/" + std::to_string(parent->get()) + "/" + base;
    const OutputAttributes attributes{RestorableMode(t.attributes.mode), t.attributes.mtime_ns};
    if (!hooks.restored(t, client.RestoreToFile(t.name, output, existing, {}, attributes))) {
      ++failed;
    }
    if (!client.connected()) return failed + targets.size() - i - 1;
  }
  std::stable_sort(folders.begin(), folders.end(),
                   [](const RestoreTarget* a, const RestoreTarget* b) {
                     return Depth(a->relative) > Depth(b->relative);
                   });
  for (const RestoreTarget* t : folders) {
    Result<UniqueFd> fd = OpenFolder(root.get(), t->relative);
    Status st = fd.ok() ? SetFolderAttributes(fd->get(), t->attributes) : fd.status();
    if (!st.ok()) {
      hooks.failed(t->name, st.message());
      ++failed;
    }
  }
  return failed;
}

}  // namespace backupd::client

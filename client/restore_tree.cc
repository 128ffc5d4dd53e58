// client (the user's privilege): a folder restore, name checks first, folders made without
// following symlinks.
#include "client/restore_tree.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include "base/text.h"
#include "base/unique_fd.h"
#include "protocol/wire.h"

namespace backupd::client {
namespace v2 = protocol::v2;

std::vector<RestoreTarget> SelectUnder(std::string_view prefix,
                                       const std::vector<v2::ListEntry>& stored,
                                       std::vector<std::string>* refused) {
  std::vector<RestoreTarget> out;
  const std::string under = prefix.empty() ? "" : std::string(prefix) + "/";
  for (const v2::ListEntry& e : stored) {
    if (e.name.compare(0, under.size(), under) != 0) continue;
    Result<std::string> normal = protocol::NormalizeName(e.name);
    if (!normal.ok() || *normal != e.name || e.name.size() == under.size()) {
      refused->push_back("refused the server's name '" + EscapeUntrusted(e.name) +
                         "': not a plain relative path (it could point outside the output folder)");
      continue;
    }
    out.push_back({e.name, e.name.substr(under.size())});
  }
  return out;
}

namespace {

// Opens (making it if missing) each folder of `relative` but its last component below `root`,
// refusing symlinks; the folder that will hold the file.
Result<UniqueFd> OpenParents(int root, const std::string& relative) {
  UniqueFd at(fcntl(root, F_DUPFD_CLOEXEC, 0));
  if (!at.valid()) return Status::FromErrno(errno, "dup");
  size_t start = 0;
  for (size_t slash; (slash = relative.find('/', start)) != std::string::npos; start = slash + 1) {
    const std::string piece = relative.substr(start, slash - start);
    if (mkdirat(at.get(), piece.c_str(), 0777) < 0 && errno != EEXIST) {
      return Status::FromErrno(errno, "mkdir " + relative.substr(0, slash));
    }
    UniqueFd next(openat(at.get(), piece.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid()) return Status::FromErrno(errno, relative.substr(0, slash));
    at = std::move(next);
  }
  return at;
}

}  // namespace

size_t RestoreTree(ClientV2& client, const std::vector<RestoreTarget>& targets,
                   const std::string& dir, Existing existing, const RestoreTreeHooks& hooks) {
  if (mkdir(dir.c_str(), 0777) < 0 && errno != EEXIST) {
    hooks.failed(dir, Status::FromErrno(errno, "mkdir").message());
    return targets.size();
  }
  UniqueFd root(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) {
    hooks.failed(dir, Status::FromErrno(errno, "open").message());
    return targets.size();
  }
  size_t failed = 0;
  for (size_t i = 0; i < targets.size(); ++i) {
    const RestoreTarget& t = targets[i];
    Result<UniqueFd> parent = OpenParents(root.get(), t.relative);
    if (!parent.ok()) {
      hooks.failed(t.name, parent.status().message());
      ++failed;
      continue;
    }
    // The folder just opened, by its descriptor: a folder swapped for a symlink since cannot
    // redirect the file.
    const size_t slash = t.relative.rfind('/');
    const std::string base = slash == std::string::npos ? t.relative : t.relative.substr(slash + 1);
    struct stat sb {};
    if (existing == Existing::kKeep &&
        fstatat(parent->get(), base.c_str(), &sb, AT_SYMLINK_NOFOLLOW) == 0) {
      hooks.exists(dir + "/" + t.relative);
      ++failed;
      continue;
    }
    const std::string output = "/proc/self/fd/" + std::to_string(parent->get()) + "/" + base;
    if (!hooks.restored(t, client.RestoreToFile(t.name, output, existing))) ++failed;
    if (!client.connected()) return failed + targets.size() - i - 1;
  }
  return failed;
}

}  // namespace backupd::client

// worker (unprivileged, chrooted): one user's folder, every name resolved beneath its descriptor
// with openat2 and every metadata change made with the *at() calls on descriptors.
#include "worker/user_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/wire.h"

namespace backupd::worker {
namespace {

// RESOLVE_NO_SYMLINKS also covers the last component, so a planted link is refused (ELOOP)
// rather than followed; RESOLVE_BENEATH refuses ".." and absolute paths escaping the start fd.
constexpr uint64_t kResolve =
    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
constexpr uint64_t kDirFlags = O_DIRECTORY | O_RDONLY | O_CLOEXEC;
constexpr mode_t kDirMode = 0700;
constexpr mode_t kFileMode = 0600;
using protocol::kReservedPrefix;
constexpr std::string_view kTmpPrefix = ".backupd-tmp-";
static_assert(kTmpPrefix.substr(0, kReservedPrefix.size()) == kReservedPrefix,
              "temp files must carry the prefix no user name may have");
// Attempts before giving up on a name that keeps colliding or a folder that keeps vanishing.
constexpr int kAttempts = 4;

bool StartsWith(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// Splits a normalized name into its components. Refuses what no *at() call may be handed as a
// last component and the reserved prefix; ".." among the folders is left for openat2 to refuse.
Result<std::vector<std::string>> SplitName(const std::string& name) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t slash = name.find('/', start);
    parts.push_back(name.substr(start, slash == std::string::npos ? slash : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  const std::string& leaf = parts.back();
  if (leaf.empty() || leaf == "." || leaf == "..") {
    return Status::Invalid("bad file name: " + name);
  }
  for (const std::string& part : parts) {
    if (StartsWith(part, kReservedPrefix)) return Status::Invalid("reserved name: " + name);
  }
  return Result<std::vector<std::string>>(std::move(parts));
}

Result<UniqueFd> OpenDir(Sys* sys, int at, const std::string& path) {
  UniqueFd fd(sys->OpenAt2(at, path.c_str(), kDirFlags, 0, kResolve));
  if (!fd.valid()) return Status::FromErrno(errno, "open folder " + path);
  return Result<UniqueFd>(std::move(fd));
}

// Opens the folder `component` beneath `at`, making it (0700) first when absent and `create`.
Result<UniqueFd> OpenOrMakeDir(Sys* sys, int at, const std::string& component, bool create) {
  bool created = false;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    UniqueFd dir(sys->OpenAt2(at, component.c_str(), kDirFlags, 0, kResolve));
    if (dir.valid()) {
      // mkdirat's mode is filtered by the umask; the contract is exactly 0700.
      if (created && sys->Fchmod(dir.get(), kDirMode) != 0) {
        return Status::FromErrno(errno, "chmod folder " + component);
      }
      return Result<UniqueFd>(std::move(dir));
    }
    if (errno == ENOTDIR) return Status::Invalid(component + " is not a folder");
    if (errno != ENOENT || !create) return Status::FromErrno(errno, "open folder " + component);
    if (sys->MkdirAt(at, component.c_str(), kDirMode) == 0) {
      created = true;
    } else if (errno != EEXIST) {  // EEXIST: someone else made it; open theirs
      return Status::FromErrno(errno, "make folder " + component);
    }
  }
  return Status::IoError("folder keeps vanishing: " + component);
}

// ".backupd-tmp-<pid>-<random>": the pid lets a later upload tell a temp file whose worker was
// killed mid-upload (and so never unlinked it) from one still being written.
Result<std::string> TempName(Sys* sys) {
  unsigned char bytes[8];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    ssize_t n = sys->GetRandom(bytes + got, sizeof(bytes) - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "getrandom");
    }
    got += static_cast<size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string name = std::string(kTmpPrefix) + std::to_string(::getpid()) + "-";
  for (unsigned char b : bytes) {
    name += kHex[b >> 4];
    name += kHex[b & 0xf];
  }
  return name;
}

struct DirEntry {
  std::string name;
  unsigned char type;  // DT_REG, DT_DIR, or DT_UNKNOWN for anything else
};

struct CloseDir {
  void operator()(DIR* dir) const { closedir(dir); }
};

// Every entry of the folder `folder` but "." and "..", with symlinks and specials as DT_UNKNOWN.
Result<std::vector<DirEntry>> ReadFolder(Sys* sys, UniqueFd folder, const std::string& what) {
  // On success the DIR stream owns the descriptor, and closedir() closes it.
  std::unique_ptr<DIR, CloseDir> dir(fdopendir(folder.get()));
  if (dir == nullptr) return Status::FromErrno(errno, "read folder " + what);
  folder.release();
  std::vector<DirEntry> out;
  for (;;) {
    errno = 0;
    const struct dirent* ent = readdir(dir.get());
    if (ent == nullptr) {
      if (errno != 0) return Status::FromErrno(errno, "read folder " + what);
      return Result<std::vector<DirEntry>>(std::move(out));
    }
    std::string name = ent->d_name;
    if (name == "." || name == "..") continue;
    unsigned char type = ent->d_type;
    if (type == DT_UNKNOWN) {
      struct stat st {};
      if (sys->FstatAt(dirfd(dir.get()), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        type = S_ISREG(st.st_mode) ? DT_REG : S_ISDIR(st.st_mode) ? DT_DIR : DT_UNKNOWN;
      }
    }
    if (type != DT_REG && type != DT_DIR) type = DT_UNKNOWN;
    out.push_back({std::move(name), type});
  }
}

// Removes temp files in `dir_fd` whose worker no longer exists. kill(pid, 0) answers ESRCH only
// for a dead pid; a live one (or one we may not signal) keeps its file.
void SweepStaleTemps(Sys* sys, int dir_fd) {
  UniqueFd folder(sys->OpenAt2(dir_fd, ".", kDirFlags, 0, kResolve));
  if (!folder.valid()) return;
  Result<std::vector<DirEntry>> entries = ReadFolder(sys, std::move(folder), ".");
  if (!entries.ok()) return;
  for (const DirEntry& e : *entries) {
    if (e.type != DT_REG || !StartsWith(e.name, kTmpPrefix)) continue;
    char* end = nullptr;
    long pid = std::strtol(e.name.c_str() + kTmpPrefix.size(), &end, 10);
    if (pid <= 0 || end == nullptr || *end != '-' || pid == ::getpid()) continue;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      sys->UnlinkAt(dir_fd, e.name.c_str(), 0);
    }
  }
}

}  // namespace

Upload::Upload(Sys* sys, UniqueFd dir_fd, std::string tmp_name, std::string final_name, UniqueFd fd)
    : sys_(sys),
      dir_fd_(std::move(dir_fd)),
      tmp_name_(std::move(tmp_name)),
      final_name_(std::move(final_name)),
      fd_(std::move(fd)) {}

Upload::~Upload() {
  if (dir_fd_.valid() && !committed_) sys_->UnlinkAt(dir_fd_.get(), tmp_name_.c_str(), 0);
}

Status Upload::Write(const void* data, size_t len) {
  if (!fd_.valid()) return Status::Invalid("upload of " + final_name_ + " is finished");
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = sys_->Write(fd_.get(), p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "write " + final_name_);
    }
    if (n == 0) return Status::IoError("write " + final_name_ + ": no progress");
    p += n;
    len -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status Upload::Commit() {
  if (!fd_.valid() || committed_) {
    return Status::Invalid("upload of " + final_name_ + " is finished");
  }
  if (sys_->Fsync(fd_.get()) != 0) return Status::FromErrno(errno, "fsync " + final_name_);
  // close() can be where a network file system reports a lost write, so it is checked too.
  Status closed = fd_.Close("close " + final_name_);
  if (!closed.ok()) return closed;
  if (sys_->RenameAt(dir_fd_.get(), tmp_name_.c_str(), dir_fd_.get(), final_name_.c_str()) != 0) {
    return Status::FromErrno(errno, "rename to " + final_name_);
  }
  committed_ = true;
  if (sys_->Fsync(dir_fd_.get()) != 0) {
    return Status::FromErrno(errno, "fsync folder of " + final_name_);
  }
  return Status::Ok();
}

Result<UserDir> UserDir::Open(Sys* sys, int storage_fd, uint32_t user_id, bool create) {
  Result<UniqueFd> dir = OpenOrMakeDir(sys, storage_fd, std::to_string(user_id), create);
  if (!dir.ok()) return dir.status();
  return UserDir(sys, std::move(*dir));
}

Result<Upload> UserDir::BeginUpload(const std::string& name) {
  Result<std::vector<std::string>> parts = SplitName(name);
  if (!parts.ok()) return parts.status();
  const std::string& leaf = parts->back();
  // A descriptor of our own for the target's folder: the Upload outlives this call.
  Result<UniqueFd> dir = OpenDir(sys_, fd_.get(), ".");
  if (!dir.ok()) return dir.status();
  for (size_t i = 0; i + 1 < parts->size(); ++i) {
    Result<UniqueFd> child = OpenOrMakeDir(sys_, dir->get(), (*parts)[i], true);
    if (!child.ok()) return child.status();
    dir = std::move(child);
  }
  struct stat st {};
  if (sys_->FstatAt(dir->get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISDIR(st.st_mode)) return Status::Invalid(name + " is a folder");
  } else if (errno != ENOENT) {
    return Status::FromErrno(errno, "stat " + name);
  }
  SweepStaleTemps(sys_, dir->get());
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    Result<std::string> tmp = TempName(sys_);
    if (!tmp.ok()) return tmp.status();
    UniqueFd fd(sys_->OpenAt2(dir->get(), tmp->c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC,
                              kFileMode, kResolve));
    if (!fd.valid()) {
      if (errno == EEXIST) continue;
      return Status::FromErrno(errno, "create temp file for " + name);
    }
    // Constructed at once so that any failure below still unlinks the temp file.
    Upload upload(sys_, std::move(*dir), std::move(*tmp), leaf, std::move(fd));
    if (sys_->Fchmod(upload.fd(), kFileMode) != 0) return Status::FromErrno(errno, "chmod " + name);
    return Result<Upload>(std::move(upload));
  }
  return Status::IoError("no free temp file name for " + name);
}

Result<OpenFile> UserDir::OpenForRead(const std::string& name) {
  Result<std::vector<std::string>> parts = SplitName(name);
  if (!parts.ok()) return parts.status();
  // O_NONBLOCK so a FIFO planted under the name cannot hang the worker in open(); it changes
  // nothing for the regular files we go on to accept.
  UniqueFd fd(sys_->OpenAt2(fd_.get(), name.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                            0, kResolve));
  if (!fd.valid()) return Status::FromErrno(errno, "open " + name);
  struct stat st {};
  if (sys_->FstatAt(fd.get(), "", &st, AT_EMPTY_PATH) != 0) {
    return Status::FromErrno(errno, "stat " + name);
  }
  if (!S_ISREG(st.st_mode)) return Status::NotFound(name + " is not a file");
  OpenFile file;
  file.fd = std::move(fd);
  file.size = static_cast<uint64_t>(st.st_size);
  return Result<OpenFile>(std::move(file));
}

Status UserDir::Remove(const std::string& name) {
  Result<std::vector<std::string>> parts = SplitName(name);
  if (!parts.ok()) return parts.status();
  const std::string& leaf = parts->back();
  // chain[i] is the folder holding (*parts)[i]; kept open to prune upward without re-resolving.
  std::vector<UniqueFd> chain;
  {
    Result<UniqueFd> top = OpenDir(sys_, fd_.get(), ".");
    if (!top.ok()) return top.status();
    chain.push_back(std::move(*top));
  }
  for (size_t i = 0; i + 1 < parts->size(); ++i) {
    Result<UniqueFd> child = OpenDir(sys_, chain.back().get(), (*parts)[i]);
    if (!child.ok()) return child.status();
    chain.push_back(std::move(*child));
  }
  struct stat st {};
  if (sys_->FstatAt(chain.back().get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return Status::FromErrno(errno, "stat " + name);
  }
  // Only stored files are the user's to delete: folders go only by pruning, and anything else
  // (a planted link, a FIFO) is not something List ever showed.
  if (!S_ISREG(st.st_mode)) return Status::NotFound(name + " is not a file");
  if (sys_->UnlinkAt(chain.back().get(), leaf.c_str(), 0) != 0) {
    return Status::FromErrno(errno, "unlink " + name);
  }
  // The file is gone, so the delete succeeded; a folder that cannot be pruned (not empty, or an
  // upload just put a file in it) simply stays. chain[0] is the user's folder, never removed.
  for (size_t i = chain.size() - 1; i > 0; --i) {
    chain.pop_back();
    if (sys_->UnlinkAt(chain.back().get(), (*parts)[i - 1].c_str(), AT_REMOVEDIR) != 0) break;
  }
  return Status::Ok();
}

Result<std::vector<std::string>> UserDir::List() {
  std::vector<std::string> files;
  // Depth-first with an explicit stack, each folder read and closed before its children are
  // opened, so a deep tree costs neither stack nor descriptors.
  std::vector<std::string> pending{""};
  while (!pending.empty()) {
    std::string rel = std::move(pending.back());
    pending.pop_back();
    UniqueFd folder(
        sys_->OpenAt2(fd_.get(), rel.empty() ? "." : rel.c_str(), kDirFlags, 0, kResolve));
    if (!folder.valid()) {
      if (errno == ENOENT && !rel.empty()) continue;  // pruned by a concurrent delete
      return Status::FromErrno(errno, "open folder " + (rel.empty() ? "." : rel));
    }
    Result<std::vector<DirEntry>> entries = ReadFolder(sys_, std::move(folder), rel);
    if (!entries.ok()) return entries.status();
    for (DirEntry& e : *entries) {
      if (StartsWith(e.name, kReservedPrefix)) continue;
      std::string child = rel.empty() ? std::move(e.name) : rel + "/" + e.name;
      if (e.type == DT_REG) {
        files.push_back(std::move(child));
      } else if (e.type == DT_DIR && child.size() < protocol::kMaxNameLen) {
        // Nothing deeper than a protocol name can have been stored through us.
        pending.push_back(std::move(child));
      }
    }
  }
  // std::string compares through char_traits<char>, which orders bytes as unsigned: bytewise.
  std::sort(files.begin(), files.end());
  return Result<std::vector<std::string>>(std::move(files));
}

}  // namespace backupd::worker

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
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/text.h"
#include "base/timespec.h"
#include "protocol/digest.h"
#include "protocol/wire.h"
#include "protocol/wire_v2.h"
#include "worker/upload_batch.h"
#include "worker/upload_step_hook.h"
#include "worker/versions.h"

namespace backupd::worker {
namespace {

// RESOLVE_NO_SYMLINKS also covers the last component, so a planted link is refused (ELOOP)
// rather than followed; RESOLVE_BENEATH refuses ".." and absolute paths escaping the start fd.
constexpr uint64_t kResolve =
    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
constexpr uint64_t kDirFlags = O_DIRECTORY | O_RDONLY | O_CLOEXEC;
constexpr mode_t kDirMode = 0700;
constexpr mode_t kFileMode = 0600;
using protocol::Digest;
using protocol::kReservedPrefix;
constexpr std::string_view kTmpPrefix = ".backupd-tmp-";
static_assert(kTmpPrefix.substr(0, kReservedPrefix.size()) == kReservedPrefix,
              "temp files must carry the prefix no user name may have");
constexpr std::string_view kSidecarPrefix = ".backupd-sha256-";
static_assert(kSidecarPrefix.substr(0, kReservedPrefix.size()) == kReservedPrefix,
              "sidecars must carry the prefix no user name may have");
// Where the UploadRecords are, in the user's folder.
constexpr std::string_view kRecordsFolder = ".backupd-uploads";
static_assert(kRecordsFolder.substr(0, kReservedPrefix.size()) == kReservedPrefix,
              "the records folder must carry the prefix no user name may have");
// A stored file's digest record, on its own inode where the file system keeps user attributes.
constexpr char kDigestAttribute[] = "user.backupd.sha256";
// Otherwise it goes in a sidecar, through a temp file named after the upload's own.
constexpr std::string_view kSidecarTempSuffix = "-sha256";
constexpr std::string_view kSidecarMagic = "BDSHA256";
constexpr size_t kSidecarSize = kSidecarMagic.size() + 8 + 8 + 8 + protocol::kDigestSize;
// A BACKUP_ATTRS upload's record goes on with the file's mode (u32); one without a mode keeps the
// 64 bytes above, so what op 100 writes is unchanged.
constexpr size_t kSidecarWithModeSize = kSidecarSize + 4;
// The attribute's record leaves out the inode, which the inode it is on cannot be stale against,
// and has a shorter magic: at 52 or 56 bytes it fits inside a 256-byte ext4 inode (mke2fs's
// default) beside its name, where the sidecar's 68 took a 4 KiB block of its own per file.
// Attributes written before issue 11's eighth step hold the sidecar's layout; both are read.
constexpr std::string_view kAttributeMagic = "BDS2";
constexpr size_t kAttributeSize = kAttributeMagic.size() + 8 + 8 + protocol::kDigestSize;
constexpr size_t kAttributeWithModeSize = kAttributeSize + 4;
static_assert(kAttributeWithModeSize <= 56, "56 bytes is what an ext4 inode of 256 keeps");
// A MAKE_FOLDER folder's attributes, inside it: "BDFOLDER" | mode u32 | reserved u32 (0) |
// mtime_ns i64. Its presence also keeps the folder from being pruned when its last file goes.
constexpr std::string_view kFolderSidecar = ".backupd-folder";
static_assert(kFolderSidecar.substr(0, kReservedPrefix.size()) == kReservedPrefix,
              "the folder sidecar must carry the prefix no user name may have");
constexpr std::string_view kFolderSidecarMagic = "BDFOLDER";
constexpr size_t kFolderSidecarSize = kFolderSidecarMagic.size() + 4 + 4 + 8;
// Attempts before giving up on a name that keeps colliding or a folder that keeps vanishing.
constexpr int kAttempts = 4;

// Which node this process's uploads are (SetUploadNode), and when another node's are dead.
struct UploadNode {
  std::string name = "local";
  int64_t foreign_after_seconds = 600;
};
UploadNode& ThisNode() {
  static UploadNode node;
  return node;
}

// A network file system answers ESTALE when a handle it holds names something another node
// replaced or removed (GlusterFS did, after concurrent uploads through two nodes): looked up
// again, the name resolves. NFS clients retry such lookups a few times; so do we.
bool Stale(int err) { return err == ESTALE; }

// openat2 beneath `at`, looking the name up again (a bounded few times) when it answers ESTALE.
int OpenBeneath(Sys* sys, int at, const char* path, uint64_t flags, uint64_t mode) {
  int fd = -1;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    fd = sys->OpenAt2(at, path, flags, mode, kResolve);
    if (fd >= 0 || !Stale(errno)) break;
  }
  return fd;
}

// Up to `max` bytes of the small file `name` beneath `folder` into `buf`: how many, or nullopt
// when it cannot be opened. Callers ask one byte more than a good file holds, to tell a longer
// file from it.
std::optional<size_t> ReadSmall(Sys* sys, int folder, const char* name, uint8_t* buf, size_t max) {
  UniqueFd fd(OpenBeneath(sys, folder, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0));
  if (!fd.valid()) return std::nullopt;
  size_t got = 0;
  while (got < max) {
    ssize_t n = sys->Read(fd.get(), buf + got, max - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  return got;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// What ties a digest record to the one version of the file it was written for: an overwrite is a
// new inode, and anything rewriting in place changes the mtime.
struct Stamp {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t ino = 0;
};

Stamp StampOf(const struct stat& st) {
  return {static_cast<uint64_t>(st.st_size),
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
          static_cast<uint64_t>(st.st_ino)};
}

std::string SidecarName(std::string_view leaf) {
  Digest d = protocol::Sha256Of(leaf);
  std::string name(kSidecarPrefix);
  AppendHex(name, d.data(), d.size());
  return name;
}

// Where a record is kept: a sidecar's must name the file's inode, since it can outlive the file it
// was written for; one on the file's own inode comes and goes with it.
enum class RecordPlace { kSidecar, kAttribute };

std::string EncodeDigestRecord(RecordPlace place, const Stamp& stamp, const Digest& digest,
                               uint32_t mode) {
  const bool sidecar = place == RecordPlace::kSidecar;
  std::string out(sidecar ? kSidecarMagic : kAttributeMagic);
  protocol::AppendU64(out, stamp.size);
  protocol::AppendU64(out, static_cast<uint64_t>(stamp.mtime_ns));
  if (sidecar) protocol::AppendU64(out, stamp.ino);
  out.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  if (mode != 0) protocol::AppendU32(out, mode);
  return out;
}

// A mode as a digest record keeps it, for a listing: anything but permission bits (a damaged
// record) is not known, so one bad record cannot make the whole LIST_ATTRS answer one a client
// refuses.
uint32_t KeptMode(uint32_t mode) { return mode <= protocol::v2::kMaxMode ? mode : 0; }

// The digest in a record (`got` bytes of `buf`) if it is a good one for `file`; `stale` and `mode`
// as for ReadDigest. Either layout: magic, size, mtime_ns, inode (the sidecar's only), digest, and
// a mode when the upload sent one.
std::optional<Digest> DecodeDigestRecord(const uint8_t* buf, size_t got, const Stamp& file,
                                         RecordPlace from, bool* stale, uint32_t* mode) {
  if (stale != nullptr) *stale = true;
  const auto starts = [buf](std::string_view magic) {
    return std::string_view(reinterpret_cast<const char*>(buf), magic.size()) == magic;
  };
  size_t plain = 0;  // the record's size without a mode
  const uint8_t* p = buf;
  bool has_inode = false;
  if ((got == kSidecarSize || got == kSidecarWithModeSize) && starts(kSidecarMagic)) {
    plain = kSidecarSize;
    p += kSidecarMagic.size();
    has_inode = true;
  } else if (from == RecordPlace::kAttribute &&
             (got == kAttributeSize || got == kAttributeWithModeSize) && starts(kAttributeMagic)) {
    plain = kAttributeSize;
    p += kAttributeMagic.size();
  } else {
    return std::nullopt;
  }
  if (protocol::GetU64(p) != file.size ||
      static_cast<int64_t>(protocol::GetU64(p + 8)) != file.mtime_ns) {
    return std::nullopt;
  }
  p += 16;
  if (has_inode) {
    if (protocol::GetU64(p) != file.ino) return std::nullopt;
    p += 8;
  }
  Digest d{};
  std::copy(p, p + d.size(), d.begin());
  if (stale != nullptr) *stale = false;
  if (mode != nullptr) *mode = got == plain + 4 ? KeptMode(protocol::GetU32(buf + plain)) : 0;
  return d;
}

// The digest of the file `leaf` in `folder` (stat as `file`), if its record is there and matches
// `file`: the record on the file's inode when it has one (`fd` is open on the file; -1 to look
// only for a sidecar), else its sidecar's. Any trouble reading it means no digest: the caller
// then computes one from the bytes. `stale`, when given, is set when a record exists but is not
// one for `file` (scrub tells that from none); `mode`, when given, gets the mode a fresh record
// keeps (0: none kept).
std::optional<Digest> ReadDigest(Sys* sys, int folder, std::string_view leaf, int fd,
                                 const Stamp& file, bool* stale = nullptr,
                                 uint32_t* mode = nullptr) {
  uint8_t buf[kSidecarWithModeSize + 1];
  if (fd >= 0) {
    const ssize_t got = sys->FGetXattr(fd, kDigestAttribute, buf, sizeof buf);
    if (got >= 0) {
      return DecodeDigestRecord(buf, static_cast<size_t>(got), file, RecordPlace::kAttribute, stale,
                                mode);
    }
    // Longer than any good record: there, and damaged.
    if (errno == ERANGE) {
      return DecodeDigestRecord(buf, sizeof buf, file, RecordPlace::kAttribute, stale, mode);
    }
    // ENODATA (stored with a sidecar, or before digests) or ENOTSUP (no user attributes here).
  }
  const std::optional<size_t> read =
      ReadSmall(sys, folder, SidecarName(leaf).c_str(), buf, sizeof buf);
  if (!read) return std::nullopt;
  return DecodeDigestRecord(buf, *read, file, RecordPlace::kSidecar, stale, mode);
}

// ReadDigest for the regular file `leaf` (stat as `file`) when it is not open: it is opened
// (O_NONBLOCK, as OpenForRead does, should it have turned into a FIFO since) for its attribute.
std::optional<Digest> ReadDigestOf(Sys* sys, int folder, const char* leaf, const Stamp& file,
                                   bool* stale, uint32_t* mode) {
  UniqueFd fd(OpenBeneath(sys, folder, leaf, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0));
  return ReadDigest(sys, folder, leaf, fd.get(), file, stale, mode);
}

std::string EncodeFolderSidecar(uint32_t mode, int64_t mtime_ns) {
  std::string out(kFolderSidecarMagic);
  protocol::AppendU32(out, mode);
  protocol::AppendU32(out, 0);
  protocol::AppendU64(out, static_cast<uint64_t>(mtime_ns));
  return out;
}

// The mode and mtime_ns kept in the folder `folder`'s sidecar into `file`; left 0 (not known)
// when it has none or it cannot be read.
void ReadFolderSidecar(Sys* sys, int folder, StoredFile& file) {
  uint8_t buf[kFolderSidecarSize + 1];
  const std::optional<size_t> got =
      ReadSmall(sys, folder, std::string(kFolderSidecar).c_str(), buf, sizeof buf);
  if (got != kFolderSidecarSize ||
      std::string_view(reinterpret_cast<const char*>(buf), kFolderSidecarMagic.size()) !=
          kFolderSidecarMagic) {
    return;
  }
  const uint8_t* p = buf + kFolderSidecarMagic.size();
  file.mode = KeptMode(protocol::GetU32(p));
  file.mtime_ns = static_cast<int64_t>(protocol::GetU64(p + 8));
}

Status WriteFully(Sys* sys, int fd, const void* data, size_t len, const std::string& what) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = sys->Write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "write " + what);
    }
    if (n == 0) return Status::IoError("write " + what + ": no progress");
    p += n;
    len -= static_cast<size_t>(n);
  }
  return Status::Ok();
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
  UniqueFd fd(OpenBeneath(sys, at, path.c_str(), kDirFlags, 0));
  if (!fd.valid()) return Status::FromErrno(errno, "open folder " + path);
  return Result<UniqueFd>(std::move(fd));
}

// Opens the folder `component` beneath `at`, making it (0700) first when absent and `create`.
Result<UniqueFd> OpenOrMakeDir(Sys* sys, int at, const std::string& component, bool create) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    UniqueFd dir(OpenBeneath(sys, at, component.c_str(), kDirFlags, 0));
    if (dir.valid()) return Result<UniqueFd>(std::move(dir));
    if (errno == ENOTDIR) return Status::Invalid(component + " is not a folder");
    if (errno != ENOENT || !create) return Status::FromErrno(errno, "open folder " + component);
    // Exactly 0700: the worker's umask is 077 (privdrop.cc), which leaves the owner's bits.
    if (sys->MkdirAt(at, component.c_str(), kDirMode) != 0 && errno != EEXIST) {
      // EEXIST: someone else made it; open theirs
      return Status::FromErrno(errno, "make folder " + component);
    }
  }
  return Status::IoError("folder keeps vanishing: " + component);
}

// A descriptor of its own for the folder `fd` is open on.
Result<UniqueFd> Duplicate(int fd, const std::string& folder) {
  UniqueFd copy(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!copy.valid()) return Status::FromErrno(errno, "dup folder " + folder);
  return Result<UniqueFd>(std::move(copy));
}

// Opens the folder reached through the first `depth` components of `parts` beneath `top`, one
// openat2 per component on its parent's descriptor (making missing ones with `create`). Never the
// whole path in one call: a name the protocol accepts may be 4096 bytes, which with its NUL is
// past the kernel's PATH_MAX. With `above`, the folders passed on the way (top's copy first) are
// kept there open, for a caller that goes back up; without, two descriptors at a time suffice.
Result<UniqueFd> WalkFolders(Sys* sys, int top, const std::vector<std::string>& parts, size_t depth,
                             bool create, std::vector<UniqueFd>* above = nullptr) {
  // A descriptor of our own even at depth 0: an Upload keeps it after `top` may be closed.
  Result<UniqueFd> dir = OpenDir(sys, top, ".");
  for (size_t i = 0; dir.ok() && i < depth; ++i) {
    // Without `create`, a missing folder or a file in its place both mean the name is not stored.
    Result<UniqueFd> child = create ? OpenOrMakeDir(sys, dir->get(), parts[i], true)
                                    : OpenDir(sys, dir->get(), parts[i]);
    if (above != nullptr && child.ok()) above->push_back(std::move(*dir));
    dir = std::move(child);
  }
  return dir;
}

// "<node>-<pid>-<random hex>": an upload's id, naming its temp files and its UploadRecord. The
// node and pid tell a sweep whether the writer still lives.
Result<std::string> UploadId(Sys* sys) {
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
  std::string id = ThisNode().name + "-" + std::to_string(::getpid()) + "-";
  AppendHex(id, bytes, sizeof bytes);
  return id;
}

std::string TempNameOf(std::string_view id) { return std::string(kTmpPrefix).append(id); }

// Whether the writer of upload `id` (whose record is in `records`) is gone. One of this node's
// (or a record from before node names, "<pid>-<random>"): kill(pid, 0) answers ESRCH only for a
// pid that no longer exists; a live one (or one we may not signal) keeps its files, and our own
// pid is alive. Another node's pid means nothing here: its record's age decides, as no upload
// lives longer than request_timeout.
bool WriterIsDead(Sys* sys, int records, const std::string& id) {
  const size_t random_dash = id.rfind('-');
  if (random_dash == std::string::npos || random_dash == 0) return false;
  const size_t pid_dash = id.rfind('-', random_dash - 1);
  const size_t pid_at = pid_dash == std::string::npos ? 0 : pid_dash + 1;
  if (pid_dash != std::string::npos && id.compare(0, pid_dash, ThisNode().name) != 0) {
    struct stat st {};
    if (sys->FstatAt(records, id.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return false;
    return static_cast<int64_t>(std::time(nullptr)) - static_cast<int64_t>(st.st_mtim.tv_sec) >
           ThisNode().foreign_after_seconds;
  }
  char* end = nullptr;
  const long pid = std::strtol(id.c_str() + pid_at, &end, 10);
  if (pid <= 0 || end != id.c_str() + random_dash || pid == ::getpid()) return false;
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

// A temp file just created in a folder, unlinked on destruction unless kept.
struct TempFile {
  TempFile(Sys* s, int folder) : sys(s), dir(folder) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (!name.empty() && !kept) sys->UnlinkAt(dir, name.c_str(), 0);
  }
  Sys* sys;
  int dir;
  std::string name;
  UniqueFd fd;
  bool kept = false;
};

// Creates the O_EXCL 0600 temp file `name` in temp.dir (exactly: the worker's umask is 077); `what`
// names the file it is for, in errors.
Status CreateTemp(TempFile& temp, const std::string& name, const std::string& what) {
  UniqueFd fd(temp.sys->OpenAt2(temp.dir, name.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC,
                                kFileMode, kResolve));
  // A folder another node removed under us is as gone as one removed here (ENOENT).
  if (!fd.valid() && Stale(errno)) return Status::NotFound("create temp file for " + what);
  if (!fd.valid()) return Status::FromErrno(errno, "create temp file for " + what);
  temp.name = name;
  temp.fd = std::move(fd);
  return Status::Ok();
}

// A whole small file (a sidecar) written, fsynced and closed as `name`, beside its target.
Status WriteTemp(TempFile& temp, const std::string& name, std::string_view bytes,
                 const std::string& what) {
  Status s = CreateTemp(temp, name, what);
  if (s.ok()) s = WriteFully(temp.sys, temp.fd.get(), bytes.data(), bytes.size(), what);
  if (s.ok() && temp.sys->Fsync(temp.fd.get()) != 0) s = Status::FromErrno(errno, "fsync " + what);
  if (s.ok()) s = temp.fd.Close("close " + what);
  return s;
}

struct CloseDir {
  void operator()(DIR* dir) const { closedir(dir); }
};

// What a folder entry is, as far as storage cares; symlinks and specials are kOther.
enum class EntryType { kFile, kFolder, kOther };
using EntryVisitor = std::function<void(const char* name, EntryType type)>;

// Calls `visit` for every entry of the folder `folder` but "." and "..".
Status ReadFolder(Sys* sys, UniqueFd folder, const std::string& what, const EntryVisitor& visit) {
  // On success the DIR stream owns the descriptor, and closedir() closes it.
  std::unique_ptr<DIR, CloseDir> dir(fdopendir(folder.get()));
  if (dir == nullptr) return Status::FromErrno(errno, "read folder " + what);
  folder.release();
  for (;;) {
    errno = 0;
    const struct dirent* ent = readdir(dir.get());
    if (ent == nullptr) {
      if (errno != 0) return Status::FromErrno(errno, "read folder " + what);
      return Status::Ok();
    }
    const char* name = ent->d_name;
    if (std::strcmp(name, ".") == 0 || std::strcmp(name, "..") == 0) continue;
    unsigned char type = ent->d_type;
    if (type == DT_UNKNOWN) {
      struct stat st {};
      if (sys->FstatAt(dirfd(dir.get()), name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        type = S_ISREG(st.st_mode) ? DT_REG : S_ISDIR(st.st_mode) ? DT_DIR : DT_UNKNOWN;
      }
    }
    visit(name, type == DT_REG   ? EntryType::kFile
                : type == DT_DIR ? EntryType::kFolder
                                 : EntryType::kOther);
  }
}

// One folder of a listing walk: its descriptor, and its entries' names packed in one buffer, each
// "name" (a file) or "name/" (a folder) and a NUL, with their offsets sorted by strcmp (which
// compares bytes as unsigned). The '/' makes each folder sort where its files' full names do:
// "a/x" comes after "a-b" ('/' > '-') and before "a0", as the folder's key "a/" does.
struct ListFolder {
  UniqueFd fd;
  std::string names;
  std::vector<size_t> order;
  size_t next = 0;
  size_t path_len = 0;  // length of the folder's own prefix ("", "a/", "a/b/") in the walk's path
  // With folders listed, each folder has a second entry, "name" without the '/', where the folder
  // itself sorts ("a" before "a-b", whose file sorts before "a/x"); their offsets, ascending.
  std::vector<size_t> selves;
};

// Reads and sorts the entries of `folder.fd` (the stored ones: no reserved names, no specials).
Status LoadListFolder(Sys* sys, ListFolder& folder, const std::string& what, bool selves) {
  Result<UniqueFd> reading = OpenDir(sys, folder.fd.get(), ".");
  if (!reading.ok()) return reading.status();
  Status s = ReadFolder(sys, std::move(*reading), what, [&](const char* name, EntryType type) {
    if (type == EntryType::kOther || StartsWith(name, kReservedPrefix)) return;
    if (selves && type == EntryType::kFolder) {
      folder.selves.push_back(folder.names.size());
      folder.order.push_back(folder.names.size());
      folder.names += name;
      folder.names += '\0';
    }
    folder.order.push_back(folder.names.size());
    folder.names += name;
    if (type == EntryType::kFolder) folder.names += '/';
    folder.names += '\0';
  });
  if (!s.ok()) return s;
  const char* base = folder.names.data();
  std::sort(folder.order.begin(), folder.order.end(),
            [base](size_t a, size_t b) { return std::strcmp(base + a, base + b) < 0; });
  return Status::Ok();
}

// Removes the folder `leaf` of `parent` (`name` in errors) if it holds no stored file and no
// folder: its own sidecar and stale digest sidecars go with it. Anything else in it (a stored
// entry, a live upload's temp file) refuses the delete with ENOTEMPTY.
Status RemoveEmptyFolder(Sys* sys, int parent, const std::string& leaf, const std::string& name) {
  Result<UniqueFd> dir = OpenDir(sys, parent, leaf);
  if (!dir.ok()) return dir.status();
  Result<UniqueFd> reading = OpenDir(sys, dir->get(), ".");
  if (!reading.ok()) return reading.status();
  bool stored = false;
  std::vector<std::string> sidecars;
  Status s = ReadFolder(sys, std::move(*reading), name, [&](const char* entry, EntryType type) {
    if (!StartsWith(entry, kReservedPrefix)) {
      stored = stored || type != EntryType::kOther;
    } else if (entry == kFolderSidecar || StartsWith(entry, kSidecarPrefix)) {
      sidecars.emplace_back(entry);
    }
  });
  if (!s.ok()) return s;
  const Status not_empty = Status::FromErrno(ENOTEMPTY, "delete folder " + name);
  if (stored) return not_empty;
  for (const std::string& sidecar : sidecars) sys->UnlinkAt(dir->get(), sidecar.c_str(), 0);
  if (sys->UnlinkAt(parent, leaf.c_str(), AT_REMOVEDIR) != 0) {
    return errno == ENOTEMPTY || errno == EEXIST
               ? not_empty
               : Status::FromErrno(errno, "delete folder " + name);
  }
  return Status::Ok();
}

// The components of a folder path as an UploadRecord holds it ("" is the user's own folder).
std::vector<std::string> FolderParts(const std::string& folder) {
  std::vector<std::string> parts;
  for (size_t start = 0; start < folder.size();) {
    size_t slash = std::min(folder.find('/', start), folder.size());
    parts.push_back(folder.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

// Whose temp files a record names: in a record of one upload (no NUL), `id`'s in the one folder;
// in a batch record (UploadRecord::CreateBatch), "<id>-<n>"'s in the n-th entry's folder.
struct RecordedTemp {
  std::string folder;
  std::string id;
};

// What the record `id` of `records` names; nothing if it cannot be read whole. A batch record
// holds at most one entry per upload of a batch, and one for an upload refused meanwhile.
std::optional<std::vector<RecordedTemp>> ReadRecord(Sys* sys, int records, const std::string& id) {
  UniqueFd fd(
      OpenBeneath(sys, records, id.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0));
  if (!fd.valid()) return std::nullopt;
  constexpr size_t kMaxRecord = (UploadBatch::kMaxUploads + 1) * (protocol::kMaxNameLen + 1);
  std::string text(kMaxRecord + 1, '\0');
  size_t got = 0;
  while (got < text.size()) {
    ssize_t n = sys->Read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got > kMaxRecord) return std::nullopt;
  text.resize(got);
  std::vector<RecordedTemp> temps;
  if (text.empty() || text.back() != '\0') {
    if (text.size() > protocol::kMaxNameLen) return std::nullopt;
    temps.push_back({std::move(text), id});
    return temps;
  }
  for (size_t start = 0; start < text.size();) {
    const size_t end = text.find('\0', start);
    temps.push_back({text.substr(start, end - start), id + "-" + std::to_string(temps.size())});
    start = end + 1;
  }
  return temps;
}

// Removes the temp files, then the records, of every upload whose writer is dead. A record whose
// folder is gone (its temp files went with it) is removed too; one that cannot be read stays.
void SweepDeadUploads(Sys* sys, int user_fd) {
  UniqueFd records(
      sys->OpenAt2(user_fd, std::string(kRecordsFolder).c_str(), kDirFlags, 0, kResolve));
  if (!records.valid()) return;
  Result<UniqueFd> reading = OpenDir(sys, records.get(), ".");
  if (!reading.ok()) return;
  std::vector<std::string> dead;
  ReadFolder(sys, std::move(*reading), std::string(kRecordsFolder),
             [&](const char* name, EntryType type) {
               if (type == EntryType::kFile && WriterIsDead(sys, records.get(), name)) {
                 dead.emplace_back(name);
               }
             });
  for (const std::string& id : dead) {
    std::optional<std::vector<RecordedTemp>> temps = ReadRecord(sys, records.get(), id);
    if (!temps) continue;
    bool swept = true;
    for (const RecordedTemp& t : *temps) {
      const std::vector<std::string> parts = FolderParts(t.folder);
      Result<UniqueFd> dir = WalkFolders(sys, user_fd, parts, parts.size(), false);
      if (dir.ok()) {
        const std::string temp = TempNameOf(t.id);
        sys->UnlinkAt(dir->get(), temp.c_str(), 0);
        sys->UnlinkAt(dir->get(), (temp + std::string(kSidecarTempSuffix)).c_str(), 0);
      } else if (dir.status().code() != Status::Code::kNotFound) {
        swept = false;
      }
    }
    if (swept) sys->UnlinkAt(records.get(), id.c_str(), 0);
  }
  sys->UnlinkAt(user_fd, std::string(kRecordsFolder).c_str(), AT_REMOVEDIR);
}

}  // namespace

Result<UploadRecord> UploadRecord::Make(Sys* sys, int user_fd, const std::string& id,
                                        UniqueFd* file) {
  Result<UniqueFd> user = OpenDir(sys, user_fd, ".");
  if (!user.ok()) return user.status();
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    Result<UniqueFd> records = OpenOrMakeDir(sys, user->get(), std::string(kRecordsFolder), true);
    if (!records.ok()) return records.status();
    UniqueFd fd(sys->OpenAt2(records->get(), id.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC,
                             kFileMode, kResolve));
    // ENOENT (ESTALE, on another node): the last upload of another session removed the records
    // folder in between.
    if (!fd.valid() && (errno == ENOENT || Stale(errno))) continue;
    if (!fd.valid()) return Status::FromErrno(errno, "create the record of an upload");
    *file = std::move(fd);
    return UploadRecord(sys, std::move(*user), std::move(*records), id);
  }
  return Status::IoError("the folder of upload records keeps vanishing");
}

Result<UploadRecord> UploadRecord::Create(Sys* sys, int user_fd, const std::string& id,
                                          const std::string& folder) {
  UniqueFd fd;
  Result<UploadRecord> record = Make(sys, user_fd, id, &fd);
  if (!record.ok()) return record;
  Status s = WriteFully(sys, fd.get(), folder.data(), folder.size(), "the record of an upload");
  if (s.ok()) s = fd.Close("close the record of an upload");
  if (!s.ok()) return s;
  return record;
}

Result<UploadRecord> UploadRecord::CreateBatch(Sys* sys, int user_fd, const std::string& id) {
  UniqueFd fd;
  Result<UploadRecord> record = Make(sys, user_fd, id, &fd);
  if (record.ok()) record->file_ = std::move(fd);
  return record;
}

Result<std::string> UploadRecord::Add(const std::string& folder) {
  if (!file_.valid()) return Status::Invalid("not the record of a batch");
  // NUL ends each entry: the one byte no name may hold.
  const std::string line = folder + '\0';
  Status s = WriteFully(sys_, file_.get(), line.data(), line.size(), "the record of an upload");
  if (!s.ok()) return s;
  return id_ + "-" + std::to_string(added_++);
}

void UploadRecord::Remove() {
  if (!records_.valid()) return;
  sys_->UnlinkAt(records_.get(), id_.c_str(), 0);
  records_.reset();
  // Fails, harmlessly, while another upload's record is there.
  sys_->UnlinkAt(user_.get(), std::string(kRecordsFolder).c_str(), AT_REMOVEDIR);
}

Upload::Upload(Sys* sys, UniqueFd dir_fd, std::string tmp_name, std::string final_name, UniqueFd fd,
               UploadRecord record)
    : sys_(sys),
      dir_fd_(std::move(dir_fd)),
      tmp_name_(std::move(tmp_name)),
      final_name_(std::move(final_name)),
      fd_(std::move(fd)),
      record_(std::move(record)) {}

Upload::Upload(Upload&& other) noexcept = default;

Upload::~Upload() {
  if (!dir_fd_.valid()) return;
  if (!side_tmp_.empty()) sys_->UnlinkAt(dir_fd_.get(), side_tmp_.c_str(), 0);
  if (!committed_) sys_->UnlinkAt(dir_fd_.get(), tmp_name_.c_str(), 0);
}

Status Upload::Write(const void* data, size_t len) {
  if (!fd_.valid()) return Status::Invalid("upload of " + final_name_ + " is finished");
  Status s = WriteFully(sys_, fd_.get(), data, len, final_name_);
  if (!s.ok()) return s;
  written_ += len;
  if (written_ - written_back_ >= kWritebackStep) {
    // Only a head start: if it fails the bytes stay dirty, and the fsync writes them (or fails).
    sys_->SyncFileRange(fd_.get(), static_cast<off_t>(written_back_),
                        static_cast<off_t>(written_ - written_back_), SYNC_FILE_RANGE_WRITE);
    written_back_ = written_;
  }
  return Status::Ok();
}

Status Upload::SetAttributes(uint32_t mode, int64_t mtime_ns) {
  if (!fd_.valid()) return Status::Invalid("upload of " + final_name_ + " is finished");
  // The access time is left alone: only the modification time is the client's.
  const struct timespec times[2] = {{0, UTIME_OMIT}, EpochNsToTimespec(mtime_ns)};
  if (sys_->Futimens(fd_.get(), times) != 0) {
    return Status::FromErrno(errno, "set the mtime of " + final_name_);
  }
  mode_ = mode;
  return Status::Ok();
}

Status Upload::Commit(const std::optional<Digest>& digest) {
  Status s = Stage(digest);
  if (s.ok()) s = Sync(false);
  if (s.ok()) s = Publish();
  if (s.ok()) s = SyncFolder();
  if (s.ok()) Finish();
  return s;
}

Status Upload::Stage(const std::optional<Digest>& digest) {
  if (!fd_.valid() || staged_) return Status::Invalid("upload of " + final_name_ + " is finished");
  staged_ = true;
  // The record's stamp: fsync and rename change none of size, mtime and inode.
  struct stat st {};
  if (sys_->FstatAt(fd_.get(), "", &st, AT_EMPTY_PATH) != 0) {
    return Status::FromErrno(errno, "stat " + final_name_);
  }
  if (!digest) return Status::Ok();
  const Stamp stamp = StampOf(st);
  // On the temp file's own inode, it is renamed in with the data and made durable by the data's
  // fsync, and no second file is made, renamed and later freed. Where that fails (no user
  // attributes on this file system, or a full disk), the sidecar is the way, as before.
  const std::string attribute = EncodeDigestRecord(RecordPlace::kAttribute, stamp, *digest, mode_);
  if (sys_->FSetXattr(fd_.get(), kDigestAttribute, attribute.data(), attribute.size(), 0) == 0) {
    return Status::Ok();
  }
  const std::string bytes = EncodeDigestRecord(RecordPlace::kSidecar, stamp, *digest, mode_);
  // The sidecar is made durable with the data, before the data goes in, so a full disk refuses
  // the upload instead of storing it without its digest; a crash between the two renames leaves
  // the old sidecar, which the new inode makes stale.
  TempFile side(sys_, dir_fd_.get());
  const std::string what = "digest of " + final_name_;
  Status s = CreateTemp(side, tmp_name_ + std::string(kSidecarTempSuffix), what);
  if (s.ok()) s = WriteFully(sys_, side.fd.get(), bytes.data(), bytes.size(), what);
  if (!s.ok()) return s;
  side.kept = true;
  side_tmp_ = side.name;
  side_fd_ = std::move(side.fd);
  return Status::Ok();
}

Status Upload::Sync(bool synced) {
  if (!staged_ || !fd_.valid()) return Status::Invalid("upload of " + final_name_ + " is finished");
  AtUploadStep(UploadStep::kBeforeFsync);
  if (!synced && sys_->Fsync(fd_.get()) != 0) {
    return Status::FromErrno(errno, "fsync " + final_name_);
  }
  // close() can be where a network file system reports a lost write, so it is checked too.
  Status closed = fd_.Close("close " + final_name_);
  if (!closed.ok() || !side_fd_.valid()) return closed;
  if (!synced && sys_->Fsync(side_fd_.get()) != 0) {
    return Status::FromErrno(errno, "fsync digest of " + final_name_);
  }
  return side_fd_.Close("close digest of " + final_name_);
}

Status Upload::Publish() {
  if (!staged_ || fd_.valid() || side_fd_.valid() || committed_) {
    return Status::Invalid("upload of " + final_name_ + " is not synced");
  }
  // Versions: the new file, durable now, takes its number in the name's history before it is
  // renamed in.
  if (policy_.KeepsHistory()) {
    Result<History> h = History::Open(sys_, dir_fd_.get(), final_name_, true);
    Status s = h.ok() ? h->AddUpload(tmp_name_, side_tmp_) : h.status();
    if (!s.ok()) return s;
    history_ = std::make_unique<History>(std::move(*h));
  }
  AtUploadStep(UploadStep::kBeforeRename);
  // Freeing a large file's blocks takes the rename a tenth of a second per 512 MiB: a descriptor
  // of the file being replaced (O_PATH: nothing of it is opened) moves that to its close. A file
  // kept in a history is not freed, and one that cannot be opened is replaced as before.
  if (!history_) {
    replaced_.reset(
        OpenBeneath(sys_, dir_fd_.get(), final_name_.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC, 0));
    struct stat st {};
    if (replaced_.valid() &&
        (sys_->FstatAt(replaced_.get(), "", &st, AT_EMPTY_PATH) != 0 || !S_ISREG(st.st_mode))) {
      replaced_.reset();
    }
  }
  if (sys_->RenameAt(dir_fd_.get(), tmp_name_.c_str(), dir_fd_.get(), final_name_.c_str()) != 0) {
    return Status::FromErrno(errno, "rename to " + final_name_);
  }
  committed_ = true;
  AtUploadStep(UploadStep::kAfterRename);
  const std::string sidecar = SidecarName(final_name_);
  const std::string side_name = side_tmp_;
  if (!side_tmp_.empty()) {
    if (sys_->RenameAt(dir_fd_.get(), side_tmp_.c_str(), dir_fd_.get(), sidecar.c_str()) != 0) {
      return Status::FromErrno(errno, "rename digest of " + final_name_);
    }
    side_tmp_.clear();
  } else if (sys_->UnlinkAt(dir_fd_.get(), sidecar.c_str(), 0) != 0 && errno != ENOENT) {
    return Status::FromErrno(errno, "remove old digest of " + final_name_);
  }
  if (history_) {
    // A racing upload's settle may have linked our version in under the name first; rename(2)
    // onto another link of the same inode then does nothing and leaves the temp names behind.
    sys_->UnlinkAt(dir_fd_.get(), tmp_name_.c_str(), 0);
    if (!side_name.empty()) sys_->UnlinkAt(dir_fd_.get(), side_name.c_str(), 0);
  }
  return Status::Ok();
}

Status Upload::SyncFolder() {
  if (sys_->Fsync(dir_fd_.get()) != 0) {
    return Status::FromErrno(errno, "fsync folder of " + final_name_);
  }
  return Status::Ok();
}

void Upload::Finish() {
  // Before the client hears of it: an acknowledged upload leaves nothing to sweep.
  record_.Remove();
  if (!history_) return;
  // The upload is stored whatever these say: a racing upload's settle or the next upload's
  // retention (or backupd prune) finishes what they leave. Append-only users' history is pruned
  // by the administrator only.
  history_->Settle();
  if (!policy_.append_only) {
    Pruned pruned;
    history_->Prune(policy_.keep_versions, policy_.keep_days, NowNs(), &pruned);
  }
}

void SetUploadNode(const std::string& node, int64_t foreign_after_seconds) {
  ThisNode() = {node, foreign_after_seconds};
}

Result<UserDir> UserDir::Open(Sys* sys, int storage_fd, uint32_t user_id, bool create) {
  Result<UniqueFd> dir = OpenOrMakeDir(sys, storage_fd, std::to_string(user_id), create);
  if (!dir.ok()) return dir.status();
  return UserDir(sys, std::move(*dir));
}

Status UserDir::NewWriteId(std::string* id) {
  if (!swept_) {
    SweepDeadUploads(sys_, fd_.get());
    swept_ = true;
  }
  Result<std::string> made = UploadId(sys_);
  if (!made.ok()) return made.status();
  *id = std::move(*made);
  return Status::Ok();
}

Result<UploadRecord> UserDir::StartWrite(const std::string& folder, std::string* id) {
  Status s = NewWriteId(id);
  if (!s.ok()) return s;
  // The record first: a writer killed at any later step leaves a temp file a sweep can find.
  return UploadRecord::Create(sys_, fd_.get(), *id, folder);
}

Status UserDir::StartBatch(std::optional<UploadRecord>* record) {
  std::string id;
  Status s = NewWriteId(&id);
  if (!s.ok()) return s;
  Result<UploadRecord> made = UploadRecord::CreateBatch(sys_, fd_.get(), id);
  if (!made.ok()) return made.status();
  record->emplace(std::move(*made));
  return Status::Ok();
}

Result<Upload> UserDir::BeginUpload(const std::string& name, UploadRecord* batch) {
  Result<std::vector<std::string>> parts = SplitName(name);
  if (!parts.ok()) return parts.status();
  const std::string& leaf = parts->back();
  std::string folder;
  for (size_t i = 0; i + 1 < parts->size(); ++i) folder += (i == 0 ? "" : "/") + (*parts)[i];
  std::string id;
  // In a batch the record names this upload with one more entry, and the upload holds none.
  auto join = [&]() -> Result<UploadRecord> {
    Result<std::string> added = batch->Add(folder);
    if (!added.ok()) return added.status();
    id = std::move(*added);
    return UploadRecord::None(sys_);
  };
  Result<UploadRecord> record = batch == nullptr ? StartWrite(folder, &id) : join();
  if (!record.ok()) return record.status();
  // A delete of the folder's last file prunes the emptied folder; between this upload's walk and
  // its temp file's creation that leaves it creating in a removed folder (ENOENT): walk again,
  // which makes the folder anew. Bounded, so deletes racing without end cannot keep it here.
  constexpr int kWalks = 8;
  for (int walk = 1;; ++walk) {
    const bool known = walk == 1 && last_folder_fd_.valid() && folder == last_folder_;
    Result<UniqueFd> dir = known ? Duplicate(last_folder_fd_.get(), folder)
                                 : WalkFolders(sys_, fd_.get(), *parts, parts->size() - 1, true);
    if (!dir.ok()) return dir.status();
    if (!known) {
      Result<UniqueFd> copy = Duplicate(dir->get(), folder);
      if (!copy.ok()) return copy.status();
      last_folder_ = folder;
      last_folder_fd_ = std::move(*copy);
    }
    struct stat st {};
    if (sys_->FstatAt(dir->get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      if (S_ISDIR(st.st_mode)) return Status::Invalid(name + " is a folder");
    } else if (errno != ENOENT) {
      return Status::FromErrno(errno, "stat " + name);
    }
    TempFile temp(sys_, dir->get());
    Status s = CreateTemp(temp, TempNameOf(id), name);
    if (s.code() == Status::Code::kNotFound && walk < kWalks) continue;
    if (!s.ok()) return s;
    // From here the Upload unlinks the temp file if it is never committed.
    temp.kept = true;
    Upload upload(sys_, std::move(*dir), std::move(temp.name), leaf, std::move(temp.fd),
                  std::move(*record));
    upload.policy_ = policy;
    return Result<Upload>(std::move(upload));
  }
}

Status UserDir::MakeFolder(const std::string& name, uint32_t mode, int64_t mtime_ns) {
  Result<std::vector<std::string>> parts = SplitName(name);
  if (!parts.ok()) return parts.status();
  const std::string& leaf = parts->back();
  // The sidecar's temp file is an upload's, in the folder itself: a writer killed before the
  // rename leaves it for the sweep, as an upload's.
  std::string id;
  Result<UploadRecord> record = StartWrite(name, &id);
  if (!record.ok()) return record.status();
  for (int walk = 1;; ++walk) {
    Result<UniqueFd> parent = WalkFolders(sys_, fd_.get(), *parts, parts->size() - 1, true);
    if (!parent.ok()) return parent.status();
    struct stat st {};
    if (sys_->FstatAt(parent->get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        !S_ISDIR(st.st_mode)) {
      return Status::FromErrno(EEXIST, name + " is a stored file, not a folder");
    }
    Result<UniqueFd> folder = OpenOrMakeDir(sys_, parent->get(), leaf, true);
    if (!folder.ok()) return folder.status();
    const std::string what = "attributes of folder " + name;
    TempFile temp(sys_, folder->get());
    Status s = WriteTemp(temp, TempNameOf(id), EncodeFolderSidecar(mode, mtime_ns), what);
    // A delete pruned or removed the folder after it was opened: make it anew.
    if (s.code() == Status::Code::kNotFound && walk < kAttempts) continue;
    if (!s.ok()) return s;
    if (sys_->RenameAt(folder->get(), temp.name.c_str(), folder->get(),
                       std::string(kFolderSidecar).c_str()) != 0) {
      return Status::FromErrno(errno, "rename " + what);
    }
    temp.kept = true;
    if (sys_->Fsync(folder->get()) != 0 || sys_->Fsync(parent->get()) != 0) {
      return Status::FromErrno(errno, "fsync folder " + name);
    }
    return Status::Ok();
  }
}

Result<OpenFile> UserDir::OpenForRead(const std::string& name) {
  Result<std::vector<std::string>> parts = SplitName(name);
  if (!parts.ok()) return parts.status();
  const std::string& leaf = parts->back();
  Result<UniqueFd> folder = Status::NotFound(name);
  UniqueFd fd;
  for (int attempt = 1;; ++attempt) {
    folder = WalkFolders(sys_, fd_.get(), *parts, parts->size() - 1, false);
    if (!folder.ok()) return folder.status();
    // O_NONBLOCK so a FIFO planted under the name cannot hang the worker in open(); it changes
    // nothing for the regular files we go on to accept.
    fd.reset(OpenBeneath(sys_, folder->get(), leaf.c_str(),
                         O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0));
    if (fd.valid()) break;
    // Still stale: the handle of the folder itself is; walk down to it again.
    if (!Stale(errno) || attempt == kAttempts) return Status::FromErrno(errno, "open " + name);
  }
  struct stat st {};
  if (sys_->FstatAt(fd.get(), "", &st, AT_EMPTY_PATH) != 0) {
    return Status::FromErrno(errno, "stat " + name);
  }
  if (!S_ISREG(st.st_mode)) return Status::NotFound(name + " is not a file");
  OpenFile file;
  file.size = static_cast<uint64_t>(st.st_size);
  file.digest = ReadDigest(sys_, folder->get(), leaf, fd.get(), StampOf(st), &file.stale_digest);
  file.fd = std::move(fd);
  return Result<OpenFile>(std::move(file));
}

Status UserDir::Remove(const std::string& name, Folders folders, UniqueFd* removed) {
  Result<std::vector<std::string>> parts = SplitName(name);
  if (!parts.ok()) return parts.status();
  const std::string& leaf = parts->back();
  // above[i] is the folder holding (*parts)[i], kept open to prune upward in one step per level:
  // walking down again for each would cost the square of the depth (~2048 levels at most).
  std::vector<UniqueFd> above;
  Result<UniqueFd> folder = WalkFolders(sys_, fd_.get(), *parts, parts->size() - 1, false, &above);
  if (!folder.ok()) return folder.status();
  struct stat st {};
  if (sys_->FstatAt(folder->get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return Status::FromErrno(errno, "stat " + name);
  }
  if (policy.append_only) {
    return Status::Denied(name + " was not deleted: this user is append-only (history is kept)");
  }
  // Stored files and empty folders are the user's to delete; anything else (a planted link, a
  // FIFO) is not something List ever showed.
  if (S_ISDIR(st.st_mode) && folders == Folders::kIfEmpty) {
    Status s = RemoveEmptyFolder(sys_, folder->get(), leaf, name);
    if (!s.ok()) return s;
  } else if (!S_ISREG(st.st_mode)) {
    return Status::NotFound(name + " is not a file");
  } else {
    // Versions: with history kept the file stays in it, marked deleted; without, it goes too.
    Result<History> history = History::Open(sys_, folder->get(), leaf, policy.KeepsHistory());
    if (history.ok()) {
      Status h = policy.KeepsHistory() ? history->MarkDeleted() : history->RemoveAll();
      if (!h.ok()) return h;
    } else if (history.status().code() != Status::Code::kNotFound) {
      return history.status();
    }
    UniqueFd held;
    if (removed != nullptr) {
      held.reset(
          OpenBeneath(sys_, folder->get(), leaf.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC, 0));
    }
    if (sys_->UnlinkAt(folder->get(), leaf.c_str(), 0) != 0) {
      return Status::FromErrno(errno, "unlink " + name);
    }
    if (removed != nullptr) *removed = std::move(held);
    // A sidecar left behind (none was written, or this fails) is stale for any later file.
    sys_->UnlinkAt(folder->get(), SidecarName(leaf).c_str(), 0);
  }
  // The file is gone, so the delete succeeded; a folder that cannot be pruned (not empty, or an
  // upload just put a file in it) simply stays, and so does everything above it. above[0] is the
  // user's folder, never removed.
  for (size_t i = above.size(); i > 0; --i) {
    if (sys_->UnlinkAt(above[i - 1].get(), (*parts)[i - 1].c_str(), AT_REMOVEDIR) != 0) break;
  }
  return Status::Ok();
}

Status UserDir::List(ListOptions options, const ListVisitor& visit,
                     const UnreadableFolder& unreadable, ListFolders folders) {
  const bool selves = folders == ListFolders::kVisit;
  std::vector<ListFolder> stack(1);
  Result<UniqueFd> top = OpenDir(sys_, fd_.get(), ".");
  if (!top.ok()) return top.status();
  stack.back().fd = std::move(*top);
  Status s = LoadListFolder(sys_, stack.back(), ".", selves);
  if (!s.ok()) return s;
  std::string path;  // the name of the entry at hand; folders end in '/'
  StoredFile file;   // reused, so a file costs no allocation
  while (!stack.empty()) {
    ListFolder& at = stack.back();
    if (at.next == at.order.size()) {
      stack.pop_back();
      continue;
    }
    const size_t offset = at.order[at.next++];
    const char* entry = at.names.data() + offset;
    const size_t len = std::strlen(entry);
    path.resize(at.path_len);
    path.append(entry, len);
    file.name.assign(path);
    file.size = 0;
    file.mtime_ns = 0;
    file.digest.reset();
    file.mode = 0;
    file.folder = selves && std::binary_search(at.selves.begin(), at.selves.end(), offset);
    if (file.folder) {
      if (path.size() > protocol::kMaxNameLen) continue;
      if (options == ListOptions::kWithDigests) {
        UniqueFd fd(sys_->OpenAt2(at.fd.get(), entry, kDirFlags, 0, kResolve));
        // Gone since the folder was read: not listed; unreadable: listed, attributes not known.
        if (!fd.valid() && errno == ENOENT) continue;
        if (fd.valid()) ReadFolderSidecar(sys_, fd.get(), file);
      }
      s = visit(file);
      if (!s.ok()) return s;
      continue;
    }
    if (entry[len - 1] == '/') {
      // Nothing deeper than a protocol name can have been stored through us.
      if (path.size() >= protocol::kMaxNameLen) continue;
      const std::string leaf(entry, len - 1);
      const std::string folder = path.substr(0, path.size() - 1);
      ListFolder child;
      child.path_len = path.size();
      Result<UniqueFd> fd = OpenDir(sys_, at.fd.get(), leaf);
      Status loaded = fd.ok() ? Status::Ok() : fd.status();
      if (fd.ok()) {
        child.fd = std::move(*fd);
        loaded = LoadListFolder(sys_, child, folder, selves);
      }
      if (loaded.ok()) {
        stack.push_back(std::move(child));  // `at` is not used past here
      } else if (loaded.code() != Status::Code::kNotFound) {
        // Gone (a concurrent delete pruned it) is simply not listed; anything else is told.
        unreadable(folder, loaded);
      }
      continue;
    }
    if (options == ListOptions::kWithDigests) {
      struct stat st {};
      // Gone or replaced by something else since the folder was read: not a stored file now.
      if (sys_->FstatAt(at.fd.get(), entry, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
          !S_ISREG(st.st_mode)) {
        continue;
      }
      const Stamp stamp = StampOf(st);
      file.size = stamp.size;
      file.mtime_ns = stamp.mtime_ns;
      file.digest = ReadDigestOf(sys_, at.fd.get(), entry, stamp, nullptr, &file.mode);
    }
    s = visit(file);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

namespace storage {

std::string SidecarNameOf(std::string_view leaf) { return SidecarName(leaf); }

std::optional<size_t> ReadSmallFile(Sys* sys, int folder, const char* name, uint8_t* buf,
                                    size_t max) {
  return ReadSmall(sys, folder, name, buf, max);
}

std::optional<Digest> FreshDigest(Sys* sys, int folder, const std::string& leaf,
                                  const struct stat& file, int fd, bool* stale) {
  if (fd >= 0) return ReadDigest(sys, folder, leaf, fd, StampOf(file), stale);
  // Only a regular file is opened for its attribute: never a device or FIFO planted instead.
  if (!S_ISREG(file.st_mode)) return std::nullopt;
  return ReadDigestOf(sys, folder, leaf.c_str(), StampOf(file), stale, nullptr);
}

Result<UniqueFd> OpenFolderOf(Sys* sys, int user_fd, const std::string& name, bool create,
                              std::string* leaf) {
  Result<std::vector<std::string>> parts = SplitName(name);
  if (!parts.ok()) return parts.status();
  *leaf = parts->back();
  return WalkFolders(sys, user_fd, *parts, parts->size() - 1, create);
}

Result<UniqueFd> OpenOrMakeFolder(Sys* sys, int at, const std::string& component, bool create) {
  return OpenOrMakeDir(sys, at, component, create);
}

Status ReadEntries(Sys* sys, int folder, const std::string& what,
                   const std::function<void(const char* name, EntryKind kind)>& visit) {
  Result<UniqueFd> reading = OpenDir(sys, folder, ".");
  if (!reading.ok()) return reading.status();
  return ReadFolder(sys, std::move(*reading), what, [&](const char* name, EntryType type) {
    visit(name, type == EntryType::kFile     ? EntryKind::kFile
                : type == EntryType::kFolder ? EntryKind::kFolder
                                             : EntryKind::kOther);
  });
}

}  // namespace storage

}  // namespace backupd::worker

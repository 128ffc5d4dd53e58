// worker (unprivileged, chrooted): one user's folder — every file operation a request makes,
// confined beneath that folder with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | ...).
#ifndef BACKUPD_WORKER_USER_DIR_H_
#define BACKUPD_WORKER_USER_DIR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "base/unique_fd.h"
#include "protocol/wire.h"
#include "worker/sys.h"

namespace backupd::worker {

// Names this process's uploads (temp files and records) after `node`, conf's node_name, and lets
// its sweeps remove another node's once older than `foreign_after_seconds`: no pid of theirs can
// be checked from here. Process-wide, like the pid those names also carry; a worker sets it
// before serving ("local" and 600 s until then).
void SetUploadNode(const std::string& node, int64_t foreign_after_seconds);

// The record of an upload in progress, so that the temp files of a writer killed mid-upload (which
// never unlinked them) can be found without reading any folder of stored files:
// `.backupd-uploads/<id>` in the user's folder, `<id>` being "<node>-<pid>-<random hex>" of the
// upload's temp files `.backupd-tmp-<id>` (and `.backupd-tmp-<id>-sha256`, its digest's), and
// holding the path of the folder they are in, relative to the user's. Destroying it removes it, and
// the records folder with its last record.
class UploadRecord {
 public:
  // Writes the record of `id`, whose temp files are in `folder` ("" for the user's own).
  static Result<UploadRecord> Create(Sys* sys, int user_fd, const std::string& id,
                                     const std::string& folder);
  // The record of a batch of uploads, empty at first: each Add names one more upload, with one
  // entry, "<folder>" and a NUL, appended; the n-th added (from 0) has the id "<id>-<n>". One
  // record written and removed per batch instead of one per upload.
  static Result<UploadRecord> CreateBatch(Sys* sys, int user_fd, const std::string& id);
  // A batch record's next upload, whose temp files will be in `folder`: its id.
  Result<std::string> Add(const std::string& folder);
  UploadRecord(UploadRecord&& other) noexcept = default;
  UploadRecord& operator=(UploadRecord&&) = delete;
  UploadRecord(const UploadRecord&) = delete;
  ~UploadRecord() { Remove(); }

  // Removes the record, and the records folder if that leaves it empty; once only.
  void Remove();

 private:
  friend class UserDir;
  UploadRecord(Sys* sys, UniqueFd user, UniqueFd records, std::string id)
      : sys_(sys), user_(std::move(user)), records_(std::move(records)), id_(std::move(id)) {}
  // The record file `id` made in the records folder (and the folder if absent), open to write.
  static Result<UploadRecord> Make(Sys* sys, int user_fd, const std::string& id, UniqueFd* file);
  // None: what an upload named in a batch record holds (the batch removes the record).
  static UploadRecord None(Sys* sys) { return UploadRecord(sys, UniqueFd(), UniqueFd(), ""); }
  Sys* sys_;
  UniqueFd user_;     // the user's folder, where the records folder is removed once empty
  UniqueFd records_;  // the records folder
  std::string id_;
  UniqueFd file_;  // a batch record, open for Add
  size_t added_ = 0;
};

// What a user's uploads and deletes do with history (docs/STORAGE.md, "Versions"); the session
// sets it from the config at login.
struct VersionPolicy {
  uint32_t keep_versions = 1;  // the current file included
  uint32_t keep_days = 0;
  bool append_only = false;  // never deletes, and only `backupd prune` shortens history
  // Uploads keep the file they replace and deletes keep the deleted one.
  bool KeepsHistory() const { return append_only || keep_versions > 1 || keep_days > 0; }
};

class History;  // worker/versions.h

// An upload in progress: a temp file `.backupd-tmp-*` beside its target, and its UploadRecord.
// Commit() makes it the target atomically and durably; destroying an uncommitted Upload unlinks
// the temp file, so a failed or interrupted upload leaves the previous version and no leftover.
class Upload {
 public:
  Upload(Upload&& other) noexcept;
  Upload& operator=(Upload&&) = delete;
  Upload(const Upload&) = delete;
  ~Upload();

  // Appends bytes to the temp file (loops over short writes). Every kWritebackStep bytes it
  // starts their writeback (sync_file_range), so the disk writes while the rest arrives and the
  // fsync at the end finds little left to do; the fsync stays what makes the file durable.
  Status Write(const void* data, size_t len);
  static constexpr uint64_t kWritebackStep = 8 * 1024 * 1024;
  // fsync the file, close it (checked), renameat over the target, fsync the folder. With history
  // kept (the policy), the file enters its name's history first and retention runs after. With a
  // `digest`, its record (see UserDir) goes on the temp file, or in a sidecar written before the
  // rename and renamed in after it; the target's old sidecar is removed otherwise, so no digest
  // outlives the bytes it hashed.
  // The same as Stage, Sync(false), Publish, SyncFolder and Finish in turn.
  Status Commit(const std::optional<protocol::Digest>& digest = std::nullopt);
  // BACKUP_ATTRS, once every byte is written: sets the temp file's mtime (futimens, so Commit's
  // record stamp matches it) and keeps `mode` for the digest record; the file stays 0600.
  Status SetAttributes(uint32_t mode, int64_t mtime_ns);
  // Commit's steps, for a caller making several uploads durable together (UploadBatch); each in
  // this order, each once, none after a failed one.
  // The file's stamp taken and the digest's record put on the temp file (or in a sidecar beside
  // it), nothing synced.
  Status Stage(const std::optional<protocol::Digest>& digest);
  // The temp file and any sidecar fsynced, unless `synced` (a syncfs of their file system made
  // them durable already), and closed (checked).
  Status Sync(bool synced);
  // The temp file renamed over the target, then any sidecar in (or the old one removed).
  Status Publish();
  // The folder synced, so the renames survive a crash.
  Status SyncFolder();
  // The upload record removed: nothing left to sweep once the client hears of it; then, with
  // history kept, the name's history settled and its retention applied.
  void Finish();
  // The target's folder.
  int folder_fd() const { return dir_fd_.get(); }
  // The temp file's descriptor (for splice/copy_file_range fast paths).
  int fd() const { return fd_.get(); }
  // The file Publish replaced, when it was not kept in a history: held open so that its blocks
  // are freed when the caller closes it, after the answer, not inside the rename. Empty if none.
  UniqueFd TakeReplaced() { return std::move(replaced_); }

 private:
  friend class UserDir;
  Upload(Sys* sys, UniqueFd dir_fd, std::string tmp_name, std::string final_name, UniqueFd fd,
         UploadRecord record);
  Sys* sys_;
  UniqueFd dir_fd_;       // the target's folder
  std::string tmp_name_;  // relative to dir_fd_
  std::string final_name_;
  UniqueFd fd_;
  uint64_t written_ = 0;       // bytes written to fd_
  uint64_t written_back_ = 0;  // the first bytes whose writeback Write has started
  std::string side_tmp_;  // the staged digest's temp sidecar, relative to dir_fd_, until renamed
  UniqueFd side_fd_;
  bool staged_ = false;
  bool committed_ = false;
  uint32_t mode_ = 0;     // kept in the digest record; 0: not known
  VersionPolicy policy_;  // the UserDir's at BeginUpload
  // The name's history, opened by Publish when it is kept, for Finish to settle and prune.
  std::unique_ptr<History> history_;
  UniqueFd replaced_;    // see TakeReplaced
  UploadRecord record_;  // declared last: removed only after the temp file is gone
};

// A file opened for restore.
struct OpenFile {
  UniqueFd fd;
  uint64_t size = 0;
  std::optional<protocol::Digest> digest;  // the stored one, if its record is fresh
  bool stale_digest = false;               // a record is there, but not for these bytes
};

// One version of a stored name, as LIST_VERSIONS tells it.
struct FileVersion {
  uint64_t number = 0;
  bool current = false;  // the file the name holds now
  bool deleted = false;  // the name was deleted after this version
  int64_t stored_ns = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  std::optional<protocol::Digest> digest;  // from a fresh record
};

// What a prune removed.
struct Pruned {
  uint64_t versions = 0;
  uint64_t bytes = 0;
};

// One stored file (or, with ListFolders::kVisit, folder) as a listing shows it.
struct StoredFile {
  std::string name;  // relative to the user's folder
  uint64_t size = 0;
  int64_t mtime_ns = 0;                    // a folder's: from its sidecar, 0 without one
  std::optional<protocol::Digest> digest;  // with ListOptions::kWithDigests and a fresh record
  bool folder = false;
  uint32_t mode = 0;  // with kWithDigests: the one a digest record keeps; 0 = not known
};

// The folder `<storage>/<user_id>`. Names given to its methods are already normalized by
// protocol::NormalizeName; UserDir still never lets one resolve outside the folder (".." and
// symlinks fail inside openat2 rather than relying on the caller).
//
// A digest uploaded with a file is kept in a record taken from the data file at commit,
// little-endian: on the file's inode as the attribute user.backupd.sha256, "BDS2" | size u64 |
// mtime_ns i64 | digest (52 bytes, small enough to stay inside an ext4 inode), or, where that
// cannot be set, in a sidecar beside it, `.backupd-sha256-<hex SHA-256 of the file's last
// component>` (hashed so any 255-byte component still fits NAME_MAX), "BDSHA256" | size | mtime_ns
// | inode u64 | digest (64 bytes), since a sidecar can outlive its file. A BACKUP_ATTRS upload adds
// the file's mode u32 to either. A record whose size, mtime or (a sidecar's) inode do not match the
// file is stale and ignored.
//
// A folder made by MAKE_FOLDER holds `.backupd-folder` (its mode and mtime, docs/STORAGE.md). Such
// a folder is the user's: pruning never removes it (rmdir fails on the sidecar), only a delete of
// the folder's own name, and only when it holds no stored file or folder.
class UserDir {
 public:
  // Opens (and with `create`, makes, mode 0700) the user's folder beneath storage_fd.
  // NotFound when it does not exist and !create.
  static Result<UserDir> Open(Sys* sys, int storage_fd, uint32_t user_id, bool create);
  // The folder `dir` (O_DIRECTORY), already opened for this user by someone else: the login.
  UserDir(Sys* sys, UniqueFd dir) : sys_(sys), fd_(std::move(dir)) {}
  UserDir(UserDir&& other) noexcept = default;
  UserDir& operator=(UserDir&&) = delete;
  UserDir(const UserDir&) = delete;

  // Creates missing parent folders (0700) and an O_EXCL 0600 temp file beside `name`, with its
  // UploadRecord. The first upload through a UserDir first removes the temp files of every writer
  // whose record names a pid that no longer exists (reading the records folder, not the folders
  // of stored files).
  // With `batch` (a record from StartBatch), the upload's temp files are named in that record
  // instead of one of their own.
  Result<Upload> BeginUpload(const std::string& name, UploadRecord* batch = nullptr);
  // Makes `record` a record for a batch of uploads (UploadRecord::CreateBatch); the first write
  // through this UserDir sweeps first, as for BeginUpload.
  Status StartBatch(std::optional<UploadRecord>* record);
  // A regular file for reading; NotFound if absent (or not a regular file).
  Result<OpenFile> OpenForRead(const std::string& name);
  // What Remove does with a folder's name: kRefuse (protocol v1) answers NotFound, as for any
  // name that is not a stored file; kIfEmpty (v2, issue 12) removes the folder if it holds no
  // stored file or folder, and is an IoError (ENOTEMPTY) otherwise.
  enum class Folders { kRefuse, kIfEmpty };
  // Unlinks the file and its sidecar and removes the folders it leaves empty (never the user's
  // own folder). With policy.KeepsHistory() the file stays in its history, marked deleted;
  // without, its history goes too. Denied for an append-only user. `removed`, if given, gets a
  // descriptor (O_PATH) of the file unlinked, when one could be opened: freeing a large file's
  // blocks then waits for its close, which a request leaves until after its answer.
  Status Remove(const std::string& name, Folders folders = Folders::kRefuse,
                UniqueFd* removed = nullptr);
  // Makes the folder `name` and its missing parents (0700), and writes its sidecar with `mode`
  // and `mtime_ns` atomically (temp file, rename). An IoError when `name` is a stored file.
  Status MakeFolder(const std::string& name, uint32_t mode, int64_t mtime_ns);
  // kNamesOnly: the names alone, from the folders' entries (size and mtime_ns left 0).
  // kWithDigests: each file's size and time too (a stat each), and its digest (its record read).
  enum class ListOptions { kNamesOnly, kWithDigests };
  // kVisit: folders are visited too (StoredFile::folder), each where its name sorts; with
  // kWithDigests, with the mode and mtime_ns of its sidecar.
  enum class ListFolders { kSkip, kVisit };
  // Gets each stored file in turn; the StoredFile is valid for the call only. A status other
  // than ok stops the walk, and List returns it.
  using ListVisitor = std::function<Status(const StoredFile&)>;
  // Gets each folder beneath the user's that cannot be opened or read (its name relative to the
  // user's folder, and why); the walk goes on without it.
  using UnreadableFolder = std::function<void(const std::string& folder, const Status& why)>;
  // Visits every stored regular file in bytewise order of name; temp files and reserved names
  // skipped, symlinks never followed, nothing deeper than a protocol name. Depth-first, with one
  // folder's names in memory at a time per level (each sorted so that the walk's order is the
  // names' bytewise order) and each folder opened from its parent's descriptor: memory follows
  // the largest folder and the depth, not the number of files. Fails only when the user's own
  // folder cannot be read, or as `visit` says.
  Status List(ListOptions options, const ListVisitor& visit, const UnreadableFolder& unreadable,
              ListFolders folders = ListFolders::kSkip);

  // Versions (worker/versions.cc). Every version of `name`, ascending; NotFound when it has
  // neither a current file nor history.
  Result<std::vector<FileVersion>> Versions(const std::string& name);
  // Version `number` of `name` for reading (the current file's number too); NotFound if absent.
  Result<OpenFile> OpenVersion(const std::string& name, uint64_t number);
  // Every name with history but no current file, bytewise sorted, with its newest version's
  // size, mtime and digest; TooLarge past `max` names.
  Result<std::vector<StoredFile>> ListDeleted(uint64_t max);
  // Applies `retention`'s keep_versions and keep_days to every name's history (backupd prune:
  // append_only ignored).
  Status Prune(const VersionPolicy& retention, int64_t now_ns, Pruned* pruned,
               const UnreadableFolder& unreadable);
  // Calls `visit` for every old version (not the current file) of every name, as scrub reads
  // them: the name, the version, and the version opened for reading.
  using VersionVisitor =
      std::function<Status(const std::string& name, uint64_t number, OpenFile& file)>;
  Status ForEachOldVersion(const VersionVisitor& visit, const UnreadableFolder& unreadable);

  int fd() const { return fd_.get(); }

  VersionPolicy policy;

 private:
  // What every write (an upload, a folder's sidecar) does first: the sweep, on the first write
  // through this UserDir; a fresh id in `id`; and the record of a write into `folder`.
  Result<UploadRecord> StartWrite(const std::string& folder, std::string* id);
  // The sweep, on the first write through this UserDir, and a fresh id in `id`.
  Status NewWriteId(std::string* id);

  Sys* sys_;
  UniqueFd fd_;  // O_DIRECTORY
  bool swept_ = false;
  // The last upload's folder (relative to fd_) and a descriptor of it, so that uploads into one
  // folder in a row do not walk to it again; one removed meanwhile fails the temp file's creation
  // (ENOENT), which walks anew.
  std::string last_folder_;
  UniqueFd last_folder_fd_;
};

// The pieces of UserDir the version store (worker/versions.cc) shares, so old versions sit beside
// the current file with the very same sidecars and confinement.
namespace storage {
// The sidecar of the file `leaf` in the same folder.
std::string SidecarNameOf(std::string_view leaf);
// Up to `max` bytes of the small file `name` beneath `folder` (ESTALE retried) into `buf`: how
// many, or nullopt when it cannot be opened.
std::optional<size_t> ReadSmallFile(Sys* sys, int folder, const char* name, uint8_t* buf,
                                    size_t max);
// The digest of the regular file `leaf` in `folder` if its record (on its inode, or in its
// sidecar) is fresh for `file`; `fd` is open on the file, or -1 to have it opened here.
std::optional<protocol::Digest> FreshDigest(Sys* sys, int folder, const std::string& leaf,
                                            const struct stat& file, int fd, bool* stale);
// The folder holding `name` (made, 0700, with `create`) and its last component.
Result<UniqueFd> OpenFolderOf(Sys* sys, int user_fd, const std::string& name, bool create,
                              std::string* leaf);
// The folder `component` beneath `at`, made 0700 with `create`.
Result<UniqueFd> OpenOrMakeFolder(Sys* sys, int at, const std::string& component, bool create);
// Every entry of `folder` but "." and "..": its name, and whether it is a regular file, a
// folder, or something else.
enum class EntryKind { kFile, kFolder, kOther };
Status ReadEntries(Sys* sys, int folder, const std::string& what,
                   const std::function<void(const char* name, EntryKind kind)>& visit);
}  // namespace storage

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_USER_DIR_H_

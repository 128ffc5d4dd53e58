// supervisor (root), at `backupd -t`: recognises a storage on a network file system (GlusterFS,
// NFS) and names the settings there that break read-after-write between nodes.
#ifndef BACKUPD_DAEMON_SHARED_STORAGE_H_
#define BACKUPD_DAEMON_SHARED_STORAGE_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace backupd::daemon {

enum class StorageKind { kLocal, kGluster, kNfs };

// The file system a storage folder is on, as far as sharing it between nodes matters.
struct StorageMount {
  StorageKind kind = StorageKind::kLocal;
  std::string source;   // mountinfo's source: "host:/volume" for GlusterFS, "host:/path" for NFS
  std::string options;  // mountinfo's super options (NFS: lookupcache=, nocto, ...)
};

// The mountinfo line (/proc/self/mountinfo's format) of the device `dev` ("MAJOR:MINOR") in
// `mountinfo`, as a StorageMount, given the statfs f_type of the folder: GlusterFS is FUSE
// (0x65735546) with the fstype fuse.glusterfs, NFS is NFS_SUPER_MAGIC (0x6969).
StorageMount ParseStorageMount(long f_type, const std::string& dev, const std::string& mountinfo);

// Reads statfs(storage) and /proc/self/mountinfo. A storage that cannot be examined is kLocal.
StorageMount FindStorageMount(const std::string& storage);

// GlusterFS's volume options that let one mount serve what another mount replaced: with them on,
// a restore through node B right after a backup through node A got the previous content 18 to 19
// times in 20 (tests/nodes/run.sh).
const std::vector<std::string>& GlusterReadAfterWriteOptions();

// `gluster volume get VOLUME all`'s output, or nothing when the gluster CLI is absent or fails.
using GlusterGet = std::function<std::optional<std::string>(const std::string& volume)>;
// Runs `gluster --mode=script volume get VOLUME all` (no shell), bounded by a timeout.
std::optional<std::string> RunGlusterGet(const std::string& volume);

// One sentence per setting of `mount` that breaks read-after-write between nodes; none for a
// local storage. For GlusterFS, the options of GlusterReadAfterWriteOptions() that `get` reports
// on, or all of them, to check by hand, when it reports nothing.
std::vector<std::string> SharedStorageWarnings(const StorageMount& mount, const GlusterGet& get);

}  // namespace backupd::daemon

#endif  // BACKUPD_DAEMON_SHARED_STORAGE_H_

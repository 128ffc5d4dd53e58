// supervisor (root), at `backupd -t`: which file system the storage is on (statfs and
// /proc/self/mountinfo) and, on GlusterFS or NFS, which settings break read-after-write.
#include "daemon/shared_storage.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "base/unique_fd.h"

extern char** environ;

namespace backupd::daemon {
namespace {

constexpr long kFuseSuperMagic = 0x65735546;
constexpr long kNfsSuperMagic = 0x6969;
// How long `gluster volume get` may take: a glusterd that does not answer must not hang -t.
constexpr std::chrono::seconds kGlusterTimeout{10};

// "host:/volume" or "host:volume": the volume, if it is a name gluster could have made.
std::optional<std::string> VolumeOf(const std::string& source) {
  size_t colon = source.rfind(':');
  std::string volume = source.substr(colon == std::string::npos ? 0 : colon + 1);
  if (!volume.empty() && volume[0] == '/') volume.erase(0, 1);
  if (volume.empty() || volume.find_first_not_of(
                            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") !=
                            std::string::npos) {
    return std::nullopt;
  }
  return volume;
}

// The value `gluster volume get` shows for `option`, if it shows one.
std::optional<std::string> ValueOf(const std::string& listing, const std::string& option) {
  std::istringstream lines(listing);
  std::string name, value;
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    if (words >> name >> value && name == option) return value;
  }
  return std::nullopt;
}

bool HasOption(const std::string& options, const std::string& option) {
  return ("," + options + ",").find("," + option + ",") != std::string::npos;
}

}  // namespace

StorageMount ParseStorageMount(long f_type, const std::string& dev, const std::string& mountinfo) {
  StorageMount mount;
  if (f_type != kFuseSuperMagic && f_type != kNfsSuperMagic) return mount;
  std::istringstream lines(mountinfo);
  for (std::string line; std::getline(lines, line);) {
    // id parent MAJOR:MINOR root mountpoint options [optional...] - fstype source superoptions
    std::istringstream words(line);
    std::string id, parent, device;
    if (!(words >> id >> parent >> device) || device != dev) continue;
    const size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype;
    tail >> fstype >> mount.source >> mount.options;
    if (f_type == kFuseSuperMagic && fstype == "fuse.glusterfs") mount.kind = StorageKind::kGluster;
    if (f_type == kNfsSuperMagic) mount.kind = StorageKind::kNfs;
    return mount;
  }
  return mount;
}

StorageMount FindStorageMount(const std::string& storage) {
  struct statfs fs {};
  struct stat st {};
  if (::statfs(storage.c_str(), &fs) != 0 || ::stat(storage.c_str(), &st) != 0) return {};
  std::ifstream in("/proc/self/mountinfo");
  std::ostringstream mountinfo;
  mountinfo << in.rdbuf();
  const std::string dev = std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev));
  return ParseStorageMount(static_cast<long>(fs.f_type), dev, mountinfo.str());
}

const std::vector<std::string>& GlusterReadAfterWriteOptions() {
  static const std::vector<std::string> options = {
      "performance.quick-read", "performance.io-cache", "performance.stat-prefetch",
      "performance.read-ahead", "performance.open-behind"};
  return options;
}

std::optional<std::string> RunGlusterGet(const std::string& volume) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return std::nullopt;
  UniqueFd read_end(out[0]);
  UniqueFd write_end(out[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  const char* argv[] = {"gluster",      "--mode=script", "volume", "get",
                        volume.c_str(), "all",           nullptr};
  pid_t pid = -1;
  const int spawned =
      posix_spawnp(&pid, "gluster", &actions, nullptr, const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  write_end.reset();
  if (spawned != 0) return std::nullopt;
  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + kGlusterTimeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{read_end.get(), POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) == 0) {
      ::kill(pid, SIGKILL);
      break;
    }
    char buf[4096];
    const ssize_t n = ::read(read_end.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return text;
}

std::vector<std::string> SharedStorageWarnings(const StorageMount& mount, const GlusterGet& get) {
  std::vector<std::string> warnings;
  if (mount.kind == StorageKind::kNfs) {
    if (HasOption(mount.options, "nocto")) {
      warnings.push_back("storage is on NFS (" + mount.source +
                         ") mounted with nocto: a node may read a file another node just "
                         "replaced from its cache; mount without nocto (docs/SCALING.md)");
    }
    if (!HasOption(mount.options, "lookupcache=none") &&
        !HasOption(mount.options, "lookupcache=pos")) {
      warnings.push_back("storage is on NFS (" + mount.source +
                         ") without lookupcache=positive: a name another node just stored may "
                         "look absent here; mount with lookupcache=positive (docs/SCALING.md)");
    }
    return warnings;
  }
  if (mount.kind != StorageKind::kGluster) return warnings;
  const std::optional<std::string> volume = VolumeOf(mount.source);
  const std::optional<std::string> listing = volume ? get(*volume) : std::nullopt;
  std::string unchecked;
  for (const std::string& option : GlusterReadAfterWriteOptions()) {
    if (!listing) {
      unchecked += (unchecked.empty() ? "" : ", ") + option;
      continue;
    }
    const std::optional<std::string> value = ValueOf(*listing, option);
    if (value && *value == "off") continue;
    warnings.push_back("storage is on GlusterFS volume " + *volume + " with " + option + " = " +
                       value.value_or("(not shown)") +
                       ": a node may serve the previous content of a file another node just "
                       "replaced; gluster volume set " +
                       *volume + " " + option + " off (docs/SCALING.md)");
  }
  if (!unchecked.empty()) {
    warnings.push_back("storage is on GlusterFS (" + mount.source +
                       "), whose options could not be read here (no gluster command?): make "
                       "sure these are off, or a node may serve the previous content of a file "
                       "another node just replaced: " +
                       unchecked + " (docs/SCALING.md)");
  }
  return warnings;
}

}  // namespace backupd::daemon

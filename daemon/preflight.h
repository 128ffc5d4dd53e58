// supervisor (root): checks before serving — who workers become, and a storage folder they own.
#ifndef BACKUPD_DAEMON_PREFLIGHT_H_
#define BACKUPD_DAEMON_PREFLIGHT_H_

#include "base/status.h"
#include "conf/config.h"
#include "worker/privdrop.h"

namespace backupd::daemon {

// As root: looks up `user` and `group` (refusing uid 0 or gid 0) and returns a dropping identity.
// Not as root: the current uid/gid, without chroot (a developer's machine).
Result<worker::Identity> ResolveIdentity(const conf::Config& config);

// Creates `storage` if absent, owned by the worker identity, mode 0700 — only its last component:
// a missing parent is more likely a typo than a wish, and refused. An existing folder must be a
// real directory (not a symlink) owned by that identity; it is never chowned behind the
// sysadmin's back.
Status PrepareStorage(const conf::Config& config, const worker::Identity& id);

// The gid allowed to read `backupd status` besides root, or (gid_t)-1 when status_group is empty.
Result<gid_t> ResolveStatusGroup(const conf::Config& config);

// For `backupd -t`: what PrepareStorage would refuse, without creating anything.
Status CheckStorage(const conf::Config& config, const worker::Identity& id);

// Whether the kernel has openat2 with the RESOLVE_ flags UserDir confines every path with: on
// a kernel older than 5.6 (ENOSYS), or in a sandbox that filters it, every request would fail
// with 1003 at run time, so the daemon and `-t` refuse to start instead, saying why.
Status CheckOpenat2();

#ifdef BACKUPD_TEST_HOOKS
// Test builds only: when set (to anything), CheckOpenat2 acts as on a kernel without openat2.
inline constexpr char kNoOpenat2HookEnv[] = "BACKUPD_TEST_NO_OPENAT2";
#endif

}  // namespace backupd::daemon

#endif  // BACKUPD_DAEMON_PREFLIGHT_H_

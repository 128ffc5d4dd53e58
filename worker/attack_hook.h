// worker and session child (unprivileged, fenced; test builds only): the attack hooks — reach for
// another user's file every way a compromised session could, or make a system call the filter
// forbids, to prove each way is closed.
#ifndef BACKUPD_WORKER_ATTACK_HOOK_H_
#define BACKUPD_WORKER_ATTACK_HOOK_H_

#include <optional>
#include <string>
#include <vector>

namespace backupd::worker {

// The environment variable that arms the hook: the id of the user whose `file` is attacked.
inline constexpr char kAttackHookEnv[] = "BACKUPD_TEST_ATTACK_USER";

// The victim's user id when the hook is armed (read once, before the worker drops privileges).
std::optional<std::string> AttackHookTarget();

// From the session child fenced to `folder_fd`: tries to read, write, link, rename, list or
// delete `<victim>/file` — `..` beneath the folder, absolute paths inside the chroot and in the
// real tree (`storage`), /proc/self/{fd,cwd,root}, `saved_fd` (the number of a folder descriptor
// its worker kept from an earlier connection) and every other descriptor number, openat2 without
// RESOLVE_BENEATH, chdir out of the folder, a new symlink, a symlink planted as `planted-link` in
// the folder, a hard link, a rename. One line per attempt: "test hook: NAME: refused (ERRNO
// TEXT)" or "test hook: NAME: REACHED". Nothing when `folder_fd` is the victim's own folder.
std::vector<std::string> AttackOtherUser(int folder_fd, const std::string& storage,
                                         const std::string& victim, int saved_fd);

// Arms the forbidden-call hook: "worker:CALL:USER" or "session:CALL:USER", CALL one of execve,
// socket, ptrace, open. When the login monitor hands USER's folder out, the worker (before it
// forks the session child) or the session child (once its filter is on) makes that call.
inline constexpr char kForbiddenCallEnv[] = "BACKUPD_TEST_FORBIDDEN_CALL";

struct ForbiddenCall {
  bool in_session_child = false;
  std::string call;
  std::string user;
};

// The armed hook (read once, when the worker starts); nullopt when unarmed or malformed.
std::optional<ForbiddenCall> ForbiddenCallTarget();

// Whether `folder_fd` is `user`'s folder (a sibling of it named `user` is the same folder).
bool IsFolderOf(int folder_fd, const std::string& user);

// Makes the call (an `open` of "/etc/passwd", outside any user's folder); the filter should kill
// the process in it. If it returns, the line to log: "test hook: CALL survived the filter (...)".
std::string MakeForbiddenCall(const std::string& call);

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_ATTACK_HOOK_H_

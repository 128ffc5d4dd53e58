// worker and session child (unprivileged, after the drop and the Landlock fence): the seccomp-BPF
// allow-lists. Every system call a worker may make is named here, in a group saying who needs it.
#include "worker/syscall_filter.h"

#include <linux/seccomp.h>
#include <linux/sockios.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>

#include <memory>
#include <string>

#ifdef BACKUPD_TEST_HOOKS
#include "worker/attack_hook.h"
#endif

namespace backupd::worker {

namespace {

struct ContextFree {
  void operator()(scmp_filter_ctx ctx) const { seccomp_release(ctx); }
};
using Filter = std::unique_ptr<void, ContextFree>;

// Every process of ours, whatever it serves.
constexpr int kRuntime[] = {
    // glibc and the C++ runtime: memory, locks, descriptors, clocks, signals, the process's end.
    SCMP_SYS(read),
    SCMP_SYS(write),
    SCMP_SYS(readv),
    SCMP_SYS(writev),
    SCMP_SYS(close),
    SCMP_SYS(brk),
    SCMP_SYS(mmap),
    SCMP_SYS(munmap),
    SCMP_SYS(mremap),
    SCMP_SYS(mprotect),
    SCMP_SYS(madvise),
    SCMP_SYS(futex),
    SCMP_SYS(fcntl),
    SCMP_SYS(lseek),
    SCMP_SYS(fstat),
    SCMP_SYS(newfstatat),
    SCMP_SYS(statx),
    SCMP_SYS(clock_gettime),
    SCMP_SYS(clock_nanosleep),
    SCMP_SYS(nanosleep),
    SCMP_SYS(gettimeofday),
    SCMP_SYS(getpid),
    SCMP_SYS(gettid),
    SCMP_SYS(getppid),
    SCMP_SYS(rt_sigreturn),
    SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(rt_sigaction),
    SCMP_SYS(restart_syscall),
    SCMP_SYS(exit),
    SCMP_SYS(exit_group),
    // abort(), for a broken invariant: it raises SIGABRT with tgkill on itself.
    SCMP_SYS(tgkill),
    // OpenSSL (TLS keys and nonces, SCRAM nonces after a fork) and our temp-file names.
    SCMP_SYS(getrandom),
    // The connection: deadline-bounded waits (idle and request timeouts, SIGTERM), plain send and
    // recv, restores by sendfile. sendmsg/recvmsg: the login monitor's channel (SCM_RIGHTS brings
    // the user's folder); a session child has closed it, so there they only fail with EBADF.
    SCMP_SYS(ppoll),
    SCMP_SYS(poll),
    SCMP_SYS(recvfrom),
    SCMP_SYS(sendto),
    SCMP_SYS(sendfile),
    // The end of a connection the server closes: FIN at once, then the drain (session.cc).
    SCMP_SYS(shutdown),
    SCMP_SYS(sendmsg),
    SCMP_SYS(recvmsg),
    // UserDir: every lookup is openat2 beneath the user's folder (open and openat are not here:
    // nothing after the filter opens a path any other way), the rest are *at() calls on folder
    // descriptors; pread64 reads files for v2 digests and TLS restores.
    SCMP_SYS(openat2),
    SCMP_SYS(mkdirat),
    SCMP_SYS(unlinkat),
    SCMP_SYS(renameat),
    SCMP_SYS(renameat2),
    SCMP_SYS(getdents64),
    SCMP_SYS(fsync),
    SCMP_SYS(fdatasync),
    // A large upload's writeback started while it arrives (Upload::Write), never waited on.
    SCMP_SYS(sync_file_range),
    // The group commit of a batch of uploads (upload_batch.cc): one syncfs where fstatfs shows a
    // file system whose syncfs waits for the data.
    SCMP_SYS(syncfs),
    SCMP_SYS(fstatfs),
    // futimens (glibc: utimensat on the descriptor): a BACKUP_ATTRS file's mtime.
    SCMP_SYS(utimensat),
    // A stored file's digest, kept on its inode as user.backupd.sha256 (docs/STORAGE.md).
    SCMP_SYS(fsetxattr),
    SCMP_SYS(fgetxattr),
    SCMP_SYS(pread64),
};

// The pre-forked worker only: it accepts, and forks a session child per user's folder, which
// fences itself and stacks its own filter before it serves.
constexpr int kWorkerOnly[] = {
    SCMP_SYS(accept4),
    // fork (glibc's fork is clone; the child registers its robust-futex list and rseq area).
    SCMP_SYS(clone),
    SCMP_SYS(set_robust_list),
    SCMP_SYS(rseq),
    SCMP_SYS(wait4),
    // The session child, before its own filter: closing all but its descriptors, the Landlock
    // fence, and loading its filter (libseccomp: seccomp(2)).
    SCMP_SYS(close_range),
    SCMP_SYS(landlock_create_ruleset),
    SCMP_SYS(landlock_add_rule),
    SCMP_SYS(landlock_restrict_self),
    SCMP_SYS(seccomp),
};

#ifdef BACKUPD_SANITIZE
// ASan/UBSan builds (the BACKUPD_SANITIZE CMake option): what the sanitizer runtimes call on
// their own, for stacks, limits and reports. Never in a shipped build.
constexpr int kSanitizer[] = {
    SCMP_SYS(sigaltstack),
    SCMP_SYS(sched_getaffinity),
    SCMP_SYS(prlimit64),
    SCMP_SYS(getrlimit),
    SCMP_SYS(readlink),
    SCMP_SYS(readlinkat),
    SCMP_SYS(uname),
    SCMP_SYS(sched_yield),
    // sanitizer_common probes whether memory is readable by writing it into a pipe.
    SCMP_SYS(pipe2),
    SCMP_SYS(pipe),
};
#endif

#ifdef BACKUPD_TEST_HOOKS
// The Landlock attack hook (attack_hook.cc) tries paths with the calls the filter would kill
// first; armed, the worker's filter lets them through, so the test proves the fence on its own.
// The session child's filter, stacked after the hook has run, still kills them.
constexpr int kLandlockAttackHook[] = {
    SCMP_SYS(open),   SCMP_SYS(openat), SCMP_SYS(symlinkat),
    SCMP_SYS(linkat), SCMP_SYS(chdir),  SCMP_SYS(fchdir),
};
#endif

template <typename Calls>
Status Allow(const Filter& f, const Calls& calls) {
  for (int call : calls) {
    int rc = seccomp_rule_add(f.get(), SCMP_ACT_ALLOW, call, 0);
    if (rc != 0) return Status::FromErrno(-rc, "seccomp_rule_add " + std::to_string(call));
  }
  return Status::Ok();
}

// A call allowed only when one argument (0-based `arg`) equals `value`.
struct AllowedWith {
  int call;
  unsigned arg;
  scmp_datum_t value;
};

// Both lists. kill with signal 0 sends nothing: UserDir asks whether the writer of a temp file
// still lives. ioctl(SIOCOUTQ): a client draining its socket's queue counts as progress against
// min_rate (worker/connection.cc). prctl(PR_GET_SECCOMP): the filter's own check.
const AllowedWith kRuntimeWith[] = {
    {SCMP_SYS(kill), 1, 0},
    // The version store's hard links (worker/versions.cc), never with AT_SYMLINK_FOLLOW.
    {SCMP_SYS(linkat), 4, 0},
    {SCMP_SYS(ioctl), 1, SIOCOUTQ},
    {SCMP_SYS(prctl), 0, PR_GET_SECCOMP},
};

// The worker only. It passes SIGTERM (a graceful stop) on to its session child; the session
// child, before its own filter, re-arms PR_SET_PDEATHSIG, checks no_new_privs for Landlock and
// lowers its own RLIMIT_NPROC (glibc's setrlimit is prlimit64 on pid 0: no other process's).
const AllowedWith kWorkerOnlyWith[] = {
    {SCMP_SYS(kill), 1, SIGTERM},
    {SCMP_SYS(prctl), 0, PR_SET_PDEATHSIG},
    {SCMP_SYS(prctl), 0, PR_GET_NO_NEW_PRIVS},
    {SCMP_SYS(prctl), 0, PR_SET_NO_NEW_PRIVS},
    {SCMP_SYS(prlimit64), 0, 0},
};

template <size_t N>
Status Allow(const Filter& f, const AllowedWith (&rules)[N]) {
  for (const AllowedWith& r : rules) {
    const scmp_arg_cmp cmp{r.arg, SCMP_CMP_EQ, r.value, 0};
    int rc = seccomp_rule_add_array(f.get(), SCMP_ACT_ALLOW, r.call, 1, &cmp);
    if (rc != 0) return Status::FromErrno(-rc, "seccomp_rule_add " + std::to_string(r.call));
  }
  return Status::Ok();
}

}  // namespace

void PreloadBeforeFilter() {
  OPENSSL_init_ssl(
      OPENSSL_INIT_LOAD_CONFIG | OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS,
      nullptr);
  // The first fetch of a digest loads the default provider.
  EVP_MD_free(EVP_MD_fetch(nullptr, "SHA256", nullptr));
}

Status InstallSyscallFilter(FilterFor who) {
  Filter f(seccomp_init(SCMP_ACT_KILL_PROCESS));
  if (!f) return Status::IoError("seccomp_init failed");
  Status s = Allow(f, kRuntime);
  if (s.ok()) s = Allow(f, kRuntimeWith);
  if (s.ok() && who == FilterFor::kWorker) s = Allow(f, kWorkerOnly);
  if (s.ok() && who == FilterFor::kWorker) s = Allow(f, kWorkerOnlyWith);
#ifdef BACKUPD_TEST_HOOKS
  if (s.ok() && who == FilterFor::kWorker && AttackHookTarget()) s = Allow(f, kLandlockAttackHook);
#endif
#ifdef BACKUPD_SANITIZE
  if (s.ok()) s = Allow(f, kSanitizer);
#endif
  if (!s.ok()) return s;
  int rc = seccomp_load(f.get());
  if (rc != 0) return Status::FromErrno(-rc, "seccomp_load");
  // Trust nothing: the kernel must now report this process in filter mode.
  if (::prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != SECCOMP_MODE_FILTER) {
    return Status::Denied("seccomp_load did not put the process in filter mode");
  }
  return Status::Ok();
}

}  // namespace backupd::worker

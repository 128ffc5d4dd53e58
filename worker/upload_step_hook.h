// worker session child (unprivileged, fenced; does anything only in test builds): the upload step
// hook — stops the writer at a named step of Upload::Commit so a test can SIGKILL it right there
// (or a connection's server at the start of its drain, session.cc).
#ifndef BACKUPD_WORKER_UPLOAD_STEP_HOOK_H_
#define BACKUPD_WORKER_UPLOAD_STEP_HOOK_H_

namespace backupd::worker {

// The steps of a commit a writer can be killed between.
enum class UploadStep {
  kBeforeFsync,   // every byte written to the temp file, nothing synced
  kBeforeRename,  // the temp file synced and closed, not yet renamed over the target
  kAfterRename,   // renamed over the target, the folder not yet synced
  // Not an upload's: a connection the server ends, its answer sent and its sending side shut,
  // before the drain and the close (session.cc).
  kDraining,
};

// The environment variable that arms the hook: "before-fsync", "before-rename", "after-rename"
// or "draining".
// It is read once, at program start, before any privilege is dropped.
inline constexpr char kUploadStepHookEnv[] = "BACKUPD_TEST_STOP_AT_UPLOAD_STEP";

#ifdef BACKUPD_TEST_HOOKS
// Stops this process (SIGSTOP) when the hook is armed for `step`; returns once it is continued.
void AtUploadStep(UploadStep step);
#else
inline void AtUploadStep(UploadStep) {}
#endif

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_UPLOAD_STEP_HOOK_H_

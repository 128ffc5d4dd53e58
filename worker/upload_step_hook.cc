// worker session child (unprivileged, fenced; test builds only): stops the writer at the upload
// step named in the environment.
#include "worker/upload_step_hook.h"

#include <signal.h>

#include <cstdlib>
#include <cstring>
#include <optional>

namespace backupd::worker {

namespace {

std::optional<UploadStep> ArmedStep() {
  const char* name = std::getenv(kUploadStepHookEnv);
  if (name == nullptr) return std::nullopt;
  if (std::strcmp(name, "before-fsync") == 0) return UploadStep::kBeforeFsync;
  if (std::strcmp(name, "before-rename") == 0) return UploadStep::kBeforeRename;
  if (std::strcmp(name, "after-rename") == 0) return UploadStep::kAfterRename;
  if (std::strcmp(name, "draining") == 0) return UploadStep::kDraining;
  return std::nullopt;
}

// Read at static initialization: long before the worker chroots and drops privileges.
const std::optional<UploadStep> g_armed = ArmedStep();

}  // namespace

void AtUploadStep(UploadStep step) {
  if (g_armed == step) ::raise(SIGSTOP);
}

}  // namespace backupd::worker

// worker session child (unprivileged, fenced; test builds only): cuts listings off and plays a
// server from before issue 12, ends connections as a retired worker does, as the environment asks.
#include "worker/client_test_hooks.h"

#include <cstdlib>
#include <string>

#include "base/text.h"
#include "protocol/wire_v2.h"

namespace backupd::worker {

namespace {

namespace v2 = protocol::v2;

uint64_t CutListings() {
  const char* k = std::getenv(kCutListingsEnv);
  if (k == nullptr) return 0;
  return ParseDecimal(k, 1000).value_or(0);
}

// Read at static initialization: long before the worker chroots and drops privileges.
const uint64_t g_cut_listings = CutListings();
const bool g_before_issue_12 = std::getenv(kBeforeIssue12Env) != nullptr;
const bool g_retire_after_listing = std::getenv(kRetireAfterListingEnv) != nullptr;

}  // namespace

void AfterListingCounted(UserDir& dir) {
  for (uint64_t n = 1; n <= g_cut_listings; ++n) {
    const std::string name = "0-cut-listing-" + std::to_string(n);
    if (dir.OpenForRead(name).ok()) continue;
    Result<Upload> upload = dir.BeginUpload(name);
    if (upload.ok()) upload->Commit();
    return;
  }
}

bool UnknownBeforeIssue12(uint8_t op) {
  if (!g_before_issue_12) return false;
  switch (static_cast<v2::Op>(op)) {
    case v2::Op::kBackupAttrs:
    case v2::Op::kMakeFolder:
    case v2::Op::kListAttrs:
    case v2::Op::kListVersions:
    case v2::Op::kRestoreVersion:
    case v2::Op::kListDeleted:
      return true;
    default:
      return false;
  }
}

bool RetiresAfter(uint8_t op) {
  return g_retire_after_listing && static_cast<v2::Op>(op) == v2::Op::kListAttrs;
}

}  // namespace backupd::worker

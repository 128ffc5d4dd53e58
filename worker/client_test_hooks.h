// worker session child (unprivileged, fenced; does anything only in test builds): what a client
// must live through, made to happen on demand — a listing cut off by a file stored between its
// two walks, a server from before issue 12, and a worker retired by a reload between requests.
#ifndef BACKUPD_WORKER_CLIENT_TEST_HOOKS_H_
#define BACKUPD_WORKER_CLIENT_TEST_HOOKS_H_

#include <cstdint>

#include "worker/user_dir.h"

namespace backupd::worker {

// "K": the first K listings (LIST, LIST_ATTRS) of each user that have an entry to send are cut
// off: between the walk that counts a listing and the one that sends it, a file named
// `0-cut-listing-N` (N = 1..K, the first not yet stored) is stored in the user's folder, as a
// client of the same user could. Its entry sorts before the others', so the last no longer fits.
inline constexpr char kCutListingsEnv[] = "BACKUPD_TEST_CUT_LISTINGS";
// Set (to anything): ops 103, 104 and 203-206, issue 12's additions to protocol v2, are answered
// 1017 as unknown ops, the connection closed, as a server from before them does.
inline constexpr char kBeforeIssue12Env[] = "BACKUPD_TEST_BEFORE_ISSUE_12";
// Set (to anything): a connection ends after its answer to LIST_ATTRS (203), as a worker a reload
// retires ends its connections after their current request, before the client's next.
inline constexpr char kRetireAfterListingEnv[] = "BACKUPD_TEST_RETIRE_AFTER_LISTING";

#ifdef BACKUPD_TEST_HOOKS
// Called between a listing's count and its send walk.
void AfterListingCounted(UserDir& dir);
// Whether `op` is to be refused as a server from before issue 12 would.
bool UnknownBeforeIssue12(uint8_t op);
// Whether the connection ends after answering `op`.
bool RetiresAfter(uint8_t op);
#else
inline void AfterListingCounted(UserDir&) {}
inline bool UnknownBeforeIssue12(uint8_t) { return false; }
inline bool RetiresAfter(uint8_t) { return false; }
#endif

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_CLIENT_TEST_HOOKS_H_

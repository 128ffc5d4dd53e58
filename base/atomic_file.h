// shared (root in practice): replacing a whole file so that readers see the old or the new one.
#ifndef BACKUPD_BASE_ATOMIC_FILE_H_
#define BACKUPD_BASE_ATOMIC_FILE_H_

#include <sys/types.h>

#include <string>
#include <string_view>

#include "base/status.h"

namespace backupd {

// Writes `text` to "<path>.tmp-<pid>" with exactly `mode` (whatever the umask), then renames it
// over `path`. The temp file is opened O_NOFOLLOW so a link planted at its name cannot redirect
// a root write, and removed again on any failure. Readers (node_exporter, init scripts) never see
// a half-written file.
Status WriteFileAtomically(const std::string& path, std::string_view text, mode_t mode);

}  // namespace backupd

#endif  // BACKUPD_BASE_ATOMIC_FILE_H_

// test process (any privilege): a folder tree written down as text, so two trees compare with one
// EXPECT_EQ and a difference shows as the lines that differ.
#ifndef BACKUPD_TESTS_HARNESS_TREE_SNAPSHOT_H_
#define BACKUPD_TESTS_HARNESS_TREE_SNAPSHOT_H_

#include <string>

namespace backupd::testing {

// One line per entry at or below `root` (itself as "."), sorted by path relative to it: the path,
// kind (file, folder, other), permission bits in octal, size (files), mtime to the nanosecond and
// the SHA-256 of a file's content. Symlinks are not followed. The empty string when `root` cannot
// be read.
std::string TreeSnapshot(const std::string& root);

}  // namespace backupd::testing

#endif  // BACKUPD_TESTS_HARNESS_TREE_SNAPSHOT_H_

// client (the user's privilege): gitignore-like exclude patterns for backup-client's folder walk;
// pure matching, no I/O but reading an --exclude-from file.
#ifndef BACKUPD_CLIENT_EXCLUDE_H_
#define BACKUPD_CLIENT_EXCLUDE_H_

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace backupd::client {

// A list of patterns, matched against a path relative to the walked folder ("x/y.txt"), the last
// matching pattern deciding, as in .gitignore:
// - each '/'-separated piece is matched with fnmatch(3): '*' and '?' (never matching '/'),
//   '[...]' classes, '\' escapes; '*' matches a leading '.' too;
// - a piece "**" matches zero or more whole components ("a/**/b", "**/b", "a/**");
// - a pattern with no '/' but a trailing one matches a name at any depth; one with a '/' at its
//   start or middle is anchored to the walked folder (a leading '/' is dropped);
// - a trailing '/' matches folders only;
// - a leading '!' re-includes what an earlier pattern excluded (a file inside an excluded folder
//   stays excluded: the folder is not walked); "\!" and "\#" match a literal '!' or '#'.
class ExcludeRules {
 public:
  // Adds one pattern; an empty one (or only '!' or '/') is Invalid.
  Status Add(std::string_view pattern);
  // Adds the patterns of `path`, one a line; blank lines and lines starting with '#' are skipped,
  // trailing spaces and '\r' are trimmed.
  Status AddFromFile(const std::string& path);
  // True when `relative` (no leading '/', '/'-separated) is excluded.
  bool Excluded(std::string_view relative, bool is_folder) const;
  bool empty() const { return rules_.empty(); }

 private:
  struct Rule {
    std::vector<std::string> pieces;
    bool negated = false;
    bool folders_only = false;
    bool anchored = false;
  };
  std::vector<Rule> rules_;
};

}  // namespace backupd::client

#endif  // BACKUPD_CLIENT_EXCLUDE_H_

// client (the user's privilege): matching exclude patterns piece by piece with fnmatch(3).
#include "client/exclude.h"

#include <fnmatch.h>

#include "client/client_config.h"

namespace backupd::client {
namespace {

std::vector<std::string_view> Split(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    const size_t slash = s.find('/', start);
    out.push_back(s.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) return out;
    start = slash + 1;
  }
}

// Whether `pieces` from `p` match all of `parts` from `i`; "**" takes any number of components.
bool MatchFrom(const std::vector<std::string>& pieces, size_t p,
               const std::vector<std::string_view>& parts, size_t i) {
  for (; p < pieces.size(); ++p, ++i) {
    if (pieces[p] == "**") {
      for (size_t skip = i; skip <= parts.size(); ++skip) {
        if (MatchFrom(pieces, p + 1, parts, skip)) return true;
      }
      return false;
    }
    if (i >= parts.size()) return false;
    const std::string part(parts[i]);
    if (fnmatch(pieces[p].c_str(), part.c_str(), FNM_PATHNAME) != 0) return false;
  }
  return i == parts.size();
}

}  // namespace

Status ExcludeRules::Add(std::string_view pattern) {
  const std::string original(pattern);
  Rule rule;
  if (!pattern.empty() && pattern[0] == '!') {
    rule.negated = true;
    pattern.remove_prefix(1);
  } else if (pattern.size() >= 2 && pattern[0] == '\\' &&
             (pattern[1] == '!' || pattern[1] == '#')) {
    pattern.remove_prefix(1);
  }
  if (!pattern.empty() && pattern.back() == '/') {
    rule.folders_only = true;
    pattern.remove_suffix(1);
  }
  if (!pattern.empty() && pattern[0] == '/') {
    rule.anchored = true;
    pattern.remove_prefix(1);
  }
  if (pattern.empty()) return Status::Invalid("exclude pattern '" + original + "' matches nothing");
  if (pattern.find('/') != std::string_view::npos) rule.anchored = true;
  for (std::string_view piece : Split(pattern)) {
    if (piece.empty())
      return Status::Invalid("exclude pattern '" + original + "' has an empty piece");
    rule.pieces.emplace_back(piece);
  }
  rules_.push_back(std::move(rule));
  return Status::Ok();
}

Status ExcludeRules::AddFromFile(const std::string& path) {
  Result<std::string> text = ReadSmallFile(path);
  if (!text.ok()) return text.status();
  std::string_view rest = *text;
  size_t line_no = 0;
  while (!rest.empty()) {
    ++line_no;
    const size_t eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    Status st = Add(line);
    if (!st.ok())
      return Status::Invalid(path + ":" + std::to_string(line_no) + ": " + st.message());
  }
  return Status::Ok();
}

bool ExcludeRules::Excluded(std::string_view relative, bool is_folder) const {
  const std::vector<std::string_view> parts = Split(relative);
  const std::vector<std::string_view> last = {parts.back()};
  bool excluded = false;
  for (const Rule& rule : rules_) {
    if (rule.folders_only && !is_folder) continue;
    if (MatchFrom(rule.pieces, 0, rule.anchored ? parts : last, 0)) excluded = !rule.negated;
  }
  return excluded;
}

}  // namespace backupd::client

// test process (any privilege): TreeSnapshot, by recursive lstat and read.
#include "tests/harness/tree_snapshot.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>

#include "base/text.h"
#include "protocol/digest.h"

namespace backupd::testing {
namespace {

std::string Line(const struct stat& sb) {
  const char* kind = S_ISREG(sb.st_mode) ? "file" : S_ISDIR(sb.st_mode) ? "folder" : "other";
  char buf[128];
  std::snprintf(buf, sizeof(buf), " %s %04o %" PRIu64 " %" PRId64 ".%09ld", kind,
                static_cast<unsigned>(sb.st_mode & 07777),
                S_ISREG(sb.st_mode) ? static_cast<uint64_t>(sb.st_size) : 0,
                static_cast<int64_t>(sb.st_mtim.tv_sec), sb.st_mtim.tv_nsec);
  return buf;
}

bool Add(const std::string& root, const std::string& relative,
         std::map<std::string, std::string>* out) {
  const std::string path = relative == "." ? root : root + "/" + relative;
  struct stat sb {};
  if (lstat(path.c_str(), &sb) != 0) return false;
  std::string line = Line(sb);
  if (S_ISREG(sb.st_mode)) {
    std::ifstream in(path, std::ios::binary);
    const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    protocol::Sha256 sha;
    sha.Update(data.data(), data.size());
    const protocol::Digest d = sha.Finish();
    line += ' ';
    AppendHex(line, d.data(), d.size());
  }
  (*out)[relative] = line;
  if (!S_ISDIR(sb.st_mode)) return true;
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) return false;
  bool ok = true;
  while (const dirent* ent = readdir(dir)) {
    const std::string name = ent->d_name;
    if (name == "." || name == "..") continue;
    ok = Add(root, relative == "." ? name : relative + "/" + name, out) && ok;
  }
  closedir(dir);
  return ok;
}

}  // namespace

std::string TreeSnapshot(const std::string& root) {
  std::map<std::string, std::string> lines;
  if (!Add(root, ".", &lines)) return "";
  std::string out;
  for (const auto& [relative, line] : lines) out += relative + line + "\n";
  return out;
}

}  // namespace backupd::testing

// client (the user's privilege): backup-client's version commands, `list --versions` and
// `restore --version / --before`, over a logged-in ClientV2.
#include "client/versions_command.h"

#include <unistd.h>

#include <cstdio>
#include <ctime>

#include "base/text.h"

namespace backupd::client {
namespace {

namespace v2 = protocol::v2;

constexpr int64_t kNsPerSecond = 1000000000;

}  // namespace

Result<int64_t> ParseTime(std::string_view text) {
  const Status bad = Status::Invalid("'" + EscapeUntrusted(text) +
                                     "' is not a time (give 2026-11-27T16:56:55Z, 2026-11-27 or "
                                     "@SECONDS)");
  if (!text.empty() && text[0] == '@') {
    std::optional<uint64_t> secs = ParseDecimal(text.substr(1), INT64_MAX / kNsPerSecond);
    if (!secs) return bad;
    return static_cast<int64_t>(*secs) * kNsPerSecond;
  }
  std::string s(text);
  if (!s.empty() && s.back() == 'Z') s.pop_back();
  if (s.size() == 10) s += "T00:00:00";
  if (s.size() != 19 || (s[10] != 'T' && s[10] != ' ')) return bad;
  s[10] = 'T';
  std::tm tm{};
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (end == nullptr || *end != '\0') return bad;
  const std::time_t secs = timegm(&tm);
  if (secs == static_cast<std::time_t>(-1)) return bad;
  return static_cast<int64_t>(secs) * kNsPerSecond;
}

std::string FormatUtc(int64_t ns) {
  const auto secs = static_cast<std::time_t>(ns >= 0 ? ns / kNsPerSecond
                                                     : (ns - (kNsPerSecond - 1)) / kNsPerSecond);
  std::tm tm{};
  char buf[32];
  if (gmtime_r(&secs, &tm) == nullptr ||
      strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
    return "-";
  }
  return buf;
}

std::string DigestHex(const protocol::Digest& digest) {
  if (digest == protocol::Digest{}) return "-";
  std::string out;
  AppendHex(out, digest.data(), digest.size());
  return out;
}

std::optional<uint64_t> VersionBefore(const std::vector<v2::VersionEntry>& versions,
                                      int64_t before_ns) {
  std::optional<uint64_t> found;
  int64_t newest = INT64_MIN;
  for (const v2::VersionEntry& v : versions) {
    if (v.stored_ns <= before_ns && v.stored_ns >= newest) {
      newest = v.stored_ns;
      found = v.version;
    }
  }
  return found;
}

Result<ReplyV2> ListVersionsCommand(ClientV2& client, std::string_view name, std::ostream& out) {
  Result<VersionsReplyV2> r = client.ListVersions(name);
  if (!r.ok()) return r.status();
  for (const v2::VersionEntry& v : r->versions) {
    const char* state = (v.flags & v2::kVersionCurrent) != 0   ? "current"
                        : (v.flags & v2::kVersionDeleted) != 0 ? "deleted"
                                                               : "-";
    out << v.version << ' ' << FormatUtc(v.stored_ns) << ' ' << v.size << ' ' << DigestHex(v.sha256)
        << ' ' << state << '\n';
  }
  out.flush();
  if (!out) return Status::IoError("cannot write to standard output");
  return r->reply;
}

Result<ReplyV2> RestoreVersionCommand(ClientV2& client, std::string_view name,
                                      const VersionWanted& wanted, const std::string& output,
                                      Existing existing, const ProgressFn& progress) {
  uint64_t number = wanted.number.value_or(0);
  if (wanted.before_ns) {
    Result<VersionsReplyV2> r = client.ListVersions(name);
    if (!r.ok()) return r.status();
    if (r->reply.status != static_cast<uint16_t>(v2::ResponseCode::kListOk)) return r->reply;
    std::optional<uint64_t> found = VersionBefore(r->versions, *wanted.before_ns);
    if (!found) {
      ReplyV2 none;
      none.status = static_cast<uint16_t>(v2::ResponseCode::kNotFound);
      none.name = std::string(name);
      none.message = "no version of " + EscapeUntrusted(name) + " was stored by " +
                     FormatUtc(*wanted.before_ns);
      return none;
    }
    number = *found;
  }
  return output == "-" ? client.RestoreVersionToFd(name, number, STDOUT_FILENO, progress)
                       : client.RestoreVersionToFile(name, number, output, existing, progress);
}

}  // namespace backupd::client

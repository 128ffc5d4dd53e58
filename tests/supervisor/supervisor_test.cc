// test process (root): shared pieces of the supervisor tests.
#include "tests/supervisor/supervisor_test.h"

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>

namespace backupd::testing {

namespace {

bool IsMetricNameStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':';
}

bool IsMetricNameChar(char c) {
  return IsMetricNameStart(c) || std::isdigit(static_cast<unsigned char>(c));
}

// Length of the metric name at the start of `s`, 0 if there is none.
size_t MetricNameLength(std::string_view s) {
  if (s.empty() || !IsMetricNameStart(s[0])) return 0;
  size_t n = 1;
  while (n < s.size() && IsMetricNameChar(s[n])) ++n;
  return n;
}

// Checks `{name="value",...}` at the start of `s`; returns its length, 0 if malformed.
size_t LabelSetLength(std::string_view s) {
  if (s.empty() || s[0] != '{') return 0;
  size_t i = 1;
  for (;;) {
    if (i < s.size() && s[i] == '}') return i + 1;
    size_t name = i;
    while (i < s.size() && IsMetricNameChar(s[i]) && s[i] != ':') ++i;
    if (i == name || std::isdigit(static_cast<unsigned char>(s[name]))) return 0;
    if (i + 1 >= s.size() || s[i] != '=' || s[i + 1] != '"') return 0;
    i += 2;
    while (i < s.size() && s[i] != '"') {
      if (s[i] == '\n') return 0;
      if (s[i] == '\\') {
        if (i + 1 >= s.size() || (s[i + 1] != '\\' && s[i + 1] != '"' && s[i + 1] != 'n')) {
          return 0;
        }
        ++i;
      }
      ++i;
    }
    if (i >= s.size()) return 0;
    ++i;  // the closing quote
    if (i < s.size() && s[i] == ',') ++i;
  }
}

bool ParseValue(const std::string& text, double* value) {
  if (text == "+Inf" || text == "-Inf" || text == "NaN") return true;
  if (text.empty()) return false;
  char* end = nullptr;
  *value = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size();
}

}  // namespace

void SupervisorTest::SetUp() {
  if (geteuid() != 0) GTEST_SKIP() << "needs root: backupd's workers chroot and drop to nobody";
  Status s = daemon_.Start(Options());
  ASSERT_TRUE(s.ok()) << s.ToString();
}

std::string SupervisorTest::UserDir(uint32_t user_id) const {
  return daemon_.storage() + "/" + std::to_string(user_id);
}

Result<Response> SupervisorTest::CallOnce(uint32_t user_id, protocol::Op op, std::string_view name,
                                          std::string_view payload) {
  RawClient client;
  Status s = client.Connect(daemon_.port());
  if (!s.ok()) return s;
  return client.Call(user_id, op, name, payload);
}

size_t CountOf(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

bool HasTempFile(const std::string& dir) {
  for (const std::string& name : ListDir(dir)) {
    if (name.rfind(".backupd-tmp-", 0) == 0) return true;
  }
  return false;
}

Result<Response> UploadInFlight::Finish() {
  Status s = client.Send(std::string_view(payload).substr(sent));
  if (!s.ok()) return s;
  sent = payload.size();
  return client.ReadResponse(std::chrono::seconds(60));
}

Status StartUpload(const Daemon& daemon, const std::string& dir, uint32_t user_id,
                   const std::string& name, std::string payload, size_t first_part,
                   UploadInFlight* out) {
  out->payload = std::move(payload);
  Status s = out->client.Connect(daemon.port());
  if (!s.ok()) return s;
  s = out->client.Send(RequestBytes(user_id, protocol::Op::kBackup, name,
                                    static_cast<uint32_t>(out->payload.size())));
  if (!s.ok()) return s;
  s = out->client.Send(std::string_view(out->payload).substr(0, first_part));
  if (!s.ok()) return s;
  out->sent = first_part;
  std::error_code ec;
  const std::string where = std::filesystem::weakly_canonical(dir, ec).string();
  // The worker streams into a temp file beside the target: the one holding it open is ours.
  bool found = Eventually(
      [&] {
        for (pid_t w : daemon.Workers()) {
          for (const auto& [fd, target] : ProcFds(w)) {
            if (target.rfind(where + "/.backupd-tmp-", 0) == 0) {
              out->worker = w;
              return true;
            }
          }
        }
        return false;
      },
      Millis(5000));
  if (!found) return Status::Timeout("no worker holds a .backupd-tmp- file in " + dir);
  return Status::Ok();
}

StatusReport RunStatus(const std::string& config_file) {
  StatusReport report;
  ProgramResult run = RunProgram({BackupdPath(), "status", "-c", config_file}, "/", Millis(5000));
  report.exit_code = run.exit_code;
  report.text = run.out + run.err;
  std::istringstream lines(run.out);
  std::string line;
  bool table = false;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string first;
    fields >> first;
    if (line.rfind("Supervisor PID:", 0) == 0) {
      report.supervisor = static_cast<pid_t>(std::atol(line.c_str() + 15));
    } else if (line.rfind("Generation:", 0) == 0) {
      report.generation = static_cast<uint32_t>(std::strtoul(line.c_str() + 11, nullptr, 10));
    } else if (first == "PID") {
      table = true;
    } else if (table && !first.empty()) {
      StatusRow row;
      row.pid = static_cast<pid_t>(std::atol(first.c_str()));
      fields >> row.generation >> row.state;
      report.rows.push_back(row);
    }
  }
  return report;
}

Result<std::map<std::string, double>> ParsePrometheus(const std::string& text) {
  std::map<std::string, double> samples;
  std::set<std::string> typed;
  std::set<std::string> helped;
  static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary",
                                               "untyped"};
  if (!text.empty() && text.back() != '\n') return Status::Invalid("no final newline");
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::istringstream fields(line);
      std::string hash, keyword, name, rest;
      fields >> hash >> keyword >> name;
      std::getline(fields, rest);
      if (hash != "#" || (keyword != "HELP" && keyword != "TYPE")) continue;  // a plain comment
      if (MetricNameLength(name) != name.size()) return Status::Invalid("bad name: " + line);
      if (keyword == "HELP") {
        if (!helped.insert(name).second) return Status::Invalid("second HELP: " + line);
        continue;
      }
      std::string type = rest.empty() ? "" : rest.substr(1);
      if (kTypes.count(type) == 0) return Status::Invalid("bad TYPE: " + line);
      if (!typed.insert(name).second) return Status::Invalid("second TYPE: " + line);
      for (const auto& [key, value] : samples) {
        if (key.substr(0, key.find('{')) == name) {
          return Status::Invalid("TYPE after the family's samples: " + line);
        }
      }
      continue;
    }
    std::string_view rest = line;
    size_t name_len = MetricNameLength(rest);
    if (name_len == 0) return Status::Invalid("bad sample: " + line);
    std::string name(rest.substr(0, name_len));
    rest.remove_prefix(name_len);
    std::string labels;
    if (!rest.empty() && rest[0] == '{') {
      size_t n = LabelSetLength(rest);
      if (n == 0) return Status::Invalid("bad labels: " + line);
      labels = std::string(rest.substr(0, n));
      rest.remove_prefix(n);
    }
    std::istringstream fields{std::string(rest)};
    std::string value_text, timestamp, extra;
    fields >> value_text >> timestamp >> extra;
    double value = 0;
    if (rest.empty() || rest[0] != ' ' || !ParseValue(value_text, &value) || !extra.empty()) {
      return Status::Invalid("bad value: " + line);
    }
    if (typed.count(name) == 0) return Status::Invalid("sample without a TYPE: " + line);
    if (!samples.emplace(name + labels, value).second) {
      return Status::Invalid("duplicate sample: " + line);
    }
  }
  return samples;
}

}  // namespace backupd::testing

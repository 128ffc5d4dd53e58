// tests (any user): Prometheus metrics checked by a strict exposition-format parser, and the
// atomic metrics-file write.
#include "daemon/metrics.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "tests/integration/daemon_harness.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace backupd::daemon {
namespace {

// --- A small validator of the text exposition format 0.0.4 -----------------------------------

using Labels = std::map<std::string, std::string>;  // unescaped values

struct Exposition {
  std::map<std::string, std::string> types;  // metric family -> counter, gauge, ...
  std::set<std::string> helps;
  std::map<std::pair<std::string, Labels>, double> samples;
  std::vector<std::string> errors;  // empty: the text is valid

  bool Has(const std::string& name, const Labels& labels = {}) const {
    return samples.count({name, labels}) != 0;
  }
  double Value(const std::string& name, const Labels& labels = {}) const {
    auto it = samples.find({name, labels});
    return it == samples.end() ? -1 : it->second;
  }
};

bool IsMetricName(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_' || s[0] == ':'))
    return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':')) return false;
  }
  return true;
}

bool IsLabelName(const std::string& s) {
  return IsMetricName(s) && s.find(':') == std::string::npos && s.rfind("__", 0) != 0;
}

bool ParseValue(const std::string& s, double* v) {
  if (s == "NaN" || s == "+Inf" || s == "-Inf") return true;
  if (s.empty()) return false;
  char* end = nullptr;
  *v = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

// Reads `name="value",...}` starting after '{'; `pos` ends after '}'.
bool ParseLabels(const std::string& line, size_t& pos, Labels* labels, std::string* why) {
  while (true) {
    size_t eq = line.find('=', pos);
    if (eq == std::string::npos) return *why = "label without '='", false;
    std::string name = line.substr(pos, eq - pos);
    if (!IsLabelName(name)) return *why = "bad label name '" + name + "'", false;
    pos = eq + 1;
    if (pos >= line.size() || line[pos] != '"') return *why = "label value not quoted", false;
    ++pos;
    std::string value;
    while (true) {
      if (pos >= line.size()) return *why = "unterminated label value", false;
      char c = line[pos++];
      if (c == '"') break;
      if (c == '\\') {
        if (pos >= line.size()) return *why = "dangling backslash", false;
        char e = line[pos++];
        if (e == '\\') {
          value += '\\';
        } else if (e == '"') {
          value += '"';
        } else if (e == 'n') {
          value += '\n';
        } else {
          return *why = std::string("bad escape \\") + e, false;
        }
      } else {
        value += c;
      }
    }
    if (!labels->emplace(name, value).second) return *why = "duplicate label " + name, false;
    if (pos < line.size() && line[pos] == ',') {
      ++pos;
    } else if (pos < line.size() && line[pos] == '}') {
      ++pos;
      return true;
    } else {
      return *why = "expected ',' or '}'", false;
    }
  }
}

Exposition Parse(const std::string& text) {
  Exposition x;
  if (!text.empty() && text.back() != '\n') x.errors.push_back("text does not end in a newline");
  std::set<std::string> sampled;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    std::string where = "line " + std::to_string(n) + " '" + line + "': ";
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::istringstream words(line);
      std::string hash, kind, name;
      words >> hash >> kind >> name;
      if (hash != "#" || (kind != "HELP" && kind != "TYPE")) continue;  // a plain comment
      if (!IsMetricName(name)) x.errors.push_back(where + "bad metric name");
      std::string rest;
      std::getline(words >> std::ws, rest);
      if (kind == "TYPE") {
        static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary",
                                                     "untyped"};
        if (kTypes.count(rest) == 0) x.errors.push_back(where + "bad type");
        if (!x.types.emplace(name, rest).second) x.errors.push_back(where + "second TYPE");
        if (sampled.count(name) != 0) x.errors.push_back(where + "TYPE after samples");
      } else {
        for (size_t i = 0; i < rest.size(); ++i) {
          if (rest[i] == '\\' &&
              (i + 1 >= rest.size() || (rest[i + 1] != '\\' && rest[i + 1] != 'n')))
            x.errors.push_back(where + "bad escape in HELP");
          if (rest[i] == '\\') ++i;
        }
        if (!x.helps.insert(name).second) x.errors.push_back(where + "second HELP");
      }
      continue;
    }
    size_t pos = 0;
    while (pos < line.size() && line[pos] != '{' && line[pos] != ' ') ++pos;
    std::string name = line.substr(0, pos);
    if (!IsMetricName(name)) {
      x.errors.push_back(where + "bad metric name");
      continue;
    }
    Labels labels;
    std::string why;
    if (pos < line.size() && line[pos] == '{' && !ParseLabels(line, ++pos, &labels, &why)) {
      x.errors.push_back(where + why);
      continue;
    }
    if (pos >= line.size() || line[pos] != ' ') {
      x.errors.push_back(where + "no value");
      continue;
    }
    std::istringstream fields(line.substr(pos + 1));
    std::string value, timestamp, extra;
    fields >> value >> timestamp >> extra;
    double v = 0;
    if (!ParseValue(value, &v)) x.errors.push_back(where + "value is not a number");
    if (!timestamp.empty() && timestamp.find_first_not_of("-0123456789") != std::string::npos)
      x.errors.push_back(where + "bad timestamp");
    if (!extra.empty()) x.errors.push_back(where + "trailing fields");
    if (x.types.count(name) == 0) x.errors.push_back(where + "sample before its TYPE line");
    sampled.insert(name);
    if (!x.samples.emplace(std::make_pair(name, labels), v).second)
      x.errors.push_back(where + "duplicate sample");
  }
  return x;
}

std::string Errors(const Exposition& x) {
  std::string s;
  for (const std::string& e : x.errors) s += e + "\n";
  return s;
}

TEST(ExpositionValidator, AcceptsValidTextAndUnescapesLabels) {
  Exposition x = Parse(
      "# HELP a_total Things\\n counted.\n"
      "# TYPE a_total counter\n"
      "a_total{k=\"q\\\"b\\\\s\\nn\",z=\"\"} 1.5e3 1700000000000\n"
      "# TYPE g gauge\n"
      "g -Inf\n");
  EXPECT_TRUE(x.errors.empty()) << Errors(x);
  EXPECT_EQ(x.Value("a_total", {{"k", "q\"b\\s\nn"}, {"z", ""}}), 1500);
  EXPECT_TRUE(x.Has("g"));
}

TEST(ExpositionValidator, RejectsMalformedText) {
  const char* bad[] = {
      "foo 1\n",                                          // no TYPE
      "# TYPE foo counter\nfoo 1",                        // no final newline
      "# TYPE 1foo counter\n1foo 1\n",                    // bad name
      "# TYPE foo counter\nfoo abc\n",                    // bad value
      "# TYPE foo counter\nfoo{a=\"x\\q\"} 1\n",          // bad escape
      "# TYPE foo counter\nfoo{a=\"x\ny\"} 1\n",          // raw newline in a value
      "# TYPE foo counter\nfoo{a=x} 1\n",                 // unquoted
      "# TYPE foo counter\n# TYPE foo counter\nfoo 1\n",  // two TYPE lines
      "# TYPE foo counter\nfoo 1\nfoo 2\n",               // duplicate sample
      "# TYPE foo countr\nfoo 1\n",                       // unknown type
      "# TYPE foo counter\nfoo{__x=\"1\"} 1\n",           // reserved label name
  };
  for (const char* text : bad) EXPECT_FALSE(Parse(text).errors.empty()) << text;
}

// --- RenderMetrics ------------------------------------------------------------------------

Scoreboard SampleBoard() {
  Scoreboard b;
  b.supervisor_pid = 1234;
  b.generation = 4;
  b.started_at = std::chrono::system_clock::from_time_t(1714564800);
  b.counters.requests[{"backup", 212}] = 10;
  b.counters.requests[{"restore", 210}] = 5;
  b.counters.requests[{"backup", 1003}] = 2;
  b.counters.bytes_in = 1000000;
  b.counters.bytes_out = 2000;
  b.counters.workers_started = 9;
  b.counters.workers_crashed = 3;
  b.counters.throttles = 2;
  b.counters.max_reached = 1;
  b.counters.reloads = 3;
  auto add = [&b](pid_t pid, ipc::WorkerState state, bool stopping) {
    WorkerSlot w;
    w.pid = pid;
    w.state = state;
    w.stopping = stopping;
    b.workers[pid] = std::move(w);
  };
  add(10, ipc::WorkerState::kIdle, false);
  add(11, ipc::WorkerState::kIdle, true);
  add(12, ipc::WorkerState::kBusy, false);
  add(13, ipc::WorkerState::kBusy, false);
  add(14, ipc::WorkerState::kBusy, true);
  add(15, ipc::WorkerState::kStarting, false);
  return b;
}

TEST(RenderMetrics, ParsesAndCarriesTheScoreboard) {
  Exposition x = Parse(RenderMetrics(SampleBoard()));
  ASSERT_TRUE(x.errors.empty()) << Errors(x);

  EXPECT_EQ(x.Value("backupd_requests_total", {{"op", "backup"}, {"status", "212"}}), 10);
  EXPECT_EQ(x.Value("backupd_requests_total", {{"op", "backup"}, {"status", "1003"}}), 2);
  EXPECT_EQ(x.Value("backupd_requests_total", {{"op", "restore"}, {"status", "210"}}), 5);
  EXPECT_EQ(x.Value("backupd_bytes_received_total"), 1000000);
  EXPECT_EQ(x.Value("backupd_bytes_sent_total"), 2000);
  EXPECT_EQ(x.Value("backupd_workers", {{"state", "idle"}}), 2);
  EXPECT_EQ(x.Value("backupd_workers", {{"state", "busy"}}), 3);
  EXPECT_EQ(x.Value("backupd_workers", {{"state", "starting"}}), 1);
  EXPECT_EQ(x.Value("backupd_worker_starts_total"), 9);
  EXPECT_EQ(x.Value("backupd_worker_crashes_total"), 3);
  EXPECT_EQ(x.Value("backupd_throttles_total"), 2);
  EXPECT_EQ(x.Value("backupd_max_workers_reached_total"), 1);
  EXPECT_EQ(x.Value("backupd_reloads_total"), 3);
  EXPECT_EQ(x.Value("backupd_generation"), 4);
  EXPECT_EQ(x.Value("backupd_start_time_seconds"), 1714564800);
  EXPECT_EQ(x.samples.size(), 15u);  // 3 request series, 3 worker states, 9 single values

  const std::map<std::string, std::string> expected_types = {
      {"backupd_requests_total", "counter"},      {"backupd_bytes_received_total", "counter"},
      {"backupd_bytes_sent_total", "counter"},    {"backupd_workers", "gauge"},
      {"backupd_worker_starts_total", "counter"}, {"backupd_worker_crashes_total", "counter"},
      {"backupd_throttles_total", "counter"},     {"backupd_max_workers_reached_total", "counter"},
      {"backupd_reloads_total", "counter"},       {"backupd_generation", "gauge"},
      {"backupd_start_time_seconds", "gauge"},
  };
  EXPECT_EQ(x.types, expected_types);
  EXPECT_EQ(x.helps.size(), expected_types.size());
}

TEST(RenderMetrics, EmptyScoreboardStillDeclaresEveryFamily) {
  Exposition x = Parse(RenderMetrics(Scoreboard{}));
  ASSERT_TRUE(x.errors.empty()) << Errors(x);
  EXPECT_EQ(x.types.size(), 11u);
  EXPECT_EQ(x.types.at("backupd_requests_total"), "counter");
  EXPECT_FALSE(x.Has("backupd_requests_total", {{"op", "backup"}, {"status", "212"}}));
  EXPECT_EQ(x.Value("backupd_workers", {{"state", "idle"}}), 0);
  EXPECT_EQ(x.Value("backupd_generation"), 1);
}

TEST(RenderMetrics, LabelValuesAreEscaped) {
  Scoreboard b;
  const std::string op = "we\"ird\\op\nx";
  b.counters.requests[{op, 1}] = 7;
  std::string text = RenderMetrics(b);
  EXPECT_NE(text.find("backupd_requests_total{op=\"we\\\"ird\\\\op\\nx\",status=\"1\"} 7\n"),
            std::string::npos)
      << text;
  Exposition x = Parse(text);
  ASSERT_TRUE(x.errors.empty()) << Errors(x);
  EXPECT_EQ(x.Value("backupd_requests_total", {{"op", op}, {"status", "1"}}), 7);
}

TEST(EscapeLabelValue, EscapesBackslashQuoteAndNewlineOnly) {
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd\te"), "a\\\"b\\\\c\\nd\te");
  EXPECT_EQ(EscapeLabelValue(""), "");
}

}  // namespace
}  // namespace backupd::daemon

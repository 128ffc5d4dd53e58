// test process (any privilege): parses Prometheus text exposition format 0.0.4, refusing what a
// scraper would refuse.
#include "tests/harness/prometheus.h"

#include <cctype>
#include <cstdlib>
#include <sstream>

namespace backupd::testing {
namespace {

bool IsMetricName(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != ':') return false;
  }
  return true;
}

// Label names are metric names without ':', and `__` prefixes are Prometheus's own.
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

// Reads `name="value",...}` from `line` at `pos` (just after '{'); `pos` ends after the '}'.
Status ParseLabels(const std::string& line, size_t& pos, PrometheusLabels* labels) {
  if (pos < line.size() && line[pos] == '}') {
    ++pos;
    return Status::Ok();
  }
  for (;;) {
    size_t eq = line.find('=', pos);
    if (eq == std::string::npos) return Status::Invalid("label without '='");
    std::string name = line.substr(pos, eq - pos);
    if (!IsLabelName(name)) return Status::Invalid("bad label name '" + name + "'");
    pos = eq + 1;
    if (pos >= line.size() || line[pos] != '"') return Status::Invalid("label value not quoted");
    ++pos;
    std::string value;
    for (;;) {
      if (pos >= line.size()) return Status::Invalid("unterminated label value");
      char c = line[pos++];
      if (c == '"') break;
      if (c != '\\') {
        value += c;
        continue;
      }
      char e = pos < line.size() ? line[pos++] : '\0';
      if (e == '\\' || e == '"') {
        value += e;
      } else if (e == 'n') {
        value += '\n';
      } else {
        return Status::Invalid("bad escape in a label value");
      }
    }
    if (!labels->emplace(name, value).second) return Status::Invalid("duplicate label " + name);
    if (pos < line.size() && line[pos] == '}') {
      ++pos;
      return Status::Ok();
    }
    if (pos >= line.size() || line[pos] != ',') return Status::Invalid("expected ',' or '}'");
    ++pos;
  }
}

// A `# HELP` or `# TYPE` line (other comments are skipped by the caller).
Status ParseDescriptor(const std::string& keyword, const std::string& name, const std::string& rest,
                       const std::set<std::string>& sampled, Exposition* x) {
  if (!IsMetricName(name)) return Status::Invalid("bad metric name");
  if (keyword == "HELP") {
    for (size_t i = 0; i < rest.size(); ++i) {
      if (rest[i] != '\\') continue;
      if (i + 1 >= rest.size() || (rest[i + 1] != '\\' && rest[i + 1] != 'n')) {
        return Status::Invalid("bad escape in HELP");
      }
      ++i;
    }
    if (!x->helps.insert(name).second) return Status::Invalid("second HELP");
    return Status::Ok();
  }
  static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary",
                                               "untyped"};
  if (kTypes.count(rest) == 0) return Status::Invalid("bad type");
  if (!x->types.emplace(name, rest).second) return Status::Invalid("second TYPE");
  if (sampled.count(name) != 0) return Status::Invalid("TYPE after the family's samples");
  return Status::Ok();
}

// A sample line; `spelled` (if given) also gets it keyed by its name and label set as written.
Status ParseSample(const std::string& line, std::set<std::string>* sampled, Exposition* x,
                   std::map<std::string, double>* spelled) {
  size_t pos = line.find_first_of("{ ");
  if (pos == std::string::npos) return Status::Invalid("no value");
  std::string name = line.substr(0, pos);
  if (!IsMetricName(name)) return Status::Invalid("bad metric name");
  PrometheusLabels labels;
  if (line[pos] == '{') {
    Status s = ParseLabels(line, ++pos, &labels);
    if (!s.ok()) return s;
  }
  const std::string as_written = line.substr(0, pos);
  if (pos >= line.size() || line[pos] != ' ') return Status::Invalid("no value");
  std::istringstream fields(line.substr(pos + 1));
  std::string value, timestamp, extra;
  fields >> value >> timestamp >> extra;
  double v = 0;
  if (!ParseValue(value, &v)) return Status::Invalid("value is not a number");
  if (!timestamp.empty() && timestamp.find_first_not_of("-0123456789") != std::string::npos) {
    return Status::Invalid("bad timestamp");
  }
  if (!extra.empty()) return Status::Invalid("trailing fields");
  if (x->types.count(name) == 0) return Status::Invalid("sample before its TYPE line");
  sampled->insert(name);
  if (!x->samples.emplace(std::make_pair(name, labels), v).second) {
    return Status::Invalid("duplicate sample");
  }
  if (spelled != nullptr) spelled->emplace(as_written, v);
  return Status::Ok();
}

Status Parse(const std::string& text, Exposition* x, std::map<std::string, double>* spelled) {
  if (!text.empty() && text.back() != '\n') {
    return Status::Invalid("text does not end in a newline");
  }
  std::set<std::string> sampled;
  std::istringstream in(text);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    Status s = Status::Ok();
    if (line[0] == '#') {
      std::istringstream words(line);
      std::string hash, keyword, name, rest;
      words >> hash >> keyword >> name;
      if (hash != "#" || (keyword != "HELP" && keyword != "TYPE")) continue;  // a plain comment
      std::getline(words >> std::ws, rest);
      s = ParseDescriptor(keyword, name, rest, sampled, x);
    } else {
      s = ParseSample(line, &sampled, x, spelled);
    }
    if (!s.ok()) {
      return Status::Invalid("line " + std::to_string(n) + " '" + line + "': " + s.message());
    }
  }
  return Status::Ok();
}

}  // namespace

bool Exposition::Has(const std::string& name, const PrometheusLabels& labels) const {
  return samples.count({name, labels}) != 0;
}

double Exposition::Value(const std::string& name, const PrometheusLabels& labels) const {
  auto it = samples.find({name, labels});
  return it == samples.end() ? -1 : it->second;
}

Result<Exposition> ParseExposition(const std::string& text) {
  Exposition x;
  Status s = Parse(text, &x, nullptr);
  if (!s.ok()) return s;
  return x;
}

Result<std::map<std::string, double>> ParsePrometheus(const std::string& text) {
  Exposition x;
  std::map<std::string, double> spelled;
  Status s = Parse(text, &x, &spelled);
  if (!s.ok()) return s;
  return spelled;
}

}  // namespace backupd::testing

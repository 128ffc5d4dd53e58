// test process (any privilege): a strict reader of the Prometheus text exposition format 0.0.4,
// the format the supervisor's metrics file promises node_exporter.
#ifndef BACKUPD_TESTS_HARNESS_PROMETHEUS_H_
#define BACKUPD_TESTS_HARNESS_PROMETHEUS_H_

#include <map>
#include <set>
#include <string>
#include <utility>

#include "base/status.h"

namespace backupd::testing {

using PrometheusLabels = std::map<std::string, std::string>;  // label name -> unescaped value

// One exposition, read whole: each family's TYPE, which families have a HELP line, every sample.
struct Exposition {
  std::map<std::string, std::string> types;  // family -> counter, gauge, ...
  std::set<std::string> helps;
  std::map<std::pair<std::string, PrometheusLabels>, double> samples;

  bool Has(const std::string& name, const PrometheusLabels& labels = {}) const;
  // The sample's value; -1 when there is no such sample.
  double Value(const std::string& name, const PrometheusLabels& labels = {}) const;
};

// Checks `text` line by line as a scraper would: `# HELP name text` (escapes \\ and \n only) and
// `# TYPE name counter|gauge|histogram|summary|untyped`, at most one each per family and the TYPE
// before the family's samples; samples `name{label="value",...} value [timestamp]`, each sample
// once; a final newline. Invalid("line N 'LINE': why") at the first line a scraper would refuse.
Result<Exposition> ParseExposition(const std::string& text);

// The same check, with each sample keyed by its name and label set exactly as the text writes
// them: `name{label="value",...}`, or `name` without labels.
Result<std::map<std::string, double>> ParsePrometheus(const std::string& text);

}  // namespace backupd::testing

#endif  // BACKUPD_TESTS_HARNESS_PROMETHEUS_H_

// supervisor (root): the scoreboard as Prometheus text-format metrics, written atomically for
// node_exporter's textfile collector.
#ifndef BACKUPD_DAEMON_METRICS_H_
#define BACKUPD_DAEMON_METRICS_H_

#include <string>
#include <string_view>

#include "base/status.h"
#include "daemon/scoreboard.h"

namespace backupd::daemon {

// The scoreboard in the Prometheus text exposition format 0.0.4: every metric family has its HELP
// and TYPE lines, even when it has no sample yet (requests by op and status), so dashboards see
// the family from the first scrape. Counters come from `board.counters` and survive reloads.
std::string RenderMetrics(const Scoreboard& board);

// Removes the metrics file ("" or an absent file is fine). node_exporter's textfile collector
// serves whatever file is there, with no notion of staleness: a file left behind by a stopped
// daemon would be scraped forever as if it were live (idle workers, counters frozen), whereas a
// missing one makes its series go stale in Prometheus and `absent(backupd_generation)` fire.
Status RemoveMetricsFile(const std::string& path);

// A label value escaped per the exposition format: backslash, double quote and newline.
std::string EscapeLabelValue(std::string_view value);

}  // namespace backupd::daemon

#endif  // BACKUPD_DAEMON_METRICS_H_

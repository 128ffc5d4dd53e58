// tests (any user): Prometheus metrics checked by the harness's strict exposition-format parser.
#include "daemon/metrics.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "tests/harness/prometheus.h"

namespace backupd::daemon {
namespace {

using testing::Exposition;
using testing::ParseExposition;

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
  b.counters.stalled = 6;
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
  Result<Exposition> parsed = ParseExposition(RenderMetrics(SampleBoard()));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  const Exposition& x = *parsed;

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
  EXPECT_EQ(x.Value("backupd_stalled_clients_total"), 6);
  EXPECT_EQ(x.Value("backupd_reloads_total"), 3);
  EXPECT_EQ(x.Value("backupd_generation"), 4);
  EXPECT_EQ(x.Value("backupd_start_time_seconds"), 1714564800);
  EXPECT_EQ(x.samples.size(), 16u);  // 3 request series, 3 worker states, 10 single values

  const std::map<std::string, std::string> expected_types = {
      {"backupd_requests_total", "counter"},
      {"backupd_bytes_received_total", "counter"},
      {"backupd_bytes_sent_total", "counter"},
      {"backupd_workers", "gauge"},
      {"backupd_worker_starts_total", "counter"},
      {"backupd_worker_crashes_total", "counter"},
      {"backupd_throttles_total", "counter"},
      {"backupd_max_workers_reached_total", "counter"},
      {"backupd_stalled_clients_total", "counter"},
      {"backupd_reloads_total", "counter"},
      {"backupd_generation", "gauge"},
      {"backupd_start_time_seconds", "gauge"},
  };
  EXPECT_EQ(x.types, expected_types);
  EXPECT_EQ(x.helps.size(), expected_types.size());
}

TEST(RenderMetrics, EmptyScoreboardStillDeclaresEveryFamily) {
  Result<Exposition> parsed = ParseExposition(RenderMetrics(Scoreboard{}));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  const Exposition& x = *parsed;
  EXPECT_EQ(x.types.size(), 12u);
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
  Result<Exposition> x = ParseExposition(text);
  ASSERT_TRUE(x.ok()) << x.status().ToString();
  EXPECT_EQ(x->Value("backupd_requests_total", {{"op", op}, {"status", "1"}}), 7);
}

TEST(EscapeLabelValue, EscapesBackslashQuoteAndNewlineOnly) {
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd\te"), "a\\\"b\\\\c\\nd\te");
  EXPECT_EQ(EscapeLabelValue(""), "");
}

}  // namespace
}  // namespace backupd::daemon

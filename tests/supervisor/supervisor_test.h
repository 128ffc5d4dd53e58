// test process (root): shared pieces of the supervisor tests — a fixture that starts backupd with
// per-test overrides, uploads left in flight, and `backupd status`.
#ifndef BACKUPD_TESTS_SUPERVISOR_SUPERVISOR_TEST_H_
#define BACKUPD_TESTS_SUPERVISOR_SUPERVISOR_TEST_H_

#include <gtest/gtest.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/harness/daemon_harness.h"
#include "tests/harness/prometheus.h"
#include "tests/harness/raw_client.h"

namespace backupd::testing {

inline constexpr uint16_t kRestoreOk = 210;
inline constexpr uint16_t kOk = 212;
inline constexpr uint16_t kError = 1003;

// Starts a daemon (as root, workers as nobody) before each test with Options(); skips without root.
class SupervisorTest : public ::testing::Test {
 protected:
  virtual DaemonOptions Options() const { return {}; }

  void SetUp() override;

  std::string UserDir(uint32_t user_id) const;
  // One request on a fresh connection.
  Result<Response> CallOnce(uint32_t user_id, protocol::Op op, std::string_view name,
                            std::string_view payload = {});

  Daemon daemon_;
};

// How many times `needle` occurs in `text`.
size_t CountOf(const std::string& text, const std::string& needle);

// A backup whose request prefix and first `sent` payload bytes are on the wire and whose worker
// has created its temp file, so the upload is provably in progress inside a worker.
struct UploadInFlight {
  RawClient client;
  std::string payload;
  size_t sent = 0;
  pid_t worker = -1;  // the worker holding the temp file open

  // Sends the rest of the payload and reads the response.
  Result<Response> Finish();
};

// Starts a backup of `payload` as `name` and sends its first `first_part` bytes; fails unless a
// worker of `daemon` opens a .backupd-tmp- file in `dir` (the target's folder) within 5 s.
Status StartUpload(const Daemon& daemon, const std::string& dir, uint32_t user_id,
                   const std::string& name, std::string payload, size_t first_part,
                   UploadInFlight* out);

// True if a `.backupd-tmp-` file is in `dir`.
bool HasTempFile(const std::string& dir);

// One row of `backupd status`'s worker table.
struct StatusRow {
  pid_t pid = 0;
  uint32_t generation = 0;
  std::string state;
};

// `backupd status -c CONF`, parsed.
struct StatusReport {
  int exit_code = -1;
  std::string text;  // stdout, then stderr
  pid_t supervisor = 0;
  uint32_t generation = 0;
  std::vector<StatusRow> rows;
};

StatusReport RunStatus(const std::string& config_file);

}  // namespace backupd::testing

#endif  // BACKUPD_TESTS_SUPERVISOR_SUPERVISOR_TEST_H_

// test process (root): shared pieces of the supervisor tests.
#include "tests/supervisor/supervisor_test.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

namespace backupd::testing {

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
  // The worker's session child streams into a temp file beside the target: the worker whose
  // child holds it open is ours.
  bool found = Eventually(
      [&] {
        for (pid_t w : daemon.Workers()) {
          std::vector<pid_t> serving = ChildrenOf(w);
          serving.push_back(w);
          for (pid_t p : serving) {
            for (const auto& [fd, target] : ProcFds(p)) {
              if (target.rfind(where + "/.backupd-tmp-", 0) == 0) {
                out->worker = w;
                return true;
              }
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

}  // namespace backupd::testing

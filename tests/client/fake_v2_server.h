// tests: a scripted protocol v2 server for the clients' tests — a real SCRAM login (ScramServer
// with a verifier from DeriveScramVerifier), files kept in memory, faults on request.
#ifndef BACKUPD_TESTS_CLIENT_FAKE_V2_SERVER_H_
#define BACKUPD_TESTS_CLIENT_FAKE_V2_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "protocol/wire_v2.h"

namespace backupd::testing {

struct FakeV2Options {
  uint32_t user = 42;
  std::string secret = "fake-secret-for-tests";
  enum class Login { kOk, kForgedSignature, kBusy } login = Login::kOk;
  bool refuse_upload_digest = false;    // answer every upload 1016
  bool corrupt_restore_digest = false;  // send a wrong digest after a restored file
  bool refuse_list = false;             // answer every list (202 and 203) 1003
  // Read every request that arrives within a short while before answering any, so a client that
  // pipelines is told apart from one that waits for each answer.
  bool hold_answers = false;
};

// Serves connections one at a time; the files outlive a connection. LIST_ATTRS lists the folders
// made with MAKE_FOLDER (not, as backupd does, every file's parents too); a file uploaded with op
// 100 has mode 0 and a fixed mtime.
class FakeV2Server {
 public:
  explicit FakeV2Server(FakeV2Options options) : options_(std::move(options)) {}
  // Serves one connection until the client closes it or a failed login ends it.
  void Serve(int fd);

  const std::map<std::string, std::string>& files() const { return files_; }
  // The mode and mtime kept for each file (sent with BACKUP_ATTRS) and each folder made.
  const std::map<std::string, protocol::v2::Attributes>& file_attributes() const {
    return file_attributes_;
  }
  const std::map<std::string, protocol::v2::Attributes>& folders() const { return folders_; }
  // MAKE_FOLDER requests received, over all connections.
  size_t folders_made() const { return folders_made_; }
  // Backup requests (ops 100 and 103) received, and their file bytes, over all connections.
  size_t uploads() const { return uploads_; }
  uint64_t upload_bytes() const { return upload_bytes_; }
  // With hold_answers: the most requests that had arrived before the first of them was answered.
  size_t most_held() const { return most_held_; }

 private:
  bool LogIn(int fd);
  // Reads one request after the login and returns its whole answer; false at end of stream.
  bool Answer(int fd, std::string* answer);

  FakeV2Options options_;
  std::map<std::string, std::string> files_;
  std::map<std::string, protocol::v2::Attributes> file_attributes_;
  std::map<std::string, protocol::v2::Attributes> folders_;
  size_t folders_made_ = 0;
  size_t most_held_ = 0;
  size_t uploads_ = 0;
  uint64_t upload_bytes_ = 0;
};

}  // namespace backupd::testing

#endif  // BACKUPD_TESTS_CLIENT_FAKE_V2_SERVER_H_

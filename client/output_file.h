// client (the user's privilege): a restore's output, written to a temp file and renamed into place.
#ifndef BACKUPD_CLIENT_OUTPUT_FILE_H_
#define BACKUPD_CLIENT_OUTPUT_FILE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "base/status.h"
#include "base/unique_fd.h"

namespace backupd::client {

// What a restore does to an output file that already exists.
enum class Existing { kReplace, kKeep };

// What a restored file gets besides its bytes: `mode` (0: not known, so 0666 & ~umask as a plain
// create gives) and, when known, its modification time.
struct OutputAttributes {
  uint32_t mode = 0;
  std::optional<int64_t> mtime_ns;
};

// A temp file beside `output` that becomes `output` only by Commit: given its mode and time,
// fsynced, renamed, the folder fsynced. Destroyed uncommitted (an error, a digest mismatch) it is
// removed, so a failed restore leaves neither a partial `output` nor a temp file. Move-only.
class TempOutput {
 public:
  static Result<TempOutput> Create(const std::string& output);
  TempOutput(TempOutput&& other) noexcept;
  TempOutput& operator=(TempOutput&&) = delete;
  ~TempOutput();

  int fd() const { return fd_.get(); }
  // With Existing::kKeep the rename never replaces a file, even one created meanwhile. The mode
  // is applied as given (the caller decides which bits a restore may set).
  Status Commit(Existing existing, const OutputAttributes& attributes = {});

 private:
  TempOutput(UniqueFd fd, std::string tmp, std::string output, std::string dir);
  UniqueFd fd_;
  std::string tmp_;  // empty once committed or moved from
  std::string output_;
  std::string dir_;
};

// Writes all `len` bytes to `fd`; `what` names the data in the error.
Status WriteAllToFd(int fd, const uint8_t* p, size_t len, const std::string& what);

}  // namespace backupd::client

#endif  // BACKUPD_CLIENT_OUTPUT_FILE_H_

// test process (any privilege): the one temporary-folder helper every test folder uses.
#ifndef BACKUPD_TESTS_HARNESS_TEMP_DIR_H_
#define BACKUPD_TESTS_HARNESS_TEMP_DIR_H_

#include <string>

namespace backupd::testing {

// A fresh folder under /tmp (mkdtemp, so mode 0700), removed with everything in it on
// destruction. A test that cannot get one aborts: nothing it checks would mean anything.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace backupd::testing

#endif  // BACKUPD_TESTS_HARNESS_TEMP_DIR_H_

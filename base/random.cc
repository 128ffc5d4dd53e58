// shared (any privilege): getrandom(2) behind a Status.
#include "base/random.h"

#include <sys/random.h>

#include <cerrno>

#include "base/base64.h"

namespace backupd {

Status RandomBytes(void* out, size_t n) {
  auto* p = static_cast<unsigned char*>(out);
  size_t done = 0;
  while (done < n) {
    ssize_t got = ::getrandom(p + done, n - done, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "getrandom");
    }
    done += static_cast<size_t>(got);
  }
  return Status::Ok();
}

Result<std::string> RandomToken(size_t bytes) {
  std::string raw(bytes, '\0');
  Status s = RandomBytes(raw.data(), raw.size());
  if (!s.ok()) return s;
  std::string token = Base64UrlEncode(raw);
  // The raw bytes are the secret too; no library is at hand here for a cleanse that cannot be
  // optimised away, so overwrite through a volatile pointer.
  volatile char* v = raw.data();
  for (size_t i = 0; i < raw.size(); ++i) v[i] = 0;
  return token;
}

}  // namespace backupd

// shared (any privilege): OpenSSL's error queue as one line of text.
#include "base/openssl_error.h"

#include <openssl/err.h>

#include <cstring>

namespace backupd {

std::string TakeOpenSslError(std::string_view fallback) {
  unsigned long first = ERR_get_error();
  ERR_clear_error();
  if (first == 0) return std::string(fallback);
  // A failed fopen() is queued as errno itself: say it as strerror does, like every other error.
  if (ERR_SYSTEM_ERROR(first)) return std::strerror(static_cast<int>(ERR_GET_REASON(first)));
  const char* reason = ERR_reason_error_string(first);
  if (reason != nullptr) return reason;
  char text[256];
  ERR_error_string_n(first, text, sizeof text);
  return text;
}

}  // namespace backupd

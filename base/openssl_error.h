// shared (any privilege): OpenSSL's error queue as one line of text for a Status.
#ifndef BACKUPD_BASE_OPENSSL_ERROR_H_
#define BACKUPD_BASE_OPENSSL_ERROR_H_

#include <string>
#include <string_view>

namespace backupd {

// The reason of the oldest error in this thread's OpenSSL queue ("key values mismatch", "wrong
// version number"), or `fallback` when the queue is empty. Empties the queue, so an old error can
// never be blamed for a later failure.
std::string TakeOpenSslError(std::string_view fallback);

}  // namespace backupd

#endif  // BACKUPD_BASE_OPENSSL_ERROR_H_

// shared (any privilege): random bytes from the kernel, for salts, nonces and secrets.
#ifndef BACKUPD_BASE_RANDOM_H_
#define BACKUPD_BASE_RANDOM_H_

#include <cstddef>
#include <string>

#include "base/status.h"

namespace backupd {

// `n` bytes from getrandom(2). The kernel's generator rather than OpenSSL's RAND_bytes: it keeps
// no state inside our process, so a pre-forked worker or monitor cannot share a pool with its
// siblings, and base/ needs no library. It blocks only until the kernel's pool is first seeded
// at boot. Errors (none expected on Linux >= 3.17) come back as a Status.
Status RandomBytes(void* out, size_t n);

// `bytes` random bytes as unpadded base64url: printable, no ',' or '=', so it is usable as a
// SCRAM nonce and as a secret (24 bytes: 32 characters, 192 bits).
Result<std::string> RandomToken(size_t bytes);

}  // namespace backupd

#endif  // BACKUPD_BASE_RANDOM_H_

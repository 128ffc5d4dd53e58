// worker (unprivileged): streaming SHA-256 of uploads, restores and sidecar names (OpenSSL EVP).
#ifndef BACKUPD_WORKER_DIGEST_H_
#define BACKUPD_WORKER_DIGEST_H_

#include <cstddef>
#include <memory>
#include <string_view>

#include "protocol/wire.h"

namespace backupd::worker {

// A SHA-256 fed in pieces. EVP allocation or update failures cannot happen short of memory
// exhaustion; they abort rather than yield a digest nobody could trust.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void Update(const void* data, size_t len);
  // The digest of everything fed so far; the object is then spent.
  protocol::Digest Finish();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// The SHA-256 of `bytes` in one call.
protocol::Digest Sha256Of(std::string_view bytes);

// Constant-time comparison (CRYPTO_memcmp): a client probing digests learns nothing from timing.
bool SameDigest(const protocol::Digest& a, const protocol::Digest& b);

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_DIGEST_H_

// shared (any privilege): streaming SHA-256 of uploads and restores, on both ends of the wire
// (OpenSSL EVP). Pure computation, like the SCRAM code beside it.
#ifndef BACKUPD_PROTOCOL_DIGEST_H_
#define BACKUPD_PROTOCOL_DIGEST_H_

#include <cstddef>
#include <memory>
#include <string_view>

#include "protocol/wire.h"

namespace backupd::protocol {

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
  Digest Finish();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// The SHA-256 of `bytes` in one call.
Digest Sha256Of(std::string_view bytes);

// Constant-time comparison (CRYPTO_memcmp): a client probing digests learns nothing from timing.
bool SameDigest(const Digest& a, const Digest& b);

}  // namespace backupd::protocol

#endif  // BACKUPD_PROTOCOL_DIGEST_H_

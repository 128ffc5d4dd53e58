// client (the user's privilege): a streaming SHA-256 (OpenSSL EVP) for upload and restore digests.
#ifndef BACKUPD_CLIENT_SHA256_H_
#define BACKUPD_CLIENT_SHA256_H_

#include <openssl/types.h>

#include <cstddef>
#include <memory>

#include "protocol/wire.h"

namespace backupd::client {

// Hashes bytes as they stream past, so no file is held in memory to be digested. Move-only.
class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t len);
  // The digest of everything passed to Update; the hasher is spent afterwards.
  protocol::Digest Finish();

 private:
  struct Free {
    void operator()(EVP_MD_CTX* ctx) const;
  };
  std::unique_ptr<EVP_MD_CTX, Free> ctx_;
};

}  // namespace backupd::client

#endif  // BACKUPD_CLIENT_SHA256_H_

// client (the user's privilege): SHA-256 over OpenSSL's EVP interface.
#include "client/sha256.h"

#include <openssl/evp.h>

#include <cstdlib>

namespace backupd::client {

void Sha256::Free::operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }

// SHA-256 is always present in OpenSSL and these calls fail only when memory runs out, where
// continuing with a wrong digest would be worse than stopping.
Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) std::abort();
}

void Sha256::Update(const void* data, size_t len) {
  if (EVP_DigestUpdate(ctx_.get(), data, len) != 1) std::abort();
}

protocol::Digest Sha256::Finish() {
  protocol::Digest out{};
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_.get(), out.data(), &len) != 1 || len != out.size()) std::abort();
  return out;
}

}  // namespace backupd::client

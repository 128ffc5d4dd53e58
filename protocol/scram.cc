// shared (pure computation): SCRAM-SHA-256 with OpenSSL's PBKDF2, HMAC and SHA-256.
#include "protocol/scram.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "base/base64.h"
#include "base/text.h"

namespace backupd::protocol {
namespace {

// The gs2 header of a client that neither supports nor wants channel binding, and its base64,
// which client-final must echo as "c=biws".
constexpr std::string_view kGs2Header = "n,,";
constexpr std::string_view kChannelBinding = "biws";

Status Bad(std::string_view what) { return Status::Invalid("SCRAM: " + std::string(what)); }

void Wipe(std::string& s) { OPENSSL_cleanse(s.data(), s.size()); }

// 0x21..0x7E; for names also without ',' and '=' (which SCRAM would have to escape).
bool IsPrintable(std::string_view s) {
  for (char c : s) {
    if (c < 0x21 || c > 0x7E) return false;
  }
  return true;
}
bool IsSaslName(std::string_view s) {
  return !s.empty() && s.size() <= 255 && IsPrintable(s) &&
         s.find_first_of(",=") == std::string_view::npos;
}
bool IsNonce(std::string_view s) {
  return s.size() >= kScramMinNonce && s.size() <= kScramMaxNonce && IsPrintable(s) &&
         s.find(',') == std::string_view::npos;
}

// "a=x,b=y" -> {"x", "y"} when the attributes are exactly `names`, in that order.
Result<std::vector<std::string_view>> Attributes(std::string_view message, std::string_view names,
                                                 std::string_view what) {
  if (message.size() > kScramMaxMessage)
    return Status::TooLarge("SCRAM: " + std::string(what) + " too long");
  std::vector<std::string_view> values;
  size_t pos = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    size_t end = message.find(',', pos);
    if (end == std::string_view::npos) end = message.size();
    std::string_view part = message.substr(pos, end - pos);
    if (part.size() < 2 || part[0] != names[i] || part[1] != '=') {
      return Bad(std::string(what) + ": expected attribute '" + names[i] + "=' at position " +
                 std::to_string(i + 1));
    }
    values.push_back(part.substr(2));
    if (end == message.size()) {
      if (i + 1 != names.size()) return Bad(std::string(what) + ": too few attributes");
      return values;
    }
    pos = end + 1;
  }
  return Bad(std::string(what) + ": unexpected attributes after '" + std::string(1, names.back()) +
             "='");
}

Result<ScramKey> DecodeKey(std::string_view text, std::string_view what) {
  std::optional<std::string> raw = Base64Decode(text);
  if (!raw || raw->size() != ScramKey().size()) {
    return Bad(std::string(what) + " is not base64 of 32 bytes");
  }
  ScramKey key;
  std::copy(raw->begin(), raw->end(), key.begin());
  Wipe(*raw);
  return key;
}

std::string EncodeKey(const ScramKey& key) {
  return Base64Encode(std::string_view(reinterpret_cast<const char*>(key.data()), key.size()));
}

Status Hmac(const unsigned char* key, size_t key_len, std::string_view data, ScramKey* out) {
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key, static_cast<int>(key_len),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out->data(),
           &len) == nullptr ||
      len != out->size()) {
    return Status::IoError("SCRAM: HMAC-SHA-256 failed");
  }
  return Status::Ok();
}

Status Sha256(const ScramKey& in, ScramKey* out) {
  if (SHA256(in.data(), in.size(), out->data()) == nullptr) {
    return Status::IoError("SCRAM: SHA-256 failed");
  }
  return Status::Ok();
}

Status CheckSalt(size_t size, uint32_t iterations) {
  if (size < kScramMinSaltBytes || size > kScramMaxSaltBytes) {
    return Bad("salt must be " + std::to_string(kScramMinSaltBytes) + " to " +
               std::to_string(kScramMaxSaltBytes) + " bytes");
  }
  if (iterations < kScramIterations || iterations > kScramMaxIterations) {
    return Bad("iteration count must be " + std::to_string(kScramIterations) + " to " +
               std::to_string(kScramMaxIterations));
  }
  return Status::Ok();
}

// RFC 5802 section 3: SaltedPassword, then ClientKey, StoredKey = H(ClientKey), ServerKey.
Status DeriveKeys(std::string_view secret, std::string_view salt, uint32_t iterations,
                  ScramKey* client_key, ScramVerifier* verifier) {
  if (secret.empty() || !IsPrintable(secret)) return Bad("the secret must be printable ASCII");
  Status s = CheckSalt(salt.size(), iterations);
  if (!s.ok()) return s;
  ScramKey salted;
  if (PKCS5_PBKDF2_HMAC(secret.data(), static_cast<int>(secret.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                        static_cast<int>(salted.size()), salted.data()) != 1) {
    return Status::IoError("SCRAM: PBKDF2 failed");
  }
  s = Hmac(salted.data(), salted.size(), "Client Key", client_key);
  if (s.ok()) s = Hmac(salted.data(), salted.size(), "Server Key", &verifier->server_key);
  if (s.ok()) s = Sha256(*client_key, &verifier->stored_key);
  OPENSSL_cleanse(salted.data(), salted.size());
  if (!s.ok()) return s;
  verifier->salt = std::string(salt);
  verifier->iterations = iterations;
  return Status::Ok();
}

ScramKey Xor(const ScramKey& a, const ScramKey& b) {
  ScramKey out;
  for (size_t i = 0; i < out.size(); ++i) out[i] = a[i] ^ b[i];
  return out;
}

}  // namespace

ScramVerifier::~ScramVerifier() {
  OPENSSL_cleanse(stored_key.data(), stored_key.size());
  OPENSSL_cleanse(server_key.data(), server_key.size());
}

ScramClientKeys::~ScramClientKeys() {
  OPENSSL_cleanse(client_key.data(), client_key.size());
  OPENSSL_cleanse(server_key.data(), server_key.size());
}

namespace {

// The first word of a cache line: its format.
constexpr std::string_view kCacheFormat = "backupd-scram-cache-1";

// The line without its seal, and the seal: HMAC-SHA-256 of the line keyed by the secret.
std::string CacheBody(std::string_view server, std::string_view user, const ScramClientKeys& k) {
  return std::string(kCacheFormat) + " " + std::string(server) + " " + std::string(user) + " " +
         Base64Encode(k.salt) + " " + std::to_string(k.iterations) + " " + EncodeKey(k.client_key) +
         " " + EncodeKey(k.server_key);
}

Result<ScramKey> Seal(std::string_view secret, std::string_view body) {
  ScramKey mac;
  Status s = Hmac(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), body, &mac);
  if (!s.ok()) return s;
  return mac;
}

}  // namespace

std::string EncodeScramCache(std::string_view server, std::string_view user,
                             std::string_view secret, const ScramClientKeys& keys) {
  std::string body = CacheBody(server, user, keys);
  Result<ScramKey> mac = Seal(secret, body);
  if (!mac.ok()) return std::string();
  return body + " " + EncodeKey(*mac);
}

std::optional<ScramClientKeys> DecodeScramCache(std::string_view line, std::string_view server,
                                                std::string_view user, std::string_view secret) {
  std::vector<std::string_view> words;
  for (size_t pos = 0; pos <= line.size() && words.size() <= 8;) {
    size_t end = std::min(line.find(' ', pos), line.size());
    words.push_back(line.substr(pos, end - pos));
    pos = end + 1;
  }
  if (words.size() != 8 || words[0] != kCacheFormat || words[1] != server || words[2] != user) {
    return std::nullopt;
  }
  ScramClientKeys keys;
  std::optional<std::string> salt = Base64Decode(words[3]);
  std::optional<uint64_t> iterations = ParseDecimal(words[4], kScramMaxIterations);
  Result<ScramKey> client_key = DecodeKey(words[5], "cached ClientKey");
  Result<ScramKey> server_key = DecodeKey(words[6], "cached ServerKey");
  Result<ScramKey> mac = DecodeKey(words[7], "cache seal");
  if (!salt || !iterations || !client_key.ok() || !server_key.ok() || !mac.ok()) {
    return std::nullopt;
  }
  keys.salt = std::move(*salt);
  keys.iterations = static_cast<uint32_t>(*iterations);
  keys.client_key = *client_key;
  keys.server_key = *server_key;
  if (!CheckSalt(keys.salt.size(), keys.iterations).ok()) return std::nullopt;
  // The seal covers the line's own bytes (up to its last space), not a re-encoding of them.
  Result<ScramKey> want = Seal(secret, line.substr(0, line.rfind(' ')));
  if (!want.ok() || CRYPTO_memcmp(want->data(), mac->data(), mac->size()) != 0) {
    return std::nullopt;
  }
  return keys;
}

Result<ScramVerifier> DeriveScramVerifier(std::string_view secret, std::string_view salt,
                                          uint32_t iterations) {
  ScramVerifier verifier;
  ScramKey client_key;
  Status s = DeriveKeys(secret, salt, iterations, &client_key, &verifier);
  OPENSSL_cleanse(client_key.data(), client_key.size());
  if (!s.ok()) return s;
  return verifier;
}

std::optional<uint32_t> ParseScramUserId(std::string_view user) {
  if (user.size() > 10) return std::nullopt;
  std::optional<uint64_t> id = ParseDecimal(user, UINT32_MAX);
  if (!id) return std::nullopt;
  return static_cast<uint32_t>(*id);
}

ScramClient::ScramClient(std::string user, std::string secret, std::string client_nonce)
    : user_(std::move(user)), secret_(std::move(secret)), client_nonce_(std::move(client_nonce)) {}

ScramClient::~ScramClient() {
  Wipe(secret_);
  OPENSSL_cleanse(server_signature_.data(), server_signature_.size());
}

Result<std::string> ScramClient::ClientFirst() {
  bool in_order = step_ == Step::kStart;
  // Any failure from here on ends the exchange; success sets the next step.
  step_ = Step::kFailed;
  if (!in_order) return Bad("client-first out of order");
  if (!IsSaslName(user_)) return Bad("user name must be printable ASCII without ',' or '='");
  if (!IsNonce(client_nonce_)) return Bad("client nonce must be 16 to 128 printable characters");
  if (secret_.empty() || !IsPrintable(secret_)) return Bad("the secret must be printable ASCII");
  client_first_bare_ = "n=" + user_ + ",r=" + client_nonce_;
  step_ = Step::kSentFirst;
  return std::string(kGs2Header) + client_first_bare_;
}

Result<std::string> ScramClient::ClientFinal(std::string_view server_first) {
  bool in_order = step_ == Step::kSentFirst;
  step_ = Step::kFailed;
  if (!in_order) return Bad("client-final out of order");
  Result<std::vector<std::string_view>> a = Attributes(server_first, "rsi", "server-first");
  if (!a.ok()) return a.status();
  std::string_view nonce = (*a)[0];
  if (nonce.substr(0, client_nonce_.size()) != client_nonce_ ||
      !IsNonce(nonce.substr(client_nonce_.size()))) {
    return Bad("server-first: the nonce does not extend ours");
  }
  std::optional<std::string> salt = Base64Decode((*a)[1]);
  if (!salt) return Bad("server-first: the salt is not base64");
  std::optional<uint64_t> iterations = ParseDecimal((*a)[2], kScramMaxIterations);
  if (!iterations) return Bad("server-first: bad iteration count");

  const auto count = static_cast<uint32_t>(*iterations);
  Status s = CheckSalt(salt->size(), count);
  ScramVerifier keys;
  derived_ = !(cached_ && cached_->salt == *salt && cached_->iterations == count);
  if (s.ok() && derived_) {
    s = DeriveKeys(secret_, *salt, count, &keys_.client_key, &keys);
    keys_.salt = *salt;
    keys_.iterations = count;
    keys_.server_key = keys.server_key;
  } else if (s.ok()) {
    keys_ = *cached_;
    keys.server_key = keys_.server_key;
    s = Sha256(keys_.client_key, &keys.stored_key);
  }
  cached_.reset();
  Wipe(secret_);
  if (!s.ok()) return s;
  std::string without_proof = "c=" + std::string(kChannelBinding) + ",r=" + std::string(nonce);
  std::string auth_message =
      client_first_bare_ + "," + std::string(server_first) + "," + without_proof;
  ScramKey client_signature;
  s = Hmac(keys.stored_key.data(), keys.stored_key.size(), auth_message, &client_signature);
  if (s.ok()) {
    s = Hmac(keys.server_key.data(), keys.server_key.size(), auth_message, &server_signature_);
  }
  ScramKey proof = Xor(keys_.client_key, client_signature);
  if (!s.ok()) return s;
  step_ = Step::kSentFinal;
  return without_proof + ",p=" + EncodeKey(proof);
}

Status ScramClient::VerifyServerFinal(std::string_view server_final) {
  bool in_order = step_ == Step::kSentFinal;
  step_ = Step::kFailed;
  if (!in_order) return Bad("server-final out of order");
  if (server_final.size() > kScramMaxMessage)
    return Status::TooLarge("SCRAM: server-final too long");
  if (server_final.substr(0, 2) == "e=") {
    return Status::Denied("the server refused the login: " +
                          EscapeUntrusted(server_final.substr(2)));
  }
  Result<std::vector<std::string_view>> a = Attributes(server_final, "v", "server-final");
  if (!a.ok()) return a.status();
  Result<ScramKey> signature = DecodeKey((*a)[0], "server-final: the signature");
  if (!signature.ok()) return signature.status();
  if (CRYPTO_memcmp(signature->data(), server_signature_.data(), server_signature_.size()) != 0) {
    return Status::Denied("the server could not prove that it knows this user's verifier");
  }
  step_ = Step::kDone;
  return Status::Ok();
}

Result<ScramServer> ScramServer::Start(std::string_view client_first) {
  if (client_first.size() > kScramMaxMessage)
    return Status::TooLarge("SCRAM: client-first too long");
  if (client_first.substr(0, 2) == "y," || client_first.substr(0, 2) == "p=") {
    return Bad("client-first: channel binding is not supported");
  }
  if (client_first.substr(0, kGs2Header.size()) != kGs2Header) {
    return Bad("client-first: expected the gs2 header 'n,,' (no authorization identity)");
  }
  std::string_view bare = client_first.substr(kGs2Header.size());
  Result<std::vector<std::string_view>> a = Attributes(bare, "nr", "client-first");
  if (!a.ok()) return a.status();
  if (!IsSaslName((*a)[0])) return Bad("client-first: bad user name");
  if (!IsNonce((*a)[1])) return Bad("client-first: bad nonce");
  ScramServer server;
  server.user_ = std::string((*a)[0]);
  server.nonce_ = std::string((*a)[1]);
  server.client_first_bare_ = std::string(bare);
  return server;
}

ScramServer::~ScramServer() = default;

Result<std::string> ScramServer::ServerFirst(const ScramVerifier& verifier,
                                             std::string_view server_nonce) {
  bool in_order = step_ == Step::kStarted;
  step_ = Step::kFailed;
  if (!in_order) return Bad("server-first out of order");
  if (!IsNonce(server_nonce)) return Bad("server nonce must be 16 to 128 printable characters");
  Status s = CheckSalt(verifier.salt.size(), verifier.iterations);
  if (!s.ok()) return s;
  verifier_ = verifier;
  nonce_ += server_nonce;
  server_first_ = "r=" + nonce_ + ",s=" + Base64Encode(verifier.salt) +
                  ",i=" + std::to_string(verifier.iterations);
  step_ = Step::kSentFirst;
  return server_first_;
}

Result<std::string> ScramServer::ServerFinal(std::string_view client_final) {
  bool in_order = step_ == Step::kSentFirst;
  step_ = Step::kFailed;
  if (!in_order) return Bad("server-final out of order");
  Result<std::vector<std::string_view>> a = Attributes(client_final, "crp", "client-final");
  if (!a.ok()) return a.status();
  if ((*a)[0] != kChannelBinding) return Bad("client-final: channel binding must be 'biws'");
  if ((*a)[1] != nonce_) return Status::Denied("authentication failed (nonce mismatch)");
  Result<ScramKey> proof = DecodeKey((*a)[2], "client-final: the proof");
  if (!proof.ok()) return proof.status();

  std::string_view without_proof = client_final.substr(0, client_final.rfind(",p="));
  std::string auth_message =
      client_first_bare_ + "," + server_first_ + "," + std::string(without_proof);
  ScramKey client_signature, server_signature, stored_key;
  Status s = Hmac(verifier_.stored_key.data(), verifier_.stored_key.size(), auth_message,
                  &client_signature);
  ScramKey client_key = Xor(*proof, client_signature);
  if (s.ok()) s = Sha256(client_key, &stored_key);
  OPENSSL_cleanse(client_key.data(), client_key.size());
  if (!s.ok()) return s;
  if (CRYPTO_memcmp(stored_key.data(), verifier_.stored_key.data(), stored_key.size()) != 0) {
    return Status::Denied("authentication failed");
  }
  s = Hmac(verifier_.server_key.data(), verifier_.server_key.size(), auth_message,
           &server_signature);
  if (!s.ok()) return s;
  step_ = Step::kDone;
  return "v=" + EncodeKey(server_signature);
}

}  // namespace backupd::protocol

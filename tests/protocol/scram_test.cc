// Unit tests for protocol/scram: the RFC 7677 test vector, full exchanges, and every way a login
// must fail (wrong secret, tampered or replayed messages, a forged server, malformed input).
#include "protocol/scram.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include "base/base64.h"

namespace backupd::protocol {
namespace {

// RFC 7677 section 3.
constexpr char kRfcClientFirst[] = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr char kRfcServerFirst[] =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr char kRfcClientFinal[] =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr char kRfcServerFinal[] = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
constexpr char kRfcServerNonce[] = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";

ScramVerifier RfcVerifier() {
  Result<ScramVerifier> v =
      DeriveScramVerifier("pencil", *Base64Decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);
  EXPECT_TRUE(v.ok()) << v.status().message();
  return *v;
}

constexpr char kSecret[] = "Qm9ndXMgc2VjcmV0IGZvciB0ZXN0cyE";
constexpr char kClientNonce[] = "clientnonce0123456789abc";
constexpr char kServerNonce[] = "servernonce0123456789xyz";

ScramVerifier Verifier(const std::string& secret) {
  Result<ScramVerifier> v = DeriveScramVerifier(secret, "0123456789abcdef", kScramIterations);
  EXPECT_TRUE(v.ok()) << v.status().message();
  return *v;
}

TEST(ScramTest, ClientProducesTheRfc7677Messages) {
  ScramClient client("user", "pencil", "rOprNGfwEbeRWgbNEkqO");
  Result<std::string> first = client.ClientFirst();
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_EQ(*first, kRfcClientFirst);
  Result<std::string> final_msg = client.ClientFinal(kRfcServerFirst);
  ASSERT_TRUE(final_msg.ok()) << final_msg.status().message();
  EXPECT_EQ(*final_msg, kRfcClientFinal);
  EXPECT_TRUE(client.VerifyServerFinal(kRfcServerFinal).ok());
}

TEST(ScramTest, ServerProducesTheRfc7677Messages) {
  Result<ScramServer> server = ScramServer::Start(kRfcClientFirst);
  ASSERT_TRUE(server.ok()) << server.status().message();
  EXPECT_EQ(server->user(), "user");
  Result<std::string> first = server->ServerFirst(RfcVerifier(), kRfcServerNonce);
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_EQ(*first, kRfcServerFirst);
  Result<std::string> final_msg = server->ServerFinal(kRfcClientFinal);
  ASSERT_TRUE(final_msg.ok()) << final_msg.status().message();
  EXPECT_EQ(*final_msg, kRfcServerFinal);
}

// Runs a whole exchange; the server's verdict on client-final, and (if it gave one) the
// client's verdict on server-final.
struct Outcome {
  Status server;
  Status client;
};
// With `cached`, the client is given those keys first; `derived`, when given, says whether it
// ran the PBKDF2 all the same, and `used` gets the keys it used.
Outcome Exchange(const std::string& client_secret, const ScramVerifier& stored,
                 const ScramClientKeys* cached = nullptr, bool* derived = nullptr,
                 ScramClientKeys* used = nullptr) {
  ScramClient client("42", client_secret, kClientNonce);
  if (cached != nullptr) client.UseKeys(*cached);
  Result<std::string> cf = client.ClientFirst();
  EXPECT_TRUE(cf.ok());
  Result<ScramServer> server = ScramServer::Start(*cf);
  EXPECT_TRUE(server.ok());
  Result<std::string> sf = server->ServerFirst(stored, kServerNonce);
  EXPECT_TRUE(sf.ok());
  Result<std::string> cfin = client.ClientFinal(*sf);
  EXPECT_TRUE(cfin.ok());
  if (derived != nullptr) *derived = client.derived();
  if (used != nullptr) *used = client.keys();
  Result<std::string> sfin = server->ServerFinal(*cfin);
  if (!sfin.ok()) return {sfin.status(), Status::Ok()};
  return {Status::Ok(), client.VerifyServerFinal(*sfin)};
}

TEST(ScramTest, FullExchangeSucceedsBothWays) {
  Outcome o = Exchange(kSecret, Verifier(kSecret));
  EXPECT_TRUE(o.server.ok()) << o.server.message();
  EXPECT_TRUE(o.client.ok()) << o.client.message();
}

// RFC 5802 section 5.1's cache: keys are used only for the salt and iteration count they were
// derived for; a server naming others (a new verifier) gets a proof from the secret.
TEST(ScramTest, CachedKeysStandInOnlyForTheirSaltAndIterationCount) {
  ScramClientKeys keys;
  bool derived = false;
  ASSERT_TRUE(Exchange(kSecret, Verifier(kSecret), nullptr, &derived, &keys).server.ok());
  EXPECT_TRUE(derived);
  EXPECT_EQ(keys.salt, "0123456789abcdef");
  EXPECT_EQ(keys.iterations, kScramIterations);

  // The same salt and count: the keys stand in for the PBKDF2, and the login holds both ways.
  Outcome o = Exchange("not-the-secret-at-all", Verifier(kSecret), &keys, &derived);
  EXPECT_FALSE(derived);
  EXPECT_TRUE(o.server.ok()) << o.server.message();
  EXPECT_TRUE(o.client.ok()) << o.client.message();

  // Keys that are wrong for the salt they name are used too, and fail: the cache is what spoke.
  ScramClientKeys wrong = keys;
  wrong.client_key[0] ^= 1;
  EXPECT_EQ(Exchange(kSecret, Verifier(kSecret), &wrong, &derived).server.code(),
            Status::Code::kDenied);
  EXPECT_FALSE(derived);

  // Another salt, or another count, and the client derives from the secret instead.
  Result<ScramVerifier> other_salt =
      DeriveScramVerifier(kSecret, "fedcba9876543210", kScramIterations);
  Result<ScramVerifier> other_count =
      DeriveScramVerifier(kSecret, "0123456789abcdef", kScramIterations + 1);
  ASSERT_TRUE(other_salt.ok() && other_count.ok());
  for (const ScramVerifier* v : {&*other_salt, &*other_count}) {
    o = Exchange(kSecret, *v, &wrong, &derived);
    EXPECT_TRUE(derived);
    EXPECT_TRUE(o.server.ok()) << o.server.message();
    EXPECT_TRUE(o.client.ok()) << o.client.message();
  }
}

TEST(ScramTest, ACacheLineGivesItsKeysBackOnlyForItsServerUserAndSecret) {
  ScramClientKeys keys;
  ASSERT_TRUE(Exchange(kSecret, Verifier(kSecret), nullptr, nullptr, &keys).server.ok());
  const std::string line = EncodeScramCache("backup.example:1337", "42", kSecret, keys);
  std::optional<ScramClientKeys> back =
      DecodeScramCache(line, "backup.example:1337", "42", kSecret);
  ASSERT_TRUE(back.has_value()) << line;
  EXPECT_EQ(back->salt, keys.salt);
  EXPECT_EQ(back->iterations, keys.iterations);
  EXPECT_EQ(back->client_key, keys.client_key);
  EXPECT_EQ(back->server_key, keys.server_key);

  EXPECT_FALSE(DecodeScramCache(line, "other.example:1337", "42", kSecret));
  EXPECT_FALSE(DecodeScramCache(line, "backup.example:1337", "43", kSecret));
  EXPECT_FALSE(DecodeScramCache(line, "backup.example:1337", "42", "a new secret"));
  // Any byte changed breaks the seal (or the format).
  for (size_t i = 0; i < line.size(); ++i) {
    std::string edited = line;
    edited[i] = edited[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(DecodeScramCache(edited, "backup.example:1337", "42", kSecret)) << edited;
  }
  // A count below the minimum is not taken from a cache either, sealed or not.
  ScramClientKeys weak = keys;
  weak.iterations = kScramIterations - 1;
  EXPECT_FALSE(
      DecodeScramCache(EncodeScramCache("s:1", "42", kSecret, weak), "s:1", "42", kSecret));
}

TEST(ScramTest, WrongSecretIsRefused) {
  Outcome o = Exchange("not-the-secret", Verifier(kSecret));
  EXPECT_EQ(o.server.code(), Status::Code::kDenied);
}

TEST(ScramTest, UserIdsAreDecimalOnly) {
  EXPECT_EQ(ParseScramUserId("42"), 42u);
  EXPECT_EQ(ParseScramUserId("4294967295"), 4294967295u);
  for (const char* bad : {"", "user", "-1", "+1", " 1", "4294967296", "0x10", "00000000001"}) {
    EXPECT_FALSE(ParseScramUserId(bad).has_value()) << bad;
  }
}

// An exchange up to client-final, for tests that tamper with what follows.
struct Started {
  std::unique_ptr<ScramClient> client;
  std::optional<ScramServer> server;
  std::string server_first;
  std::string client_final;
};
Started Start(const ScramVerifier& v) {
  Started s;
  s.client = std::make_unique<ScramClient>("42", kSecret, kClientNonce);
  s.server.emplace(ScramServer::Start(*s.client->ClientFirst()).value());
  s.server_first = *s.server->ServerFirst(v, kServerNonce);
  s.client_final = *s.client->ClientFinal(s.server_first);
  return s;
}

TEST(ScramTest, TamperedNonceIsRefused) {
  ScramVerifier v = Verifier(kSecret);
  Started s = Start(v);
  std::string tampered = s.client_final;
  tampered[tampered.find(",p=") - 1] ^= 1;  // last character of the combined nonce
  Result<std::string> r = s.server->ServerFinal(tampered);
  EXPECT_EQ(r.status().code(), Status::Code::kDenied);
}

TEST(ScramTest, TamperedProofIsRefused) {
  ScramVerifier v = Verifier(kSecret);
  Started s = Start(v);
  std::string tampered = s.client_final;
  char& c = tampered[tampered.find(",p=") + 3];
  c = c == 'A' ? 'B' : 'A';
  EXPECT_EQ(s.server->ServerFinal(tampered).status().code(), Status::Code::kDenied);
}

TEST(ScramTest, ReplayedClientFinalIsRefusedUnderANewServerNonce) {
  ScramVerifier v = Verifier(kSecret);
  Started recorded = Start(v);
  ASSERT_TRUE(recorded.server->ServerFinal(recorded.client_final).ok());

  // The attacker replays client-first, gets a fresh server nonce, replays the old client-final.
  Result<ScramServer> again =
      ScramServer::Start(*ScramClient("42", kSecret, kClientNonce).ClientFirst());
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(again->ServerFirst(v, "anotherservernonce012345").ok());
  EXPECT_EQ(again->ServerFinal(recorded.client_final).status().code(), Status::Code::kDenied);
}

TEST(ScramTest, ClientRefusesAForgedServer) {
  // A server without the verifier (here: one derived from another secret) cannot sign.
  ScramVerifier forged = Verifier("some-other-secret");
  ScramClient client("42", kSecret, kClientNonce);
  Result<ScramServer> server = ScramServer::Start(*client.ClientFirst());
  std::string sf = *server->ServerFirst(forged, kServerNonce);
  std::string cf = *client.ClientFinal(sf);
  // The forger's server would refuse the proof; pretend it signs anyway with what it has.
  ScramVerifier real = Verifier(kSecret);
  forged.stored_key = real.stored_key;  // even knowing StoredKey is not enough
  Result<ScramServer> impostor =
      ScramServer::Start(*ScramClient("42", kSecret, kClientNonce).ClientFirst());
  ASSERT_TRUE(impostor->ServerFirst(forged, kServerNonce).ok());
  Result<std::string> signed_by_impostor = impostor->ServerFinal(cf);
  ASSERT_TRUE(signed_by_impostor.ok()) << signed_by_impostor.status().message();
  EXPECT_EQ(client.VerifyServerFinal(*signed_by_impostor).code(), Status::Code::kDenied);
}

TEST(ScramTest, ClientRefusesAWrongOrMissingSignatureAndReportsServerErrors) {
  for (const std::string& bad :
       {std::string("v=") + Base64Encode(std::string(32, 'x')), std::string("v=short"),
        std::string("v="), std::string("x=abc"), std::string("e=invalid-proof")}) {
    Started s = Start(Verifier(kSecret));
    Status st = s.client->VerifyServerFinal(bad);
    EXPECT_FALSE(st.ok()) << bad;
  }
  Started s = Start(Verifier(kSecret));
  Status st = s.client->VerifyServerFinal("e=invalid-proof");
  EXPECT_EQ(st.code(), Status::Code::kDenied);
  EXPECT_NE(st.message().find("invalid-proof"), std::string::npos);
}

TEST(ScramTest, ClientRefusesWeakOrForeignServerFirst) {
  const std::string salt = "s=" + Base64Encode("0123456789abcdef");
  for (const std::string& bad : {
           "r=otherclientnonce0123456789xyz," + salt + ",i=4096",      // not our nonce
           "r=" + std::string(kClientNonce) + "," + salt + ",i=4096",  // no server part
           "r=" + std::string(kClientNonce) + kServerNonce + "," + salt + ",i=4095",  // too cheap
           "r=" + std::string(kClientNonce) + kServerNonce + "," + salt + ",i=99999999",
           "r=" + std::string(kClientNonce) + kServerNonce + ",s=AAAA,i=4096",  // short salt
           "r=" + std::string(kClientNonce) + kServerNonce + ",s=***,i=4096",
           "r=" + std::string(kClientNonce) + kServerNonce + "," + salt + ",i=4096,x=1",
           "r=" + std::string(kClientNonce) + kServerNonce + "," + salt,
           "m=ext,r=" + std::string(kClientNonce) + kServerNonce + "," + salt + ",i=4096",
           std::string(2000, 'r'),
       }) {
    ScramClient client("42", kSecret, kClientNonce);
    ASSERT_TRUE(client.ClientFirst().ok());
    EXPECT_FALSE(client.ClientFinal(bad).ok()) << bad;
  }
}

TEST(ScramTest, ServerRefusesMalformedClientFirst) {
  const std::string nonce = kClientNonce;
  for (const std::string& bad : {
           std::string(""),
           "n=42,r=" + nonce,                     // no gs2 header
           "y,,n=42,r=" + nonce,                  // channel binding
           "p=tls-unique,,n=42,r=" + nonce,       // channel binding
           "n,a=42,n=42,r=" + nonce,              // authorization identity
           "n,,m=ext,n=42,r=" + nonce,            // mandatory extension
           "n,,r=" + nonce + ",n=42",             // order
           std::string("n,,n=42"),                // no nonce
           "n,,n=42,r=" + nonce + ",x=1",         // extension
           "n,,n=,r=" + nonce,                    // empty name
           "n,,n=4=2C2,r=" + nonce,               // escaped name
           "n,,n=4 2,r=" + nonce,                 // space
           std::string("n,,n=42,r=short"),        // nonce too short
           "n,,n=42,r=" + nonce + "\x01",         // control byte
           "n,,n=42,r=" + nonce + "\xc3\xa9",     // not ASCII
           "n,,n=42,r=" + std::string(200, 'a'),  // nonce too long
           "n,,n=42,r=" + nonce + ",",            // trailing comma
           "n,,n=42,r=" + std::string(2000, 'a'),
       }) {
    EXPECT_FALSE(ScramServer::Start(bad).ok()) << bad;
  }
}

TEST(ScramTest, ServerRefusesMalformedClientFinal) {
  ScramVerifier v = Verifier(kSecret);
  const std::string good = Start(v).client_final;
  const std::string nonce = std::string(kClientNonce) + kServerNonce;
  const std::string proof = good.substr(good.find(",p=") + 3);
  for (const std::string& bad : {
           std::string(""),
           "c=eSws,r=" + nonce + ",p=" + proof,  // "y,,": claims binding
           "c=biws,p=" + proof + ",r=" + nonce,  // order
           "c=biws,r=" + nonce,                  // no proof
           "c=biws,r=" + nonce + ",p=" + proof + ",x=1",
           "c=biws,r=" + nonce + ",p=" + proof.substr(4),  // short proof
           "c=biws,r=" + nonce + ",p=" + proof + "=",      // bad base64
           "c=biws,r=" + nonce + ",p=" + std::string(2000, 'A'),
           "r=" + nonce + ",p=" + proof,
       }) {
    Started s = Start(v);
    EXPECT_FALSE(s.server->ServerFinal(bad).ok()) << bad;
  }
  Started s = Start(v);
  EXPECT_TRUE(s.server->ServerFinal(good).ok());
}

TEST(ScramTest, StepsOutOfOrderAndAfterAFailureAreRefused) {
  ScramClient client("42", kSecret, kClientNonce);
  EXPECT_FALSE(client.ClientFinal("r=x,s=y,i=4096").ok());
  EXPECT_FALSE(client.ClientFirst().ok());  // the exchange ended with the failure

  ScramVerifier v = Verifier(kSecret);
  Started s = Start(v);
  EXPECT_FALSE(s.server->ServerFinal("garbage").ok());
  EXPECT_FALSE(s.server->ServerFinal(s.client_final).ok());  // no second try on one exchange
}

TEST(ScramTest, ClientRefusesBadNamesSecretsAndNonces) {
  EXPECT_FALSE(ScramClient("a,b", kSecret, kClientNonce).ClientFirst().ok());
  EXPECT_FALSE(ScramClient("42", "", kClientNonce).ClientFirst().ok());
  EXPECT_FALSE(ScramClient("42",
                           "s\xc3\xa9"
                           "cret",
                           kClientNonce)
                   .ClientFirst()
                   .ok());
  EXPECT_FALSE(ScramClient("42", kSecret, "short").ClientFirst().ok());
  EXPECT_FALSE(ScramClient("42", kSecret, "has,a,comma,in,the,nonce").ClientFirst().ok());
}

TEST(ScramTest, DerivationRefusesOutOfBoundsParameters) {
  EXPECT_FALSE(DeriveScramVerifier(kSecret, "short", kScramIterations).ok());
  EXPECT_FALSE(DeriveScramVerifier(kSecret, "0123456789abcdef", 1000).ok());
  EXPECT_FALSE(DeriveScramVerifier("", "0123456789abcdef", kScramIterations).ok());
  Result<ScramVerifier> a = DeriveScramVerifier(kSecret, "0123456789abcdef", kScramIterations);
  Result<ScramVerifier> b = DeriveScramVerifier(kSecret, "0123456789abcdeF", kScramIterations);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->stored_key, b->stored_key);  // the salt matters
}

}  // namespace
}  // namespace backupd::protocol

// tests: client.conf parsing and the secret file's checks.
#include "client/client_config.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <fstream>

#include "tests/harness/temp_dir.h"

namespace backupd::client {
namespace {

TEST(ClientConfigTest, ParsesEveryKey) {
  Result<ClientConfig> c = ParseClientConfig(
      "# backupd client\n\nserver = backup.example.org:1338\nuser=42\n"
      "  secret_file = /home/me/.config/backupd/secret  \ntls = yes\nca = /etc/ca.pem\n",
      "client.conf");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->server, "backup.example.org:1338");
  EXPECT_EQ(c->user, "42");
  EXPECT_EQ(c->secret_file, "/home/me/.config/backupd/secret");
  EXPECT_EQ(c->tls, true);
  EXPECT_EQ(c->ca, "/etc/ca.pem");
}

TEST(ClientConfigTest, PathsAndExcludesAccumulateOverLines) {
  Result<ClientConfig> c = ParseClientConfig(
      "paths = /home/me/docs  /home/me/notes.txt\npaths=/etc\nexclude = *.o\n"
      "exclude = /build/\nexclude = name with spaces\nexclude_from = /home/me/.ex\n",
      "c");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->paths, (std::vector<std::string>{"/home/me/docs", "/home/me/notes.txt", "/etc"}));
  EXPECT_EQ(c->exclude, (std::vector<std::string>{"*.o", "/build/", "name with spaces"}));
  EXPECT_EQ(c->exclude_from, std::vector<std::string>{"/home/me/.ex"});
}

TEST(ClientConfigTest, UnsetKeysStayUnset) {
  Result<ClientConfig> c = ParseClientConfig("tls = off\n", "c");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->server);
  EXPECT_FALSE(c->user);
  EXPECT_EQ(c->tls, false);
}

TEST(ClientConfigTest, ErrorsNameFileAndLine) {
  struct Case {
    const char* text;
    const char* message;
  };
  for (const Case& k : {
           Case{"user = 1\nport = 2\n", "c.conf:2: unknown key 'port'"},
           Case{"\n\nserver\n", "c.conf:3: expected KEY = VALUE"},
           Case{"user =\n", "c.conf:1: 'user' has no value"},
           Case{"tls = maybe\n", "c.conf:1: tls must be yes or no, not 'maybe'"},
           Case{"user = 1\nuser = 2\n", "c.conf:2: 'user' given twice"},
       }) {
    Result<ClientConfig> c = ParseClientConfig(k.text, "c.conf");
    ASSERT_FALSE(c.ok()) << k.text;
    EXPECT_EQ(c.status().code(), Status::Code::kInvalid);
    EXPECT_EQ(c.status().message().rfind(k.message, 0), 0u) << c.status().message();
  }
}

TEST(ClientConfigTest, AMissingFileIsAnEmptyConfig) {
  testing::TempDir dir;
  Result<ClientConfig> c = LoadClientConfig(dir.path() + "/nothing.conf");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_FALSE(c->server);
}

class SecretFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& text, mode_t mode) {
    const std::string path = dir_.path() + "/secret";
    std::ofstream(path) << text;
    EXPECT_EQ(chmod(path.c_str(), mode), 0);
    return path;
  }
  testing::TempDir dir_;
};

TEST_F(SecretFileTest, FirstLineTrimmed) {
  Result<std::string> s = ReadSecretFile(Write("  s3cr3t-token \nsecond line\n", 0600));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(*s, "s3cr3t-token");
}

TEST_F(SecretFileTest, ReadableByOthersIsRefusedWithTheFix) {
  const std::string path = Write("s3cr3t\n", 0644);
  Result<std::string> s = ReadSecretFile(path);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Status::Code::kDenied);
  EXPECT_NE(s.status().message().find("chmod 600 " + path), std::string::npos)
      << s.status().message();
  EXPECT_FALSE(ReadSecretFile(Write("s3cr3t\n", 0640)).ok());
}

TEST_F(SecretFileTest, EmptyFirstLineIsRefused) {
  EXPECT_EQ(ReadSecretFile(Write("\nsecret on line two\n", 0600)).status().code(),
            Status::Code::kInvalid);
}

}  // namespace
}  // namespace backupd::client

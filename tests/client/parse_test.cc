// tests: backup-client's command-line value parsing.
#include "client/parse.h"

#include <gtest/gtest.h>

#include <string>

namespace backupd::client {
namespace {

TEST(ParseEndpointTest, HostAndPort) {
  Result<Endpoint> ep = ParseEndpoint("127.0.0.1:4000");
  ASSERT_TRUE(ep.ok()) << ep.status().ToString();
  EXPECT_EQ(ep->host, "127.0.0.1");
  EXPECT_EQ(ep->port, 4000);
}

TEST(ParseEndpointTest, HostNameAndPort) {
  Result<Endpoint> ep = ParseEndpoint("backup.example.org:65535");
  ASSERT_TRUE(ep.ok());
  EXPECT_EQ(ep->host, "backup.example.org");
  EXPECT_EQ(ep->port, 65535);
}

TEST(ParseEndpointTest, BracketedIpv6) {
  Result<Endpoint> ep = ParseEndpoint("[::1]:1337");
  ASSERT_TRUE(ep.ok());
  EXPECT_EQ(ep->host, "::1");
  EXPECT_EQ(ep->port, 1337);
  ep = ParseEndpoint("[fe80::1%lo]:1");
  ASSERT_TRUE(ep.ok());
  EXPECT_EQ(ep->host, "fe80::1%lo");
  EXPECT_EQ(ep->port, 1);
}

TEST(ParseEndpointTest, PortDefaultsTo1337) {
  Result<Endpoint> ep = ParseEndpoint("localhost");
  ASSERT_TRUE(ep.ok());
  EXPECT_EQ(ep->host, "localhost");
  EXPECT_EQ(ep->port, 1337);
  ep = ParseEndpoint("[::1]");
  ASSERT_TRUE(ep.ok());
  EXPECT_EQ(ep->host, "::1");
  EXPECT_EQ(ep->port, 1337);
}

TEST(ParseEndpointTest, RefusesMalformed) {
  for (const char* bad : {"", ":1337", "host:", "host:0", "host:65536", "host:-1", "host:+1",
                          "host:12a", "host: 1", "::1:1337", "::1", "[::1", "[::1]1337",
                          "[::1]:", "[]:1", "[127.0.0.1]:1", "host:99999999999999999999999"}) {
    Result<Endpoint> ep = ParseEndpoint(bad);
    EXPECT_FALSE(ep.ok()) << "'" << bad << "' parsed as " << (ep.ok() ? FormatEndpoint(*ep) : "");
    if (!ep.ok()) {
      EXPECT_EQ(ep.status().code(), Status::Code::kInvalid) << bad;
    }
  }
}

// The forms a new user tries first get a message naming the form wanted, not a resolver error
// (server.info's "HOST PORT") or an IPv6 hint (a URL's extra colon).
TEST(ParseEndpointTest, NotHostPortSaysWhatIsExpected) {
  for (const char* bad : {"127.0.0.1 1337", "http://127.0.0.1:1337", "tcp://[::1]:1337",
                          "127.0.0.1:1337/", "user@host:1337", "127.0.0.1\t1337"}) {
    Result<Endpoint> ep = ParseEndpoint(bad);
    ASSERT_FALSE(ep.ok()) << bad;
    EXPECT_EQ(ep.status().message(),
              "server address '" + std::string(bad) + "': expected HOST:PORT, e.g. 127.0.0.1:1337");
  }
  Result<Endpoint> ep = ParseEndpoint("::1:1337");
  ASSERT_FALSE(ep.ok());
  EXPECT_EQ(ep.status().message(),
            "server address '::1:1337': write an IPv6 address in brackets, e.g. [::1]:1337");
}

TEST(ParseEndpointTest, FormatBracketsIpv6) {
  EXPECT_EQ(FormatEndpoint({"::1", 1337}), "[::1]:1337");
  EXPECT_EQ(FormatEndpoint({"10.0.0.1", 80}), "10.0.0.1:80");
}

TEST(ParseUserIdTest, Bounds) {
  Result<uint32_t> id = ParseUserId("0");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, 0u);
  id = ParseUserId("4294967295");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, 4294967295u);
  for (const char* bad : {"", "4294967296", "-1", "+1", " 1", "1 ", "0x10", "1e3", "abc"}) {
    EXPECT_FALSE(ParseUserId(bad).ok()) << "'" << bad << "'";
  }
}

TEST(StoredNameTest, StripsLeadingSlashes) {
  Result<std::string> name = StoredName("/etc/hosts");
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(*name, "etc/hosts");
  name = StoredName("//srv/a b/c.txt");
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(*name, "srv/a b/c.txt");
  name = StoredName("notes.txt");
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(*name, "notes.txt");
}

TEST(StoredNameTest, RefusesNamesTheServerWouldRefuse) {
  for (const char* bad : {"/", "", "./a", "../a", "a/../b", "a//b", "dir/", ".backupd-tmp-1"}) {
    Result<std::string> name = StoredName(bad);
    EXPECT_FALSE(name.ok()) << "'" << bad << "' stored as " << (name.ok() ? *name : "");
  }
}

TEST(DefaultRestoreOutputTest, LastComponent) {
  Result<std::string> out = DefaultRestoreOutput("etc/hosts");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "hosts");
  out = DefaultRestoreOutput("plain");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "plain");
  EXPECT_FALSE(DefaultRestoreOutput("dir/").ok());
  EXPECT_FALSE(DefaultRestoreOutput("a/..").ok());
  EXPECT_FALSE(DefaultRestoreOutput("").ok());
}

}  // namespace
}  // namespace backupd::client

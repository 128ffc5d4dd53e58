// tests (any privilege): command line and config file parsing of conf/config.h.
#include "conf/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <climits>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include "tests/harness/temp_dir.h"

namespace backupd::conf {
namespace {

using ::testing::HasSubstr;

class ConfigTest : public ::testing::Test {
 protected:
  // Writes the config file and returns a command line naming it with -c.
  CommandLine WithFile(const std::string& text) {
    std::ofstream(path_) << text;
    CommandLine cmd;
    cmd.config_path = path_;
    cmd.config_given = true;
    return cmd;
  }

  Result<Config> LoadText(const std::string& text) { return LoadConfig(WithFile(text)); }

  // The error message of loading `text`; fails the test when it loads.
  std::string ErrorOf(const std::string& text) {
    Result<Config> r = LoadText(text);
    EXPECT_FALSE(r.ok()) << "accepted: " << text;
    return r.status().message();
  }

  testing::TempDir dir_;
  const std::string path_ = dir_.Sub("backupd.conf");
};

Result<CommandLine> Parse(std::initializer_list<const char*> args) {
  std::vector<const char*> argv{"backupd"};
  argv.insert(argv.end(), args);
  return ParseCommandLine(static_cast<int>(argv.size()), argv.data());
}

TEST_F(ConfigTest, DefaultsWhenDefaultFileIsAbsent) {
  CommandLine cmd;
  cmd.config_path = dir_.Sub("absent.conf");
  Result<Config> r = LoadConfig(cmd);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const Config& c = *r;
  ASSERT_EQ(c.listen.size(), 1u);
  EXPECT_EQ(c.listen[0].ToString(), "127.0.0.1:1337");
  EXPECT_EQ(c.storage, "/var/lib/backupd");
  EXPECT_EQ(c.user, "backupd");
  EXPECT_EQ(c.group, "backupd");
  EXPECT_EQ(c.log, "syslog");
  EXPECT_EQ(c.log_level, LogLevel::kInfo);
  EXPECT_EQ(c.pid_file, "/run/backupd.pid");
  EXPECT_EQ(c.max_file_size, uint64_t{INT64_MAX});
  EXPECT_EQ(c.idle_timeout, 30u);
  EXPECT_EQ(c.header_timeout, 20u);  // mod_reqtimeout's header default is 20-40 s
  EXPECT_EQ(c.min_rate, 500u);       // and its MinRate 500 bytes/s
  EXPECT_EQ(c.request_timeout, 300u);
  EXPECT_EQ(c.max_connections_per_ip, 16u);  // half of workers.max: one host cannot take all
  EXPECT_EQ(c.listen_backlog, 4096u);        // a 320-client burst overflowed 128
  EXPECT_EQ(c.workers, 4u);
  EXPECT_EQ(c.workers_max, 32u);
  EXPECT_EQ(c.metrics_file, "");
  EXPECT_EQ(c.legacy_v1, LegacyV1::kLoopback);
}

TEST_F(ConfigTest, MissingExplicitFileIsAnError) {
  CommandLine cmd;
  cmd.config_path = dir_.Sub("absent.conf");
  cmd.config_given = true;
  Result<Config> r = LoadConfig(cmd);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr(dir_.Sub("absent.conf")));
}

// The reason is that of the failed open or read itself (errno after a failed ifstream is not).
TEST_F(ConfigTest, AnUnreadableConfigFileSaysWhy) {
  CommandLine cmd;
  cmd.config_path = dir_.Sub("absent.conf");
  cmd.config_given = true;
  EXPECT_EQ(LoadConfig(cmd).status().message(),
            dir_.Sub("absent.conf") + ": No such file or directory");
  cmd.config_path = dir_.path();
  EXPECT_EQ(LoadConfig(cmd).status().message(), dir_.path() + ": Is a directory");
  cmd.config_given = false;  // the default path may be absent, but not a folder
  EXPECT_EQ(LoadConfig(cmd).status().message(), dir_.path() + ": Is a directory");
}

TEST_F(ConfigTest, EveryKeyIsParsed) {
  Result<Config> r = LoadText(
      "listen = 10.0.0.1:2000\n"
      "storage = /srv/backup\n"
      "user = nobody\n"
      "group = nogroup\n"
      "workers = 6\n"
      "log = /var/log/backupd.log\n"
      "log_level = debug\n"
      "pid_file = /tmp/b.pid\n"
      "max_file_size = 1048576\n"
      "idle_timeout = 5\n"
      "header_timeout = 4\n"
      "min_rate = 2000\n"
      "request_timeout = 60\n"
      "shutdown_timeout = 7\n"
      "listen_backlog = 64\n"
      "max_connections_per_ip = 3\n"
      "status_socket = /tmp/b.status\n"
      "status_group = adm\n"
      "metrics_file = /tmp/b.prom\n"
      "[workers]\n"
      "min_spare = 2\n"
      "max_spare = 9\n"
      "max = 40\n"
      "max_requests = 1000\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const Config& c = *r;
  ASSERT_EQ(c.listen.size(), 1u);
  EXPECT_EQ(c.listen[0].host, "10.0.0.1");
  EXPECT_EQ(c.listen[0].port, 2000);
  EXPECT_EQ(c.storage, "/srv/backup");
  EXPECT_EQ(c.user, "nobody");
  EXPECT_EQ(c.group, "nogroup");
  EXPECT_EQ(c.workers, 6u);
  EXPECT_EQ(c.log, "/var/log/backupd.log");
  EXPECT_EQ(c.log_level, LogLevel::kDebug);
  EXPECT_EQ(c.pid_file, "/tmp/b.pid");
  EXPECT_EQ(c.max_file_size, 1048576u);
  EXPECT_EQ(c.idle_timeout, 5u);
  EXPECT_EQ(c.header_timeout, 4u);
  EXPECT_EQ(c.min_rate, 2000u);
  EXPECT_EQ(c.request_timeout, 60u);
  EXPECT_EQ(c.shutdown_timeout, 7u);
  EXPECT_EQ(c.listen_backlog, 64u);
  EXPECT_EQ(c.max_connections_per_ip, 3u);
  EXPECT_EQ(c.status_socket, "/tmp/b.status");
  EXPECT_EQ(c.status_group, "adm");
  EXPECT_EQ(c.metrics_file, "/tmp/b.prom");
  EXPECT_EQ(c.workers_min_spare, 2u);
  EXPECT_EQ(c.workers_max_spare, 9u);
  EXPECT_EQ(c.workers_max, 40u);
  EXPECT_EQ(c.workers_max_requests, 1000u);
}

TEST_F(ConfigTest, LogTargetsAndLevels) {
  EXPECT_EQ(LoadText("log = stderr\n")->log, "stderr");
  EXPECT_EQ(LoadText("log = syslog\n")->log, "syslog");
  EXPECT_EQ(LoadText("log_level = info\n")->log_level, LogLevel::kInfo);
  EXPECT_EQ(LoadText("log_level = warning\n")->log_level, LogLevel::kWarning);
  EXPECT_EQ(LoadText("log_level = error\n")->log_level, LogLevel::kError);
  EXPECT_STREQ(LogLevelName(LogLevel::kWarning), "warning");
}

TEST_F(ConfigTest, LegacyV1Modes) {
  EXPECT_EQ(LoadText("legacy_v1 = off\n")->legacy_v1, LegacyV1::kOff);
  EXPECT_EQ(LoadText("legacy_v1 = loopback\n")->legacy_v1, LegacyV1::kLoopback);
  EXPECT_EQ(LoadText("legacy_v1 = on\n")->legacy_v1, LegacyV1::kOn);
  EXPECT_STREQ(LegacyV1Name(LegacyV1::kLoopback), "loopback");
  EXPECT_THAT(ErrorOf("legacy_v1 = yes\n"),
              HasSubstr(path_ + ":1: legacy_v1: invalid value 'yes'"));
}

TEST_F(ConfigTest, VersionsAndAppendOnlyUsers) {
  Result<Config> defaults = LoadText("");
  ASSERT_TRUE(defaults.ok()) << defaults.status().message();
  EXPECT_EQ(defaults->keep_versions, 1u);
  EXPECT_EQ(defaults->keep_days, 0u);
  EXPECT_FALSE(defaults->KeepsHistory());
  EXPECT_TRUE(defaults->append_only_users.empty());
  Result<Config> r = LoadText(
      "keep_versions = 5\nkeep_days = 30\nappend_only_users = 101 102\n"
      "append_only_users = 7\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->keep_versions, 5u);
  EXPECT_EQ(r->keep_days, 30u);
  EXPECT_TRUE(r->KeepsHistory());
  EXPECT_EQ(r->append_only_users, (std::vector<uint32_t>{101, 102, 7}));
  EXPECT_TRUE(r->IsAppendOnly(102));
  EXPECT_FALSE(r->IsAppendOnly(103));
  EXPECT_TRUE(LoadText("keep_days = 1\n")->KeepsHistory());
  EXPECT_THAT(ErrorOf("keep_versions = 0\n"), HasSubstr("keep_versions must be at least 1"));
  EXPECT_THAT(ErrorOf("append_only_users = 101 x\n"),
              HasSubstr(path_ + ":1: append_only_users: invalid value '101 x'"));
  EXPECT_THAT(ErrorOf("append_only_users = -1\n"), HasSubstr("invalid value '-1'"));
}

TEST_F(ConfigTest, NodeNameDefaultsToTheHostnameAndTakesOnlyFileNameSafeBytes) {
  char host[HOST_NAME_MAX + 1] = {};
  ASSERT_EQ(gethostname(host, sizeof host - 1), 0);
  EXPECT_EQ(LoadText("")->node_name, host);
  EXPECT_EQ(LoadText("node_name = web-2.dc_1\n")->node_name, "web-2.dc_1");
  EXPECT_EQ(LoadText("node_name = " + std::string(64, 'n') + "\n")->node_name,
            std::string(64, 'n'));
  for (const std::string& bad :
       std::vector<std::string>{"a/b", "a b", std::string(65, 'n'), "\xc3\xa9"}) {
    EXPECT_THAT(ErrorOf("node_name = " + bad + "\n"), HasSubstr(path_ + ":1: node_name: invalid"))
        << bad;
  }
}

TEST_F(ConfigTest, MaxFileSizeSuffixesArePowersOf1024) {
  EXPECT_EQ(LoadText("max_file_size = 1\n")->max_file_size, 1u);
  EXPECT_EQ(LoadText("max_file_size = 2K\n")->max_file_size, 2048u);
  EXPECT_EQ(LoadText("max_file_size = 3M\n")->max_file_size, 3u << 20);
  EXPECT_EQ(LoadText("max_file_size = 3G\n")->max_file_size, 3u << 30);
  EXPECT_EQ(LoadText("max_file_size = 4294967296\n")->max_file_size, uint64_t{1} << 32);
  EXPECT_EQ(LoadText("max_file_size = 5T\n")->max_file_size, uint64_t{5} << 40);
  EXPECT_EQ(LoadText("max_file_size = 9223372036854775807\n")->max_file_size, uint64_t{INT64_MAX});
  for (const char* bad :
       {"0", "9223372036854775808", "8388608T", "-1", "1P", "K", "1.5M", "abc", ""}) {
    EXPECT_THAT(ErrorOf(std::string("max_file_size = ") + bad + "\n"),
                HasSubstr(path_ + ":1: max_file_size: invalid value '" + bad + "'"));
  }
}

TEST_F(ConfigTest, MaxFilesListedIsACountOfAtLeastOne) {
  EXPECT_EQ(Config{}.max_files_listed, 10000000u);
  EXPECT_EQ(LoadText("max_files_listed = 1\n")->max_files_listed, 1u);
  EXPECT_EQ(LoadText("max_files_listed = 4294967295\n")->max_files_listed, 4294967295u);
  EXPECT_THAT(ErrorOf("max_files_listed = 0\n"), HasSubstr("max_files_listed must be at least 1"));
  EXPECT_THAT(ErrorOf("max_files_listed = 4294967296\n"),
              HasSubstr(path_ + ":1: max_files_listed: invalid value '4294967296'"));
}

TEST_F(ConfigTest, RepeatedListenReplacesTheDefaultList) {
  Result<Config> r = LoadText("listen = 127.0.0.1:1\nlisten = [::1]:1337\nlisten = localhost:0\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->listen.size(), 3u);
  EXPECT_EQ(r->listen[0].ToString(), "127.0.0.1:1");
  EXPECT_EQ(r->listen[1].host, "::1");
  EXPECT_EQ(r->listen[1].ToString(), "[::1]:1337");
  EXPECT_EQ(r->listen[2].ToString(), "localhost:0");
  EXPECT_EQ(r->listen[2].port, 0);
}

TEST_F(ConfigTest, BadListenValues) {
  for (const char* bad :
       {"127.0.0.1", "127.0.0.1:65536", "127.0.0.1:-1", "example.com:80", "::1:1337", "[::1]1337",
        "[127.0.0.1]:1", "[::1]:", ":1337", "256.0.0.1:1"}) {
    EXPECT_THAT(ErrorOf(std::string("\nlisten = ") + bad + "\n"),
                HasSubstr(path_ + ":2: listen: invalid value '" + bad + "'"));
  }
}

TEST_F(ConfigTest, BadNumbersNameFileLineAndKey) {
  for (const char* key : {"workers", "listen_backlog", "max_connections_per_ip", "idle_timeout",
                          "header_timeout", "min_rate", "request_timeout", "shutdown_timeout"}) {
    for (const char* bad : {"abc", "-1", "4294967296", " ", "1x"}) {
      std::string text = std::string("# comment\n") + key + " = " + bad + "\n";
      std::string trimmed = std::string(bad) == " " ? "" : bad;
      EXPECT_THAT(ErrorOf(text),
                  HasSubstr(path_ + ":2: " + key + ": invalid value '" + trimmed + "'"));
    }
  }
  for (const char* key : {"min_spare", "max_spare", "max", "max_requests"}) {
    EXPECT_THAT(ErrorOf(std::string("[workers]\n") + key + " = x\n"),
                HasSubstr(path_ + ":2: workers." + key + ": invalid value 'x'"));
  }
}

TEST_F(ConfigTest, TimeoutsMustBePositive) {
  for (const char* key :
       {"idle_timeout", "header_timeout", "request_timeout", "shutdown_timeout"}) {
    EXPECT_THAT(ErrorOf(std::string(key) + " = 0\n"),
                HasSubstr(path_ + ":1: " + key + ": invalid value '0'"));
  }
}

TEST_F(ConfigTest, APerIpLimitThatLetsOneAddressHoldEveryWorkerIsWarnedAbout) {
  EXPECT_TRUE(Warnings(Config()).empty());  // 16 of 32
  Config c;
  c.max_connections_per_ip = 0;
  EXPECT_EQ(Warnings(c), std::vector<std::string>{
                             "max_connections_per_ip (0) lets one address hold all workers.max "
                             "(32) workers: a host that stalls its connections can stop all "
                             "service"});
  c.max_connections_per_ip = 32;
  EXPECT_EQ(Warnings(c).size(), 1u);
  c.workers_max = 33;
  EXPECT_TRUE(Warnings(c).empty());
}

TEST_F(ConfigTest, ZeroMinRateAndZeroPerIpLimitTurnThemOff) {
  Result<Config> r = LoadText("min_rate = 0\nmax_connections_per_ip = 0\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->min_rate, 0u);
  EXPECT_EQ(r->max_connections_per_ip, 0u);
}

TEST_F(ConfigTest, BadLogAndLevel) {
  EXPECT_THAT(ErrorOf("log_level = verbose\n"),
              HasSubstr(path_ + ":1: log_level: invalid value 'verbose'"));
  EXPECT_THAT(ErrorOf("log = relative/file\n"),
              HasSubstr(path_ + ":1: log: invalid value 'relative/file'"));
  EXPECT_THAT(ErrorOf("user =\n"), HasSubstr(path_ + ":1: user: invalid value ''"));
}

TEST_F(ConfigTest, UnknownKeyNamesFileLineAndKey) {
  Result<Config> r = LoadText("workers = 2\n\n# note\nfoo = 1\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalid);
  EXPECT_EQ(r.status().message(), path_ + ":4: unknown key 'foo'");
  EXPECT_EQ(ErrorOf("[workers]\nfoo = 1\n"), path_ + ":2: unknown key 'workers.foo'");
}

TEST_F(ConfigTest, SyntaxErrors) {
  EXPECT_THAT(ErrorOf("workers\n"), HasSubstr(path_ + ":1: expected 'key = value'"));
  EXPECT_THAT(ErrorOf("= 3\n"), HasSubstr(path_ + ":1:"));
  EXPECT_THAT(ErrorOf("[pool]\nmax = 3\n"), HasSubstr(path_ + ":1: unknown section '[pool]'"));
}

TEST_F(ConfigTest, CommentsAndBlankLines) {
  Result<Config> r = LoadText(
      "# a comment\n"
      "\n"
      "   \t\n"
      "  workers = 3   # trailing comment\n"
      "user=alice\r\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->workers, 3u);
  EXPECT_EQ(r->user, "alice");
}

TEST_F(ConfigTest, RelativeStorageIsMadeAbsolute) {
  Result<Config> r = LoadText("storage = data/store\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->storage, (std::filesystem::current_path() / "data/store").string());
  EXPECT_EQ(r->storage.front(), '/');
}

TEST_F(ConfigTest, OverridesBeatTheFile) {
  CommandLine cmd = WithFile("storage = /from/file\nlisten = 10.0.0.1:1\n[workers]\nmax = 8\n");
  cmd.overrides = {"storage=/tmp/x", "workers.max = 4", "workers=2", "listen=[::1]:5",
                   "listen=127.0.0.1:6"};
  Result<Config> r = LoadConfig(cmd);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->storage, "/tmp/x");
  EXPECT_EQ(r->workers_max, 4u);
  EXPECT_EQ(r->workers, 2u);
  ASSERT_EQ(r->listen.size(), 2u);
  EXPECT_EQ(r->listen[0].ToString(), "[::1]:5");
  EXPECT_EQ(r->listen[1].ToString(), "127.0.0.1:6");
}

TEST_F(ConfigTest, OverrideErrorsNameTheCommandLine) {
  CommandLine cmd;
  cmd.config_path = dir_.Sub("absent.conf");
  cmd.overrides = {"foo=1"};
  EXPECT_EQ(LoadConfig(cmd).status().message(), "command line (-o): unknown key 'foo'");
  cmd.overrides = {"workers.max=lots"};
  EXPECT_THAT(LoadConfig(cmd).status().message(),
              HasSubstr("command line (-o): workers.max: invalid value 'lots'"));
  cmd.overrides = {"workers"};
  EXPECT_THAT(LoadConfig(cmd).status().message(), HasSubstr("command line (-o): expected"));
}

TEST_F(ConfigTest, BarePortReplacesEveryListenPort) {
  CommandLine cmd = WithFile("listen = 127.0.0.1:1\nlisten = [::1]:2\n");
  cmd.port = 0;
  Result<Config> r = LoadConfig(cmd);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->listen.size(), 2u);
  EXPECT_EQ(r->listen[0].ToString(), "127.0.0.1:0");
  EXPECT_EQ(r->listen[1].ToString(), "[::1]:0");
}

TEST_F(ConfigTest, TlsKeys) {
  Result<Config> r = LoadText(
      "tls_listen = 127.0.0.1:1338\ntls_listen = [::1]:1338\ntls_cert = tls/cert.pem\n"
      "tls_key = /etc/backupd/key.pem\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->tls_listen.size(), 2u);
  EXPECT_EQ(r->tls_listen[1].ToString(), "[::1]:1338");
  // Reread on a reload by a daemon that changed to /.
  EXPECT_EQ(r->tls_cert, (std::filesystem::current_path() / "tls/cert.pem").string());
  EXPECT_EQ(r->tls_key, "/etc/backupd/key.pem");
  ASSERT_EQ(r->listen.size(), 1u);  // the plain default stays

  CommandLine cmd = WithFile("tls_listen = 127.0.0.1:1338\ntls_cert = /c\ntls_key = /k\n");
  cmd.overrides = {"tls_listen=127.0.0.1:2000"};
  cmd.port = 7;  // a bare PORT is for the plain sockets
  r = LoadConfig(cmd);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->tls_listen.size(), 1u);
  EXPECT_EQ(r->tls_listen[0].ToString(), "127.0.0.1:2000");
  EXPECT_EQ(r->listen[0].ToString(), "127.0.0.1:7");

  EXPECT_THAT(ErrorOf("tls_listen = 127.0.0.1:1338\ntls_cert = /c\n"),
              HasSubstr("tls_listen needs tls_cert and tls_key"));
  EXPECT_THAT(ErrorOf("tls_listen = 127.0.0.1\n"), HasSubstr("tls_listen: invalid value"));
  EXPECT_TRUE(LoadText("tls_cert = /c\ntls_key = /k\n").ok());  // ready, not yet listening
}

TEST_F(ConfigTest, CrossFieldValidation) {
  EXPECT_THAT(ErrorOf("workers = 0\n"), HasSubstr("workers must be at least 1"));
  EXPECT_THAT(ErrorOf("workers = 9\n[workers]\nmax = 8\n"),
              HasSubstr("workers (9) is more than workers.max (8)"));
  EXPECT_THAT(ErrorOf("[workers]\nmin_spare = 5\nmax_spare = 4\n"),
              HasSubstr("workers.min_spare (5) is more than workers.max_spare (4)"));
  EXPECT_THAT(ErrorOf("[workers]\nmax = 1025\n"), HasSubstr("at most 1024"));
  EXPECT_TRUE(LoadText("[workers]\nmax = 1024\n").ok());

  Config c;
  EXPECT_TRUE(Validate(c).ok());
  c.listen.clear();
  EXPECT_FALSE(Validate(c).ok());
  c = Config();
  c.idle_timeout = 0;
  EXPECT_FALSE(Validate(c).ok());
}

TEST(CommandLineTest, DefaultsWithNoArguments) {
  Result<CommandLine> r = Parse({});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->config_path, "/etc/backupd.conf");
  EXPECT_FALSE(r->config_given);
  EXPECT_FALSE(r->foreground || r->test_config || r->help || r->version || r->status);
  EXPECT_FALSE(r->port.has_value());
  EXPECT_TRUE(r->overrides.empty());
}

TEST(CommandLineTest, Flags) {
  Result<CommandLine> r = Parse({"-c", "/x.conf", "-f", "-t", "--version"});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->config_path, "/x.conf");
  EXPECT_TRUE(r->config_given);
  EXPECT_TRUE(r->foreground);
  EXPECT_TRUE(r->test_config);
  EXPECT_TRUE(r->version);
  EXPECT_FALSE(r->help);

  r = Parse({"--config=/y.conf", "--foreground", "--test-config"});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->config_path, "/y.conf");
  EXPECT_TRUE(r->foreground && r->test_config && r->config_given);
}

TEST(CommandLineTest, HelpFillsTheText) {
  Result<CommandLine> r = Parse({"-h"});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->help);
  EXPECT_THAT(r->help_text, HasSubstr("Usage: backupd [options] [PORT]"));
  EXPECT_THAT(r->help_text, HasSubstr("--config"));
  EXPECT_THAT(r->help_text, HasSubstr("--test-config"));
  EXPECT_THAT(r->help_text, HasSubstr("max_file_size"));
  EXPECT_TRUE(Parse({})->help_text.empty());
}

TEST(CommandLineTest, BarePort) {
  EXPECT_EQ(Parse({"1337"})->port, 1337);
  EXPECT_EQ(Parse({"-f", "0"})->port, 0);
  EXPECT_EQ(Parse({"65535", "-f"})->port, 65535);
  for (const char* bad : {"65536", "abc", "12x", ""}) {
    Result<CommandLine> r = Parse({bad});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_THAT(r.status().message(), HasSubstr(std::string("invalid PORT '") + bad + "'"));
  }
  EXPECT_FALSE(Parse({"1", "2"}).ok());
}

TEST(CommandLineTest, RepeatedOverrides) {
  Result<CommandLine> r = Parse({"-o", "storage=/tmp/x", "-o", "workers.max=4", "--option=a=b"});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->overrides, (std::vector<std::string>{"storage=/tmp/x", "workers.max=4", "a=b"}));
}

TEST(CommandLineTest, Status) {
  Result<CommandLine> r = Parse({"status", "-c", "/z.conf"});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->status);
  EXPECT_EQ(r->config_path, "/z.conf");
  EXPECT_FALSE(r->port.has_value());
  EXPECT_FALSE(Parse({"status", "1337"}).ok());
  EXPECT_FALSE(Parse({"1337", "status"}).ok());
}

TEST(CommandLineTest, BadOptionsAreOneLineErrors) {
  for (auto args : {std::vector<const char*>{"--bogus"}, {"-x"}, {"-c"}, {"-c", "a", "-c", "b"}}) {
    args.insert(args.begin(), "backupd");
    Result<CommandLine> r = ParseCommandLine(static_cast<int>(args.size()), args.data());
    ASSERT_FALSE(r.ok()) << args[1];
    EXPECT_EQ(r.status().code(), Status::Code::kInvalid);
    EXPECT_FALSE(r.status().message().empty());
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
  }
  EXPECT_THAT(Parse({"--bogus"}).status().message(), HasSubstr("--bogus"));
}

}  // namespace
}  // namespace backupd::conf

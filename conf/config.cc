// supervisor (root): reads the command line and the config file into a Config (Program_options).
#include "conf/config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cerrno>
#include <climits>
#include <filesystem>
#include <sstream>

#include "base/text.h"
#include "base/unique_fd.h"

namespace po = boost::program_options;

namespace backupd::conf {
namespace {

constexpr const char* kOverrideOrigin = "command line (-o)";

// Wrapper types give each kind of value its own Program_options validator (found by ADL below),
// so a bad value surfaces as a po::validation_error while the line is being stored.
struct Count {  // an unsigned decimal that fits 32 bits
  uint32_t n = 0;
};
struct Seconds {  // a Count > 0
  uint32_t n = 0;
};
struct ByteSize {  // 1..kMaxFileSizeLimit, optionally with a K/M/G/T suffix (powers of 1024)
  uint64_t n = 0;
};
struct LogTarget {  // "syslog", "stderr" or an absolute path
  std::string s;
};
struct NonEmpty {
  std::string s;
};
struct UserIds {  // user ids (decimal, 32 bits) separated by blanks; repeatable, each line adds
  std::vector<uint32_t> ids;
};

struct NodeName {  // what IsNodeName accepts
  std::string s;
};

// A node_name: it goes into file names beside other nodes' (docs/STORAGE.md).
bool IsNodeName(const std::string& s) {
  return !s.empty() && s.size() <= 64 &&
         s.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
             std::string::npos;
}

std::string Trim(const std::string& s) {
  const char* ws = " \t\r\n";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

bool ParseListen(const std::string& s, ListenAddress* out) {
  std::string host, port;
  if (!s.empty() && s[0] == '[') {
    size_t close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') return false;
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
    in6_addr a6;
    if (inet_pton(AF_INET6, host.c_str(), &a6) != 1) return false;
  } else {
    size_t colon = s.rfind(':');
    if (colon == std::string::npos) return false;
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    in_addr a4;
    if (host != "localhost" && inet_pton(AF_INET, host.c_str(), &a4) != 1) return false;
  }
  std::optional<uint64_t> p = ParseDecimal(port, UINT16_MAX);
  if (!p) return false;
  out->host = host;
  out->port = static_cast<uint16_t>(*p);
  return true;
}

bool ParseLogLevel(const std::string& s, LogLevel* out) {
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarning, LogLevel::kError}) {
    if (s == LogLevelName(l)) {
      *out = l;
      return true;
    }
  }
  return false;
}

bool ParseLegacyV1(const std::string& s, LegacyV1* out) {
  for (LegacyV1 m : {LegacyV1::kOff, LegacyV1::kLoopback, LegacyV1::kOn}) {
    if (s == LegacyV1Name(m)) {
      *out = m;
      return true;
    }
  }
  return false;
}

// The single token of an option, after the usual first-occurrence check.
const std::string& Token(boost::any& v, const std::vector<std::string>& values) {
  po::validators::check_first_occurrence(v);
  return po::validators::get_single_string(values);
}

// Program_options validators, one per wrapper type. Numbers go through base's strict
// ParseDecimal: lexical_cast would accept "-1".
void validate(boost::any& v, const std::vector<std::string>& values, Count*, int) {
  const std::string& s = Token(v, values);
  std::optional<uint64_t> n = ParseDecimal(s, UINT32_MAX);
  if (!n) throw po::invalid_option_value(s);
  v = Count{static_cast<uint32_t>(*n)};
}

void validate(boost::any& v, const std::vector<std::string>& values, Seconds*, int) {
  const std::string& s = Token(v, values);
  std::optional<uint64_t> n = ParseDecimal(s, UINT32_MAX);
  if (!n || *n == 0) throw po::invalid_option_value(s);
  v = Seconds{static_cast<uint32_t>(*n)};
}

void validate(boost::any& v, const std::vector<std::string>& values, ByteSize*, int) {
  const std::string& s = Token(v, values);
  std::string digits = s;
  uint64_t unit = 1;
  size_t power = s.empty() ? std::string::npos : std::string("KMGT").find(s.back());
  if (power != std::string::npos) {
    unit = 1ull << (10 * (power + 1));
    digits.pop_back();
  }
  std::optional<uint64_t> n = ParseDecimal(digits, kMaxFileSizeLimit);
  if (!n || *n == 0 || *n > kMaxFileSizeLimit / unit) throw po::invalid_option_value(s);
  v = ByteSize{*n * unit};
}

void validate(boost::any& v, const std::vector<std::string>& values, LogTarget*, int) {
  const std::string& s = Token(v, values);
  if (s != "syslog" && s != "stderr" && (s.empty() || s[0] != '/')) {
    throw po::invalid_option_value(s);
  }
  v = LogTarget{s};
}

void validate(boost::any& v, const std::vector<std::string>& values, NonEmpty*, int) {
  const std::string& s = Token(v, values);
  if (s.empty()) throw po::invalid_option_value(s);
  v = NonEmpty{s};
}

void validate(boost::any& v, const std::vector<std::string>& values, UserIds*, int) {
  const std::string& s = Token(v, values);
  std::istringstream words(s);
  UserIds out;
  for (std::string word; words >> word;) {
    std::optional<uint64_t> n = ParseDecimal(word, UINT32_MAX);
    if (!n) throw po::invalid_option_value(s);
    out.ids.push_back(static_cast<uint32_t>(*n));
  }
  v = out;
}

void validate(boost::any& v, const std::vector<std::string>& values, NodeName*, int) {
  const std::string& s = Token(v, values);
  if (!IsNodeName(s)) throw po::invalid_option_value(s);
  v = NodeName{s};
}

}  // namespace

// These live in the namespace of their types so Program_options finds them by ADL.
void validate(boost::any& v, const std::vector<std::string>& values, ListenAddress*, int) {
  const std::string& s = Token(v, values);
  ListenAddress a;
  if (!ParseListen(s, &a)) throw po::invalid_option_value(s);
  v = a;
}

void validate(boost::any& v, const std::vector<std::string>& values, LogLevel*, int) {
  const std::string& s = Token(v, values);
  LogLevel l = LogLevel::kInfo;
  if (!ParseLogLevel(s, &l)) throw po::invalid_option_value(s);
  v = l;
}

void validate(boost::any& v, const std::vector<std::string>& values, LegacyV1*, int) {
  const std::string& s = Token(v, values);
  LegacyV1 m = LegacyV1::kLoopback;
  if (!ParseLegacyV1(s, &m)) throw po::invalid_option_value(s);
  v = m;
}

namespace {

// Stores one option of type T into `field` (converting from the wrapper with `get`).
template <typename T, typename F, typename Get>
po::typed_value<T>* Into(F* field, const char* expect, Get get) {
  return po::value<T>()->value_name(expect)->notifier(
      [field, get](const T& t) { *field = get(t); });
}
po::typed_value<Count>* Num(uint32_t* f) {
  return Into<Count>(f, "N", [](const Count& c) { return c.n; });
}
po::typed_value<Seconds>* Secs(uint32_t* f) {
  return Into<Seconds>(f, "SECONDS > 0", [](const Seconds& c) { return c.n; });
}
po::typed_value<NonEmpty>* Text(std::string* f, const char* expect) {
  return Into<NonEmpty>(f, expect, [](const NonEmpty& t) { return t.s; });
}

// Which address lists a source (the file, then -o) has named so far: its first `listen` or
// `tls_listen` replaces that list, later ones append.
struct ListsSeen {
  bool listen = false;
  bool tls_listen = false;
};

po::typed_value<ListenAddress>* Addresses(std::vector<ListenAddress>* list, bool* seen) {
  return po::value<ListenAddress>()
      ->value_name("ADDR:PORT")
      ->notifier([list, seen](const ListenAddress& a) {
        if (!*seen) list->clear();
        *seen = true;
        list->push_back(a);
      });
}

// The keys of the config file (and of -o). Each notifier writes straight into `cfg`.
po::options_description FileOptions(Config* cfg, ListsSeen* seen) {
  po::options_description d;
  auto add = d.add_options();
  add("listen", Addresses(&cfg->listen, &seen->listen),
      "repeatable; IPv6 as [::1]:1337; port 0 = any free port");
  add("tls_listen", Addresses(&cfg->tls_listen, &seen->tls_listen),
      "repeatable, like listen; serves the protocol inside TLS");
  add("tls_cert", Text(&cfg->tls_cert, "FILE"), "PEM certificate (chain) for tls_listen");
  add("tls_key", Text(&cfg->tls_key, "FILE"), "PEM private key of tls_cert");
  add("storage", Text(&cfg->storage, "DIR"), "folder holding every user's files");
  add("user", Text(&cfg->user, "NAME"), "user the workers run as");
  add("group", Text(&cfg->group, "NAME"), "group the workers run as");
  add("workers", Num(&cfg->workers), "workers started");
  add("workers.min_spare", Num(&cfg->workers_min_spare), "fewest idle workers kept");
  add("workers.max_spare", Num(&cfg->workers_max_spare), "most idle workers kept");
  add("workers.max", Num(&cfg->workers_max), "hard cap on workers (<= 1024)");
  add("workers.max_requests", Num(&cfg->workers_max_requests),
      "recycle a worker after N connections (0 = never)");
  add("log",
      Into<LogTarget>(&cfg->log, "syslog|stderr|/PATH", [](const LogTarget& t) { return t.s; }),
      "where the log goes");
  add("log_level",
      Into<LogLevel>(&cfg->log_level, "debug|info|warning|error", [](LogLevel l) { return l; }),
      "least severe level logged");
  add("pid_file", Text(&cfg->pid_file, "FILE"), "pid file of the daemon");
  add("max_file_size",
      Into<ByteSize>(&cfg->max_file_size, "BYTES[K|M|G|T] <= 2^63-1",
                     [](const ByteSize& b) { return b.n; }),
      "largest file accepted (K, M, G: powers of 1024)");
  add("max_files_listed", Num(&cfg->max_files_listed), "most files one list answer shows");
  add("idle_timeout", Secs(&cfg->idle_timeout), "seconds a connection may wait between requests");
  add("header_timeout", Secs(&cfg->header_timeout),
      "seconds for a request's header and name (and a v2 login); min_rate's grace");
  add("min_rate", Num(&cfg->min_rate),
      "bytes/s a payload must average after header_timeout (0 = no minimum)");
  add("request_timeout", Secs(&cfg->request_timeout), "seconds one request may take");
  add("shutdown_timeout", Secs(&cfg->shutdown_timeout), "seconds requests get on SIGTERM");
  add("listen_backlog", Num(&cfg->listen_backlog), "listen(2) backlog");
  add("max_connections_per_ip", Num(&cfg->max_connections_per_ip),
      "workers one address may hold (0 = unlimited)");
  add("status_socket", Text(&cfg->status_socket, "PATH"), "where `backupd status` reads");
  add("status_group", po::value<std::string>(&cfg->status_group)->value_name("GROUP"),
      "group also allowed to read the status socket");
  add("metrics_file", po::value<std::string>(&cfg->metrics_file)->value_name("FILE"),
      "Prometheus textfile (empty = off)");
  add("users_file", Text(&cfg->users_file, "FILE"),
      "users' SCRAM verifiers, root-only (backupd user add)");
  add("legacy_v1", Into<LegacyV1>(&cfg->legacy_v1, "off|loopback|on", [](LegacyV1 m) { return m; }),
      "who may use protocol v1, which has no login");
  add("keep_versions", Num(&cfg->keep_versions),
      "versions of each file kept, the current one included (1 = no history)");
  add("keep_days", Num(&cfg->keep_days), "days every version is kept (0 = by count only)");
  add("append_only_users",
      po::value<UserIds>()->value_name("ID ...")->notifier([cfg](const UserIds& u) {
        cfg->append_only_users.insert(cfg->append_only_users.end(), u.ids.begin(), u.ids.end());
      }),
      "users who may never delete or shorten history");
  add("node_name",
      Into<NodeName>(&cfg->node_name, "[A-Za-z0-9._-]{1,64}",
                     [](const NodeName& n) { return n.s; }),
      "this node's name in shared storage's temp files (default: the hostname)");
  return d;
}

po::options_description CommandOptions(CommandLine* cmd) {
  po::options_description d("Options");
  auto add = d.add_options();
  add("config,c", po::value<std::string>(&cmd->config_path)->value_name("FILE"),
      "config file (default /etc/backupd.conf)");
  add("foreground,f", po::bool_switch(&cmd->foreground), "stay in the foreground");
  add("test-config,t", po::bool_switch(&cmd->test_config), "check the configuration and exit");
  add("option,o", po::value<std::vector<std::string>>(&cmd->overrides)->value_name("KEY=VALUE"),
      "set a config key after the file, repeatable (e.g. -o workers.max=4)");
  add("help,h", po::bool_switch(&cmd->help), "print this help and exit");
  add("version", po::bool_switch(&cmd->version), "print the version and exit");
  return d;
}

// Applies `key = value` (key already carrying its section prefix) through Program_options, so
// the library checks the key and runs the value's validator; errors name `where` and the key.
Status ApplySetting(const po::options_description& desc, const std::string& where,
                    const std::string& key, const std::string& value) {
  try {
    std::istringstream line(key + "=" + value);
    po::variables_map vm;
    po::store(po::parse_config_file(line, desc), vm);
    po::notify(vm);
    return Status::Ok();
  } catch (const po::unknown_option&) {
    return Status::Invalid(where + ": unknown key '" + key + "'");
  } catch (const po::error&) {
    const po::option_description* o = desc.find_nothrow(key, false);
    std::string expect = o ? " (expected " + o->semantic()->name() + ")" : "";
    return Status::Invalid(where + ": " + key + ": invalid value '" + value + "'" + expect);
  }
}

// Splits "key = value" at the first '=' and trims both sides, as Program_options' parser does.
bool SplitSetting(const std::string& line, std::string* key, std::string* value) {
  size_t eq = line.find('=');
  if (eq == std::string::npos) return false;
  *key = Trim(line.substr(0, eq));
  *value = Trim(line.substr(eq + 1));
  return !key->empty();
}

// The config keys for --help, written as they appear in the file (not as --options).
std::string KeysHelp(const po::options_description& desc) {
  std::ostringstream out;
  out << "Config file keys (`workers.X` may also be written `X` under [workers]; -o sets one):\n";
  for (const auto& o : desc.options()) {
    std::string lhs = "  " + o->long_name() + " = " + o->semantic()->name();
    lhs.resize(std::max<size_t>(lhs.size() + 1, 44), ' ');
    out << lhs << o->description() << "\n";
  }
  return out.str();
}

Status ApplyFile(const po::options_description& desc, const std::string& path, std::istream& in) {
  std::string raw, section;
  for (int number = 1; std::getline(in, raw); ++number) {
    std::string where = path + ":" + std::to_string(number);
    std::string line = Trim(raw.substr(0, raw.find('#')));
    if (line.empty()) continue;
    if (line.front() == '[') {
      if (line != "[workers]") return Status::Invalid(where + ": unknown section '" + line + "'");
      section = "workers.";
      continue;
    }
    std::string key, value;
    if (!SplitSetting(line, &key, &value)) {
      return Status::Invalid(where + ": expected 'key = value', got '" + line + "'");
    }
    Status s = ApplySetting(desc, where, section + key, value);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

// Everything left to read from `fd`; on failure the read's own errno, named after `path`.
Result<std::string> ReadAll(int fd, const std::string& path) {
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) return text;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, path);
    text.append(buf, static_cast<size_t>(n));
  }
}

Result<Config> Load(const CommandLine& cmd) {
  Config cfg;
  ListsSeen seen;
  po::options_description desc = FileOptions(&cfg, &seen);

  // open(2) and read(2) themselves: errno after a failed ifstream is unspecified.
  UniqueFd fd(::open(cmd.config_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.valid()) {
    Result<std::string> text = ReadAll(fd.get(), cmd.config_path);
    if (!text.ok()) return text.status();
    std::istringstream file(*text);
    Status s = ApplyFile(desc, cmd.config_path, file);
    if (!s.ok()) return s;
  } else if (cmd.config_given || errno != ENOENT) {
    return Status::FromErrno(errno, cmd.config_path);
  }

  seen = ListsSeen();  // an -o listen replaces the file's list just as the file replaced ours
  for (const std::string& o : cmd.overrides) {
    std::string key, value;
    if (!SplitSetting(o, &key, &value)) {
      return Status::Invalid(std::string(kOverrideOrigin) + ": expected KEY=VALUE, got '" + o +
                             "'");
    }
    Status s = ApplySetting(desc, kOverrideOrigin, key, value);
    if (!s.ok()) return s;
  }

  if (cmd.port) {
    for (ListenAddress& a : cfg.listen) a.port = *cmd.port;
  }

  // Absolute, so that a daemon that changed to / and rereads them on a reload finds them.
  for (auto [key, path] :
       {std::pair{"storage", &cfg.storage}, std::pair{"tls_cert", &cfg.tls_cert},
        std::pair{"tls_key", &cfg.tls_key}, std::pair{"users_file", &cfg.users_file}}) {
    if (path->empty()) continue;
    std::error_code ec;
    std::filesystem::path absolute = std::filesystem::absolute(*path, ec);
    if (ec) return Status::Invalid(std::string(key) + ": cannot make '" + *path + "' absolute");
    *path = absolute.lexically_normal().string();
  }

  if (cfg.node_name.empty()) {
    char host[HOST_NAME_MAX + 1] = {};
    if (::gethostname(host, sizeof host - 1) != 0 || !IsNodeName(host)) {
      return Status::Invalid(std::string("node_name: the hostname '") + host +
                             "' is no node name; set node_name ([A-Za-z0-9._-], 1..64 bytes)");
    }
    cfg.node_name = host;
  }

  Status valid = Validate(cfg);
  if (!valid.ok()) return valid;
  return cfg;
}

}  // namespace

std::string ListenAddress::ToString() const { return FormatHostPort(host, port); }

const char* LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

const char* LegacyV1Name(LegacyV1 mode) {
  switch (mode) {
    case LegacyV1::kOff:
      return "off";
    case LegacyV1::kLoopback:
      return "loopback";
    case LegacyV1::kOn:
      return "on";
  }
  return "off";
}

Result<CommandLine> ParseCommandLine(int argc, const char* const* argv) {
  CommandLine cmd;
  try {
    po::options_description visible = CommandOptions(&cmd);
    po::options_description all;
    all.add(visible).add_options()("args", po::value<std::vector<std::string>>());
    po::positional_options_description positional;
    positional.add("args", -1);

    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
    po::notify(vm);
    cmd.config_given = vm.count("config") > 0;

    std::vector<std::string> args;
    if (vm.count("args")) args = vm["args"].as<std::vector<std::string>>();
    if (!args.empty() && args.front() == "status") {
      cmd.status = true;
      args.erase(args.begin());
      if (!args.empty()) return Status::Invalid("status: unexpected argument '" + args[0] + "'");
    }
    if (args.size() > 1) return Status::Invalid("unexpected argument '" + args[1] + "'");
    if (args.size() == 1) {
      std::optional<uint64_t> port = ParseDecimal(args[0], UINT16_MAX);
      if (!port) return Status::Invalid("invalid PORT '" + args[0] + "' (expected 0..65535)");
      cmd.port = static_cast<uint16_t>(*port);
    }

    if (cmd.help) {
      Config scratch;
      ListsSeen seen;
      std::ostringstream text;
      text << "Usage: backupd [options] [PORT]\n"
           << "       backupd status [-c FILE]\n"
           << "       backupd user add|del|passwd ID [-c FILE]\n"
           << "       backupd user list [-c FILE]\n"
           << "       backupd scrub [-c FILE] [ID]\n"
           << "       backupd prune [-c FILE] [ID]\n\n"
           << visible << "\n"
           << KeysHelp(FileOptions(&scratch, &seen));
      cmd.help_text = text.str();
    }
    return cmd;
  } catch (const std::exception& e) {
    return Status::Invalid(std::string("command line: ") + e.what());
  }
}

Result<Config> LoadConfig(const CommandLine& cmd) {
  try {
    return Load(cmd);
  } catch (const std::exception& e) {
    return Status::Invalid(cmd.config_path + ": " + e.what());
  }
}

Status Validate(const Config& c) {
  auto bad = [](const std::string& why) {
    return Status::Invalid("invalid configuration: " + why);
  };
  if (c.listen.empty()) return bad("no listen address");
  if (c.workers < 1) return bad("workers must be at least 1");
  if (c.workers_max > kMaxWorkers) {
    return bad("workers.max must be at most " + std::to_string(kMaxWorkers));
  }
  if (c.workers > c.workers_max) {
    return bad("workers (" + std::to_string(c.workers) + ") is more than workers.max (" +
               std::to_string(c.workers_max) + ")");
  }
  if (c.workers_min_spare > c.workers_max_spare) {
    return bad("workers.min_spare (" + std::to_string(c.workers_min_spare) +
               ") is more than workers.max_spare (" + std::to_string(c.workers_max_spare) + ")");
  }
  if (c.idle_timeout == 0 || c.header_timeout == 0 || c.request_timeout == 0 ||
      c.shutdown_timeout == 0) {
    return bad("timeouts must be positive");
  }
  if (c.max_file_size == 0) return bad("max_file_size must be at least 1");
  if (c.max_files_listed == 0) return bad("max_files_listed must be at least 1");
  if (c.keep_versions == 0) return bad("keep_versions must be at least 1 (the current file)");
  if (!c.tls_listen.empty() && (c.tls_cert.empty() || c.tls_key.empty())) {
    return bad("tls_listen needs tls_cert and tls_key (the server's PEM certificate and key)");
  }
  return Status::Ok();
}

bool Config::IsAppendOnly(uint32_t user_id) const {
  return std::find(append_only_users.begin(), append_only_users.end(), user_id) !=
         append_only_users.end();
}

std::vector<std::string> Warnings(const Config& c) {
  std::vector<std::string> out;
  if (c.max_connections_per_ip == 0 || c.max_connections_per_ip >= c.workers_max) {
    out.push_back("max_connections_per_ip (" + std::to_string(c.max_connections_per_ip) +
                  ") lets one address hold all workers.max (" + std::to_string(c.workers_max) +
                  ") workers: a host that stalls its connections can stop all service");
  }
  return out;
}

}  // namespace backupd::conf

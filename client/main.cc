// client (the user's privilege): backup-client, the command-line client for backupd.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "base/escaped_exception.h"
#include "base/text.h"
#include "client/backup_run.h"
#include "client/client.h"
#include "client/client_config.h"
#include "client/client_v2.h"
#include "client/connection.h"
#include "client/listing_retry.h"
#include "client/parse.h"
#include "client/progress.h"
#include "client/restore_tree.h"
#include "client/scram_cache.h"
#include "client/tree_walk.h"
#include "client/versions_command.h"
#include "protocol/wire.h"
#include "protocol/wire_v2.h"

namespace po = boost::program_options;
using backupd::Result;
using backupd::Status;
using backupd::client::Client;
using backupd::client::ClientV2;
using backupd::client::Connection;
using backupd::client::ListReply;
using backupd::client::ListReplyV2;
using backupd::client::ProgressBar;
using backupd::client::Reply;
using backupd::client::ReplyV2;
using backupd::protocol::ResponseCode;
namespace v2 = backupd::protocol::v2;

namespace {

// Exit codes, documented in --help.
constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;      // an error status from the server, or a local file problem
constexpr int kExitUsage = 2;       // bad command line
constexpr int kExitConnection = 3;  // cannot connect, connection lost, or a malformed answer
constexpr int kExitExists = 4;      // restore: the output file exists and --force was not given
constexpr int kExitUntrusted = 5;   // the server's certificate or its SCRAM signature failed
constexpr int kExitAuth = 6;        // v2: the server refused the login (1014)
constexpr int kExitDigest = 7;      // v2: a digest did not match (1016, or a restore's check)
constexpr int kExitBusy = 8;        // v2: the server is busy (1015); try later

constexpr const char* kUsage =
    "Usage: backup-client [--server HOST:PORT] [--tls [--ca FILE]] --user ID\n"
    "                     [--secret-file FILE | --protocol 1] COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  backup [PATH...]        store each file PATH under its path with the leading '/'\n"
    "                          stripped (as tar does), or under --name NAME for a single file;\n"
    "                          a folder PATH's files under the folder's path so written, then\n"
    "                          the path below it. Without PATH: 'paths' in client.conf. Each\n"
    "                          file goes with its mode and modification time, and each folder\n"
    "                          (empty ones too) is kept with its own. Only files whose size,\n"
    "                          mtime or mode differ from the server's are sent (nothing is\n"
    "                          hashed; --checksum compares SHA-256 too); the run ends with\n"
    "                          'scanned N, sent N, unchanged N, failed N, bytes sent N, T s'\n"
    "                          on standard output.\n"
    "  restore NAME [-o OUT]   fetch NAME into OUT (default: the last component of NAME in the\n"
    "                          current folder; '-o -' writes to standard output). An existing\n"
    "                          OUT is kept unless --force is given; then it is replaced only\n"
    "                          once the whole file has arrived and its digest matched.\n"
    "                          When no file is named NAME but a folder is, its files and\n"
    "                          folders are restored below the folder OUT with their modes\n"
    "                          (setuid and setgid only for root) and modification times.\n"
    "  delete NAME...          remove each NAME\n"
    "  list [-l]               print the user's stored names, one a line (with --long: size,\n"
    "                          modification time and SHA-256 too); a user with no files\n"
    "                          (status 1002) prints nothing and succeeds\n"
    "  list --deleted [-l]     the same for the names deleted while the server kept history\n"
    "  list --versions NAME    each kept version of NAME: number, time stored (UTC), size,\n"
    "                          SHA-256, and current, deleted (deleted after it) or -\n"
    "  restore NAME --version K | --before TIME [-o OUT]\n"
    "                          restore version K, or the newest stored by TIME (ISO 8601 in\n"
    "                          UTC, 2026-11-27T16:56:55Z or 2026-11-27, or @SECONDS)\n"
    "\n"
    "Protocol version 2 (the default) logs in as --user with SCRAM-SHA-256, using the secret\n"
    "on the first line of --secret-file FILE (which only its owner may read: chmod 600 FILE),\n"
    "checks that the server knows the user's verifier, and sends a SHA-256 with every file.\n"
    "--protocol 1 speaks the unauthenticated version 1. server, user, secret_file, tls and ca\n"
    "may also be set, as KEY = VALUE lines, in ~/.config/backupd/client.conf, and paths,\n"
    "exclude and exclude_from for backup; the command line wins. A secret is never taken from\n"
    "the command line.\n"
    "\n"
    "--exclude patterns are gitignore-like: '*', '?', '[...]', '**', a leading '/' anchors to\n"
    "the walked folder, a trailing '/' matches folders only, '!' re-includes (backup-client(1)).\n"
    "\n"
    "With --tls the connection is TLS (1.2 or later), and the server's certificate must chain to\n"
    "one in --ca FILE (or, without --ca, the system's store) and name the --server host (a DNS\n"
    "name or an IP address) in its subjectAltName.\n"
    "\n"
    "All requests of one invocation share one connection. On standard error, when it is a\n"
    "terminal, backup shows its progress and restore a bar for a file over 1 MiB.\n"
    "\n"
    "Exit status: 0 success; 1 the server answered with an error status (not found, no files,\n"
    "bad name, too large, no space, ...; its message is printed) or a local file could not be\n"
    "read or written; 2 usage error (also a bad client.conf or secret file);\n"
    "3 cannot connect, connection lost, timed out, or a malformed answer from the server;\n"
    "4 restore: OUT exists and --force was not given (nothing was sent);\n"
    "5 the server is not trusted: its certificate (--tls), or it could not prove it knows the\n"
    "user's verifier (nothing was sent); 6 authentication failed; 7 digest mismatch (an upload\n"
    "arrived altered, or a restored file did not match: nothing was kept); 8 the server is busy;\n"
    "70 an internal error (a bug in backup-client: its one-line message is printed).\n"
    "With several FILEs or NAMEs every one is tried, and the worst exit status is returned,\n"
    "except that a lost connection stops at once.\n";

// Why a non-success status happened, in words.
std::string Describe(uint16_t status) {
  switch (static_cast<ResponseCode>(status)) {
    case ResponseCode::kNotFound:
      return "not found (1001)";
    case ResponseCode::kNoFiles:
      return "no files stored for this user (1002)";
    case ResponseCode::kError:
      return "refused by the server (1003)";
    default:
      return "status " + std::to_string(status);
  }
}

void Error(const std::string& what, const std::string& why) {
  std::cerr << "backup-client: " << what << ": " << why << "\n";
}

// Turns one request's outcome into an exit code, printing why it failed.
int Outcome(const Client& client, const std::string& what, const Status& st) {
  Error(what, st.ToString());
  return client.connected() ? kExitFailed : kExitConnection;
}

int Outcome(const std::string& what, const Reply& reply, ResponseCode success,
            const std::string& not_found_hint = "") {
  if (reply.status == static_cast<uint16_t>(success)) return kExitOk;
  const bool hint = reply.status == static_cast<uint16_t>(ResponseCode::kNotFound);
  Error(what, Describe(reply.status) + (hint ? not_found_hint : ""));
  return kExitFailed;
}

// What a user who got 1001 for `name` most likely needs: what was looked up, and the form stored
// names take. A relative name was probably meant as a file in the current folder, whose name is
// shown when the folder can be read.
std::string NotFoundHint(const std::string& name, uint32_t user) {
  std::string shown = "e.g. 'home/tester/notes.txt'";
  std::vector<char> cwd(4096);
  if (name[0] != '/' && getcwd(cwd.data(), cwd.size()) != nullptr) {
    const std::string absolute = std::string(cwd.data()) + "/" + name;
    Result<std::string> stored = backupd::client::StoredName(absolute);
    if (stored.ok()) shown = absolute + " is stored as '" + *stored + "'";
  }
  return ": user " + std::to_string(user) + " has no file '" + name +
         "'. Names are stored with the leading '/' removed: " + shown +
         ". 'backup-client list' shows them.";
}

struct Options {
  std::optional<std::string> server;
  std::optional<std::string> user;
  std::optional<std::string> secret_file;
  int protocol = 2;
  bool long_list = false;
  std::optional<std::string> name;
  std::optional<std::string> output;
  int timeout = 30;
  bool tls = false;
  std::optional<std::string> ca;
  bool quiet = false;
  bool force = false;
  bool follow_symlinks = false;
  bool full = false;
  bool checksum = false;
  std::vector<std::string> exclude;
  std::vector<std::string> exclude_from;
  // Versions (protocol v2): list --versions, list --deleted, restore --version / --before.
  bool versions = false;
  bool deleted = false;
  backupd::client::VersionWanted wanted;
  std::string command;
  std::vector<std::string> args;
};

// Parses argv; returns an exit code when the program should stop (help, version, usage error).
std::optional<int> ParseOptions(int argc, char** argv, Options* opt) {
  po::options_description desc("Options");
  auto add = desc.add_options();
  add("help,h", "show this help and exit");
  add("version", "show the version and exit");
  add("server,s", po::value<std::string>()->value_name("HOST:PORT"),
      "server address; IPv6 in brackets, e.g. [::1]:1337 (default 127.0.0.1:1337)");
  add("user,u", po::value<std::string>()->value_name("ID"), "user id, 0..4294967295 (required)");
  add("secret-file", po::value<std::string>()->value_name("FILE"),
      "v2: log in with the secret on FILE's first line (FILE must be mode 600)");
  add("protocol", po::value(&opt->protocol)->value_name("1|2"),
      "protocol version (default 2; 1 is unauthenticated)");
  add("long,l", po::bool_switch(&opt->long_list),
      "list: also print size, modification time (UTC) and SHA-256");
  add("name,n", po::value<std::string>()->value_name("NAME"),
      "backup: store the single FILE under NAME");
  add("output,o", po::value<std::string>()->value_name("OUT"),
      "restore: write to OUT ('-' for standard output)");
  add("timeout,t", po::value(&opt->timeout)->value_name("SECONDS"),
      "give up on a silent server after SECONDS (default 30; 0 waits forever)");
  add("tls", po::bool_switch(&opt->tls), "connect with TLS and verify the server's certificate");
  add("ca", po::value<std::string>()->value_name("FILE"),
      "--tls: trust the PEM certificates in FILE (default: the system's store)");
  add("force,f", po::bool_switch(&opt->force),
      "restore: replace OUT if it exists (without it, exit 4 and keep it)");
  add("quiet,q", po::bool_switch(&opt->quiet), "no progress on standard error");
  add("exclude", po::value(&opt->exclude)->value_name("PATTERN"),
      "backup: leave out what PATTERN matches in a folder (repeatable; see below)");
  add("exclude-from", po::value(&opt->exclude_from)->value_name("FILE"),
      "backup: the patterns in FILE, one a line (repeatable)");
  add("follow-symlinks", po::bool_switch(&opt->follow_symlinks),
      "backup: follow symlinks in folders (default: skip them with a note)");
  add("full", po::bool_switch(&opt->full),
      "backup: send every file, changed or not (default: only those whose size, mtime or mode "
      "differ from the server's)");
  add("checksum", po::bool_switch(&opt->checksum),
      "backup: also send a file whose size, mtime and mode match but whose SHA-256 differs "
      "(reads every such file)");
  add("versions", po::bool_switch(&opt->versions), "list: the versions of one NAME");
  add("deleted", po::bool_switch(&opt->deleted), "list: the names deleted with history kept");
  add("before", po::value<std::string>()->value_name("TIME"),
      "restore: the newest version stored by TIME");
  po::options_description hidden;
  auto add_hidden = hidden.add_options();
  // `restore NAME --version K`: --version alone prints the program's version, so the words are
  // rewritten (VersionOptionWords) before they are parsed.
  add_hidden("restore-version", po::value<uint64_t>()->value_name("K"));
  add_hidden("command", po::value(&opt->command));
  add_hidden("args", po::value<std::vector<std::string>>());
  po::options_description all;
  all.add(desc).add(hidden);
  po::positional_options_description pos;
  pos.add("command", 1).add("args", -1);

  std::vector<std::string> words(argv + 1, argv + argc);
  for (size_t i = 0; i < words.size(); ++i) {
    if (words[i] == "--version" && i + 1 < words.size() &&
        backupd::ParseDecimal(words[i + 1], UINT64_MAX)) {
      words[i] = "--restore-version=" + words[i + 1];
      words.erase(words.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    } else if (words[i].rfind("--version=", 0) == 0) {
      words[i] = "--restore-" + words[i].substr(2);
    }
  }
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(words).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "backup-client: " << e.what() << "\nTry 'backup-client --help'.\n";
    return kExitUsage;
  }
  if (vm.count("help")) {
    std::cout << kUsage << "\n" << desc;
    return kExitOk;
  }
  if (vm.count("version")) {
    std::cout << "backup-client " << BACKUPD_VERSION << " (protocol versions 1 and 2)\n";
    return kExitOk;
  }
  if (vm.count("server")) opt->server = vm["server"].as<std::string>();
  if (vm.count("user")) opt->user = vm["user"].as<std::string>();
  if (vm.count("secret-file")) opt->secret_file = vm["secret-file"].as<std::string>();
  if (vm.count("name")) opt->name = vm["name"].as<std::string>();
  if (vm.count("output")) opt->output = vm["output"].as<std::string>();
  if (vm.count("ca")) opt->ca = vm["ca"].as<std::string>();
  if (vm.count("args")) opt->args = vm["args"].as<std::vector<std::string>>();
  if (vm.count("restore-version")) opt->wanted.number = vm["restore-version"].as<uint64_t>();
  if (vm.count("before")) {
    Result<int64_t> t = backupd::client::ParseTime(vm["before"].as<std::string>());
    if (!t.ok()) {
      std::cerr << "backup-client: --before: " << t.status().message() << "\n";
      return kExitUsage;
    }
    opt->wanted.before_ns = *t;
  }

  auto usage = [](const std::string& msg) {
    std::cerr << "backup-client: " << msg << "\nTry 'backup-client --help'.\n";
    return kExitUsage;
  };
  const std::string& cmd = opt->command;
  if (cmd.empty()) return usage("no command given");
  if (opt->protocol != 1 && opt->protocol != 2) return usage("--protocol must be 1 or 2");
  if (opt->protocol == 1 && opt->secret_file) return usage("--secret-file goes with protocol 2");
  if (opt->long_list && opt->protocol == 1) return usage("--long needs protocol 2");
  if (opt->timeout < 0) return usage("--timeout must be 0 or more seconds");
  if (cmd == "backup") {
    if (opt->name && opt->args.size() != 1) return usage("--name goes with a single FILE");
  } else if (cmd == "restore") {
    if (opt->args.size() != 1) return usage("restore needs exactly one NAME");
  } else if (cmd == "delete") {
    if (opt->args.empty()) return usage("delete needs at least one NAME");
  } else if (cmd == "list" && opt->versions) {
    if (opt->args.size() != 1) return usage("list --versions needs exactly one NAME");
  } else if (cmd == "list") {
    if (!opt->args.empty()) return usage("list takes no arguments");
  } else {
    return usage("unknown command '" + cmd + "'");
  }
  if (opt->name && cmd != "backup") return usage("--name is for backup only");
  if (opt->output && cmd != "restore") return usage("--output is for restore only");
  if (opt->force && cmd != "restore") return usage("--force is for restore only");
  if (opt->long_list && cmd != "list") return usage("--long is for list only");
  if (cmd != "backup" && (!opt->exclude.empty() || !opt->exclude_from.empty() ||
                          opt->follow_symlinks || opt->full || opt->checksum)) {
    return usage(
        "--exclude, --exclude-from, --follow-symlinks, --full and --checksum are for backup only");
  }
  if (opt->full && opt->checksum) return usage("give --full or --checksum, not both");
  const bool version_wanted = opt->wanted.number || opt->wanted.before_ns;
  if ((opt->versions || opt->deleted) && cmd != "list") {
    return usage("--versions and --deleted are for list only");
  }
  if (opt->versions && (opt->deleted || opt->long_list)) {
    return usage("--versions goes with neither --deleted nor --long");
  }
  if (version_wanted && cmd != "restore") return usage("--version K and --before are for restore");
  if (opt->wanted.number && opt->wanted.before_ns) {
    return usage("give --version K or --before TIME, not both");
  }
  if ((version_wanted || opt->versions || opt->deleted) && opt->protocol == 1) {
    return usage("versions need protocol 2");
  }
  return std::nullopt;
}

int RunBackup(Client& client, const Options& opt, const std::vector<std::string>& names, bool bar) {
  int worst = kExitOk;
  for (size_t i = 0; i < opt.args.size(); ++i) {
    const std::string& file = opt.args[i];
    const std::string what = "backup " + file;
    ProgressBar progress(names[i], bar);
    Result<Reply> r = client.Backup(names[i], file, [&progress](uint64_t done, uint64_t total) {
      progress.Update(done, total);
    });
    progress.Finish();
    int code = r.ok() ? Outcome(what, *r, ResponseCode::kOk) : Outcome(client, what, r.status());
    worst = std::max(worst, code);
    if (!client.connected()) break;
  }
  return worst;
}

// Where restore writes: -o, or the last component of NAME. Empty after printing why not.
std::string RestoreOutput(const Options& opt) {
  if (opt.output) return *opt.output;
  Result<std::string> def = backupd::client::DefaultRestoreOutput(opt.args[0]);
  if (!def.ok()) {
    Error("restore " + opt.args[0], def.status().ToString());
    return "";
  }
  return *def;
}

int RunList(Client& client) {
  Result<ListReply> r = client.List();
  if (!r.ok()) return Outcome(client, "list", r.status());
  if (r->reply.status == static_cast<uint16_t>(ResponseCode::kNoFiles)) return kExitOk;
  int code = Outcome("list", r->reply, ResponseCode::kListOk);
  for (const std::string& name : r->names) std::cout << name << '\n';
  std::cout.flush();
  if (!std::cout) {
    Error("list", "cannot write to standard output");
    return kExitFailed;
  }
  return code;
}

// v2's statuses in words: the server's own message, except where the cause is known better here.
int Outcome(const std::string& what, const ReplyV2& reply, v2::ResponseCode success,
            const std::string& not_found_hint = "") {
  if (reply.status == static_cast<uint16_t>(success)) {
    if (reply.digest_ok) return kExitOk;
    Error(what,
          "digest mismatch: the bytes received do not match the server's SHA-256 (an output "
          "file is not kept)");
    return kExitDigest;
  }
  const std::string code = " (" + std::to_string(reply.status) + ")";
  switch (static_cast<v2::ResponseCode>(reply.status)) {
    case v2::ResponseCode::kDigestMismatch:
      Error(what, "digest mismatch: the server got different bytes than were sent" + code);
      return kExitDigest;
    case v2::ResponseCode::kBusy:
      Error(what, "server busy: " + reply.message + code);
      return kExitBusy;
    case v2::ResponseCode::kNotFound:
      Error(what, reply.message + code + not_found_hint);
      return kExitFailed;
    default:
      Error(what, reply.message + code);
      return kExitFailed;
  }
}

int Outcome(const ClientV2& client, const std::string& what, const Status& st) {
  Error(what, st.ToString());
  return client.connected() ? kExitFailed : kExitConnection;
}

// One backup run over v2: the list, the changed files, the summary line on standard output.
int RunBackupV2(ClientV2& client, const backupd::client::Reconnect& reconnect,
                const backupd::client::WalkResult& walk, backupd::client::Compare compare, bool bar,
                std::chrono::steady_clock::time_point start) {
  int worst = kExitOk;
  backupd::client::RunProgress progress(bar);
  backupd::client::RunHooks hooks;
  hooks.failed = [&](const std::string& path, const std::string& why) {
    progress.Finish();
    Error("backup " + path, why);
    worst = std::max(worst, kExitFailed);
  };
  hooks.uploaded = [&](const backupd::client::Upload& up, const Result<ReplyV2>& r) {
    const std::string what = "backup " + up.path;
    const bool failed = !r.ok() || r->status != static_cast<uint16_t>(v2::ResponseCode::kOk);
    if (failed) progress.Finish();
    const int code =
        r.ok() ? Outcome(what, *r, v2::ResponseCode::kOk) : Outcome(client, what, r.status());
    worst = std::max(worst, code);
    return code == kExitOk;
  };
  hooks.progress = [&](uint64_t files, uint64_t files_total, uint64_t bytes, uint64_t total) {
    progress.Update(files, files_total, bytes, total);
  };
  hooks.note = [&](const std::string& note) {
    progress.Finish();
    Error("backup", note);
  };
  Result<backupd::client::RunCounts> counts =
      backupd::client::RunBackup(client, reconnect, walk, hooks, compare);
  progress.Finish();
  if (!counts.ok()) {
    worst = Outcome(client, "backup: list what is stored", counts.status());
    // Nothing was sent: every file found failed.
    backupd::client::RunCounts none;
    none.failed = walk.failures.size() +
                  std::count_if(walk.entries.begin(), walk.entries.end(), [](const auto& e) {
                    return e.kind == backupd::client::WalkEntry::Kind::kFile;
                  });
    none.scanned = none.failed;
    counts = none;
  }
  std::cout << backupd::client::FormatSummary(*counts, std::chrono::steady_clock::now() - start)
            << std::endl;
  return worst;
}

// The success statuses of the commands both versions share, by client: the same numbers, each
// version's own enum.
template <typename C>
struct Success;
template <>
struct Success<Client> {
  static constexpr ResponseCode kRestore = ResponseCode::kRestoreOk;
  static constexpr ResponseCode kDelete = ResponseCode::kOk;
};
template <>
struct Success<ClientV2> {
  static constexpr v2::ResponseCode kRestore = v2::ResponseCode::kRestoreOk;
  static constexpr v2::ResponseCode kDelete = v2::ResponseCode::kOk;
};

template <typename C>
int RunRestore(C& client, const Options& opt, const std::string& output, uint32_t user, bool bar) {
  const std::string& name = opt.args[0];
  const std::string what = "restore " + name;
  ProgressBar progress(name, bar);
  auto update = [&progress](uint64_t done, uint64_t total) { progress.Update(done, total); };
  const auto existing =
      opt.force ? backupd::client::Existing::kReplace : backupd::client::Existing::kKeep;
  auto r = output == "-" ? client.RestoreToFd(name, STDOUT_FILENO, update)
                         : client.RestoreToFile(name, output, existing, update);
  progress.Finish();
  if (!r.ok()) return Outcome(client, what, r.status());
  return Outcome(what, *r, Success<C>::kRestore, NotFoundHint(name, user));
}

template <typename C>
int RunDelete(C& client, const Options& opt, uint32_t user) {
  int worst = kExitOk;
  for (const std::string& name : opt.args) {
    auto r = client.Delete(name);
    const std::string what = "delete " + name;
    worst =
        std::max(worst, r.ok() ? Outcome(what, *r, Success<C>::kDelete, NotFoundHint(name, user))
                               : Outcome(client, what, r.status()));
    if (!client.connected()) break;
  }
  return worst;
}

// ListRetrying for a command named `what`: each retry and a failure after all of them said on
// standard error.
template <typename Reply>
Result<Reply> ListForCommand(ClientV2& client, const backupd::client::Reconnect& reconnect,
                             Result<Reply> (ClientV2::*ask)(), const std::string& what) {
  int retries = 0;
  Result<Reply> r = backupd::client::ListRetrying(client, reconnect, ask, [&](const Status& why) {
    ++retries;
    Error(what, "the list did not arrive whole (" + why.ToString() +
                    "; files changed while it was sent?): asking again");
  });
  if (r.ok() || retries < backupd::client::kListingRetries) return r;
  return Status::Closed("no whole list after " + std::to_string(retries + 1) +
                        " tries, the last: " + r.status().ToString());
}

int RunListV2(ClientV2& client, const backupd::client::Reconnect& reconnect, bool long_list,
              bool deleted) {
  Result<ListReplyV2> r =
      ListForCommand(client, reconnect, deleted ? &ClientV2::ListDeleted : &ClientV2::List, "list");
  if (!r.ok()) return Outcome(client, "list", r.status());
  if (r->reply.status == static_cast<uint16_t>(v2::ResponseCode::kNoFiles)) return kExitOk;
  int code = Outcome("list", r->reply, v2::ResponseCode::kListOk);
  for (const v2::ListEntry& e : r->entries) {
    if (long_list) {
      std::cout << e.size << ' ' << backupd::client::FormatUtc(e.mtime_ns) << ' '
                << backupd::client::DigestHex(e.sha256) << ' ';
    }
    std::cout << e.name << '\n';
  }
  std::cout.flush();
  if (!std::cout) {
    Error("list", "cannot write to standard output");
    return kExitFailed;
  }
  return code;
}

int RunVersionsV2(ClientV2& client, const Options& opt, const std::string& output, uint32_t user,
                  bool bar) {
  const std::string& name = opt.args[0];
  if (opt.command == "list") {
    const std::string what = "list --versions " + name;
    Result<ReplyV2> r = backupd::client::ListVersionsCommand(client, name, std::cout);
    return r.ok() ? Outcome(what, *r, v2::ResponseCode::kListOk)
                  : Outcome(client, what, r.status());
  }
  const std::string what = "restore " + name;
  ProgressBar progress(name, bar);
  const auto existing =
      opt.force ? backupd::client::Existing::kReplace : backupd::client::Existing::kKeep;
  Result<ReplyV2> r = backupd::client::RestoreVersionCommand(
      client, name, opt.wanted, output, existing,
      [&progress](uint64_t done, uint64_t total) { progress.Update(done, total); });
  progress.Finish();
  if (!r.ok()) return Outcome(client, what, r.status());
  return Outcome(what, *r, v2::ResponseCode::kRestoreOk, NotFoundHint(name, user));
}

// Fills what the command line left unset from client.conf; returns an exit code on an error.
std::optional<int> ApplyClientConfig(Options* opt) {
  const std::string path = backupd::client::DefaultClientConfigPath();
  backupd::client::ClientConfig config;
  if (!path.empty()) {
    Result<backupd::client::ClientConfig> loaded = backupd::client::LoadClientConfig(path);
    if (!loaded.ok()) {
      Error("client config", loaded.status().ToString());
      return kExitUsage;
    }
    config = std::move(*loaded);
  }
  if (!opt->server) opt->server = config.server.value_or("127.0.0.1:1337");
  if (!opt->user) opt->user = config.user;
  if (!opt->secret_file && opt->protocol == 2) opt->secret_file = config.secret_file;
  if (!opt->tls) opt->tls = config.tls.value_or(false);
  if (!opt->ca) opt->ca = config.ca;
  if (opt->command == "backup" && opt->args.empty()) opt->args = config.paths;
  opt->exclude.insert(opt->exclude.begin(), config.exclude.begin(), config.exclude.end());
  opt->exclude_from.insert(opt->exclude_from.begin(), config.exclude_from.begin(),
                           config.exclude_from.end());
  auto usage = [](const std::string& msg) {
    std::cerr << "backup-client: " << msg << "\nTry 'backup-client --help'.\n";
    return kExitUsage;
  };
  if (!opt->user) return usage("--user is required (or 'user' in " + path + ")");
  if (opt->ca && !opt->tls) return usage("--ca goes with --tls");
  if (opt->command == "backup" && opt->args.empty()) {
    return usage("backup needs at least one PATH (or 'paths' in " + path + ")");
  }
  return std::nullopt;
}

// The walk of backup's PATHs with the excludes; an exit code for a usage error.
std::optional<int> WalkForBackup(const Options& opt, backupd::client::WalkResult* walk) {
  backupd::client::ExcludeRules rules;
  for (const std::string& p : opt.exclude) {
    Status st = rules.Add(p);
    if (!st.ok()) {
      Error("--exclude", st.message());
      return kExitUsage;
    }
  }
  for (const std::string& f : opt.exclude_from) {
    Status st = rules.AddFromFile(f);
    if (!st.ok()) {
      Error("--exclude-from", st.ToString());
      return kExitUsage;
    }
  }
  if (opt.name) {
    Result<std::string> name = backupd::protocol::NormalizeName(*opt.name);
    if (!name.ok()) {
      Error("backup " + opt.args[0], name.status().ToString());
      return kExitUsage;
    }
    struct stat sb {};
    if (stat(opt.args[0].c_str(), &sb) == 0 && S_ISDIR(sb.st_mode)) {
      Error("backup " + opt.args[0], "--name goes with a single file, not a folder");
      return kExitUsage;
    }
  }
  *walk = backupd::client::Walk(opt.args, {opt.follow_symlinks, &rules});
  for (const std::string& note : walk->notes) std::cerr << "backup-client: " << note << "\n";
  // A file PATH is its walk's only entry.
  if (opt.name && !walk->entries.empty()) walk->entries[0].name = *opt.name;
  return std::nullopt;
}

// Restores the folder PREFIX (the args) into `dir`; each file as a single restore does.
int RunRestoreFolder(ClientV2& client, const Options& opt,
                     const std::vector<backupd::client::RestoreTarget>& targets,
                     const std::vector<std::string>& refused, const std::string& dir) {
  int worst = kExitOk;
  for (const std::string& why : refused) {
    Error("restore " + opt.args[0], why);
    worst = kExitFailed;
  }
  backupd::client::RestoreTreeHooks hooks;
  hooks.failed = [&](const std::string& what, const std::string& why) {
    Error("restore " + what, why);
    worst = std::max(worst, kExitFailed);
  };
  hooks.exists = [&](const std::string& output) {
    Error("restore " + opt.args[0],
          "'" + output + "' exists; not replaced (give --force to replace it)");
    worst = std::max(worst, kExitExists);
  };
  hooks.restored = [&](const backupd::client::RestoreTarget& t, const Result<ReplyV2>& r) {
    const std::string what = "restore " + t.name;
    const int code = r.ok() ? Outcome(what, *r, v2::ResponseCode::kRestoreOk)
                            : Outcome(client, what, r.status());
    worst = std::max(worst, code);
    return code == kExitOk;
  };
  const auto existing =
      opt.force ? backupd::client::Existing::kReplace : backupd::client::Existing::kKeep;
  backupd::client::RestoreTree(client, targets, dir, existing, hooks);
  return worst;
}

// v2's restore: NAME is a file when the server has a file of that exact name; otherwise, when
// it holds a folder NAME or files under NAME/, a folder restored into OUT.
int RunRestoreV2(ClientV2& client, const backupd::client::Reconnect& reconnect, const Options& opt,
                 const std::string& output, uint32_t user, bool bar) {
  const std::string& name = opt.args[0];
  struct stat sb {};
  const bool output_is_folder =
      output != "-" && lstat(output.c_str(), &sb) == 0 && S_ISDIR(sb.st_mode);
  std::optional<ReplyV2> not_found;
  if (!output_is_folder || opt.force) {
    const std::string what = "restore " + name;
    ProgressBar progress(name, bar);
    auto update = [&progress](uint64_t done, uint64_t total) { progress.Update(done, total); };
    const auto existing =
        opt.force ? backupd::client::Existing::kReplace : backupd::client::Existing::kKeep;
    Result<ReplyV2> r = output == "-" ? client.RestoreToFd(name, STDOUT_FILENO, update)
                                      : client.RestoreToFile(name, output, existing, update);
    progress.Finish();
    if (!r.ok()) return Outcome(client, what, r.status());
    if (r->status != static_cast<uint16_t>(v2::ResponseCode::kNotFound) || output == "-") {
      return Outcome(what, *r, v2::ResponseCode::kRestoreOk, NotFoundHint(name, user));
    }
    not_found = *r;
  }
  Result<std::string> prefix = backupd::client::StoredPrefix(name);
  Result<backupd::client::ListAttrsReplyV2> listed =
      ListForCommand(client, reconnect, &ClientV2::ListAttrs, "restore " + name);
  if (listed.ok() &&
      listed->reply.status == static_cast<uint16_t>(v2::ResponseCode::kUnsupported)) {
    // A server from before issue 12 (1017: it closed the connection) lists its files with LIST.
    Status st = reconnect();
    Result<ListReplyV2> files =
        st.ok() ? ListForCommand(client, reconnect, &ClientV2::List, "restore " + name)
                : Result<ListReplyV2>(st);
    if (!files.ok()) return Outcome(client, "restore " + name, files.status());
    listed = backupd::client::ListAttrsReplyV2{files->reply,
                                               backupd::client::FilesAsAttrEntries(files->entries)};
  }
  if (!listed.ok()) return Outcome(client, "restore " + name, listed.status());
  std::vector<std::string> refused;
  std::vector<backupd::client::RestoreTarget> targets;
  if (prefix.ok()) targets = backupd::client::SelectUnder(*prefix, listed->entries, &refused);
  if (!targets.empty() || !refused.empty()) {
    return RunRestoreFolder(client, opt, targets, refused, output);
  }
  if (not_found) {
    return Outcome("restore " + name, *not_found, v2::ResponseCode::kRestoreOk,
                   NotFoundHint(name, user));
  }
  // OUT is a folder and NAME no folder: a file of that name is refused as any existing OUT is.
  const bool is_file = std::any_of(listed->entries.begin(), listed->entries.end(),
                                   [&](const v2::AttrEntry& e) { return e.name == name; });
  if (!is_file) {
    Error("restore " + name, "no file or folder named '" + name + "'" + NotFoundHint(name, user));
    return kExitFailed;
  }
  Error("restore " + name,
        "'" + output + "' exists; not replaced (give --force to replace it, or -o another file)");
  return kExitExists;
}

// A connection to the server, inside TLS when asked; when there is none, `exit_code` is what that
// means.
Result<Connection> OpenConnection(const Options& opt, const backupd::client::Endpoint& endpoint,
                                  int* exit_code) {
  Result<Connection> conn =
      Connection::Open(endpoint, std::chrono::milliseconds(int64_t{opt.timeout} * 1000));
  if (!conn.ok()) {
    *exit_code = kExitConnection;
    return conn;
  }
  if (opt.tls) {
    // OpenSSL writes with write(2), without send's MSG_NOSIGNAL: a server that hangs up must
    // be an error value, not a SIGPIPE.
    signal(SIGPIPE, SIG_IGN);
    backupd::client::TlsOptions tls;
    tls.ca_file = opt.ca.value_or("");
    Status st = conn->StartTls(endpoint.host, tls);
    if (!st.ok()) {
      *exit_code = st.code() == Status::Code::kDenied    ? kExitUntrusted
                   : st.code() == Status::Code::kInvalid ? kExitUsage
                                                         : kExitConnection;
      return st;
    }
  }
  return conn;
}

// The v2 login; returns an exit code when it did not succeed.
std::optional<int> LogIn(ClientV2& client, const std::string& secret, uint32_t user,
                         const backupd::client::ScramCache& cache) {
  Result<ReplyV2> r = client.Login(secret, &cache);
  if (!r.ok()) {
    Error("login", r.status().ToString());
    if (r.status().code() == Status::Code::kDenied) return kExitUntrusted;
    return r.status().code() == Status::Code::kInvalid && client.connected() ? kExitUsage
                                                                             : kExitConnection;
  }
  switch (static_cast<v2::ResponseCode>(r->status)) {
    case v2::ResponseCode::kAuthOk:
      return std::nullopt;
    case v2::ResponseCode::kAuthFailed:
      Error("login", "authentication failed for user " + std::to_string(user));
      return kExitAuth;
    default:
      return Outcome("login", *r, v2::ResponseCode::kAuthOk);
  }
}
// The whole client; main() adds only the last resort for an exception that escapes it.
int Main(int argc, char** argv) {
  backupd::ThrowIfTestHookAsks("main");
  Options opt;
  if (std::optional<int> stop = ParseOptions(argc, argv, &opt)) return *stop;
  if (std::optional<int> stop = ApplyClientConfig(&opt)) return *stop;

  Result<backupd::client::Endpoint> endpoint = backupd::client::ParseEndpoint(*opt.server);
  if (!endpoint.ok()) {
    Error("--server", endpoint.status().ToString());
    return kExitUsage;
  }
  Result<uint32_t> user = backupd::client::ParseUserId(*opt.user);
  if (!user.ok()) {
    Error("--user", user.status().ToString());
    return kExitUsage;
  }
  // The secret is read before connecting: a missing or exposed one costs no round trip.
  std::string secret;
  if (opt.protocol == 2) {
    if (!opt.secret_file) {
      Error("--user " + *opt.user, "no secret for user " + std::to_string(*user) +
                                       ": give --secret-file FILE (or --protocol 1 for an "
                                       "unauthenticated v1 server)");
      return kExitUsage;
    }
    Result<std::string> read = backupd::client::ReadSecretFile(*opt.secret_file);
    if (!read.ok()) {
      Error("--secret-file", read.status().ToString());
      return kExitUsage;
    }
    secret = std::move(*read);
  }
  // Names are checked before connecting, so a typo costs no round trip and sends nothing.
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::string> names;
  backupd::client::WalkResult walk;
  if (opt.command == "backup" && opt.protocol == 2) {
    if (std::optional<int> stop = WalkForBackup(opt, &walk)) return *stop;
  } else if (opt.command == "backup") {
    for (const std::string& file : opt.args) {
      Result<std::string> name = opt.name ? backupd::protocol::NormalizeName(*opt.name)
                                          : backupd::client::StoredName(file);
      if (!name.ok()) {
        Error("backup " + file, name.status().ToString());
        return kExitUsage;
      }
      names.push_back(opt.name ? *opt.name : *name);
    }
  }

  // An existing output is refused before connecting: the server is not asked for a file that
  // would only be thrown away.
  std::string output;
  if (opt.command == "restore") {
    output = RestoreOutput(opt);
    if (output.empty()) return kExitUsage;
    struct stat sb {};
    // An existing folder may be where a stored folder goes: the server decides which NAME is.
    if (output != "-" && !opt.force && lstat(output.c_str(), &sb) == 0 &&
        (opt.protocol == 1 || !S_ISDIR(sb.st_mode))) {
      Error("restore " + opt.args[0], "'" + output +
                                          "' exists; not replaced (give --force to replace it, or "
                                          "-o another file)");
      return kExitExists;
    }
  }

  int exit_code = kExitOk;
  Result<Connection> conn = OpenConnection(opt, *endpoint, &exit_code);
  if (!conn.ok()) {
    Error("connect", conn.status().ToString());
    return exit_code;
  }
  const bool bar = !opt.quiet && isatty(STDERR_FILENO) == 1;
  if (opt.protocol == 2) {
    ClientV2 client(std::move(*conn), *user);
    const backupd::client::ScramCache cache(*opt.secret_file,
                                            endpoint->host + ":" + std::to_string(endpoint->port));
    if (std::optional<int> failed = LogIn(client, secret, *user, cache)) return *failed;
    // After a listing cut off, or a 1017 from a server before issue 12, the server has closed the
    // connection: the command goes on on a new one, logged in again.
    const backupd::client::Reconnect reconnect = [&]() {
      int ignored = kExitOk;
      Result<Connection> again = OpenConnection(opt, *endpoint, &ignored);
      if (!again.ok()) return again.status();
      client = ClientV2(std::move(*again), *user);
      Result<ReplyV2> r = client.Login(secret, &cache);
      if (!r.ok()) return r.status();
      if (r->status == static_cast<uint16_t>(v2::ResponseCode::kAuthOk)) return Status::Ok();
      return Status::Closed("login again: " + r->message + " (" + std::to_string(r->status) + ")");
    };
    if (opt.command == "backup") {
      using backupd::client::Compare;
      const Compare compare = opt.full       ? Compare::kAll
                              : opt.checksum ? Compare::kChecksum
                                             : Compare::kChanged;
      return RunBackupV2(client, reconnect, walk, compare, bar, start);
    }
    if (opt.versions || opt.wanted.number || opt.wanted.before_ns) {
      return RunVersionsV2(client, opt, output, *user, bar);
    }
    if (opt.command == "restore") return RunRestoreV2(client, reconnect, opt, output, *user, bar);
    if (opt.command == "delete") return RunDelete(client, opt, *user);
    return RunListV2(client, reconnect, opt.long_list, opt.deleted);
  }
  Client client(std::move(*conn), *user);
  if (opt.command == "backup") return RunBackup(client, opt, names, bar);
  if (opt.command == "restore") return RunRestore(client, opt, output, *user, bar);
  if (opt.command == "delete") return RunDelete(client, opt, *user);
  return RunList(client);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (...) {
    std::cerr << "backup-client: internal error: " << backupd::DescribeCurrentException() << "\n";
    return backupd::kExitInternalError;
  }
}

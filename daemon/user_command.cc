// `backupd user ...` (root, a short-lived command): edits the users file under a lock.
#include "daemon/user_command.h"

#include <signal.h>

#include <openssl/crypto.h>

#include <cerrno>
#include <optional>

#include "base/random.h"
#include "base/status.h"
#include "base/text.h"
#include "base/unique_fd.h"
#include "conf/config.h"
#include "daemon/command_words.h"
#include "daemon/process.h"
#include "daemon/users_file.h"
#include "protocol/scram.h"

namespace backupd::daemon {
namespace {

constexpr char kUsage[] =
    "Usage: backupd user add ID [-c FILE]      register user ID, print its new secret\n"
    "       backupd user passwd ID [-c FILE]   replace user ID's secret, print the new one\n"
    "       backupd user del ID [-c FILE]      remove user ID\n"
    "       backupd user list [-c FILE]        print the registered user ids\n";
// 24 random bytes: 192 bits, 32 characters of base64url.
constexpr size_t kSecretBytes = 24;

struct Args {
  std::string command;
  std::optional<std::string> id;
  conf::CommandLine config;
};

// The shared words (ParseCommandWords), then a command and maybe an id.
Result<Args> Parse(const std::vector<std::string>& words, bool* help) {
  Result<CommandWords> parsed = ParseCommandWords(words);
  if (!parsed.ok()) return parsed.status();
  *help = parsed->help;
  Args a;
  a.config = parsed->config;
  const std::vector<std::string>& positional = parsed->positional;
  if (*help) return a;
  if (positional.empty()) return Status::Invalid("missing command (add, del, passwd or list)");
  a.command = positional[0];
  size_t want = a.command == "list" ? 1 : 2;
  if (a.command != "list" && a.command != "add" && a.command != "del" && a.command != "passwd") {
    return Status::Invalid("unknown command '" + EscapeUntrusted(a.command) + "'");
  }
  if (positional.size() < want) return Status::Invalid(a.command + ": missing ID");
  if (positional.size() > want) {
    return Status::Invalid(a.command + ": unexpected argument '" +
                           EscapeUntrusted(positional[want]) + "'");
  }
  if (want == 2) a.id = positional[1];
  return a;
}

Result<Users> LoadOrEmpty(const std::string& path) {
  Result<Users> users = LoadUsersFile(path);
  if (!users.ok() && users.status().code() == Status::Code::kNotFound) return Users();
  return users;
}

// A new secret and its verifier under a fresh salt.
Status NewSecret(std::string* secret, protocol::ScramVerifier* verifier) {
  Result<std::string> token = RandomToken(kSecretBytes);
  if (!token.ok()) return token.status();
  std::string salt(protocol::kScramSaltBytes, '\0');
  Status s = RandomBytes(salt.data(), salt.size());
  if (!s.ok()) return s;
  Result<protocol::ScramVerifier> v =
      protocol::DeriveScramVerifier(*token, salt, protocol::kScramIterations);
  if (!v.ok()) return v.status();
  *secret = std::move(*token);
  *verifier = *v;
  return Status::Ok();
}

// SIGHUP to a running daemon, so it reads the changed file; a line on `out` says what happened.
void SignalDaemon(const conf::Config& config, std::ostream& out, std::ostream& err) {
  pid_t pid = PidFile::LivePid(config.pid_file);
  if (pid == 0) return;
  if (::kill(pid, SIGHUP) != 0) {
    err << "backupd: warning: "
        << Status::FromErrno(errno, "cannot signal backupd (pid " + std::to_string(pid) + ")")
               .message()
        << "; run 'service backupd reload'\n";
    return;
  }
  out << "sent SIGHUP to backupd (pid " << pid << ") to reload\n";
}

int Run(const Args& a, std::ostream& out, std::ostream& err) {
  auto fail = [&err](const Status& s) {
    err << "backupd: " << s.message() << "\n";
    return 1;
  };
  Result<conf::Config> config = conf::LoadConfig(a.config);
  if (!config.ok()) return fail(config.status());
  const std::string& path = config->users_file;

  if (a.command == "list") {
    Result<Users> users = LoadOrEmpty(path);
    if (!users.ok()) return fail(users.status());
    for (const auto& entry : *users) out << entry.first << "\n";
    return 0;
  }

  std::optional<uint32_t> id = protocol::ParseScramUserId(*a.id);
  if (!id) {
    return fail(Status::Invalid("user id must be decimal digits (0 to 4294967295), got '" +
                                EscapeUntrusted(*a.id) + "'"));
  }
  Result<UniqueFd> lock = LockUsersFolder(path, a.command == "add");
  if (!lock.ok()) return fail(lock.status());
  Result<Users> users = LoadOrEmpty(path);
  if (!users.ok()) return fail(users.status());
  const std::string who = "user " + std::to_string(*id);
  bool exists = users->count(*id) > 0;
  if (a.command == "add" && exists) {
    return fail(Status::Invalid(who + " already exists in " + path + " (use 'backupd user passwd " +
                                std::to_string(*id) + "' for a new secret)"));
  }
  if (a.command != "add" && !exists) return fail(Status::NotFound("no " + who + " in " + path));

  std::string secret;
  if (a.command == "del") {
    users->erase(*id);
  } else {
    protocol::ScramVerifier verifier;
    Status s = NewSecret(&secret, &verifier);
    if (!s.ok()) return fail(s);
    (*users)[*id] = verifier;
  }
  Status s = WriteUsersFile(path, *users);
  if (!s.ok()) {
    OPENSSL_cleanse(secret.data(), secret.size());
    return fail(s);
  }
  if (a.command == "add") out << "added " << who << " to " << path << "\n";
  if (a.command == "del") out << "removed " << who << " from " << path << "\n";
  if (a.command == "passwd") out << "replaced the secret of " << who << " in " << path << "\n";
  SignalDaemon(*config, out, err);
  if (!secret.empty()) {
    out << "secret for " << who
        << " (shown only now; keep it in a file only that user can read): " << secret << "\n";
    OPENSSL_cleanse(secret.data(), secret.size());
  }
  return 0;
}

}  // namespace

int RunUserCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  bool help = false;
  Result<Args> a = Parse(args, &help);
  if (help) {
    out << kUsage;
    return 0;
  }
  if (!a.ok()) {
    err << "backupd user: " << a.status().message() << "\n" << kUsage;
    return 2;
  }
  return Run(*a, out, err);
}

}  // namespace backupd::daemon

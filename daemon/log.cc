// supervisor (root): Boost.Log sink set-up, level filtering and log-file reopening.
#include "daemon/log.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/core/null_deleter.hpp>
#include <boost/log/attributes/current_process_id.hpp>
#include <boost/log/attributes/function.hpp>
#include <boost/log/core.hpp>
#include <boost/log/expressions.hpp>
#include <boost/log/sinks/sync_frontend.hpp>
#include <boost/log/sinks/syslog_backend.hpp>
#include <boost/log/sinks/text_ostream_backend.hpp>
#include <boost/log/support/date_time.hpp>
#include <boost/log/utility/setup/common_attributes.hpp>
#include <boost/make_shared.hpp>
#include <boost/shared_ptr.hpp>
#include <cerrno>
#include <cstring>
#include <iostream>

#include "base/unique_fd.h"
#include "daemon/log_file.h"

namespace backupd::daemon {

namespace logging = boost::log;
namespace sinks = boost::log::sinks;
namespace expr = boost::log::expressions;

BOOST_LOG_ATTRIBUTE_KEYWORD(severity, "Severity", conf::LogLevel)

namespace {

using TextSink = sinks::synchronous_sink<sinks::text_ostream_backend>;
using SyslogSink = sinks::synchronous_sink<sinks::syslog_backend>;

struct State {
  boost::shared_ptr<sinks::sink> sink;
  boost::shared_ptr<TextSink> file_sink;  // set when logging to a file
  boost::shared_ptr<std::ostream> file_stream;
  std::string file_path;
  bool fallback = false;  // the sink stands in for an absent syslog daemon
  bool to_stderr = false;
  conf::LogLevel level = conf::LogLevel::kInfo;
  bool attributes_added = false;
};

State& GetState() {
  static State state;
  return state;
}

void SetTextFormat(TextSink& sink) {
  sink.set_formatter(expr::stream << expr::format_date_time<boost::posix_time::ptime>(
                                         "TimeStamp", "%Y-%m-%d %H:%M:%S")
                                  << " backupd[" << expr::attr<pid_t>("Pid") << "] " << severity
                                  << ": " << expr::smessage);
}

Result<boost::shared_ptr<std::ostream>> OpenSharedLogFile(const std::string& path) {
  Result<std::unique_ptr<std::ostream>> file = OpenLogFile(path);
  if (!file.ok()) return file.status();
  return boost::shared_ptr<std::ostream>(std::move(*file));
}

constexpr char kSyslogSocket[] = "/dev/log";

// The path alone proves nothing: a syslog daemon that is gone (or never ran) can leave it behind.
bool SyslogListens() {
  // glibc's syslog(3) retries with a stream socket when the listener is one (EPROTOTYPE).
  for (int type : {SOCK_DGRAM, SOCK_STREAM}) {
    UniqueFd fd(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return false;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, kSyslogSocket, sizeof(addr.sun_path) - 1);
    int rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
    int err = errno;
    if (rc == 0) return true;
    if (err != EPROTOTYPE) return false;
  }
  return false;
}

// The fallback file's folder, as the package makes it; not /var/log, which is not ours to make.
Status MakeFallbackFolder() {
  std::string folder = kFallbackLogFile;
  folder.erase(folder.rfind('/'));
  if (::mkdir(folder.c_str(), 0750) == 0 || errno == EEXIST) return Status::Ok();
  if (errno == ENOENT) {
    return Status::NotFound("no syslog daemon listens on " + std::string(kSyslogSocket) +
                            " and /var/log does not exist; set 'log' to a file or to stderr");
  }
  return Status::FromErrno(errno, "cannot create " + folder);
}

}  // namespace

Logger& GlobalLogger() {
  static Logger logger;
  return logger;
}

LogTarget ChooseLogTarget(const conf::Config& config, bool foreground) {
  if (config.log != "syslog" || SyslogListens()) return {config.log, ""};
  std::string where = foreground ? "stderr" : kFallbackLogFile;
  return {where, "no syslog daemon listens on " + std::string(kSyslogSocket) +
                     " (install rsyslog, or run under systemd); logging to " + where + " instead"};
}

Status SetUpLogging(const conf::Config& config, const LogTarget& target) {
  State& st = GetState();
  const bool fallback = !target.why.empty();
  boost::shared_ptr<sinks::sink> sink;
  boost::shared_ptr<TextSink> file_sink;
  boost::shared_ptr<std::ostream> file_stream;
  if (target.where == "syslog") {
    auto backend = boost::make_shared<sinks::syslog_backend>(
        logging::keywords::facility = sinks::syslog::daemon,
        logging::keywords::use_impl = sinks::syslog::native, logging::keywords::ident = "backupd");
    sinks::syslog::custom_severity_mapping<conf::LogLevel> mapping("Severity");
    mapping[conf::LogLevel::kDebug] = sinks::syslog::debug;
    mapping[conf::LogLevel::kInfo] = sinks::syslog::info;
    mapping[conf::LogLevel::kWarning] = sinks::syslog::warning;
    mapping[conf::LogLevel::kError] = sinks::syslog::error;
    backend->set_severity_mapper(mapping);
    auto s = boost::make_shared<SyslogSink>(backend);
    s->set_formatter(expr::stream << severity << ": " << expr::smessage);
    s->set_filter(severity >= config.log_level);
    sink = s;
  } else {
    auto s = boost::make_shared<TextSink>();
    if (target.where == "stderr") {
      s->locked_backend()->add_stream(
          boost::shared_ptr<std::ostream>(&std::clog, boost::null_deleter()));
    } else {
      if (fallback) {
        Status made = MakeFallbackFolder();
        if (!made.ok()) return made;
      }
      Result<boost::shared_ptr<std::ostream>> file = OpenSharedLogFile(target.where);
      if (!file.ok()) return file.status();
      file_stream = *file;
      s->locked_backend()->add_stream(file_stream);
      file_sink = s;
    }
    s->locked_backend()->auto_flush(true);
    SetTextFormat(*s);
    s->set_filter(severity >= config.log_level);
    sink = s;
  }

  auto core = logging::core::get();
  if (!st.attributes_added) {
    logging::add_common_attributes();
    // Read at each record: the log is set up before Daemonize() forks, and a pid captured then
    // would name the parent that exited.
    core->add_global_attribute("Pid", logging::attributes::make_function(&::getpid));
    st.attributes_added = true;
  }
  // Whoever reads the fallback learns that the rest of the log is elsewhere again.
  if (st.fallback && !fallback) {
    BACKUPD_LOG(kWarning) << "logging to " << target.where << " from now on";
  }
  if (st.sink) core->remove_sink(st.sink);
  core->add_sink(sink);
  st.sink = sink;
  st.file_sink = file_sink;
  st.file_stream = file_stream;
  st.file_path = file_sink ? target.where : std::string();
  st.level = config.log_level;
  st.fallback = fallback;
  st.to_stderr = target.where == "stderr";
  if (fallback) BACKUPD_LOG(kWarning) << target.why;
  return Status::Ok();
}

void LogLastWords(const std::string& line) {
  const State& st = GetState();
  if (st.sink && !st.to_stderr) BACKUPD_LOG(kError) << line;
}

Status ReopenLogs() {
  State& st = GetState();
  if (!st.file_sink) return Status::Ok();
  Result<boost::shared_ptr<std::ostream>> file = OpenSharedLogFile(st.file_path);
  if (!file.ok()) return file.status();
  auto backend = st.file_sink->locked_backend();
  backend->remove_stream(st.file_stream);
  st.file_stream = *file;
  backend->add_stream(st.file_stream);
  return Status::Ok();
}

}  // namespace backupd::daemon

// client (the user's privilege): parsing of backup-client's command-line values.
#include "client/parse.h"

#include <optional>
#include <string>

#include "base/text.h"
#include "protocol/wire.h"

namespace backupd::client {
namespace {

// Characters of a host name or an IPv4/IPv6 address (with a %zone). Anything else (a space from
// server.info's "HOST PORT" form, a URL's "://") means the value is not HOST:PORT at all.
bool EndpointChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == ':' || c == '%' || c == '[' || c == ']';
}

}  // namespace

Result<Endpoint> ParseEndpoint(std::string_view text) {
  const std::string quoted = "'" + std::string(text) + "'";
  for (char c : text) {
    if (!EndpointChar(c)) {
      return Status::Invalid("server address " + quoted +
                             ": expected HOST:PORT, e.g. 127.0.0.1:1337");
    }
  }
  Endpoint ep;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return Status::Invalid("server address " + quoted + ": missing ']'");
    }
    ep.host = std::string(text.substr(1, close - 1));
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return Status::Invalid("server address " + quoted + ": expected ':PORT' after ']'");
      }
      port_text = rest.substr(1);
      if (port_text.empty()) return Status::Invalid("server address " + quoted + ": empty port");
    }
    if (ep.host.find(':') == std::string::npos) {
      return Status::Invalid("server address " + quoted + ": brackets are for IPv6 addresses");
    }
  } else {
    size_t colon = text.find(':');
    if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos) {
      return Status::Invalid("server address " + quoted +
                             ": write an IPv6 address in brackets, e.g. [::1]:1337");
    }
    ep.host = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = text.substr(colon + 1);
      if (port_text.empty()) return Status::Invalid("server address " + quoted + ": empty port");
    }
  }
  if (ep.host.empty()) return Status::Invalid("server address " + quoted + ": empty host");
  if (!port_text.empty()) {
    std::optional<uint64_t> port = ParseDecimal(port_text, 65535);
    if (!port || *port == 0) {
      return Status::Invalid("server address " + quoted + ": port must be 1..65535");
    }
    ep.port = static_cast<uint16_t>(*port);
  }
  return ep;
}

std::string FormatEndpoint(const Endpoint& endpoint) {
  return FormatHostPort(endpoint.host, endpoint.port);
}

Result<uint32_t> ParseUserId(std::string_view text) {
  std::optional<uint64_t> v = ParseDecimal(text, UINT32_MAX);
  if (!v) {
    return Status::Invalid("user id '" + std::string(text) +
                           "': expected a decimal number 0..4294967295");
  }
  return static_cast<uint32_t>(*v);
}

Result<std::string> StoredName(std::string_view path) {
  size_t first = path.find_first_not_of('/');
  std::string_view name = first == std::string_view::npos ? std::string_view() : path.substr(first);
  Result<std::string> normalized = protocol::NormalizeName(name);
  if (!normalized.ok()) {
    return Status::Invalid("cannot store '" + std::string(path) + "' under its own path (" +
                           normalized.status().message() + "); give a name with --name");
  }
  return std::string(name);
}

Result<std::string> DefaultRestoreOutput(std::string_view name) {
  size_t slash = name.find_last_of('/');
  std::string_view base = slash == std::string_view::npos ? name : name.substr(slash + 1);
  if (base.empty() || base == "." || base == "..") {
    return Status::Invalid("cannot derive an output file from '" + std::string(name) +
                           "'; give one with -o");
  }
  return std::string(base);
}

Status CheckRequestName(std::string_view name) {
  if (name.empty()) return Status::Invalid("empty name");
  if (name.size() > protocol::kMaxNameLen) {
    return Status::Invalid("name longer than " + std::to_string(protocol::kMaxNameLen) + " bytes");
  }
  return Status::Ok();
}

}  // namespace backupd::client

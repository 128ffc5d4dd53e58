// shared (any privilege): base64 (RFC 4648) for SCRAM messages, the users file and secrets.
#ifndef BACKUPD_BASE_BASE64_H_
#define BACKUPD_BASE_BASE64_H_

#include <optional>
#include <string>
#include <string_view>

namespace backupd {

// The standard alphabet with '=' padding, as SCRAM (RFC 5802) and the users file use it.
std::string Base64Encode(std::string_view bytes);

// The bytes of `text` if it is canonical standard base64: only the alphabet, length a multiple
// of 4, padding only at the end and unused bits zero. Anything else (whitespace, '-', a missing
// or extra '=') is nothing, so one value has exactly one spelling and a parser cannot be fooled
// into comparing two spellings of the same key.
std::optional<std::string> Base64Decode(std::string_view text);

// The URL-safe alphabet ('-', '_') without padding: for secrets, which end up in files and on
// command lines where '+', '/' and '=' are a nuisance.
std::string Base64UrlEncode(std::string_view bytes);

}  // namespace backupd

#endif  // BACKUPD_BASE_BASE64_H_

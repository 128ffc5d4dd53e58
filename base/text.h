// shared (any privilege): small text conversions every room needs: escaping untrusted bytes for
// logs and status output, strict decimal parsing, "HOST:PORT" formatting, how a process ended.
#ifndef BACKUPD_BASE_TEXT_H_
#define BACKUPD_BASE_TEXT_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace backupd {

// Client-chosen bytes (names, peers, messages from workers) made safe for one log line or one
// status row: control bytes, DEL, bytes >= 0x80, '"' and '\' become \xNN, so no name can split a
// line, forge a field, end a quoted value or smuggle terminal escapes. Printable ASCII stays.
std::string EscapeUntrusted(std::string_view s);

// The value of `s` if it is 1 to 20 ASCII digits and at most `max`; nothing else is accepted:
// no sign, no spaces, no hex, no empty string.
std::optional<uint64_t> ParseDecimal(std::string_view s, uint64_t max);

// Appends `len` bytes to `out` as lowercase hex, two digits a byte.
void AppendHex(std::string& out, const unsigned char* bytes, size_t len);

// "127.0.0.1:1337", "[::1]:1337": a host containing ':' (an IPv6 address) is bracketed.
std::string FormatHostPort(std::string_view host, uint16_t port);

// How a waited-for process ended: "exited with status 1", "killed by signal 9 (Killed)". SIGSYS
// is named, and said to come from the syscall filter (the only source of it in our processes):
// "killed by signal 31 (SIGSYS, Bad system call): the syscall filter refused a call".
std::string DescribeExit(int wait_status);

}  // namespace backupd

#endif  // BACKUPD_BASE_TEXT_H_

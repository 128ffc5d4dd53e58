// shared (any privilege): base64 encoding and strict decoding.
#include "base/base64.h"

#include <cstdint>

namespace backupd {
namespace {

constexpr char kStandard[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kUrl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string Encode(std::string_view bytes, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    size_t n = bytes.size() - i < 3 ? bytes.size() - i : 3;
    uint32_t v = 0;
    for (size_t k = 0; k < 3; ++k) {
      v = v << 8 | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0u);
    }
    for (size_t k = 0; k < 4; ++k) {
      if (k <= n) {
        out += alphabet[(v >> (18 - 6 * k)) & 0x3F];
      } else if (pad) {
        out += '=';
      }
    }
  }
  return out;
}

int Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::string Base64Encode(std::string_view bytes) { return Encode(bytes, kStandard, true); }

std::string Base64UrlEncode(std::string_view bytes) { return Encode(bytes, kUrl, false); }

std::optional<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  size_t pad = 0;
  while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  uint32_t v = 0;
  size_t data = text.size() - pad;
  for (size_t i = 0; i < data; ++i) {
    int d = Value(text[i]);
    if (d < 0) return std::nullopt;
    v = v << 6 | static_cast<uint32_t>(d);
    if (i % 4 == 3) {
      out += static_cast<char>(v >> 16);
      out += static_cast<char>(v >> 8 & 0xFF);
      out += static_cast<char>(v & 0xFF);
      v = 0;
    }
  }
  // The last group: 2 or 3 symbols carry 1 or 2 bytes; the bits past them must be zero.
  if (pad == 2) {
    if ((v & 0xF) != 0) return std::nullopt;
    out += static_cast<char>(v >> 4);
  } else if (pad == 1) {
    if ((v & 0x3) != 0) return std::nullopt;
    out += static_cast<char>(v >> 10);
    out += static_cast<char>(v >> 2 & 0xFF);
  }
  return out;
}

}  // namespace backupd

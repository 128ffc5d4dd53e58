// tests (unprivileged): fuzz target for NormalizeName; checks every accepted name obeys the rules.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/wire.h"
#include "tests/fuzz/fuzz_check.h"

namespace bp = backupd::protocol;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  const backupd::Result<std::string> r = bp::NormalizeName(raw);
  if (!r.ok()) {
    FUZZ_CHECK(r.status().code() == backupd::Status::Code::kInvalid);
    return 0;
  }
  const std::string& name = *r;
  FUZZ_CHECK(!name.empty());
  FUZZ_CHECK(raw.size() <= bp::kMaxNameLen);
  // Only leading slashes are ever removed: the result is the raw name minus a '/' prefix.
  FUZZ_CHECK(raw.size() >= name.size());
  FUZZ_CHECK(raw.substr(raw.size() - name.size()) == name);
  FUZZ_CHECK(raw.substr(0, raw.size() - name.size()).find_first_not_of('/') == std::string::npos);
  FUZZ_CHECK(name.find('\0') == std::string::npos);
  size_t start = 0;
  while (true) {
    const size_t slash = name.find('/', start);
    const std::string_view comp = std::string_view(name).substr(
        start, slash == std::string::npos ? std::string::npos : slash - start);
    FUZZ_CHECK(!comp.empty());
    FUZZ_CHECK(comp != "." && comp != "..");
    FUZZ_CHECK(comp.size() <= bp::kMaxComponentLen);
    FUZZ_CHECK(comp.substr(0, bp::kReservedPrefix.size()) != bp::kReservedPrefix);
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  // Normalizing is idempotent, so the worker may echo or re-check a stored name safely.
  const backupd::Result<std::string> again = bp::NormalizeName(name);
  FUZZ_CHECK(again.ok() && *again == name);
  return 0;
}

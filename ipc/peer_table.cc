// supervisor (root) and workers (unprivileged): the shared table of peers being served.
#include "ipc/peer_table.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace backupd::ipc {

namespace {

void Split(const PeerAddress& a, uint64_t* hi, uint64_t* lo) {
  std::memcpy(hi, a.data(), 8);
  std::memcpy(lo, a.data() + 8, 8);
}

// The supervisor hands out only indexes below kSlots (FreeSlotIndex aborts rather than run out):
// one beyond is a broken invariant, and folding it onto another slot would corrupt its counts.
void CheckIndex(size_t index) {
  if (index >= PeerTable::kSlots) std::abort();
}

}  // namespace

Result<PeerTable> PeerTable::Create() {
  void* p = ::mmap(nullptr, sizeof(Slot) * kSlots, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return Status::FromErrno(errno, "mmap peer table");
  // Fresh anonymous pages are zero: every slot starts empty.
  return PeerTable(static_cast<Slot*>(p));
}

PeerTable::PeerTable(PeerTable&& other) noexcept : slots_(other.slots_) { other.slots_ = nullptr; }

PeerTable& PeerTable::operator=(PeerTable&& other) noexcept {
  if (this != &other) {
    if (slots_ != nullptr) ::munmap(slots_, sizeof(Slot) * kSlots);
    slots_ = other.slots_;
    other.slots_ = nullptr;
  }
  return *this;
}

PeerTable::~PeerTable() {
  if (slots_ != nullptr) ::munmap(slots_, sizeof(Slot) * kSlots);
}

PeerAddress SourceBlock(const PeerAddress& addr) {
  const bool v4_mapped =
      std::all_of(addr.begin(), addr.begin() + 10, [](uint8_t b) { return b == 0; }) &&
      addr[10] == 0xff && addr[11] == 0xff;
  if (v4_mapped) return addr;
  PeerAddress prefix = addr;
  std::fill(prefix.begin() + 8, prefix.end(), 0);
  return prefix;
}

size_t PeerTable::Claim(size_t index, const PeerAddress& addr) {
  CheckIndex(index);
  uint64_t hi, lo;
  Split(SourceBlock(addr), &hi, &lo);
  slots_[index].hi.store(hi);
  slots_[index].lo.store(lo);
  size_t n = 0;
  for (size_t i = 0; i < kSlots; ++i) {
    if (slots_[i].hi.load() == hi && slots_[i].lo.load() == lo) ++n;
  }
  return n;
}

void PeerTable::Release(size_t index) {
  CheckIndex(index);
  slots_[index].hi.store(0);
  slots_[index].lo.store(0);
}

}  // namespace backupd::ipc

// supervisor (root) creates it; workers (unprivileged) share it: who each worker is serving,
// so a worker can count an address's open connections across the pool before serving it.
#ifndef BACKUPD_IPC_PEER_TABLE_H_
#define BACKUPD_IPC_PEER_TABLE_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/status.h"

namespace backupd::ipc {

// A peer's IP address as 16 bytes (IPv4 as ::ffff:a.b.c.d). All zero means "no peer".
using PeerAddress = std::array<uint8_t, 16>;

// What one source is counted as, by the per-address limit and the login throttle: an IPv4
// address whole, an IPv6 address by its /64 — the smallest block an end site is given, so one
// host could otherwise pick from 2^64 addresses.
PeerAddress SourceBlock(const PeerAddress& addr);

// A table in anonymous shared memory, created before the first fork and inherited by every
// worker: slot i holds the address worker i is serving. Each worker writes only its own slot;
// counting reads all of them, so two simultaneous accepts may both pass a limit by one — a bound
// on pinning the pool, not an exact quota. The supervisor clears the slot of a worker that died.
class PeerTable {
 public:
  static constexpr size_t kSlots = 2048;  // >= 2 * the largest workers.max, for reload overlap

  static Result<PeerTable> Create();
  PeerTable(PeerTable&& other) noexcept;
  PeerTable& operator=(PeerTable&& other) noexcept;
  PeerTable(const PeerTable&) = delete;
  PeerTable& operator=(const PeerTable&) = delete;
  ~PeerTable();

  // Records that slot `index` serves `addr`; returns how many slots now serve its SourceBlock
  // (>= 1). Both abort on an `index` >= kSlots, which only a broken invariant of the supervisor
  // can pass.
  size_t Claim(size_t index, const PeerAddress& addr);
  void Release(size_t index);

 private:
  struct Slot {
    std::atomic<uint64_t> hi;
    std::atomic<uint64_t> lo;
  };
  explicit PeerTable(Slot* slots) : slots_(slots) {}
  Slot* slots_ = nullptr;
};

}  // namespace backupd::ipc

#endif  // BACKUPD_IPC_PEER_TABLE_H_

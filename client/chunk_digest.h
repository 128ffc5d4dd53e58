// client (the user's privilege): SHA-256 of a stream on a second thread, fed chunk by chunk.
#ifndef BACKUPD_CLIENT_CHUNK_DIGEST_H_
#define BACKUPD_CLIENT_CHUNK_DIGEST_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "protocol/digest.h"

namespace backupd::client {

// Hashes a stream of `size` bytes moved in chunks of at most `chunk` bytes. The caller fills
// the buffer Next() gives, moves its bytes on (to the file, to the socket) and Submits it; a
// single hashing thread digests it meanwhile, so on two cores the hash (~2 GB/s with SHA-NI)
// overlaps the copies instead of adding to them. A ring of a few buffers keeps both sides busy
// without a thread per chunk (which was slower: bench/RESULTS.md, issue 11, second step). A
// stream of one chunk or less, or one whose thread cannot start, is hashed inline on Submit.
class ChunkDigest {
 public:
  ChunkDigest(uint64_t size, size_t chunk);
  ~ChunkDigest();
  ChunkDigest(const ChunkDigest&) = delete;
  ChunkDigest& operator=(const ChunkDigest&) = delete;

  // The buffer to fill next, of capacity() bytes; waits while the hasher still reads it.
  uint8_t* Next();
  size_t capacity() const { return chunk_; }
  // Hands the first `len` bytes of the buffer from Next() to the hasher.
  void Submit(size_t len);
  // The digest of everything submitted, once the hasher has caught up; the object is then spent.
  protocol::Digest Finish();

 private:
  static constexpr size_t kRing = 3;
  void Run();

  size_t chunk_;
  std::vector<std::vector<uint8_t>> ring_;
  std::vector<size_t> lengths_;
  protocol::Sha256 sha_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t submitted_ = 0;  // chunks handed over; written by the caller under mu_
  uint64_t hashed_ = 0;     // chunks digested; written by the hasher under mu_
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace backupd::client

#endif  // BACKUPD_CLIENT_CHUNK_DIGEST_H_

// tests: the client's threaded SHA-256 (ChunkDigest) gives exactly the one-pass digest of the
// bytes submitted, for every split of a stream into chunks, and stops cleanly mid-stream.
#include "client/chunk_digest.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace backupd::client {
namespace {

std::string Bytes(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 7 + (i >> 8));
  return s;
}

// Feeds `data` through a ChunkDigest of `chunk`-byte buffers, as the restore and upload loops do.
protocol::Digest Through(const std::string& data, size_t chunk) {
  ChunkDigest digest(data.size(), chunk);
  for (size_t at = 0; at < data.size();) {
    const size_t n = std::min(digest.capacity(), data.size() - at);
    uint8_t* buf = digest.Next();
    std::memcpy(buf, data.data() + at, n);
    digest.Submit(n);
    // The buffer is the caller's to read (write it to a file) while the hasher reads it too.
    EXPECT_EQ(std::memcmp(buf, data.data() + at, n), 0);
    at += n;
  }
  return digest.Finish();
}

TEST(ChunkDigestTest, EqualsTheOnePassDigestForEverySplit) {
  constexpr size_t kChunk = 4096;
  for (size_t size :
       {size_t{0}, size_t{1}, kChunk - 1, kChunk, kChunk + 1, 3 * kChunk, 50 * kChunk + 123}) {
    const std::string data = Bytes(size);
    EXPECT_EQ(Through(data, kChunk), protocol::Sha256Of(data)) << size << " bytes";
  }
}

TEST(ChunkDigestTest, ADifferentByteGivesADifferentDigest) {
  std::string data = Bytes(20 * 4096);
  const protocol::Digest before = Through(data, 4096);
  data[15 * 4096 + 9] ^= 1;
  EXPECT_NE(Through(data, 4096), before);
}

TEST(ChunkDigestTest, DestroyedMidStreamItStopsItsThread) {
  const std::string data = Bytes(10 * 4096);
  ChunkDigest digest(data.size(), 4096);
  for (int i = 0; i < 4; ++i) {
    std::memcpy(digest.Next(), data.data() + i * 4096, 4096);
    digest.Submit(4096);
  }
  // The restore's error paths return here without Finish: the destructor must join, not hang.
}

}  // namespace
}  // namespace backupd::client

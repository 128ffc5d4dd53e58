// client (the user's privilege): a stream's SHA-256 computed on one helper thread, chunk by chunk.
#include "client/chunk_digest.h"

#include <algorithm>
#include <system_error>
#include <utility>

namespace backupd::client {

ChunkDigest::ChunkDigest(uint64_t size, size_t chunk)
    : chunk_(static_cast<size_t>(std::min<uint64_t>(size, chunk))) {
  const bool threaded = size > chunk;
  ring_.resize(threaded ? kRing : 1, std::vector<uint8_t>(chunk_));
  lengths_.resize(ring_.size());
  if (!threaded) return;
  try {
    thread_ = std::thread([this] { Run(); });
  } catch (const std::system_error&) {
    // No thread to be had (RLIMIT_NPROC, memory): the same digest, hashed inline.
    ring_.resize(1);
    lengths_.resize(1);
  }
}

ChunkDigest::~ChunkDigest() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

uint8_t* ChunkDigest::Next() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return submitted_ - hashed_ < ring_.size(); });
  return ring_[submitted_ % ring_.size()].data();
}

void ChunkDigest::Submit(size_t len) {
  if (!thread_.joinable()) {
    sha_.Update(ring_[0].data(), len);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    lengths_[submitted_ % ring_.size()] = len;
    ++submitted_;
  }
  cv_.notify_all();
}

protocol::Digest ChunkDigest::Finish() {
  if (thread_.joinable()) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return hashed_ == submitted_; });
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  return sha_.Finish();
}

void ChunkDigest::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || hashed_ < submitted_; });
    // Finish waits for the last chunk before it stops the thread; the destructor need not.
    if (stop_) return;
    const size_t slot = hashed_ % ring_.size();
    const size_t len = lengths_[slot];
    lock.unlock();
    sha_.Update(ring_[slot].data(), len);
    lock.lock();
    ++hashed_;
    cv_.notify_all();
  }
}

}  // namespace backupd::client

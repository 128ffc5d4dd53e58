// tests (unprivileged): runs a libFuzzer-style target without libFuzzer (GCC builds): every seed
// file in a corpus folder, then deterministic pseudo-random mutations of them.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

using Bytes = std::vector<uint8_t>;

// Values that sit on the protocol's boundaries, written over a field as u8, u16 or u32.
constexpr uint32_t kInteresting[] = {
    0,   1,    2,    31,   32,   33,   100,  200,  201,  202,    203,   254,        255,
    256, 1024, 1025, 4095, 4096, 4097, 0x7F, 0x80, 0xFF, 0xFFFF, 65536, 0x7FFFFFFF, 0xFFFFFFFF};

void Run(const Bytes& input) { LLVMFuzzerTestOneInput(input.data(), input.size()); }

Bytes ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void Mutate(Bytes& b, const std::vector<Bytes>& seeds, std::mt19937_64& rng) {
  auto below = [&rng](size_t n) { return n == 0 ? size_t{0} : static_cast<size_t>(rng() % n); };
  switch (rng() % 7) {
    case 0:  // flip one bit
      if (!b.empty()) b[below(b.size())] ^= static_cast<uint8_t>(1u << below(8));
      break;
    case 1:  // one random byte
      if (!b.empty()) b[below(b.size())] = static_cast<uint8_t>(rng());
      break;
    case 2: {  // an interesting little-endian value of 1, 2 or 4 bytes
      const uint32_t v = kInteresting[below(std::size(kInteresting))];
      const size_t width = size_t{1} << below(3);
      if (b.size() < width) break;
      const size_t at = below(b.size() - width + 1);
      for (size_t i = 0; i < width; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
      break;
    }
    case 3: {  // insert a few bytes, often '/', '.' or NUL to hit the name rules
      static constexpr uint8_t kChars[] = {'/', '.', 0, 'a', '-'};
      const size_t at = below(b.size() + 1);
      const size_t n = 1 + below(4);
      for (size_t i = 0; i < n; ++i) {
        const uint8_t c =
            rng() % 2 ? kChars[below(std::size(kChars))] : static_cast<uint8_t>(rng());
        b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), c);
      }
      break;
    }
    case 4: {  // erase a range
      if (b.empty()) break;
      const size_t at = below(b.size());
      const size_t n = 1 + below(b.size() - at);
      b.erase(b.begin() + static_cast<std::ptrdiff_t>(at),
              b.begin() + static_cast<std::ptrdiff_t>(at + n));
      break;
    }
    case 5:  // truncate
      b.resize(below(b.size() + 1));
      break;
    case 6: {  // append another seed: back-to-back requests on one connection
      const Bytes& other = seeds[below(seeds.size())];
      b.insert(b.end(), other.begin(), other.end());
      break;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE [MUTATIONS]\n", argv[0]);
    return 2;
  }
  const std::filesystem::path corpus = argv[1];
  const unsigned long mutations = argc == 3 ? std::stoul(argv[2]) : 0;

  std::vector<std::filesystem::path> paths;
  if (std::filesystem::is_directory(corpus)) {
    for (const auto& entry : std::filesystem::directory_iterator(corpus)) {
      if (entry.is_regular_file()) paths.push_back(entry.path());
    }
  } else {
    paths.push_back(corpus);
  }
  // Directory order varies between file systems; sorting keeps the mutation sequence reproducible.
  std::sort(paths.begin(), paths.end());
  if (paths.empty()) {
    std::fprintf(stderr, "%s: no seed files in %s\n", argv[0], corpus.c_str());
    return 2;
  }

  std::vector<Bytes> seeds;
  for (const auto& path : paths) {
    seeds.push_back(ReadFile(path));
    Run(seeds.back());
  }

  std::mt19937_64 rng(20240601);
  for (unsigned long i = 0; i < mutations; ++i) {
    Bytes b = seeds[rng() % seeds.size()];
    const unsigned rounds = 1 + static_cast<unsigned>(rng() % 4);
    for (unsigned r = 0; r < rounds; ++r) Mutate(b, seeds, rng);
    Run(b);
  }
  std::printf("%zu seeds and %lu mutations ran clean\n", seeds.size(), mutations);
  return 0;
}

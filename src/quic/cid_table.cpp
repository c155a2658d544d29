#include "quic/cid_table.hpp"

#include <random>

namespace qsse::quic {
namespace {

// The high and low halves of a 64 x 64 -> 128-bit product, folded: a fast mix in which every
// input bit reaches many output bits.
uint64_t fold_multiply(uint64_t a, uint64_t b) {
  const unsigned __int128 product = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(product) ^ static_cast<uint64_t>(product >> 64);
}

uint64_t load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

constexpr size_t kFirstCapacity = 16;

}  // namespace

CidTable::CidTable() {
  std::random_device random;
  for (auto& word : seed_) word = (uint64_t{random()} << 32) ^ random();
}

CidTable::CidTable(uint64_t seed) {
  // Spread one number over three words (splitmix64 steps).
  for (auto& word : seed_) {
    seed += 0x9e3779b97f4a7c15;
    uint64_t z = seed;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
    z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
    word = z ^ (z >> 31);
  }
}

size_t CidTable::home(const CidKey& key) const {
  static_assert(NGTCP2_MAX_CIDLEN == 20, "the hash reads 16 + 4 bytes");
  uint32_t tail;
  std::memcpy(&tail, key.bytes.data() + 16, sizeof tail);
  const uint64_t head =
      fold_multiply(load64(key.bytes.data()) ^ seed_[0], load64(key.bytes.data() + 8) ^ seed_[1]);
  const uint64_t rest = (uint64_t{tail} | (uint64_t{key.length} << 32)) ^ seed_[2];
  return static_cast<size_t>(fold_multiply(head ^ rest, 0x9e3779b97f4a7c15)) & mask_;
}

void CidTable::add(const CidKey& key, Connection& conn) {
  if ((size_ + 1) * 4 > slots_.size() * 3) grow();
  for (size_t i = home(key);; i = (i + 1) & mask_) {
    Slot& slot = slots_[i];
    if (slot.conn == nullptr) {
      slot = Slot{key, &conn};
      ++size_;
      return;
    }
    if (slot.key == key) {
      slot.conn = &conn;
      return;
    }
  }
}

void CidTable::remove(const CidKey& key) {
  if (size_ == 0) return;
  size_t hole = home(key);
  for (;; hole = (hole + 1) & mask_) {
    if (slots_[hole].conn == nullptr) return;
    if (slots_[hole].key == key) break;
  }
  // Backward-shift deletion: move later entries of the run into the hole when the hole lies
  // on their probe path (between their home slot and where they sit), so that every entry
  // stays reachable from its home without tombstones.
  for (size_t next = (hole + 1) & mask_; slots_[next].conn != nullptr; next = (next + 1) & mask_) {
    const size_t want = home(slots_[next].key);
    const size_t hole_distance = (hole - want) & mask_;
    const size_t next_distance = (next - want) & mask_;
    if (hole_distance < next_distance) {
      slots_[hole] = slots_[next];
      hole = next;
    }
  }
  slots_[hole] = Slot{};
  --size_;
}

void CidTable::grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(old.empty() ? kFirstCapacity : old.size() * 2, Slot{});
  mask_ = slots_.size() - 1;
  size_ = 0;
  for (const Slot& slot : old) {
    if (slot.conn != nullptr) add(slot.key, *slot.conn);
  }
}

}  // namespace qsse::quic

// pubsub/edge_index.hpp — one flat hash table holding every (parent node, segment) -> child edge
// of a segment trie.
//
// Instead of a map per trie node (a node under "ride" may have 100k children, most nodes have
// one), a trie keeps all its edges in one open-addressing table keyed by
// hash(parent id, segment hash). The table stores only the child's node id and 32 bits of the
// hash; the caller supplies the equality test (comparing the child's parent and label), so the
// table never owns or copies strings.
//
// Linear probing with backward-shift deletion: no tombstones, so lookups stay short no matter
// how much churn the table has seen. The table doubles when more than half full and halves when
// less than an eighth full (never below kMinCapacity), so its memory follows the live edge count.
//
// Allocation: only insert() and erase() may allocate (when resizing); find() never does.
// Thread: none of its own; owned by one trie, used by that trie's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace qsse::pubsub {

using NodeId = std::uint32_t;
inline constexpr NodeId kNoNode = 0xffffffffu;

// The hash of the edge (parent, segment), from the segment's hash_segment() value.
inline std::uint64_t edge_hash(NodeId parent, std::uint64_t segment_hash) noexcept {
  std::uint64_t h = segment_hash ^ (static_cast<std::uint64_t>(parent) * 0x9e3779b97f4a7c15ULL);
  h ^= h >> 31;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 29;
  return h;
}

class EdgeIndex {
 public:
  static constexpr std::size_t kMinCapacity = 16;

  EdgeIndex() : slots_(kMinCapacity) {}

  // The child whose edge has this hash and for which is_key(child) is true, or kNoNode.
  // is_key must compare the child's parent id and segment with the searched ones.
  template <class IsKey>
  NodeId find(std::uint64_t hash, IsKey&& is_key) const noexcept {
    const auto tag = static_cast<std::uint32_t>(hash);
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = tag & mask;; i = (i + 1) & mask) {
      const Slot& slot = slots_[i];
      if (slot.child == kNoNode) return kNoNode;
      if (slot.tag == tag && is_key(slot.child)) return slot.child;
    }
  }

  // Adds an edge. Precondition: no edge with the same key is present (find() it first).
  void insert(std::uint64_t hash, NodeId child) {
    if ((size_ + 1) * 2 > slots_.size()) rehash(slots_.size() * 2);
    place(Slot{child, static_cast<std::uint32_t>(hash)});
    ++size_;
  }

  // Removes the edge leading to `child`, whose edge hash is `hash`. Precondition: present.
  void erase(std::uint64_t hash, NodeId child) {
    const std::size_t mask = slots_.size() - 1;
    std::size_t hole = static_cast<std::uint32_t>(hash) & mask;
    while (slots_[hole].child != child) hole = (hole + 1) & mask;
    // Backward shift: pull later members of the probe run into the hole when that keeps them
    // reachable from their home slot.
    for (std::size_t next = (hole + 1) & mask; slots_[next].child != kNoNode;
         next = (next + 1) & mask) {
      const std::size_t home = slots_[next].tag & mask;
      // `next` may move to `hole` iff its home is not in the cyclic range (hole, next].
      const bool home_after_hole =
          hole <= next ? (home > hole && home <= next) : (home > hole || home <= next);
      if (!home_after_hole) {
        slots_[hole] = slots_[next];
        hole = next;
      }
    }
    slots_[hole] = Slot{};
    --size_;
    if (slots_.size() > kMinCapacity && size_ * 8 < slots_.size()) rehash(slots_.size() / 2);
  }

  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return slots_.size(); }

 private:
  struct Slot {
    NodeId child = kNoNode;
    std::uint32_t tag = 0;  // the low 32 bits of the edge hash; also gives the home slot
  };

  void place(Slot slot) noexcept {
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = slot.tag & mask;
    while (slots_[i].child != kNoNode) i = (i + 1) & mask;
    slots_[i] = slot;
  }

  void rehash(std::size_t capacity) {
    std::vector<Slot> old(capacity);
    old.swap(slots_);
    for (const Slot& slot : old) {
      if (slot.child != kNoNode) place(slot);
    }
  }

  std::vector<Slot> slots_;  // capacity is a power of two, at most half full after insert()
  std::size_t size_ = 0;
};

}  // namespace qsse::pubsub

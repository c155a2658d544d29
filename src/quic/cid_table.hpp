// quic/cid_table.hpp — connection ID -> Connection routing table.
//
// Connections announce the CIDs they answer to through CidRegistry; a CidTable records them so
// an owner can route a datagram by its destination CID. Not thread-safe: one per shard.
//
// Every datagram a shard receives is looked up here, so the table is a flat array probed
// linearly (at most 3/4 full: a hit probes about 2.5 consecutive 32-byte slots on average, a
// miss about 8.5) rather than a node-based map (a bucket, then a node, each a likely cache
// miss). The hash is keyed with a random seed per table: a server
// also routes each client's original DCID, which the client chooses, and an unkeyed hash
// would let a client pick DCIDs that all land in one run of slots.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "quic/connection.hpp"

namespace qsse::quic {

struct CidKey {
  uint8_t length = 0;
  std::array<uint8_t, NGTCP2_MAX_CIDLEN> bytes{};

  static CidKey of(const uint8_t* data, size_t length) {
    CidKey key;
    key.length = static_cast<uint8_t>(length < NGTCP2_MAX_CIDLEN ? length : NGTCP2_MAX_CIDLEN);
    if (key.length > 0) std::memcpy(key.bytes.data(), data, key.length);  // data may be null
    return key;
  }
  static CidKey of(const ngtcp2_cid& cid) { return of(cid.data, cid.datalen); }
  bool operator==(const CidKey& other) const {
    return length == other.length && bytes == other.bytes;
  }
};

class CidTable final : public CidRegistry {
 public:
  // A table keyed with a seed from std::random_device.
  CidTable();
  // A table keyed with `seed` (tests: the same keys land in the same slots every run).
  explicit CidTable(uint64_t seed);

  void add_cid(const ngtcp2_cid& cid, Connection& conn) override { add(CidKey::of(cid), conn); }
  void remove_cid(const ngtcp2_cid& cid) override { remove(CidKey::of(cid)); }
  // Routes `key` to `conn`, replacing any earlier route of the same key.
  void add(const CidKey& key, Connection& conn);
  // Forgets `key`; a key that is not routed is ignored.
  void remove(const CidKey& key);
  // The connection `cid` routes to, or nullptr. CIDs longer than NGTCP2_MAX_CIDLEN are compared
  // on their first NGTCP2_MAX_CIDLEN bytes, as they are stored.
  Connection* find(const uint8_t* cid, size_t length) const {
    return find(CidKey::of(cid, length));
  }
  Connection* find(const CidKey& key) const {
    if (size_ == 0) return nullptr;
    for (size_t i = home(key);; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.conn == nullptr) return nullptr;
      if (slot.key == key) return slot.conn;
    }
  }
  size_t size() const { return size_; }
  // Slots allocated (a power of two, or 0 before the first add): at most 3/4 are in use.
  size_t capacity() const { return slots_.size(); }

 private:
  struct Slot {
    CidKey key;
    Connection* conn = nullptr;  // nullptr: the slot is free
  };

  size_t home(const CidKey& key) const;  // the slot `key` is probed from
  void grow();

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
  std::array<uint64_t, 3> seed_{};
};

}  // namespace qsse::quic

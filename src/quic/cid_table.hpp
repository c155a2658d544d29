// quic/cid_table.hpp — connection ID -> Connection routing table.
//
// Connections announce the CIDs they answer to through CidRegistry; a CidTable records them so
// an owner can route a datagram by its destination CID. Not thread-safe: one per shard.
#pragma once

#include <array>
#include <cstring>
#include <string_view>
#include <unordered_map>

#include "quic/connection.hpp"

namespace qsse::quic {

struct CidKey {
  uint8_t length = 0;
  std::array<uint8_t, NGTCP2_MAX_CIDLEN> bytes{};

  static CidKey of(const uint8_t* data, size_t length) {
    CidKey key;
    key.length = static_cast<uint8_t>(length < NGTCP2_MAX_CIDLEN ? length : NGTCP2_MAX_CIDLEN);
    std::memcpy(key.bytes.data(), data, key.length);
    return key;
  }
  static CidKey of(const ngtcp2_cid& cid) { return of(cid.data, cid.datalen); }
  bool operator==(const CidKey& other) const {
    return length == other.length && bytes == other.bytes;
  }
};

struct CidHash {
  // CIDs are random (but for the shard byte), so hashing the bytes spreads them well.
  size_t operator()(const CidKey& key) const noexcept {
    return std::hash<std::string_view>()(
        std::string_view(reinterpret_cast<const char*>(key.bytes.data()), key.length));
  }
};

class CidTable final : public CidRegistry {
 public:
  void add_cid(const ngtcp2_cid& cid, Connection& conn) override {
    routes_[CidKey::of(cid)] = &conn;
  }
  void remove_cid(const ngtcp2_cid& cid) override { routes_.erase(CidKey::of(cid)); }
  void add(const CidKey& key, Connection& conn) { routes_[key] = &conn; }
  void remove(const CidKey& key) { routes_.erase(key); }
  Connection* find(const uint8_t* cid, size_t length) const {
    auto it = routes_.find(CidKey::of(cid, length));
    return it == routes_.end() ? nullptr : it->second;
  }
  size_t size() const { return routes_.size(); }

 private:
  std::unordered_map<CidKey, Connection*, CidHash> routes_;
};

}  // namespace qsse::quic

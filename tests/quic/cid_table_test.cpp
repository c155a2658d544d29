// CidTable: routes, removals and growth, checked against std::map over random operations.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

#include "quic/cid_table.hpp"

namespace qsse::quic {
namespace {

// The table stores and returns pointers only; these stand in for connections.
struct alignas(Connection) FakeConnections {
  explicit FakeConnections(size_t n) : storage(n) {}
  Connection& operator[](size_t i) { return *reinterpret_cast<Connection*>(&storage[i]); }
  struct alignas(Connection) Cell {
    unsigned char bytes[sizeof(Connection)];
  };
  std::vector<Cell> storage;
};

CidKey key_of(std::initializer_list<uint8_t> bytes) {
  std::vector<uint8_t> v(bytes);
  return CidKey::of(v.data(), v.size());
}

TEST(CidTable, RoutesEachCidToItsConnectionAndForgetsRemovedOnes) {
  FakeConnections conns(3);
  CidTable table(/*seed=*/7);
  EXPECT_EQ(table.find(key_of({1, 2, 3})), nullptr) << "an empty table routes nothing";

  table.add(key_of({1, 2, 3}), conns[0]);
  table.add(key_of({1, 2, 3, 0}), conns[1]);  // same bytes plus a zero: another CID
  table.add(key_of({}), conns[2]);            // a zero-length CID is a key too
  EXPECT_EQ(table.size(), 3u);
  const uint8_t raw[] = {1, 2, 3, 0};
  EXPECT_EQ(table.find(raw, 3), &conns[0]);
  EXPECT_EQ(table.find(raw, 4), &conns[1]);
  EXPECT_EQ(table.find(raw, 0), &conns[2]);
  EXPECT_EQ(table.find(key_of({1, 2})), nullptr);

  table.add(key_of({1, 2, 3}), conns[2]);  // a new route replaces the old one
  EXPECT_EQ(table.size(), 3u);
  EXPECT_EQ(table.find(raw, 3), &conns[2]);

  table.remove(key_of({1, 2, 3}));
  table.remove(key_of({9, 9}));  // not routed: ignored
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.find(raw, 3), nullptr);
  EXPECT_EQ(table.find(raw, 4), &conns[1]);
}

TEST(CidTable, ACidLongerThanTheMaximumIsRoutedByItsFirstTwentyBytes) {
  FakeConnections conns(1);
  CidTable table(/*seed=*/1);
  std::vector<uint8_t> long_cid(24, 0xab);
  table.add(CidKey::of(long_cid.data(), long_cid.size()), conns[0]);
  EXPECT_EQ(table.find(long_cid.data(), 20), &conns[0]);
  EXPECT_EQ(table.find(long_cid.data(), 24), &conns[0]);
  EXPECT_EQ(table.find(long_cid.data(), 19), nullptr);
}

TEST(CidTable, GrowsToKeepAQuarterOfItsSlotsFree) {
  FakeConnections conns(1);
  CidTable table(/*seed=*/3);
  EXPECT_EQ(table.capacity(), 0u);
  for (uint32_t i = 0; i < 10'000; ++i) {
    uint8_t bytes[8] = {};
    std::memcpy(bytes, &i, sizeof i);
    table.add(CidKey::of(bytes, sizeof bytes), conns[0]);
    ASSERT_LE(table.size() * 4, table.capacity() * 3) << "after " << i + 1 << " keys";
    if (table.capacity() > 16) {
      ASSERT_GT(table.size() * 8, table.capacity() * 3)
          << "doubled too early: " << table.size() << " keys in " << table.capacity() << " slots";
    }
  }
}

// Random adds and removes over a pool of keys; after every step the table and a std::map agree
// on the looked-up key, and at intervals on every key of the pool. A small pool keeps the table
// small and nearly full, so runs of slots wrap around the end of the array and every removal
// moves entries back.
void agrees_with_a_map(uint64_t seed, size_t pool_size, size_t steps) {
  std::mt19937_64 random(seed);
  std::vector<CidKey> pool;
  for (size_t i = 0; i < pool_size; ++i) {
    std::vector<uint8_t> bytes(random() % (NGTCP2_MAX_CIDLEN + 1));
    for (auto& b : bytes) b = static_cast<uint8_t>(random() % 4);  // many shared prefixes
    pool.push_back(CidKey::of(bytes.data(), bytes.size()));
  }
  auto as_vector = [](const CidKey& k) {
    return std::vector<uint8_t>(k.bytes.begin(), k.bytes.begin() + k.length);
  };
  FakeConnections conns(8);
  CidTable table(seed);
  std::map<std::vector<uint8_t>, Connection*> model;
  auto expect_same = [&](const CidKey& key, size_t step) {
    auto it = model.find(as_vector(key));
    Connection* want = it == model.end() ? nullptr : it->second;
    ASSERT_EQ(table.find(key), want) << "seed " << seed << " step " << step;
  };
  for (size_t step = 0; step < steps; ++step) {
    const CidKey& key = pool[random() % pool.size()];
    if (random() % 2 == 0) {
      Connection& conn = conns[random() % 8];
      table.add(key, conn);
      model[as_vector(key)] = &conn;
    } else {
      table.remove(key);
      model.erase(as_vector(key));
    }
    ASSERT_EQ(table.size(), model.size()) << "seed " << seed << " step " << step;
    ASSERT_NO_FATAL_FAILURE(expect_same(pool[random() % pool.size()], step));
    if (step % 997 == 0) {
      for (const CidKey& k : pool) ASSERT_NO_FATAL_FAILURE(expect_same(k, step));
    }
  }
  for (const CidKey& k : pool) ASSERT_NO_FATAL_FAILURE(expect_same(k, steps));
}

TEST(CidTable, AgreesWithAMapOverRandomAddsAndRemovesInASmallNearlyFullTable) {
  for (uint64_t seed = 1; seed <= 20; ++seed) agrees_with_a_map(seed, 24, 20'000);
}

TEST(CidTable, AgreesWithAMapOverRandomAddsAndRemovesAsItGrows) {
  for (uint64_t seed = 100; seed <= 102; ++seed) agrees_with_a_map(seed, 5'000, 100'000);
}

}  // namespace
}  // namespace qsse::quic

// Buffers shared between threads: standalone buffers and slab slices (run under ASan and TSan,
// which report a slab freed too early or never).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <thread>
#include <vector>

#include "quic/shared_buffer.hpp"

namespace qsse::quic {
namespace {

BufferRef filled(SlabAllocator& slabs, size_t size, uint8_t value) {
  BufferRef ref = slabs.allocate(size);
  std::fill_n(ref.data(), size, value);
  return ref;
}

TEST(SlabAllocator, SmallBuffersShareSlabsBackToBackLargeOnesStandAlone) {
  SlabAllocator slabs;
  std::vector<BufferRef> refs;
  for (int i = 0; i < 1000; ++i) refs.push_back(filled(slabs, 80, static_cast<uint8_t>(i)));
  // 1000 slices of 80 bytes, no header or padding: 204 per slab (16 KiB minus its header).
  EXPECT_EQ(slabs.slabs_opened(), 5u);
  size_t contiguous = 0;
  for (size_t i = 0; i < refs.size(); ++i) {
    EXPECT_TRUE(refs[i].is_slice());
    EXPECT_EQ(refs[i].size(), 0u) << "a slice does not know its size";
    if (i > 0 && refs[i].same_slab(refs[i - 1])) {
      EXPECT_EQ(refs[i].data(), refs[i - 1].data() + 80);
      ++contiguous;
    }
  }
  EXPECT_EQ(contiguous, 1000u - 5u);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(std::all_of(refs[i].data(), refs[i].data() + 80,
                            [i](uint8_t b) { return b == static_cast<uint8_t>(i); }))
        << "slice " << i << " was overwritten by a neighbour";
  }
  BufferRef large = slabs.allocate(kMaxSliceBytes + 1);
  EXPECT_FALSE(large.is_slice());
  EXPECT_FALSE(large.same_slab(refs[0]));
  EXPECT_EQ(large.size(), kMaxSliceBytes + 1);
  EXPECT_FALSE(BufferRef::copy_of(refs[0].bytes()).is_slice());
}

TEST(SlabAllocator, ShrinkingTheLastSliceKeepsTheNextOneAdjacent) {
  SlabAllocator slabs;
  BufferRef a = slabs.allocate(100);
  slabs.shrink_last(60);
  BufferRef b = slabs.allocate(100);
  EXPECT_EQ(b.data(), a.data() + 60);
  slabs.shrink_last(100);  // nothing to give back
  BufferRef c = slabs.allocate(10);
  EXPECT_EQ(c.data(), b.data() + 100);
  BufferRef big = slabs.allocate(kMaxSliceBytes + 1);
  slabs.shrink_last(1);  // a standalone buffer: no effect on the slab
  BufferRef d = slabs.allocate(10);
  EXPECT_EQ(d.data(), c.data() + 10);
}

TEST(SlabAllocator, SlicesOutliveTheirAllocator) {
  std::vector<BufferRef> kept;
  {
    SlabAllocator slabs;
    for (int i = 0; i < 300; ++i) kept.push_back(filled(slabs, 100, 0xab));
  }  // the open slab is closed here; its slices keep it alive
  for (const BufferRef& r : kept) EXPECT_EQ(r.data()[99], 0xab);
  kept.erase(kept.begin(), kept.begin() + 150);
  for (const BufferRef& r : kept) EXPECT_EQ(r.data()[0], 0xab);
}

TEST(SlabAllocator, CopiesReleasedOnOtherThreadsInAnyOrder) {
  // One producer carves slices; two consumers retain and drop them in shuffled order while the
  // producer keeps carving (the slab's count is shared by all of them).
  constexpr int kSlices = 20000;
  SlabAllocator slabs;
  std::vector<BufferRef> made;
  for (int i = 0; i < kSlices; ++i) {
    const size_t size = 24 + i % 200;
    BufferRef r = slabs.allocate(size);
    std::fill_n(r.data(), size, static_cast<uint8_t>(size));
    made.push_back(std::move(r));
  }
  std::vector<std::vector<BufferRef>> shares(2, made);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&shares, t] {
      std::mt19937 rng(t);
      std::shuffle(shares[t].begin(), shares[t].end(), rng);
      while (!shares[t].empty()) {
        BufferRef copy = shares[t].back();  // retain on this thread
        shares[t].pop_back();
        const size_t size = copy.data()[0];  // each slice is filled with its size
        ASSERT_GE(size, 24u);
        ASSERT_EQ(copy.data()[size - 1], size);
      }
    });
  }
  for (int i = 0; i < kSlices; ++i) made[i] = filled(slabs, 40, 1);  // keep carving meanwhile
  for (auto& t : threads) t.join();
  made.clear();
  EXPECT_GT(slabs.slabs_opened(), 100u);
}

}  // namespace
}  // namespace qsse::quic

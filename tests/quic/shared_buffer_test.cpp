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

TEST(SlabAllocator, SmallBuffersShareSlabsLargeOnesStandAlone) {
  SlabAllocator slabs;
  std::vector<BufferRef> refs;
  for (int i = 0; i < 1000; ++i) refs.push_back(filled(slabs, 80, static_cast<uint8_t>(i)));
  // 1000 slices of 96 bytes (header + 80, rounded to 16) fit in ceil(96000 / (16 KiB - 16)).
  EXPECT_EQ(slabs.slabs_opened(), 6u);
  for (const BufferRef& r : refs) {
    EXPECT_TRUE(r.is_slice());
    EXPECT_EQ(r.size(), 80u);
  }
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(std::all_of(refs[i].data(), refs[i].data() + 80,
                            [i](uint8_t b) { return b == static_cast<uint8_t>(i); }))
        << "slice " << i << " was overwritten by a neighbour";
  }
  BufferRef large = slabs.allocate(kMaxSliceBytes + 1);
  EXPECT_FALSE(large.is_slice());
  EXPECT_EQ(large.size(), kMaxSliceBytes + 1);
  EXPECT_FALSE(BufferRef::copy_of(refs[0].bytes()).is_slice());
}

TEST(SlabAllocator, SlicesOutliveTheirAllocator) {
  std::vector<BufferRef> kept;
  {
    SlabAllocator slabs;
    for (int i = 0; i < 300; ++i) kept.push_back(filled(slabs, 100, 0xab));
  }  // the open slab is closed here; its slices keep it alive
  for (const BufferRef& r : kept) {
    ASSERT_EQ(r.size(), 100u);
    EXPECT_EQ(r.data()[99], 0xab);
  }
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
    BufferRef r = slabs.allocate(24 + i % 200);
    std::fill_n(r.data(), r.size(), static_cast<uint8_t>(i));
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
        ASSERT_EQ(copy.data()[copy.size() - 1], copy.data()[0]);
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

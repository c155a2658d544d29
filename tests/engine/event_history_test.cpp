// EventHistory: the ring keeps the last `window` events oldest first, copies slab slices (so
// the publisher's slab is not pinned) and moves to slabs of its own once a topic is busy.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "engine/event_history.hpp"

namespace qsse::engine {
namespace {

// An event whose frame is a slice of `slabs` holding `size` bytes of `fill`.
PublishedEvent slice_event(quic::SlabAllocator& slabs, uint64_t id, size_t size, uint8_t fill) {
  quic::BufferRef frame = slabs.allocate(size);
  std::memset(frame.data(), fill, size);
  return PublishedEvent{0, static_cast<uint32_t>(size), 0, id, std::move(frame)};
}

std::vector<uint64_t> ids(const EventHistory& history) {
  std::vector<uint64_t> out;
  history.for_each([&](const PublishedEvent& e) { out.push_back(e.id); });
  return out;
}

TEST(EventHistory, KeepsTheLastWindowOldestFirst) {
  quic::SlabAllocator slabs;
  EventHistory history;
  EXPECT_TRUE(history.empty());
  for (uint64_t id = 1; id <= 3; ++id) history.push(slice_event(slabs, id, 10, 0), 4);
  EXPECT_EQ(ids(history), (std::vector<uint64_t>{1, 2, 3}));
  for (uint64_t id = 4; id <= 10; ++id) history.push(slice_event(slabs, id, 10, 0), 4);
  EXPECT_EQ(history.size(), 4u);
  EXPECT_EQ(history.front().id, 7u);
  EXPECT_EQ(ids(history), (std::vector<uint64_t>{7, 8, 9, 10}));
}

TEST(EventHistory, CopiesSlicesAndKeepsTheirBytes) {
  EventHistory history;
  {
    quic::SlabAllocator publisher;
    for (uint64_t id = 1; id <= 500; ++id) {
      history.push(slice_event(publisher, id, 100, static_cast<uint8_t>(id)), 1000);
    }
  }  // the publisher's slabs are closed: only the history's references could keep them
  size_t standalone = 0;
  history.for_each([&](const PublishedEvent& e) {
    ASSERT_EQ(e.frame_size, 100u);
    for (uint8_t b : e.bytes()) ASSERT_EQ(b, static_cast<uint8_t>(e.id));
    if (!e.frame.is_slice()) ++standalone;
  });
  // The first 16 KiB are standalone copies; after that the topic copies into its own slabs.
  EXPECT_EQ(standalone, (quic::kSlabBytes - 1) / 100);
  EXPECT_EQ(history.size(), 500u);
}

TEST(EventHistory, SharesStandaloneFramesAsTheyAre) {
  EventHistory history;
  quic::BufferRef big = quic::BufferRef::allocate(quic::kMaxSliceBytes + 1);
  history.push(PublishedEvent{0, static_cast<uint32_t>(big.size()), 0, 1, big}, 8);
  EXPECT_EQ(history.front().frame.data(), big.data());
}

}  // namespace
}  // namespace qsse::engine

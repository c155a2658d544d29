// engine/event_history.hpp — the last N delivered events of one topic on one shard, kept for
// clients that resume (ServerApp replays them after a reconnect).
//
// Frames that are slices of the publisher's slabs are copied in: a slice would pin its whole slab
// for as long as the topic stays quiet. (Standalone frames, events above kMaxSliceBytes, are
// shared as they are.) A topic starts with one standalone copy per event. Once it has copied
// kSlabBytes, it copies into slabs of its own, back to back, so a busy topic allocates once per
// 16 KiB of events instead of once per event (the steady-state publish -> deliver path then
// allocates nothing per event), and a topic that went quiet pins at most its history plus about
// two slabs. Entries live in a ring that grows to the window and is then reused.
//
// Thread safety: none; one shard owns it.
#pragma once

#include <memory>
#include <vector>

#include "engine/event_hub.hpp"
#include "quic/shared_buffer.hpp"

namespace qsse::engine {

class EventHistory {
 public:
  // Appends a copy of `event`, dropping the oldest beyond `window` events (window > 0).
  void push(const PublishedEvent& event, size_t window) {
    PublishedEvent copy{event.topic, event.frame_size, event.payload_offset, event.id,
                        event.frame.is_slice() ? copy_frame(event.bytes()) : event.frame};
    if (ring_.size() < window) {
      ring_.push_back(std::move(copy));
      return;
    }
    ring_[head_] = std::move(copy);
    head_ = (head_ + 1) % ring_.size();
  }
  bool empty() const { return ring_.empty(); }
  size_t size() const { return ring_.size(); }
  // The oldest event kept; not empty().
  const PublishedEvent& front() const { return ring_[head_]; }
  // Visits the events oldest first.
  template <class F>
  void for_each(F&& visit) const {
    for (size_t i = 0; i < ring_.size(); ++i) visit(ring_[(head_ + i) % ring_.size()]);
  }

 private:
  quic::BufferRef copy_frame(std::span<const uint8_t> bytes) {
    if (slabs_ == nullptr) {
      copied_ += bytes.size();
      if (copied_ < quic::kSlabBytes) return quic::BufferRef::copy_of(bytes);
      slabs_ = std::make_unique<quic::SlabAllocator>();
    }
    return slabs_->copy_of(bytes);
  }

  std::vector<PublishedEvent> ring_;
  size_t head_ = 0;  // the oldest entry once the ring is full
  uint64_t copied_ = 0;
  std::unique_ptr<quic::SlabAllocator> slabs_;  // once this topic has copied kSlabBytes
};

}  // namespace qsse::engine

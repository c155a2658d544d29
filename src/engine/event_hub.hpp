// engine/event_hub.hpp — the publish path: declared topics, per-topic ids, and one inbox per
// shard.
//
// publish() (any thread, lock-free, never blocks):
//   1. resolves the topic, or expands the pattern over the declared topics;
//   2. reserves room for that many events in EVERY shard's inbox (an atomic counter per
//      inbox); if one is full, gives back what it reserved and reports back-pressure, so an
//      event reaches all shards or none;
//   3. per topic: encodes the EVENT frame once into a shared buffer, takes the topic's next id
//      (an atomic counter), and pushes one reference to each shard's inbox;
//   4. wakes the shards that sleep.
// Ordering: two threads publishing on one topic take ids 5 and 6 in one order but may push
// them in the other. Each shard therefore delivers a topic's events strictly by id: an event
// whose predecessor has not arrived yet waits for it (it is at most one push away, since ids are
// only taken after the reservation succeeded). So every subscriber sees ids 1, 2, 3, ... of a
// topic in order, with any number of publishing threads; ids mean the same on every shard, which
// is what resume relies on.
#pragma once

#include <concurrentqueue.h>

#include <atomic>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <qsse/metrics.hpp>
#include <qsse/server.hpp>

#include "pubsub/topic_catalog.hpp"
#include "quic/shared_buffer.hpp"

namespace qsse::engine {

// One published event as a shard receives it. `frame` holds the encoded EVENT frame (first
// frame_size bytes), shared by every shard and subscriber.
struct PublishedEvent {
  uint32_t topic = 0;
  uint32_t frame_size = 0;
  uint32_t payload_offset = 0;
  uint64_t id = 0;
  quic::BufferRef frame;
  std::span<const uint8_t> bytes() const { return {frame.data(), frame_size}; }
  std::span<const uint8_t> payload() const {
    return {frame.data() + payload_offset, frame_size - payload_offset};
  }
};

struct alignas(64) ShardInbox {
  moodycamel::ConcurrentQueue<PublishedEvent> queue;
  alignas(64) std::atomic<int64_t> reserved{0};  // pushed or about to be, not yet taken
  alignas(64) std::atomic<bool> sleeping{false};
  std::function<void()> wake;  // set once before publishing starts
};

class EventHub {
 public:
  // `topics` must be valid (checked by the caller). capacity: events per inbox.
  EventHub(const std::vector<std::string>& topics, size_t shards, size_t capacity,
           size_t max_frame_size);

  PublishResult publish(std::string_view topic_or_pattern, std::span<const uint8_t> data);
  void stop_publishing() { stopped_.store(true, std::memory_order_relaxed); }

  size_t topic_count() const { return names_.size(); }
  std::string_view topic_name(uint32_t topic) const { return names_[topic]; }
  // Index of a declared topic, or -1.
  int64_t index_of(std::string_view topic) const;
  const pubsub::TopicCatalog& catalog() const { return catalog_; }
  ShardInbox& inbox(size_t shard) { return *inboxes_[shard]; }
  size_t shard_count() const { return inboxes_.size(); }

  // Called by a shard after taking `n` events from its inbox.
  void released(size_t shard, size_t n) {
    inboxes_[shard]->reserved.fetch_sub(static_cast<int64_t>(n), std::memory_order_relaxed);
  }

  // Metrics to update (set once, before publishing starts): per topic, and refusals.
  void set_metrics(std::vector<metrics::Counter*> published, metrics::Counter* back_pressure) {
    published_ = std::move(published);
    back_pressure_ = back_pressure;
  }

 private:
  struct alignas(64) TopicCounter {
    std::atomic<uint64_t> next_id{1};
  };

  pubsub::TopicCatalog catalog_;
  std::vector<std::string> names_;
  std::unordered_map<std::string_view, uint32_t> index_;
  std::unique_ptr<TopicCounter[]> counters_;
  std::vector<std::unique_ptr<ShardInbox>> inboxes_;
  int64_t capacity_;
  size_t max_frame_size_;
  std::atomic<bool> stopped_{false};
  std::vector<metrics::Counter*> published_;
  metrics::Counter* back_pressure_ = nullptr;
};

}  // namespace qsse::engine

#include "engine/event_hub.hpp"

#include <qsse/topic.hpp>

#include "wire/frame.hpp"
#include "wire/varint.hpp"

namespace qsse::engine {

EventHub::EventHub(const std::vector<std::string>& topics, size_t shards, size_t capacity,
                   size_t max_frame_size)
    : capacity_(static_cast<int64_t>(capacity)), max_frame_size_(max_frame_size) {
  for (const auto& topic : topics) {
    auto added = catalog_.declare(topic);
    if (added && *added) names_.push_back(topic);
  }
  counters_ = std::make_unique<TopicCounter[]>(names_.size());
  // Views into names_ stay valid: the vector is not modified after this point.
  for (uint32_t i = 0; i < names_.size(); ++i) index_.emplace(names_[i], i);
  for (size_t i = 0; i < shards; ++i) inboxes_.push_back(std::make_unique<ShardInbox>());
}

int64_t EventHub::index_of(std::string_view topic) const {
  auto it = index_.find(topic);
  return it == index_.end() ? -1 : static_cast<int64_t>(it->second);
}

PublishResult EventHub::publish(std::string_view topic_or_pattern, std::span<const uint8_t> data) {
  PublishResult result;
  if (stopped_.load(std::memory_order_relaxed)) {
    result.status = PublishStatus::kShutdown;
    return result;
  }
  // Resolve to topic indices (no allocation after a thread's first call).
  thread_local std::vector<uint32_t> targets;
  targets.clear();
  if (topic_or_pattern.find('*') == std::string_view::npos) {
    if (!validate_topic(topic_or_pattern)) {
      result.status = PublishStatus::kInvalidTopic;
      return result;
    }
    const int64_t index = index_of(topic_or_pattern);
    if (index < 0) {
      result.status = PublishStatus::kTopicNotAvailable;
      return result;
    }
    targets.push_back(static_cast<uint32_t>(index));
  } else {
    auto expanded = catalog_.expand(topic_or_pattern, [&](std::string_view topic) {
      targets.push_back(index_.find(topic)->second);
    });
    if (!expanded) {
      result.status = PublishStatus::kInvalidTopic;
      return result;
    }
    if (targets.empty()) {
      result.status = PublishStatus::kTopicNotAvailable;
      return result;
    }
  }
  for (uint32_t t : targets) {
    // The largest id encoding is 8 bytes: size with that so the check holds for any id.
    if (wire::event_size(names_[t].size(), wire::kVarintMax, data.size()) > max_frame_size_) {
      result.status = PublishStatus::kTooLarge;
      return result;
    }
  }

  // Reserve room in every inbox, or in none.
  const auto n = static_cast<int64_t>(targets.size());
  if (n > capacity_) {  // could never fit: retrying would not help
    result.status = PublishStatus::kTooLarge;
    return result;
  }
  for (size_t s = 0; s < inboxes_.size(); ++s) {
    if (inboxes_[s]->reserved.fetch_add(n, std::memory_order_relaxed) + n > capacity_) {
      for (size_t r = 0; r <= s; ++r) {
        inboxes_[r]->reserved.fetch_sub(n, std::memory_order_relaxed);
      }
      if (back_pressure_ != nullptr) back_pressure_->inc();
      result.status = PublishStatus::kBackPressure;
      return result;
    }
  }

  for (uint32_t t : targets) {
    const std::string_view topic = names_[t];
    PublishedEvent event;
    event.topic = t;
    // Allocate before taking the id, so a taken id is always pushed.
    // Small frames come out of this thread's slab: no allocation per event, and one shared
    // reference count per slab for the shards' retains and releases.
    thread_local quic::SlabAllocator slabs;
    const size_t room = wire::event_size(topic.size(), wire::kVarintMax, data.size());
    event.frame = slabs.allocate(room);
    event.id = counters_[t].next_id.fetch_add(1, std::memory_order_relaxed);
    auto written =
        wire::encode_event(std::span<uint8_t>(event.frame.data(), room), topic, event.id, data);
    slabs.shrink_last(*written);
    event.frame_size = static_cast<uint32_t>(*written);
    event.payload_offset = static_cast<uint32_t>(event.frame_size - data.size());
    for (auto& inbox : inboxes_) inbox->queue.enqueue(event);
    result.last_id = event.id;
  }
  if (!published_.empty()) {
    for (uint32_t t : targets) published_[t]->inc();
  }
  result.topics = targets.size();
  // Wake sleeping shards. Pairs with the shard's store of `sleeping` and its re-check of the
  // queue (Dekker): one of the two sides sees the other's write.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  for (auto& inbox : inboxes_) {
    if (inbox->sleeping.load(std::memory_order_relaxed) && inbox->wake) inbox->wake();
  }
  return result;
}

}  // namespace qsse::engine

#include "receivers.hpp"

#include <algorithm>

namespace qsse::bench {

Receivers::Receivers(const Scenario& scenario, size_t keys_per_topic)
    : topics_(scenario.topics), keys_per_topic_(keys_per_topic) {
  for (size_t i = 0; i < std::max<size_t>(1, scenario.client_threads); ++i) {
    threads_.push_back(std::make_unique<ReceiverThread>());
  }
  for (size_t i = 0; i < scenario.subscribers; ++i) {
    auto track = std::make_unique<SubscriberTrack>();
    track->topic = scenario.topic_of(i);
    track->adopt_first_id = !scenario.connect.empty();
    track->last.assign(topics_ * keys_per_topic_, 0);
    subscribers_.push_back(std::move(track));
  }
}

uint64_t Receivers::events() const {
  uint64_t n = 0;
  for (const auto& t : threads_) n += t->events.get();
  return n;
}
uint64_t Receivers::lost() const {
  uint64_t n = 0;
  for (const auto& t : threads_) n += t->lost.get();
  return n;
}
uint64_t Receivers::reordered() const {
  uint64_t n = 0;
  for (const auto& t : threads_) n += t->reordered.get();
  return n;
}
uint64_t Receivers::server_gaps() const {
  uint64_t n = 0;
  for (const auto& t : threads_) n += t->server_gaps.get();
  return n;
}
uint64_t Receivers::errors() const {
  uint64_t n = 0;
  for (const auto& t : threads_) n += t->errors.get() + t->unknown.get();
  return n;
}

uint64_t Receivers::untimed() const {
  uint64_t n = 0;
  for (const auto& t : threads_) n += t->untimed.get();
  return n;
}

HistogramSnapshot Receivers::latency() const {
  HistogramSnapshot total;
  for (const auto& t : threads_) total += t->latency.snapshot();
  return total;
}

uint64_t Receivers::max_lag(const std::vector<uint64_t>& published_per_topic) const {
  uint64_t all = 0;
  for (uint64_t n : published_per_topic) all += n;
  uint64_t worst = 0;
  for (const auto& s : subscribers_) {
    const uint64_t expected = s->topic == kAllTopics ? all : published_per_topic[s->topic];
    const uint64_t got = s->received.get();
    if (expected > got) worst = std::max(worst, expected - got);
  }
  return worst;
}

uint64_t Receivers::missing_tail(const std::vector<uint64_t>& published_per_key) const {
  uint64_t missing = 0;
  for (const auto& s : subscribers_) {
    for (size_t key = 0; key < s->last.size(); ++key) {
      const size_t topic = key / keys_per_topic_;
      if (s->topic != kAllTopics && s->topic != topic) continue;
      if (published_per_key[key] > s->last[key]) missing += published_per_key[key] - s->last[key];
    }
  }
  return missing;
}

}  // namespace qsse::bench

// tools/bench/receivers.hpp — what the subscribers saw: per receiving thread counters and a
// latency histogram, per subscriber the last id (or sequence) seen per key and a received count.
//
// A key is what must arrive in order without holes: the topic for qsse (EVENT ids are per
// topic), the (topic, publisher) pair for NATS (its sequence numbers are per publisher).
//
// Threads: subscriber i belongs to receiving thread i % C, which alone writes its track and
// its thread's counters (relaxed single-writer atomics). The driver reads counters at any time;
// it reads the `last` arrays only after the receiving threads were joined.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "histogram.hpp"
#include "scenario.hpp"

namespace qsse::bench {

// A counter with one writer: load + store, no locked instruction.
class Counter {
 public:
  void add(uint64_t n = 1) noexcept {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t get() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

struct alignas(64) ReceiverThread {
  Counter events;
  Counter lost;         // ids skipped over (a gap seen when a later id arrived)
  Counter reordered;    // ids at or below the last one seen
  Counter server_gaps;  // ids the server announced as dropped (qsse GAP frames)
  Counter errors;       // ERROR frames, unexpected closes, client-library errors
  Counter unknown;      // events on a topic that is not ours
  Counter untimed;      // events without a plausible send time (not in the latency figures)
  LatencyHistogram latency;
};

struct SubscriberTrack {
  uint32_t topic = kAllTopics;  // its topic index, or kAllTopics (wildcard)
  // Subscribed to a server that was already publishing (--connect): the first id seen per key
  // is where this subscriber starts, not a gap.
  bool adopt_first_id = false;
  alignas(64) Counter received;
  std::vector<uint64_t> last;  // per key
};

inline constexpr uint64_t kPlausibleLatencyNs = 3'600'000'000'000ull;

class Receivers {
 public:
  // keys_per_topic: 1 (qsse ids) or the number of publishers (NATS sequences).
  Receivers(const Scenario& scenario, size_t keys_per_topic);

  size_t thread_count() const { return threads_.size(); }
  size_t subscriber_count() const { return subscribers_.size(); }
  size_t keys_per_topic() const { return keys_per_topic_; }
  ReceiverThread& thread(size_t i) { return *threads_[i]; }
  SubscriberTrack& subscriber(size_t i) { return *subscribers_[i]; }

  // Hot path, on the subscriber's receiving thread. `sequence` is the id (qsse) or the
  // per-publisher counter (NATS), starting at 1.
  static void on_event(ReceiverThread& thread, SubscriberTrack& sub, size_t key, uint64_t sequence,
                       uint64_t sent_ns, uint64_t now_ns) {
    uint64_t& last = sub.last[key];
    if (last == 0 && sub.adopt_first_id) last = sequence - 1;
    if (sequence != last + 1) {
      if (sequence > last) {
        thread.lost.add(sequence - last - 1);
      } else {
        thread.reordered.add();
      }
    }
    if (sequence > last) last = sequence;
    thread.events.add();
    sub.received.add();
    // A send time in the future or more than an hour old is not ours (--connect to a server
    // whose events carry another payload layout).
    if (sent_ns <= now_ns && now_ns - sent_ns < kPlausibleLatencyNs) {
      thread.latency.record(now_ns - sent_ns);
    } else {
      thread.untimed.add();
    }
  }

  // Sums over threads (any time).
  uint64_t events() const;
  uint64_t lost() const;
  uint64_t reordered() const;
  uint64_t server_gaps() const;
  uint64_t errors() const;
  uint64_t untimed() const;
  HistogramSnapshot latency() const;

  // The largest number of events a subscriber still has to receive, given how many were
  // published per topic (any time; for the publishers' window).
  uint64_t max_lag(const std::vector<uint64_t>& published_per_topic) const;

  // After the receiving threads stopped: ids never seen at the end of each key, given the final
  // count per key (published_per_key[topic * keys_per_topic + k]).
  uint64_t missing_tail(const std::vector<uint64_t>& published_per_key) const;

 private:
  size_t topics_;
  size_t keys_per_topic_;
  std::vector<std::unique_ptr<ReceiverThread>> threads_;
  std::vector<std::unique_ptr<SubscriberTrack>> subscribers_;
};

}  // namespace qsse::bench

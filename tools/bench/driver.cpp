#include "driver.hpp"

#include <malloc.h>
#include <pthread.h>

#include <algorithm>
#include <cstdio>
#include <thread>

#include "payload.hpp"
#include "probe.hpp"
#include "report.hpp"

namespace qsse::bench {

std::atomic<bool> g_interrupted{false};

namespace {

constexpr uint64_t kSecondNs = 1'000'000'000ull;
constexpr uint64_t kDrainQuietNs = kSecondNs;       // drain ends after this long without progress
constexpr uint64_t kDrainLimitNs = 10 * kSecondNs;  // and after this long in any case
constexpr uint64_t kMaxSleepNs = 100'000'000ull;    // loops re-check their stop flag this often

struct alignas(64) PublisherState {
  Counter published;
  Counter retries;
  Counter window_waits;
  std::unique_ptr<Counter[]> per_topic;
  std::atomic<pid_t> tid{0};
};

// Counters at one moment.
struct Snap {
  uint64_t t = 0;
  uint64_t published = 0;
  uint64_t delivered = 0;
  HistogramSnapshot latency;
  Target::Probe probe;
  uint64_t publisher_cpu = 0;
  uint64_t process_cpu = 0;
};

class Run {
 public:
  Run(Target& target, const Scenario& scenario)
      : target_(target),
        s_(scenario),
        receivers_(scenario, target.name() == "nats" ? scenario.publishers : 1),
        use_window_(scenario.window > 0 && (target.name() == "nats" || scenario.qsse_window)) {
    for (size_t p = 0; p < s_.publishers; ++p) {
      auto state = std::make_unique<PublisherState>();
      state->per_topic = std::make_unique<Counter[]>(s_.topics);
      publishers_.push_back(std::move(state));
    }
  }

  RunResult run();

 private:
  void publisher_main(size_t p);
  uint64_t acquire_credit();
  std::vector<uint64_t> published_per_topic() const {
    std::vector<uint64_t> totals(s_.topics, 0);
    for (const auto& p : publishers_) {
      for (size_t t = 0; t < s_.topics; ++t) totals[t] += p->per_topic[t].get();
    }
    return totals;
  }
  uint64_t published_total() const {
    uint64_t n = 0;
    for (const auto& p : publishers_) n += p->published.get();
    return n;
  }
  uint64_t expected_deliveries() const {
    const auto per_topic = published_per_topic();
    uint64_t n = 0;
    for (size_t t = 0; t < s_.topics; ++t) n += per_topic[t] * s_.fanout(t);
    return n;
  }
  Snap take() {
    Snap snap;
    snap.t = now_ns();
    snap.published = published_total();
    snap.delivered = receivers_.events();
    snap.latency = receivers_.latency();
    snap.probe = target_.probe();
    for (const auto& p : publishers_) {
      if (pid_t tid = p->tid.load(); tid != 0) snap.publisher_cpu += thread_cpu_ns(tid);
    }
    snap.process_cpu = process_cpu_ns();
    return snap;
  }
  void stop_publishers() {
    stop_publishing_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  Target& target_;
  const Scenario& s_;
  Receivers receivers_;
  const bool use_window_;
  std::vector<std::unique_ptr<PublisherState>> publishers_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_publishing_{false};
  std::atomic<bool> publish_failed_{false};
};

uint64_t Run::acquire_credit() {
  // Each publish raises any subscriber's lag by at most one, so P publishers that each take a
  // 1/P share of the slack keep the slowest subscriber within the window.
  const uint64_t lag = receivers_.max_lag(published_per_topic());
  return lag < s_.window ? (s_.window - lag) / s_.publishers : 0;
}

void Run::publisher_main(size_t p) {
  tighten_timer_slack();
  pthread_setname_np(pthread_self(), "bench-publish");
  PublisherState& me = *publishers_[p];
  me.tid = current_tid();
  std::vector<uint8_t> payload(s_.payload);
  fill_payload(payload);
  std::vector<uint64_t> sequence(s_.topics, 0);
  const double interval =
      s_.rate == 0 ? 0.0 : 1e9 * static_cast<double>(s_.publishers) / static_cast<double>(s_.rate);
  const uint64_t start = now_ns();
  uint64_t sent_count = 0;
  uint64_t credit = 0;
  uint64_t backoff_us = 20;
  size_t topic = p % s_.topics;
  while (!stop_publishing_.load(std::memory_order_relaxed)) {
    uint64_t sent_ns;
    if (s_.rate != 0) {
      const uint64_t due =
          start + static_cast<uint64_t>(static_cast<double>(sent_count) * interval);
      const uint64_t now = now_ns();
      if (due > now) {
        sleep_until_ns(std::min(due, now + kMaxSleepNs));
        continue;
      }
      sent_ns = due;  // late events carry their due time: the delay shows as latency
    } else {
      sent_ns = now_ns();
    }
    if (use_window_ && credit == 0) {
      credit = acquire_credit();
      if (credit == 0) {
        // Looking at every subscriber costs ~1 ns each: back off (20 us doubling to 1 ms) so a
        // long wait does not take CPU from the server on a small machine.
        me.window_waits.add();
        std::this_thread::sleep_for(std::chrono::microseconds(backoff_us));
        backoff_us = std::min<uint64_t>(backoff_us * 2, 1'000);
        continue;
      }
      backoff_us = 20;
    }
    write_payload_header(payload, sent_ns,
                         (uint64_t{p} << kPublisherShift) | (sequence[topic] + 1));
    switch (target_.publish(p, static_cast<uint32_t>(topic), payload)) {
      case Target::Publish::kOk:
        ++sequence[topic];
        me.per_topic[topic].add();
        me.published.add();
        ++sent_count;
        if (credit > 0) --credit;
        if (++topic == s_.topics) topic = 0;
        break;
      case Target::Publish::kBackPressure:
        me.retries.add();
        std::this_thread::yield();
        break;
      case Target::Publish::kFailed:
        publish_failed_ = true;
        return;
    }
  }
}

RunResult Run::run() {
  RunResult r;
  r.system = target_.name();
  const std::string tag = r.system;
  const uint64_t setup_start = now_ns();
  if (auto started = target_.start(s_, receivers_); !started) {
    r.error = started.error();
    target_.stop_subscribers();
    target_.stop();
    return r;
  }
  if (!s_.quiet) {
    std::fprintf(stderr, "%-5s %zu subscriber(s) ready in %.2f s\n", tag.c_str(), s_.subscribers,
                 static_cast<double>(now_ns() - setup_start) / 1e9);
  }
  malloc_trim(0);  // what an earlier run in this process freed must not count as ours
  reset_peak_rss();
  target_.reset_server_peak_rss();

  const bool publishing = target_.can_publish();
  if (publishing) {
    for (size_t p = 0; p < s_.publishers; ++p)
      threads_.emplace_back([this, p] { publisher_main(p); });
  }

  const uint64_t t0 = now_ns();
  const uint64_t window_start = t0 + static_cast<uint64_t>(s_.warmup * 1e9);
  const uint64_t window_end = window_start + static_cast<uint64_t>(s_.duration * 1e9);
  uint64_t next_tick = t0 + kSecondNs;
  Snap previous = take();
  Snap start_snap, end_snap;
  bool window_started = false;
  for (;;) {
    const uint64_t wake = std::min(next_tick, window_started ? window_end : window_start);
    sleep_until_ns(std::min(wake, now_ns() + kMaxSleepNs));
    const uint64_t now = now_ns();
    std::string problem = target_.failure();
    if (problem.empty() && publish_failed_) problem = "publishing failed: " + target_.failure();
    if (problem.empty() && g_interrupted) problem = "interrupted";
    if (!problem.empty()) {
      r.error = problem;
      break;
    }
    if (!window_started && now >= window_start) {
      start_snap = take();
      window_started = true;
    }
    if (now >= next_tick) {
      Snap current = take();
      const double dt = static_cast<double>(current.t - previous.t) / 1e9;
      const HistogramSnapshot interval = current.latency.since(previous.latency);
      Sample sample;
      sample.t = (static_cast<double>(current.t) - static_cast<double>(window_start)) / 1e9;
      sample.published_per_s = static_cast<double>(current.published - previous.published) / dt;
      sample.delivered_per_s = static_cast<double>(current.delivered - previous.delivered) / dt;
      sample.p50 = interval.percentile(0.50);
      sample.p90 = interval.percentile(0.90);
      sample.p99 = interval.percentile(0.99);
      sample.p999 = interval.percentile(0.999);
      sample.max = interval.max();
      r.timeline.push_back(sample);
      if (!s_.quiet) {
        std::fprintf(stderr,
                     "%-5s t=%5.1fs  pub %8s/s  deliv %8s/s  p50 %8s  p99 %8s  max %8s  lost %llu  "
                     "ooo %llu\n",
                     tag.c_str(), sample.t, si(sample.published_per_s).c_str(),
                     si(sample.delivered_per_s).c_str(), duration_text(sample.p50).c_str(),
                     duration_text(sample.p99).c_str(), duration_text(sample.max).c_str(),
                     static_cast<unsigned long long>(receivers_.lost() + receivers_.server_gaps()),
                     static_cast<unsigned long long>(receivers_.reordered()));
      }
      previous = std::move(current);
      next_tick += kSecondNs;
    }
    if (window_started && now >= window_end) {
      end_snap = take();
      break;
    }
  }
  const bool completed = r.error.empty();
  stop_publishers();
  target_.flush_publishers();

  // Drain: every published event should arrive; stop waiting once nothing moves.
  const uint64_t expected = expected_deliveries();
  const uint64_t drain_start = now_ns();
  uint64_t last_seen = receivers_.events(), last_progress = drain_start;
  while (completed && !g_interrupted && target_.failure().empty()) {
    const uint64_t got = receivers_.events();
    const uint64_t now = now_ns();
    if (got >= expected || now - drain_start > kDrainLimitNs) break;
    if (got != last_seen) {
      last_seen = got;
      last_progress = now;
    } else if (now - last_progress > kDrainQuietNs) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (completed && !target_.failure().empty()) r.error = target_.failure();

  r.peak_rss = peak_rss_bytes();
  r.server_peak_rss = target_.server_peak_rss();
  target_.stop_subscribers();

  // Integrity over the whole run.
  std::vector<uint64_t> per_key;
  if (receivers_.keys_per_topic() == 1) {
    per_key = published_per_topic();
  } else {
    per_key.assign(s_.topics * s_.publishers, 0);
    for (size_t t = 0; t < s_.topics; ++t) {
      for (size_t p = 0; p < s_.publishers; ++p)
        per_key[t * s_.publishers + p] = publishers_[p]->per_topic[t].get();
    }
  }
  r.expected_total = expected;
  r.received_total = receivers_.events();
  r.server_gaps = receivers_.server_gaps() + target_.client_drops();
  // qsse GAP frames move the last id forward, so their ids are added here; NATS client drops
  // already show as sequence gaps.
  r.lost = receivers_.lost() + receivers_.server_gaps();
  r.undelivered = publishing ? receivers_.missing_tail(per_key) : 0;
  r.reordered = receivers_.reordered();
  r.untimed = receivers_.untimed();
  r.errors = receivers_.errors() + target_.extra_errors();
  for (const auto& p : publishers_) {
    r.publish_retries += p->retries.get();
    r.window_waits += p->window_waits.get();
  }
  r.notes = target_.notes();
  const bool server_in_process = target_.server_in_process();
  target_.stop();

  if (!window_started || end_snap.t == 0) {
    if (r.error.empty()) r.error = "the measurement window did not complete";
    return r;
  }
  r.seconds = static_cast<double>(end_snap.t - start_snap.t) / 1e9;
  r.published = end_snap.published - start_snap.published;
  r.delivered = end_snap.delivered - start_snap.delivered;
  r.published_per_s = static_cast<double>(r.published) / r.seconds;
  r.delivered_per_s = static_cast<double>(r.delivered) / r.seconds;
  const HistogramSnapshot window = end_snap.latency.since(start_snap.latency);
  r.latency_count = window.count();
  r.p50 = window.percentile(0.50);
  r.p90 = window.percentile(0.90);
  r.p99 = window.percentile(0.99);
  r.p999 = window.percentile(0.999);
  r.max = window.max();
  const auto seconds = [](uint64_t a, uint64_t b) {
    return b > a ? static_cast<double>(b - a) / 1e9 : 0.0;
  };
  r.cpu.server = seconds(start_snap.probe.server_cpu_ns, end_snap.probe.server_cpu_ns);
  r.cpu.subscribers = seconds(start_snap.probe.subscriber_cpu_ns, end_snap.probe.subscriber_cpu_ns);
  r.process_cpu = seconds(start_snap.process_cpu, end_snap.process_cpu);
  r.cpu.publishers =
      std::max(0.0, r.process_cpu - r.cpu.subscribers - (server_in_process ? r.cpu.server : 0.0));
  r.wire_rx_bytes = end_snap.probe.wire_rx - start_snap.probe.wire_rx;
  r.wire_tx_bytes = end_snap.probe.wire_tx - start_snap.probe.wire_tx;
  r.wire_rx_datagrams = end_snap.probe.rx_datagrams - start_snap.probe.rx_datagrams;
  r.ok = r.error.empty();
  return r;
}

}  // namespace

RunResult run_scenario(Target& target, const Scenario& scenario) {
  Run run(target, scenario);
  return run.run();
}

}  // namespace qsse::bench

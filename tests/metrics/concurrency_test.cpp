// Several threads update shared and sharded children, look children up and register families
// while another thread scrapes: totals must be exact afterwards, and every scrape must be
// well-formed and monotonic. Runs under ThreadSanitizer in CI.
#include <gtest/gtest.h>

#include <atomic>
#include <charconv>
#include <cstdint>
#include <latch>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <qsse/metrics.hpp>

namespace qsse::metrics {
namespace {

constexpr int kWriters = 4;
constexpr std::uint64_t kIterations = 50'000;

// The value of the sample line `series value` in `text`; -1 if absent or unparsable.
double sample(std::string_view text, std::string_view series) {
  const std::string needle = "\n" + std::string(series) + " ";
  const std::size_t at = ("\n" + std::string(text)).find(needle);
  if (at == std::string::npos) return -1;
  const std::size_t start = at + needle.size() - 1;  // -1: the "\n" prepended to text
  const std::size_t end = text.find('\n', start);
  double value = -1;
  const auto [ptr, error] = std::from_chars(text.data() + start, text.data() + end, value);
  if (error != std::errc{} || ptr != text.data() + end) return -1;
  return value;
}

TEST(Concurrency, UpdatesFromSeveralThreadsSumExactlyWhileScraping) {
  Registry registry({.metric_namespace = "", .subsystem = ""});
  Counter& shared = registry.counter("shared_total", "one cell, all threads").get();
  Counter& sharded =
      registry.counter("sharded_total", "one cell per thread", {}, Cells{kWriters}).get();
  auto& per_topic = registry.counter("per_topic_total", "labelled", {"topic"});
  Histogram& histogram =
      registry.histogram("h", "observations", {1, 2, 3}, {}, Cells{kWriters}).get();
  Gauge& gauge = registry.gauge("g", "adds").get();

  std::latch writers_started(kWriters + 1);
  std::atomic<int> writers_running{kWriters};
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      // Concurrent lookups: two threads share each topic's child.
      Counter& topic = per_topic.with({t % 2 == 0 ? "even" : "odd"});
      const Shard shard{static_cast<std::size_t>(t)};
      writers_started.count_down();
      for (std::uint64_t i = 0; i < kIterations; ++i) {
        shared.inc();
        sharded.inc(shard);
        topic.add(2);
        histogram.observe(shard, static_cast<double>(i % 4));  // 0,1,2,3: buckets 1,2,3
        gauge.add(1);
      }
      writers_running.fetch_sub(1);
    });
  }

  // Registration and lookups of new children while others update and scrape.
  threads.emplace_back([&] {
    writers_started.count_down();
    for (int i = 0; i < 200; ++i) {
      registry.counter("late_" + std::to_string(i % 20) + "_total", "late", {"k"})
          .with({std::to_string(i)})
          .inc();
    }
  });

  writers_started.wait();
  int scrapes = 0;
  double last_shared = 0;
  std::string text;
  do {
    text.clear();
    registry.write_prometheus_text(text);
    ++scrapes;
    const double now = sample(text, "shared_total");
    ASSERT_GE(now, last_shared) << "counter went backwards";
    ASSERT_LE(now, static_cast<double>(kWriters * kIterations));
    last_shared = now;
    // _count is computed from the same bucket reads as the +Inf bucket.
    ASSERT_EQ(sample(text, "h_count"), sample(text, "h_bucket{le=\"+Inf\"}")) << text;
    ASSERT_LE(sample(text, "h_bucket{le=\"1\"}"), sample(text, "h_bucket{le=\"2\"}"));
  } while (writers_running.load() > 0);
  for (auto& thread : threads) thread.join();
  EXPECT_GE(scrapes, 1);

  const std::uint64_t total = kWriters * kIterations;
  EXPECT_EQ(shared.value(), total);
  EXPECT_EQ(sharded.value(), total);
  EXPECT_EQ(per_topic.with({"even"}).value(), total);  // 2 threads x kIterations x 2
  EXPECT_EQ(per_topic.with({"odd"}).value(), total);
  EXPECT_EQ(gauge.value(), static_cast<double>(total));
  const Histogram::Snapshot s = histogram.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<std::uint64_t>{total / 2, total * 3 / 4, total, total}));
  EXPECT_EQ(s.sum, static_cast<double>(total / 4 * (0 + 1 + 2 + 3)));

  text = registry.prometheus_text();
  EXPECT_EQ(sample(text, "shared_total"), static_cast<double>(total));
  EXPECT_EQ(sample(text, "sharded_total"), static_cast<double>(total));
  EXPECT_EQ(sample(text, "h_count"), static_cast<double>(total));
  for (int i = 0; i < 20; ++i) {
    EXPECT_NE(text.find("# TYPE late_" + std::to_string(i) + "_total counter\n"),
              std::string::npos);
  }
}

TEST(Concurrency, ConcurrentLookupsOfOneChildReturnOneObject) {
  Registry registry;
  auto& family = registry.gauge("g", "g", {"topic"});
  std::vector<Gauge*> seen(kWriters, nullptr);
  std::latch start(kWriters);
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      Gauge& g = family.with({"same"});
      g.inc();
      seen[t] = &g;
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 1; t < kWriters; ++t) EXPECT_EQ(seen[t], seen[0]);
  EXPECT_EQ(seen[0]->value(), kWriters);
}

}  // namespace
}  // namespace qsse::metrics

// pubsub benchmarks: trie match throughput against the naive linear scan, and churn.
//
// Workload (ride hailing), for N subscriptions:
//   * rides: ids 0 .. N/2-1; events: location, status, eta, fare;
//   * subscribers (connections): ids 0 .. N/4-1, each subscription picks one at random;
//   * 90% exact patterns  "ride.<id>.<event>";
//   * 10% wildcards: 99% of them "ride.<id>.*" (one ride, every event), 1% "ride.*.<event>"
//     (every ride, one event: a dispatcher dashboard), i.e. 0.1% of all subscriptions;
//   * published topics "ride.<id>.<event>" with a uniformly random ride and event.
// The "matches" counter is the mean number of (subscriber, pattern) pairs per published topic.
//
// Run: build/bench/pubsub_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <qsse/topic.hpp>

#include "pubsub/naive_matcher.hpp"
#include "pubsub/pattern_trie.hpp"
#include "pubsub/topic_catalog.hpp"

namespace {

using qsse::pubsub::PatternTrie;
using qsse::pubsub::SubscriberId;

constexpr const char* kEvents[] = {"location", "status", "eta", "fare"};
constexpr std::size_t kTopicCount = 4096;

struct Subscription {
  std::string pattern;
  SubscriberId subscriber;
};

struct Workload {
  std::vector<Subscription> subscriptions;
  std::vector<std::string> topics;
  std::uint32_t rides = 0;
  SubscriberId subscribers = 0;
};

std::string random_pattern(std::mt19937_64& rng, std::uint32_t rides) {
  const std::string ride =
      std::to_string(std::uniform_int_distribution<std::uint32_t>(0, rides - 1)(rng));
  const char* event = kEvents[std::uniform_int_distribution<int>(0, 3)(rng)];
  const int kind = std::uniform_int_distribution<int>(0, 999)(rng);
  if (kind < 900) return "ride." + ride + "." + event;
  if (kind < 999) return "ride." + ride + ".*";
  return std::string("ride.*.") + event;
}

std::string random_topic(std::mt19937_64& rng, std::uint32_t rides) {
  return "ride." + std::to_string(std::uniform_int_distribution<std::uint32_t>(0, rides - 1)(rng)) +
         "." + kEvents[std::uniform_int_distribution<int>(0, 3)(rng)];
}

const Workload& workload(std::size_t n) {
  static std::map<std::size_t, std::unique_ptr<Workload>> cache;
  auto& slot = cache[n];
  if (!slot) {
    slot = std::make_unique<Workload>();
    std::mt19937_64 rng(n);
    slot->rides = static_cast<std::uint32_t>(n / 2);
    slot->subscribers = static_cast<SubscriberId>(n / 4);
    for (std::size_t i = 0; i < n; ++i) {
      slot->subscriptions.push_back(
          {random_pattern(rng, slot->rides),
           std::uniform_int_distribution<SubscriberId>(0, slot->subscribers - 1)(rng)});
    }
    for (std::size_t i = 0; i < kTopicCount; ++i) {
      slot->topics.push_back(random_topic(rng, slot->rides));
    }
  }
  return *slot;
}

std::unique_ptr<PatternTrie> build_trie(const Workload& w) {
  auto trie = std::make_unique<PatternTrie>();
  for (const Subscription& s : w.subscriptions) {
    if (!trie->insert(s.pattern, s.subscriber)) std::abort();
  }
  return trie;
}

void BM_TrieMatch(benchmark::State& state) {
  const Workload& w = workload(static_cast<std::size_t>(state.range(0)));
  const auto trie = build_trie(w);
  std::size_t i = 0, matches = 0;
  for (auto _ : state) {
    auto r = trie->match(w.topics[i++ % kTopicCount],
                         [&](SubscriberId s, std::string_view) { benchmark::DoNotOptimize(s); });
    matches += r.value_or(0);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["matches"] =
      benchmark::Counter(static_cast<double>(matches), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_TrieMatch)->Arg(1000)->Arg(10000)->Arg(100000);

void BM_TrieMatchUnique(benchmark::State& state) {
  const Workload& w = workload(static_cast<std::size_t>(state.range(0)));
  const auto trie = build_trie(w);
  std::size_t i = 0, matches = 0;
  for (auto _ : state) {
    auto r = trie->match_unique(w.topics[i++ % kTopicCount],
                                [&](SubscriberId s) { benchmark::DoNotOptimize(s); });
    matches += r.value_or(0);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["matches"] =
      benchmark::Counter(static_cast<double>(matches), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_TrieMatchUnique)->Arg(1000)->Arg(10000)->Arg(100000);

void BM_NaiveMatch(benchmark::State& state) {
  const Workload& w = workload(static_cast<std::size_t>(state.range(0)));
  qsse::pubsub::naive::NaiveMatcher naive;
  for (const Subscription& s : w.subscriptions) naive.insert(s.pattern, s.subscriber);
  std::size_t i = 0, matches = 0;
  for (auto _ : state) {
    matches += naive.match(w.topics[i++ % kTopicCount],
                           [&](SubscriberId s, std::string_view) { benchmark::DoNotOptimize(s); });
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["matches"] =
      benchmark::Counter(static_cast<double>(matches), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_NaiveMatch)->Arg(1000)->Arg(10000)->Arg(100000);

// Subscription churn at a steady size: the trie holds a sliding window of N subscriptions over
// a pool of 2N distinct ones; each iteration removes the oldest and inserts the next (two trie
// operations, counted as two items).
void BM_TrieChurn(benchmark::State& state) {
  const Workload& w = workload(static_cast<std::size_t>(state.range(0)));
  const std::size_t n = w.subscriptions.size();
  std::vector<Subscription> pool;
  std::set<std::pair<std::string, SubscriberId>> seen;
  std::mt19937_64 rng(99);
  while (pool.size() < 2 * n) {
    Subscription s{random_pattern(rng, w.rides),
                   std::uniform_int_distribution<SubscriberId>(0, w.subscribers - 1)(rng)};
    if (seen.emplace(s.pattern, s.subscriber).second) pool.push_back(std::move(s));
  }
  PatternTrie trie;
  for (std::size_t k = 0; k < n; ++k) {
    if (!trie.insert(pool[k].pattern, pool[k].subscriber)) std::abort();
  }
  std::size_t oldest = 0;
  for (auto _ : state) {
    const Subscription& victim = pool[oldest];
    benchmark::DoNotOptimize(trie.remove(victim.pattern, victim.subscriber).value_or(false));
    const std::size_t next = oldest + n < pool.size() ? oldest + n : oldest + n - pool.size();
    benchmark::DoNotOptimize(
        trie.insert(pool[next].pattern, pool[next].subscriber).value_or(false));
    if (++oldest == pool.size()) oldest = 0;
  }
  if (trie.subscription_count() != n) state.SkipWithError("window lost subscriptions");
  state.SetItemsProcessed(state.iterations() * 2);
  state.counters["nodes"] = static_cast<double>(trie.node_count());
}
BENCHMARK(BM_TrieChurn)->Arg(1000)->Arg(10000)->Arg(100000);

// Connection churn: a connection goes away (remove_all) and its slot is reused by a new one that
// subscribes to 4 patterns. Items are connections.
void BM_TrieConnectionChurn(benchmark::State& state) {
  const Workload& w = workload(static_cast<std::size_t>(state.range(0)));
  auto trie = build_trie(w);
  std::mt19937_64 rng(7);
  std::vector<std::string> fresh;
  for (std::size_t k = 0; k < 4 * 16384; ++k) fresh.push_back(random_pattern(rng, w.rides));
  SubscriberId slot = 0;
  std::size_t next_fresh = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(trie->remove_all(slot));
    for (int k = 0; k < 4; ++k) {
      benchmark::DoNotOptimize(
          trie->insert(fresh[next_fresh++ % fresh.size()], slot).value_or(false));
    }
    slot = (slot + 1) % w.subscribers;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["nodes"] = static_cast<double>(trie->node_count());
}
BENCHMARK(BM_TrieConnectionChurn)->Arg(1000)->Arg(10000)->Arg(100000);

// Expanding a publish pattern over 100k declared topics (ride.<id>.<event> for 25k rides).
void BM_CatalogExpand(benchmark::State& state) {
  qsse::pubsub::TopicCatalog catalog;
  for (int ride = 0; ride < 25000; ++ride) {
    for (const char* event : kEvents) {
      if (!catalog.declare("ride." + std::to_string(ride) + "." + event)) std::abort();
    }
  }
  const std::string pattern = state.range(0) == 0 ? "ride.4242.*" : "ride.*.location";
  std::size_t topics = 0;
  for (auto _ : state) {
    topics += catalog.expand(pattern, [](std::string_view t) { benchmark::DoNotOptimize(t); })
                  .value_or(0);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(topics));
  state.SetLabel(pattern);
}
BENCHMARK(BM_CatalogExpand)->Arg(0)->Arg(1);

void BM_ValidateTopic(benchmark::State& state) {
  const std::string topic = "ride.123456.location";
  for (auto _ : state) benchmark::DoNotOptimize(qsse::validate_topic(topic).has_value());
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(topic.size()));
}
BENCHMARK(BM_ValidateTopic);

}  // namespace

BENCHMARK_MAIN();

// Microbenchmarks of the metrics hot path: counter increments with one thread, with two threads
// on one shared cell (the cache line bounces between cores), with two threads on their own
// cells (Cells + Shard), and with per-thread batching; histogram observations; a scrape.
//   build/bench/metrics_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>

#include <qsse/metrics.hpp>

namespace {

using namespace qsse::metrics;

// One registry for the whole program: children must outlive every benchmark thread.
Registry& registry() {
  static Registry instance;
  return instance;
}

Counter& shared_counter() {
  static Counter& counter = registry().counter("bench_shared_total", "one cell").get();
  return counter;
}

Counter& celled_counter() {
  static Counter& counter =
      registry().counter("bench_celled_total", "cell per thread", {}, Cells{8}).get();
  return counter;
}

// inc() on one cell. With ->Threads(2) both threads hit the same cache line.
void BM_CounterIncShared(benchmark::State& state) {
  Counter& counter = shared_counter();
  for (auto _ : state) counter.inc();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CounterIncShared)->Threads(1)->Threads(2)->UseRealTime();

// inc(Shard{thread}) on a Cells{8} counter: each thread owns its cache line.
void BM_CounterIncPerShardCell(benchmark::State& state) {
  Counter& counter = celled_counter();
  const Shard shard{static_cast<std::size_t>(state.thread_index())};
  for (auto _ : state) counter.inc(shard);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CounterIncPerShardCell)->Threads(1)->Threads(2)->UseRealTime();

// The batching alternative: count locally, publish with one add() per 64 events (a duty cycle).
void BM_CounterBatched64(benchmark::State& state) {
  Counter& counter = shared_counter();
  std::uint64_t pending = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(++pending);
    if (pending == 64) {
      counter.add(pending);
      pending = 0;
    }
  }
  counter.add(pending);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CounterBatched64)->Threads(1)->Threads(2)->UseRealTime();

void BM_HistogramObserve(benchmark::State& state) {
  static Histogram& histogram =
      registry()
          .histogram("bench_latency_seconds", "default buckets", default_buckets(), {}, Cells{8})
          .get();
  const Shard shard{static_cast<std::size_t>(state.thread_index())};
  double value = 0.0001;
  for (auto _ : state) {
    histogram.observe(shard, value);
    value = value < 20 ? value * 1.7 : 0.0001;  // walks every bucket
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistogramObserve)->Threads(1)->Threads(2)->UseRealTime();

void BM_HistogramObserveSharedCell(benchmark::State& state) {
  static Histogram& histogram =
      registry().histogram("bench_shared_latency_seconds", "one cell", default_buckets()).get();
  double value = 0.0001;
  for (auto _ : state) {
    histogram.observe(value);
    value = value < 20 ? value * 1.7 : 0.0001;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistogramObserveSharedCell)->Threads(1)->Threads(2)->UseRealTime();

// A scrape of 100 topics x 3 counters and 100 histograms (11 buckets).
void BM_Scrape(benchmark::State& state) {
  Registry scraped;
  auto& published = scraped.counter("published_total", "p", {"topic"});
  auto& delivered = scraped.counter("delivered_total", "d", {"topic"}, Cells{4});
  auto& dropped = scraped.counter("dropped_total", "x", {"topic"});
  auto& latency = scraped.histogram("latency_seconds", "l", default_buckets(), {"topic"});
  for (int i = 0; i < 100; ++i) {
    const std::string topic = "ride." + std::to_string(i) + ".location";
    published.with({topic}).add(static_cast<std::uint64_t>(i) * 1000);
    delivered.with({topic}).add(static_cast<std::uint64_t>(i) * 5000);
    dropped.with({topic}).add(static_cast<std::uint64_t>(i));
    latency.with({topic}).observe(0.001 * i);
  }
  std::string out;
  for (auto _ : state) {
    out.clear();
    scraped.write_prometheus_text(out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(out.size()));
}
BENCHMARK(BM_Scrape);

}  // namespace

BENCHMARK_MAIN();

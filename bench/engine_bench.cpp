// End-to-end engine throughput over real loopback UDP: io_uring versus the portable backend, GSO
// on versus off, compared side by side in one run.
//
//   BM_OneConnection/<backend>/<gso>:  64 MiB on one stream of one connection (bytes/s)
//   BM_ManyConnections/<backend>/<gso>: 500 connections each receiving 128 KiB (datagrams/s)
// backend: 0 = io_uring, 1 = portable; gso: 1 = on, 0 = off.
//   BM_InboxPublishDrain/<shards>: EventHub::publish of 64-byte events (encode into the
//     publisher's slab, reserve room in every shard's inbox, push one reference to each) and the
//     shards' side (bulk dequeue in batches of 1,024, release), on one thread: items = events.
//   build/bench/engine_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <thread>

#include "../tests/engine/transfer_app.hpp"
#include "engine/event_hub.hpp"
#include "engine/shard.hpp"

namespace {

using namespace qsse;
using engine::Shard;
using engine::ShardConfig;
using engine::ShardGroup;
using engine::testing::ReceiverApp;
using engine::testing::SenderApp;

ShardConfig config_for(const benchmark::State& state) {
  ShardConfig config;
  config.udp.bind = *io::Address::parse("127.0.0.1:0");
  config.backend = state.range(0) == 0 ? io::Backend::kIoUring : io::Backend::kPortable;
  config.udp.gso = state.range(1) != 0;
  config.endpoint.retry = quic::EndpointConfig::Retry::kNever;
  return config;
}

// Runs one server shard on its own thread and `connections` client connections driven by this
// thread until each received `bytes`. Returns datagrams received by the clients.
uint64_t run_transfer(benchmark::State& state, const engine::testing::TestTls& tls, int connections,
                      size_t bytes, int client_sockets) {
  SenderApp sender(bytes);
  ReceiverApp receiver(bytes);
  ShardConfig config = config_for(state);
  auto server = Shard::create(config, tls.server, &sender);
  if (!server) {
    state.SkipWithError(server.error().c_str());
    return 0;
  }
  const io::Address address = (*server)->io().local_address();
  ShardGroup group;
  group.add(std::move(*server));
  if (auto started = group.start(); !started) {
    state.SkipWithError(started.error().c_str());
    return 0;
  }
  std::vector<std::unique_ptr<Shard>> clients;
  for (int i = 0; i < client_sockets; ++i)
    clients.push_back(std::move(*Shard::create(config, nullptr, &receiver)));
  for (int i = 0; i < connections; ++i)
    (void)clients[i % client_sockets]->connect(address, tls.client);
  const uint64_t deadline = io::monotonic_ns() + 120'000'000'000ull;
  while (receiver.complete.load() < connections && io::monotonic_ns() < deadline) {
    size_t work = 0;
    for (auto& c : clients) work += c->do_work();
    if (work == 0) clients[0]->io().wait(io::monotonic_ns() + 200'000);
  }
  if (receiver.complete.load() < connections) state.SkipWithError("transfer did not complete");
  uint64_t datagrams = 0;
  for (auto& c : clients) datagrams += c->io().stats().rx_datagrams;
  group.stop();
  return datagrams;
}

void BM_OneConnection(benchmark::State& state) {
  engine::testing::TestTls tls;
  const size_t kBytes = 64u << 20;
  for (auto _ : state) run_transfer(state, tls, 1, kBytes, 1);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBytes));
}

void BM_ManyConnections(benchmark::State& state) {
  engine::testing::TestTls tls;
  const int kConnections = 500;
  const size_t kBytes = 128u << 10;
  uint64_t datagrams = 0;
  for (auto _ : state) datagrams += run_transfer(state, tls, kConnections, kBytes, 25);
  state.SetItemsProcessed(static_cast<int64_t>(datagrams));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kConnections * kBytes));
}

void BM_InboxPublishDrain(benchmark::State& state) {
  const auto shards = static_cast<size_t>(state.range(0));
  constexpr size_t kBatch = 1024;
  engine::EventHub hub({"bench.topic"}, shards, 1 << 16, 1 << 20);
  const std::vector<uint8_t> payload(64, 'x');
  std::vector<engine::PublishedEvent> batch(kBatch);
  for (auto _ : state) {
    for (size_t i = 0; i < kBatch; ++i) {
      if (!hub.publish("bench.topic", payload).ok()) return state.SkipWithError("inbox full");
    }
    for (size_t shard = 0; shard < shards; ++shard) {
      const size_t n = hub.inbox(shard).queue.try_dequeue_bulk(batch.begin(), kBatch);
      if (n != kBatch) return state.SkipWithError("an event went missing");
      hub.released(shard, n);
      for (size_t i = 0; i < n; ++i) batch[i].frame = {};
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatch));
}

void backends(benchmark::internal::Benchmark* b) {
  b->ArgNames({"portable", "gso"});
  for (int backend : {0, 1}) {
    for (int gso : {1, 0}) b->Args({backend, gso});
  }
  b->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
}

}  // namespace

BENCHMARK(BM_OneConnection)->Apply(backends);
BENCHMARK(BM_ManyConnections)->Apply(backends);
BENCHMARK(BM_InboxPublishDrain)->Arg(1)->Arg(2)->Arg(4);
BENCHMARK_MAIN();

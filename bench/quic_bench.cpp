// bench/quic_bench.cpp — the QUIC layer's share of the fan-out path, without sockets or threads.
//
//   BM_FanOutEnqueue/K      queue one 64-byte event (a slab slice) on the stream of each of K
//                           established connections (Connection::send): items = subscriber
//                           enqueues. Consecutive events of one slab merge into one range.
//   BM_PacketizeCoalesced/E the server writes E queued 64-byte events into packets
//                           (Connection::write: ngtcp2 framing, AEAD, header protection), many
//                           events per packet: items = events.
//   BM_ReceiveCoalesced/E   the client reads those packets (decryption, ACK bookkeeping,
//                           stream reassembly): items = events.
//   BM_ReceiveAndReply/E    as a shard does it: the client reads each packet, then writes
//                           the connection (an acknowledgement every 16th packet, mostly
//                           nothing): items = events.
// Each iteration carries the packets across and the client's acknowledgements back outside the
// timed part, so the connections stay in steady state (congestion window open, queues drained).
// BM_PauseResume is what that costs the timed part per iteration.
// Connections are established over MemoryLink (tests/quic/memory_link.hpp) in virtual time.
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "../tests/quic/memory_link.hpp"
#include "quic/connection.hpp"
#include "quic/endpoint.hpp"
#include "quic/shared_buffer.hpp"
#include "quic/tls.hpp"

namespace {

using namespace qsse::quic;

constexpr size_t kEventBytes = 64;

struct ServerSide final : ConnectionObserver {
  std::vector<std::pair<Connection*, int64_t>> streams;  // established, one uni stream each
  void on_handshake_completed(Connection& c) override {
    auto stream = c.open_uni_stream();
    if (stream) streams.emplace_back(&c, *stream);
  }
  bool on_stream_data(Connection&, int64_t, std::span<const uint8_t>, bool) override {
    return true;
  }
};

struct ClientSide final : ConnectionObserver {
  size_t handshakes = 0;
  uint64_t bytes = 0;
  void on_handshake_completed(Connection&) override { ++handshakes; }
  bool on_stream_data(Connection&, int64_t, std::span<const uint8_t> data, bool) override {
    bytes += data.size();
    return true;
  }
};

// K client connections to one server endpoint, established; then driven by hand.
class Pairs {
 public:
  explicit Pairs(size_t k) {
    auto cert = generate_self_signed("localhost");
    ServerTlsOptions so;
    so.certificate_pem = cert->certificate_pem;
    so.private_key_pem = cert->private_key_pem;
    server_tls_ = *TlsContext::server(so);
    ClientTlsOptions co;
    co.ca_pem = cert->certificate_pem;
    client_tls_ = *TlsContext::client(co);
    EndpointConfig config;
    config.retry = EndpointConfig::Retry::kNever;
    endpoint_ = std::make_unique<ServerEndpoint>(server_tls_, config, &server_);
    testing::MemoryLink link(*endpoint_, /*seed=*/1);
    for (size_t i = 0; i < k; ++i) {
      Connection::Config cc;
      cc.observer = &client_;
      auto path =
          testing::make_path("127.0.0.1", static_cast<uint16_t>(20000 + i), "127.0.0.1", 4433);
      clients_.push_back(std::move(*Connection::connect(client_tls_, path, cc, link.now())));
      link.add_client(*clients_.back());
    }
    established_ =
        link.run_until([&] { return client_.handshakes == k && server_.streams.size() == k; });
    now_ = link.now() + kSecond;
    // Pair each server connection with its client (the client's port is in its path).
    for (auto& [conn, stream] : server_.streams) {
      const PathAddresses path = conn->path();
      const auto* sin = reinterpret_cast<const sockaddr_in*>(&path.remote);
      peers_.push_back(clients_[ntohs(sin->sin_port) - 20000].get());
    }
  }

  bool established() const { return established_; }
  size_t size() const { return server_.streams.size(); }
  Connection& server(size_t i) { return *server_.streams[i].first; }
  int64_t stream(size_t i) const { return server_.streams[i].second; }
  uint64_t received_bytes() const { return client_.bytes; }

  // Writes what server connection `i` has to send into `packets` (one entry per datagram).
  void write_server(size_t i, std::vector<std::vector<uint8_t>>& packets) {
    for (;;) {
      Burst b = server(i).write(buffer_, now_);
      if (b.bytes == 0) return;
      for (size_t off = 0; off < b.bytes; off += b.segment_size) {
        packets.emplace_back(buffer_.data() + off,
                             buffer_.data() + std::min(b.bytes, off + b.segment_size));
      }
    }
  }
  // Hands `packets` to the client of server connection `i`.
  void read_client(size_t i, const std::vector<std::vector<uint8_t>>& packets) {
    const PathAddresses path = testing::reversed(server(i).path());
    for (const auto& p : packets) peers_[i]->read_datagram(path, p, now_);
  }
  // Hands `packets` to the client of server connection `i`, writing the client after each
  // one as a shard does; what it writes goes into `replies`.
  void read_and_reply_client(size_t i, const std::vector<std::vector<uint8_t>>& packets,
                             std::vector<std::vector<uint8_t>>& replies) {
    const PathAddresses path = testing::reversed(server(i).path());
    for (const auto& p : packets) {
      peers_[i]->read_datagram(path, p, now_);
      for (;;) {
        Burst b = peers_[i]->write(buffer_, now_);
        if (b.bytes > 0) replies.emplace_back(buffer_.data(), buffer_.data() + b.bytes);
        if (b.bytes == 0 || b.drained) break;
      }
    }
  }
  // Hands the client's `replies` (whole bursts) to server connection `i`.
  void read_server(size_t i, const std::vector<std::vector<uint8_t>>& replies) {
    const PathAddresses path = testing::reversed(peers_[i]->path());
    for (const auto& r : replies) server(i).read_datagram(path, r, now_);
  }
  // The client's acknowledgements back to the server; then time moves on.
  void acknowledge(size_t i) {
    const PathAddresses path = testing::reversed(peers_[i]->path());
    for (;;) {
      Burst b = peers_[i]->write(buffer_, now_);
      if (b.bytes == 0) break;
      for (size_t off = 0; off < b.bytes; off += b.segment_size) {
        server(i).read_datagram(
            path, std::span(buffer_.data() + off, std::min(b.segment_size, b.bytes - off)), now_);
      }
    }
    now_ += kMillisecond;
  }
  // Everything server connection `i` has queued goes across and is acknowledged.
  void drain(size_t i) {
    std::vector<std::vector<uint8_t>> packets;
    for (int round = 0; round < 1000 && server(i).buffered_bytes() > 0; ++round) {
      packets.clear();
      write_server(i, packets);
      read_client(i, packets);
      acknowledge(i);
    }
  }

 private:
  std::shared_ptr<TlsContext> server_tls_, client_tls_;
  ServerSide server_;
  ClientSide client_;
  std::unique_ptr<ServerEndpoint> endpoint_;
  std::vector<std::unique_ptr<Connection>> clients_;
  std::vector<Connection*> peers_;  // the client of server_.streams[i]
  bool established_ = false;
  Timestamp now_ = 0;
  std::vector<uint8_t> buffer_ = std::vector<uint8_t>(kMaxBurstPackets * 16'384);
};

// Queues `n` events of kEventBytes, carved back to back out of `slabs`, on connection `i`.
void queue_events(Pairs& pairs, size_t i, SlabAllocator& slabs, size_t n) {
  for (size_t e = 0; e < n; ++e) {
    BufferRef frame = slabs.allocate(kEventBytes);
    std::memset(frame.data(), static_cast<int>(e), kEventBytes);
    (void)pairs.server(i).send(pairs.stream(i), std::move(frame), 0, kEventBytes);
  }
}

// Sends rounds of `events` over connection 0 until its congestion window has opened up.
void warm_up(Pairs& pairs, SlabAllocator& slabs, size_t events) {
  for (int round = 0; round < 50; ++round) {
    queue_events(pairs, 0, slabs, events);
    pairs.drain(0);
  }
}

void BM_FanOutEnqueue(benchmark::State& state) {
  const auto k = static_cast<size_t>(state.range(0));
  Pairs pairs(k);
  if (!pairs.established()) return state.SkipWithError("handshakes did not complete");
  SlabAllocator slabs;
  constexpr size_t kEventsPerIteration = 64;
  for (auto _ : state) {
    for (size_t e = 0; e < kEventsPerIteration; ++e) {
      BufferRef frame = slabs.allocate(kEventBytes);
      std::memset(frame.data(), static_cast<int>(e), kEventBytes);
      for (size_t i = 0; i < k; ++i) {
        benchmark::DoNotOptimize(pairs.server(i).send(pairs.stream(i), frame, 0, kEventBytes));
      }
    }
    state.PauseTiming();
    for (size_t i = 0; i < k; ++i) pairs.drain(i);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kEventsPerIteration * k));
}
BENCHMARK(BM_FanOutEnqueue)->Arg(1)->Arg(10)->Arg(100);

void BM_PacketizeCoalesced(benchmark::State& state) {
  const auto events = static_cast<size_t>(state.range(0));
  Pairs pairs(1);
  if (!pairs.established()) return state.SkipWithError("handshake did not complete");
  SlabAllocator slabs;
  std::vector<std::vector<uint8_t>> packets;
  uint64_t datagrams = 0;
  warm_up(pairs, slabs, events);
  for (auto _ : state) {
    state.PauseTiming();
    queue_events(pairs, 0, slabs, events);
    packets.clear();
    state.ResumeTiming();
    pairs.write_server(0, packets);
    state.PauseTiming();
    datagrams += packets.size();
    pairs.read_client(0, packets);
    pairs.acknowledge(0);
    pairs.drain(0);  // anything the window held back (not timed)
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * events));
  state.counters["events/packet"] =
      static_cast<double>(state.iterations() * events) / static_cast<double>(datagrams);
}
BENCHMARK(BM_PacketizeCoalesced)->Arg(1)->Arg(16)->Arg(256);

void BM_ReceiveCoalesced(benchmark::State& state) {
  const auto events = static_cast<size_t>(state.range(0));
  Pairs pairs(1);
  if (!pairs.established()) return state.SkipWithError("handshake did not complete");
  SlabAllocator slabs;
  std::vector<std::vector<uint8_t>> packets;
  warm_up(pairs, slabs, events);
  const uint64_t before = pairs.received_bytes();
  for (auto _ : state) {
    state.PauseTiming();
    queue_events(pairs, 0, slabs, events);
    packets.clear();
    pairs.write_server(0, packets);
    state.ResumeTiming();
    pairs.read_client(0, packets);
    state.PauseTiming();
    pairs.acknowledge(0);
    pairs.drain(0);
    state.ResumeTiming();
  }
  if (pairs.received_bytes() - before != state.iterations() * events * kEventBytes) {
    state.SkipWithError("the client did not receive every event");
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * events));
}
BENCHMARK(BM_ReceiveCoalesced)->Arg(1)->Arg(16)->Arg(256);

void BM_ReceiveAndReply(benchmark::State& state) {
  const auto events = static_cast<size_t>(state.range(0));
  Pairs pairs(1);
  if (!pairs.established()) return state.SkipWithError("handshake did not complete");
  SlabAllocator slabs;
  std::vector<std::vector<uint8_t>> packets, replies;
  warm_up(pairs, slabs, events);
  const uint64_t before = pairs.received_bytes();
  uint64_t replied = 0;
  for (auto _ : state) {
    state.PauseTiming();
    queue_events(pairs, 0, slabs, events);
    packets.clear();
    replies.clear();
    pairs.write_server(0, packets);
    state.ResumeTiming();
    pairs.read_and_reply_client(0, packets, replies);
    state.PauseTiming();
    replied += replies.size();
    pairs.read_server(0, replies);
    pairs.drain(0);
    state.ResumeTiming();
  }
  if (pairs.received_bytes() - before != state.iterations() * events * kEventBytes) {
    state.SkipWithError("the client did not receive every event");
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * events));
  state.counters["replies/iteration"] =
      static_cast<double>(replied) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_ReceiveAndReply)->Arg(1)->Arg(16);

// What pausing and resuming the timer costs: BM_PacketizeCoalesced and BM_ReceiveCoalesced
// include it once per iteration (subtract it from their time per iteration).
void BM_PauseResume(benchmark::State& state) {
  for (auto _ : state) {
    state.PauseTiming();
    state.ResumeTiming();
  }
}
BENCHMARK(BM_PauseResume);

}  // namespace

BENCHMARK_MAIN();

// A server shard on real loopback keeps serving a well-behaved client while it receives random
// datagrams, truncated and corrupted Initials, a flood of Initials from one address, and a
// client that vanishes mid-stream. Each gets its defined outcome (see docs/PROTOCOL.md):
// dropped and counted, answered with Retry once the handshake budget is used, or timed out
// and freed.
#include <gtest/gtest.h>

#include <mutex>
#include <random>
#include <thread>

#include "engine/shard.hpp"
#include "transfer_app.hpp"

namespace qsse::engine {
namespace {

using testing::client_initial;
using testing::ReceiverApp;
using testing::SenderApp;
using testing::wait_for;

// Reads server-shard state on the shard's own thread.
struct Snapshot {
  quic::EndpointStats stats;
  size_t connections = 0;
};
Snapshot snapshot(Shard& shard) {
  std::mutex m;
  bool done = false;
  Snapshot out;
  shard.post([&](Shard& s) {
    std::lock_guard lock(m);
    out.stats = s.endpoint()->stats();
    out.connections = s.endpoint()->connection_count();
    done = true;
  });
  wait_for(
      [&] {
        std::lock_guard lock(m);
        return done;
      },
      10);
  std::lock_guard lock(m);
  return out;
}

TEST(ShardBadInput, KeepsServingThroughGarbageFloodsAndVanishingClients) {
  testing::TestTls tls;
  auto server_tls = tls.server;
  auto client_tls = tls.client;

  const size_t kBytes = 8 * testing::kChunk;
  SenderApp sender(kBytes);
  ShardConfig config;
  config.udp.bind = *io::Address::parse("127.0.0.1:0");
  config.endpoint.retry = quic::EndpointConfig::Retry::kUnderLoad;
  config.endpoint.handshake_budget = 20;
  config.endpoint.transport.idle_timeout = 1 * quic::kSecond;
  config.endpoint.transport.handshake_timeout = 2 * quic::kSecond;
  auto server = Shard::create(config, server_tls, &sender);
  ASSERT_TRUE(server.has_value()) << server.error();
  Shard& server_shard = **server;
  const io::Address server_address = server_shard.io().local_address();
  ShardGroup servers;
  servers.add(std::move(*server));
  ASSERT_TRUE(servers.start());

  // The attacker: one plain socket.
  io::UdpOptions attacker_options;
  attacker_options.bind = *io::Address::parse("127.0.0.1:0");
  auto attacker = io::open_portable_udp(attacker_options);
  ASSERT_TRUE(attacker.has_value());
  auto send = [&](const std::vector<uint8_t>& d) {
    io::TxBurst tx{d.data(), d.size(), d.size(), server_address};
    (*attacker)->send({&tx, 1});
  };
  std::mt19937 gen(5);
  for (int i = 0; i < 2000; ++i) {  // random bytes of random sizes
    std::vector<uint8_t> d(gen() % 1400 + 1);
    for (auto& b : d) b = static_cast<uint8_t>(gen());
    send(d);
  }
  const auto initial = client_initial(client_tls, (*attacker)->local_address(), server_address);
  for (int i = 0; i < 300; ++i) {  // truncated Initials
    std::vector<uint8_t> d(initial.begin(), initial.begin() + gen() % initial.size());
    if (!d.empty()) send(d);
  }
  for (int i = 0; i < 300; ++i) {  // corrupted Initials (the AEAD rejects them)
    std::vector<uint8_t> d = initial;
    d[20 + gen() % (d.size() - 20)] ^= 0x5a;
    send(d);
  }
  for (int i = 0; i < 200; ++i) {  // a flood of valid Initials from one address
    send(client_initial(client_tls, (*attacker)->local_address(), server_address));
  }

  // A client that vanishes mid-stream: its shard is destroyed without closing anything.
  {
    ReceiverApp vanishing(kBytes);
    auto shard = Shard::create(config, nullptr, &vanishing);
    ASSERT_TRUE(shard.has_value());
    ASSERT_TRUE((*shard)->connect(server_address, client_tls));
    const uint64_t deadline = io::monotonic_ns() + 20'000'000'000ull;
    while (vanishing.bytes.load() < testing::kChunk && io::monotonic_ns() < deadline) {
      if ((*shard)->do_work() == 0) (*shard)->io().wait(io::monotonic_ns() + 1'000'000);
    }
    ASSERT_GE(vanishing.bytes.load(), testing::kChunk);
    // Silence: drop the connection state without sending CONNECTION_CLOSE.
    (*shard)->for_each_client([](quic::Connection& c) { c.set_observer(nullptr); });
  }

  // A well-behaved client gets everything, despite all of the above.
  ReceiverApp good(kBytes);
  auto good_shard = Shard::create(config, nullptr, &good);
  ASSERT_TRUE(good_shard.has_value());
  ASSERT_TRUE((*good_shard)->connect(server_address, client_tls));
  const uint64_t deadline = io::monotonic_ns() + 60'000'000'000ull;
  while (good.complete.load() == 0 && good.corrupt.load() == 0 && io::monotonic_ns() < deadline) {
    if ((*good_shard)->do_work() == 0) (*good_shard)->io().wait(io::monotonic_ns() + 1'000'000);
  }
  EXPECT_EQ(good.complete.load(), 1);
  EXPECT_EQ(good.corrupt.load(), 0);

  // Defined outcomes, read on the server's thread.
  Snapshot s = snapshot(server_shard);
  EXPECT_GT(s.stats.dropped_malformed + s.stats.dropped_unknown, 1000u)
      << "random and truncated datagrams are dropped and counted";
  EXPECT_GT(s.stats.retries_sent, 0u) << "the Initial flood exceeded the handshake budget";
  EXPECT_LE(s.stats.accepted, 200u + 2u);
  // Abandoned handshakes and the vanished client time out and are freed; the good client
  // closes by idle timeout too once we stop driving it.
  good_shard->reset();
  EXPECT_TRUE(wait_for([&] { return snapshot(server_shard).connections == 0; }, 30))
      << snapshot(server_shard).connections << " connections still held";
  servers.stop();
}

}  // namespace
}  // namespace qsse::engine

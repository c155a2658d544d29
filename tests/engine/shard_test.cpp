// Shards end to end: real loopback sockets with each backend, an in-memory network with loss,
// duplication and reordering, and many connections spread over several server shards.
#include <gtest/gtest.h>

#include <thread>

#include "engine/shard.hpp"
#include "io/memory.hpp"
#include "transfer_app.hpp"

namespace qsse::engine {
namespace {

using testing::ReceiverApp;
using testing::SenderApp;
using testing::wait_for;

ShardConfig udp_config(uint8_t id, const char* bind, io::Backend backend, bool reuse = false) {
  ShardConfig config;
  config.shard_id = id;
  config.udp.bind = *io::Address::parse(bind);
  config.udp.reuse_port = reuse;
  config.backend = backend;
  config.endpoint.retry = quic::EndpointConfig::Retry::kNever;
  return config;
}

void transfer_over_loopback(io::Backend backend, size_t mib) {
  testing::TestTls tls;
  SenderApp sender(mib * testing::kChunk);
  ReceiverApp receiver(mib * testing::kChunk);
  ShardGroup servers, clients;
  auto server = Shard::create(udp_config(0, "127.0.0.1:0", backend), tls.server, &sender);
  ASSERT_TRUE(server.has_value()) << server.error();
  const io::Address server_address = (*server)->io().local_address();
  servers.add(std::move(*server));
  auto client = Shard::create(udp_config(0, "127.0.0.1:0", backend), nullptr, &receiver);
  ASSERT_TRUE(client.has_value()) << client.error();
  Shard* client_shard = client->get();
  clients.add(std::move(*client));
  ASSERT_TRUE(servers.start());
  client_shard->post([&](Shard& s) { ASSERT_TRUE(s.connect(server_address, tls.client)); });
  ASSERT_TRUE(clients.start());
  EXPECT_TRUE(
      wait_for([&] { return receiver.complete.load() == 1 || receiver.corrupt.load() > 0; }, 120));
  clients.stop();
  servers.stop();
  EXPECT_EQ(receiver.corrupt.load(), 0);
  EXPECT_EQ(receiver.complete.load(), 1) << "received " << receiver.bytes.load() << " bytes";
}

TEST(Shard, Transfers100MiBOverLoopbackWithIoUring) {
  transfer_over_loopback(io::Backend::kIoUring, 100);
}

TEST(Shard, Transfers100MiBOverLoopbackWithPortableBackend) {
  transfer_over_loopback(io::Backend::kPortable, 100);
}

// A transfer from a server shard (SenderApp) to a client shard (ReceiverApp) over an in-memory
// network, each end's socket wrapped in FaultyIo with faults of its own.
struct MemoryTransfer {
  testing::TestTls tls;
  SenderApp sender;
  ReceiverApp receiver;
  ShardGroup servers, clients;
  Shard* server_shard = nullptr;

  explicit MemoryTransfer(size_t mib)
      : sender(mib * testing::kChunk), receiver(mib * testing::kChunk) {}
  ~MemoryTransfer() { stop(); }

  // Creates both shards, starts them and connects (use with ASSERT_NO_FATAL_FAILURE).
  void start(const io::FaultOptions& server_faults, const io::FaultOptions& client_faults) {
    auto network = io::MemoryNetwork::create();
    auto server_io = network->open(*io::Address::parse("10.0.0.1:443"));
    auto client_io = network->open(*io::Address::parse("10.0.0.2:0"));
    ASSERT_TRUE(server_io && client_io);
    const io::Address server_address = (*server_io)->local_address();
    auto server = Shard::create(udp_config(0, "0.0.0.0:0", io::Backend::kPortable), tls.server,
                                &sender, io::make_faulty(std::move(*server_io), server_faults));
    ASSERT_TRUE(server.has_value());
    server_shard = server->get();
    servers.add(std::move(*server));
    auto client = Shard::create(udp_config(0, "0.0.0.0:0", io::Backend::kPortable), nullptr,
                                &receiver, io::make_faulty(std::move(*client_io), client_faults));
    ASSERT_TRUE(client.has_value());
    Shard* client_shard = client->get();
    clients.add(std::move(*client));
    ASSERT_TRUE(servers.start());
    client_shard->post(
        [this, server_address](Shard& s) { ASSERT_TRUE(s.connect(server_address, tls.client)); });
    ASSERT_TRUE(clients.start());
  }
  bool finished(int seconds) {
    return wait_for([&] { return receiver.complete.load() == 1 || receiver.corrupt.load() > 0; },
                    seconds);
  }
  void stop() {
    clients.stop();
    servers.stop();
  }
  void expect_complete() {
    EXPECT_EQ(receiver.corrupt.load(), 0);
    EXPECT_EQ(receiver.complete.load(), 1) << "received " << receiver.bytes.load() << " bytes";
  }
};

TEST(Shard, TransfersCompletelyOverLossyDuplicatingReorderingCorruptingNetwork) {
  io::FaultOptions faults;
  faults.loss = 0.05;
  faults.duplicate = 0.02;
  faults.reorder = 0.05;
  faults.corrupt = 0.01;  // flipped bytes fail packet authentication and count as loss
  faults.delay_ns = 200'000;
  io::FaultOptions server_faults = faults, client_faults = faults;
  server_faults.seed = 7;
  client_faults.seed = 8;
  MemoryTransfer transfer(16);
  ASSERT_NO_FATAL_FAILURE(transfer.start(server_faults, client_faults));
  EXPECT_TRUE(transfer.finished(180));
  transfer.stop();
  transfer.expect_complete();
}

// A full socket refuses bursts (send() takes only a prefix). The shard keeps the rest, in order,
// and offers it again: every datagram a connection wrote leaves the shard, none is dropped to be
// found lost and resent later.
TEST(Shard, KeepsBurstsAFullSocketRefusesAndSendsThemLater) {
  io::FaultOptions server_faults;
  server_faults.refuse = 0.2;  // per burst: most send() calls stop early
  // The server shard's counters, read on its own thread (declared first: they outlive it).
  std::atomic<uint64_t> written{0}, handed_out{0}, blocked{0};
  MemoryTransfer transfer(16);
  auto sample = [&] {
    transfer.server_shard->post([&](Shard& s) {
      written = s.stats().datagrams_written;
      handed_out = s.io().stats().tx_datagrams;
      blocked = s.stats().send_blocked;
    });
  };
  ASSERT_NO_FATAL_FAILURE(transfer.start(server_faults, io::FaultOptions{}));
  EXPECT_TRUE(transfer.finished(120));
  // Once the transfer is over, everything written has left (nothing stays queued for good).
  EXPECT_TRUE(wait_for(
      [&] {
        sample();
        return written.load() > 0 && written.load() == handed_out.load();
      },
      20))
      << written.load() << " datagrams written, " << handed_out.load() << " sent";
  transfer.stop();
  transfer.expect_complete();
  EXPECT_GT(blocked.load(), 10u);  // the refusals did happen
}

// Another shard's queue of forwarded datagrams is bounded: a flood of packets naming a shard
// cannot grow it without limit; the excess is refused (and the forwarding shard counts it).
TEST(Shard, ForwardedDatagramsBeyondTheBoundAreRefused) {
  testing::TestTls tls;
  SenderApp app(0);
  auto network = io::MemoryNetwork::create();
  auto io = network->open(*io::Address::parse("10.0.0.1:443"));
  ASSERT_TRUE(io.has_value());
  auto shard = Shard::create(udp_config(1, "0.0.0.0:0", io::Backend::kPortable), tls.server, &app,
                             std::move(*io));
  ASSERT_TRUE(shard.has_value());
  const io::Address from = *io::Address::parse("10.0.0.9:5000");
  const io::Address to = *io::Address::parse("10.0.0.1:443");
  std::vector<uint8_t> packet(100, 0x5a);
  packet[0] = 0x40;
  packet[1] = 1;  // CID naming shard 1
  const io::RxDatagram d{packet, &from, &to};
  size_t taken = 0;
  for (size_t i = 0; i < Shard::kMaxForwarded + 100; ++i) taken += (*shard)->forward(d) ? 1 : 0;
  EXPECT_EQ(taken, Shard::kMaxForwarded);
  (*shard)->do_work();  // drains some: room again
  EXPECT_TRUE((*shard)->forward(d));
}

// Sends nothing while `full` is set, as a socket whose buffer stays full.
class CloggedIo final : public io::DatagramIo {
 public:
  explicit CloggedIo(std::unique_ptr<io::DatagramIo> inner) : inner_(std::move(inner)) {}
  const char* name() const override { return "clogged"; }
  const io::Address& local_address() const override { return inner_->local_address(); }
  size_t receive(size_t max, const io::RxVisitor& visit) override {
    return inner_->receive(max, visit);
  }
  size_t send(std::span<const io::TxBurst> bursts) override {
    return full ? 0 : inner_->send(bursts);
  }
  void wait(uint64_t deadline) override { inner_->wait(deadline); }
  void wake() override { inner_->wake(); }
  const io::IoStats& stats() const override { return inner_->stats(); }
  bool gso() const override { return inner_->gso(); }
  bool full = true;

 private:
  std::unique_ptr<io::DatagramIo> inner_;
};

// A connection that ends while its first datagram is read (a corrupted Initial) is forgotten
// at once. It was listed for writing again; when the socket was full the round's writing
// stopped before reaching it, the next reap destroyed it and the next round wrote to freed
// memory (ASan: heap-use-after-free).
TEST(Shard, AConnectionThatEndsOnItsFirstDatagramIsNotWrittenAfterwards) {
  testing::TestTls tls;
  SenderApp app(0);
  auto network = io::MemoryNetwork::create();
  const io::Address server_address = *io::Address::parse("10.0.0.1:443");
  auto inner = network->open(server_address);
  auto attacker = network->open(*io::Address::parse("10.0.0.2:4000"));
  ASSERT_TRUE(inner.has_value() && attacker.has_value());
  auto clogged = std::make_unique<CloggedIo>(std::move(*inner));
  CloggedIo* io = clogged.get();
  auto shard = Shard::create(udp_config(0, "0.0.0.0:0", io::Backend::kPortable), tls.server, &app,
                             std::move(clogged));
  ASSERT_TRUE(shard.has_value());
  auto send = [&](const std::vector<uint8_t>& d) {
    io::TxBurst tx{d.data(), d.size(), d.size(), server_address};
    ASSERT_EQ((*attacker)->send({&tx, 1}), 1u);
  };
  // Short-header packets for no connection: each is answered with a stateless reset, which
  // waits in the shard's send buffer while the socket takes nothing, until the buffer is full.
  // (A reset is at most 64 bytes: 2 MiB take some 33,000.)
  std::vector<uint8_t> unknown(100, 0x5a);
  unknown[0] = 0x40;
  for (int i = 0; i < 40'000 && (*shard)->stats().replies_dropped == 0; ++i) {
    unknown[2] = static_cast<uint8_t>(i), unknown[3] = static_cast<uint8_t>(i >> 8);
    send(unknown);
    if (i % 64 == 63) (*shard)->do_work();
  }
  ASSERT_GT((*shard)->stats().replies_dropped, 0u) << "the send buffer did not fill up";
  // A valid client Initial with a flipped byte: accepted, then dropped by the AEAD.
  std::vector<uint8_t> initial =
      testing::client_initial(tls.client, *io::Address::parse("10.0.0.2:4000"), server_address);
  initial[initial.size() - 30] ^= 0x5a;
  send(initial);
  for (int round = 0; round < 5; ++round) (*shard)->do_work();
  EXPECT_GT((*shard)->endpoint()->stats().accepted, 0u) << "the Initial was not even accepted";
  EXPECT_EQ((*shard)->endpoint()->connection_count(), 0u);
  io->full = false;  // the queued replies leave
  for (int round = 0; round < 5; ++round) (*shard)->do_work();
  EXPECT_GT((*shard)->io().stats().tx_datagrams, 1000u);
}

// Shards share one address (SO_REUSEPORT). When a client's datagrams start landing on another
// shard (its address changed: NAT rebinding), that shard forwards them to the owner of the
// connection, named by the first byte of the connection ID; the transfer continues.
TEST(Shard, ForwardsDatagramsThatLandOnTheWrongShard) {
  testing::TestTls tls;
  const size_t kMiB = 8;
  SenderApp sender0(kMiB * testing::kChunk), sender1(kMiB * testing::kChunk);
  ReceiverApp receiver(kMiB * testing::kChunk);
  auto network = io::MemoryNetwork::create();
  std::atomic<size_t> steer_to{0};
  network->set_steering([&](const io::Address&, size_t) { return steer_to.load(); });
  const io::Address server_address = *io::Address::parse("10.0.0.1:443");
  auto io0 = network->open(server_address, true);
  auto io1 = network->open(server_address, true);
  auto client_io = network->open(*io::Address::parse("10.0.0.2:0"));
  ASSERT_TRUE(io0 && io1 && client_io);
  ShardGroup servers, clients;
  auto s0 = Shard::create(udp_config(0, "0.0.0.0:0", io::Backend::kPortable), tls.server, &sender0,
                          std::move(*io0));
  auto s1 = Shard::create(udp_config(1, "0.0.0.0:0", io::Backend::kPortable), tls.server, &sender1,
                          std::move(*io1));
  ASSERT_TRUE(s0 && s1);
  servers.add(std::move(*s0));
  servers.add(std::move(*s1));
  auto client = Shard::create(udp_config(0, "0.0.0.0:0", io::Backend::kPortable), nullptr,
                              &receiver, std::move(*client_io));
  ASSERT_TRUE(client.has_value());
  Shard* client_shard = client->get();
  clients.add(std::move(*client));
  ASSERT_TRUE(servers.start());
  client_shard->post([&](Shard& s) { ASSERT_TRUE(s.connect(server_address, tls.client)); });
  ASSERT_TRUE(clients.start());
  ASSERT_TRUE(wait_for([&] { return receiver.bytes.load() > 256 * 1024; }, 60));
  steer_to = 1;  // from now on the kernel would hand this client's datagrams to shard 1
  EXPECT_TRUE(
      wait_for([&] { return receiver.complete.load() == 1 || receiver.corrupt.load() > 0; }, 120));
  clients.stop();
  servers.stop();
  EXPECT_EQ(receiver.complete.load(), 1);
  EXPECT_EQ(receiver.corrupt.load(), 0);
  EXPECT_EQ(sender1.handshakes.load(), 0) << "the connection stays on shard 0";
  EXPECT_GT(servers.shard(1).stats().forwarded_out, 0u);
  EXPECT_GT(servers.shard(0).stats().forwarded_in, 0u);
}

// Datagrams of several connections to one peer address leave in one GSO send when they line
// up; datagrams to different peers never share one (they would reach the wrong socket, whose
// connections cannot decrypt them, and the transfers would stall).
TEST(Shard, JoinsBurstsToOnePeerAcrossConnectionsAndNeverAcrossPeers) {
  testing::TestTls tls;
  const int kPeers = 4;
  const int kPerPeer = 8;
  const size_t kBytes = 256 * 1024;
  SenderApp sender(kBytes);
  ReceiverApp receiver(kBytes);
  auto network = io::MemoryNetwork::create();
  auto server_io = network->open(*io::Address::parse("10.0.0.1:443"));
  ASSERT_TRUE(server_io.has_value());
  const io::Address server_address = (*server_io)->local_address();
  ShardGroup servers;
  auto server = Shard::create(udp_config(0, "0.0.0.0:0", io::Backend::kPortable), tls.server,
                              &sender, std::move(*server_io));
  ASSERT_TRUE(server.has_value());
  servers.add(std::move(*server));
  ASSERT_TRUE(servers.start());
  // Client shards are driven by this thread alone (the receiver app is not thread-safe).
  std::vector<std::unique_ptr<Shard>> clients;
  for (int p = 0; p < kPeers; ++p) {
    auto io = network->open(*io::Address::parse("10.0.1." + std::to_string(p + 1) + ":4000"));
    ASSERT_TRUE(io.has_value());
    auto c = Shard::create(udp_config(0, "0.0.0.0:0", io::Backend::kPortable), nullptr, &receiver,
                           std::move(*io));
    ASSERT_TRUE(c.has_value()) << c.error();
    for (int i = 0; i < kPerPeer; ++i) ASSERT_TRUE((*c)->connect(server_address, tls.client));
    clients.push_back(std::move(*c));
  }
  const uint64_t deadline = io::monotonic_ns() + 60'000'000'000ull;
  while (receiver.complete.load() + receiver.short_streams.load() < kPeers * kPerPeer &&
         receiver.corrupt.load() == 0 && io::monotonic_ns() < deadline) {
    size_t work = 0;
    for (auto& c : clients) work += c->do_work();
    if (work == 0) clients[0]->io().wait(io::monotonic_ns() + 1'000'000);
  }
  servers.stop();
  EXPECT_EQ(receiver.corrupt.load(), 0);
  EXPECT_EQ(receiver.complete.load(), kPeers * kPerPeer);
  EXPECT_GT(servers.shard(0).stats().bursts_joined, 0u) << "no data burst joined another";
  uint64_t client_joined = 0;
  for (auto& c : clients) {
    client_joined += c->stats().bursts_joined;
    EXPECT_EQ(c->stats().unroutable, 0u) << "a peer got datagrams of another peer's connections";
  }
  EXPECT_GT(client_joined, 0u) << "no acknowledgement joined another";
}

TEST(Shard, ThousandConnectionsSpreadOverTwoServerShards) {
  testing::TestTls tls;
  const int kConnections = 1000;
  const int kClientSockets = 50;  // SO_REUSEPORT hashes by address: many client ports
  const size_t kBytes = 16 * 1024;
  SenderApp sender0(kBytes), sender1(kBytes);  // an app serves one shard (one thread)
  ReceiverApp receiver(kBytes);
  ShardGroup servers;
  auto first =
      Shard::create(udp_config(0, "127.0.0.1:0", io::Backend::kAuto, true), tls.server, &sender0);
  ASSERT_TRUE(first.has_value()) << first.error();
  const io::Address server_address = (*first)->io().local_address();
  auto second =
      Shard::create(udp_config(1, server_address.to_string().c_str(), io::Backend::kAuto, true),
                    tls.server, &sender1);
  ASSERT_TRUE(second.has_value()) << second.error();
  servers.add(std::move(*first));
  servers.add(std::move(*second));
  ASSERT_TRUE(servers.start());

  // Client shards are driven by this thread alone (their apps are not thread-safe).
  std::vector<std::unique_ptr<Shard>> clients;
  for (int i = 0; i < kClientSockets; ++i) {
    auto c =
        Shard::create(udp_config(0, "127.0.0.1:0", io::Backend::kPortable), nullptr, &receiver);
    ASSERT_TRUE(c.has_value()) << c.error();
    clients.push_back(std::move(*c));
  }
  for (int i = 0; i < kConnections; ++i) {
    ASSERT_TRUE(clients[i % kClientSockets]->connect(server_address, tls.client));
  }
  const uint64_t deadline = io::monotonic_ns() + 120'000'000'000ull;
  while (receiver.complete.load() < kConnections && receiver.corrupt.load() == 0 &&
         io::monotonic_ns() < deadline) {
    size_t work = 0;
    for (auto& c : clients) work += c->do_work();
    if (work == 0) clients[0]->io().wait(io::monotonic_ns() + 1'000'000);
  }
  servers.stop();
  EXPECT_EQ(receiver.corrupt.load(), 0);
  EXPECT_EQ(receiver.complete.load(), kConnections);
  const uint64_t on_first = servers.shard(0).endpoint()->stats().accepted;
  const uint64_t on_second = servers.shard(1).endpoint()->stats().accepted;
  EXPECT_EQ(on_first + on_second, uint64_t(kConnections));
  EXPECT_GT(on_first, 0u) << "all connections landed on shard 1";
  EXPECT_GT(on_second, 0u) << "all connections landed on shard 0";
}

}  // namespace
}  // namespace qsse::engine

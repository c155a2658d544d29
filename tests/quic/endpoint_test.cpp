// What the server endpoint does with datagrams that belong to no connection.
#include <gtest/gtest.h>

#include <random>

#include "memory_link.hpp"
#include "quic/endpoint.hpp"

namespace qsse::quic {
namespace {

using testing::make_path;
using testing::MemoryLink;

struct Quiet final : ConnectionObserver {
  int handshakes = 0;
  void on_handshake_completed(Connection&) override { ++handshakes; }
  bool on_stream_data(Connection&, int64_t, std::span<const uint8_t>, bool) override {
    return true;
  }
};

std::shared_ptr<TlsContext> server_tls() {
  static auto tls = *TlsContext::server(ServerTlsOptions{});
  return tls;
}

std::shared_ptr<TlsContext> client_tls() {
  ClientTlsOptions options;
  options.ca_pem = server_tls()->certificate_pem();
  return *TlsContext::client(options);
}

const PathAddresses kPath = make_path("127.0.0.1", 4433, "127.0.0.1", 50000);

TEST(ServerEndpoint, DropsEmptyAndMalformedDatagramsAndCountsThem) {
  Quiet quiet;
  ServerEndpoint endpoint(server_tls(), EndpointConfig{}, &quiet);
  uint8_t reply[1500];
  auto r = endpoint.on_datagram(kPath, {}, kSecond, reply);
  EXPECT_EQ(r.kind, ServerEndpoint::DatagramResult::Kind::kDropped);
  const uint8_t long_header_truncated[] = {0xc0, 0x00, 0x00};
  r = endpoint.on_datagram(kPath, long_header_truncated, kSecond, reply);
  EXPECT_EQ(r.kind, ServerEndpoint::DatagramResult::Kind::kDropped);
  EXPECT_EQ(endpoint.stats().dropped_malformed, 2u);
  EXPECT_EQ(endpoint.connection_count(), 0u);
}

TEST(ServerEndpoint, RandomDatagramsNeverCreateConnections) {
  Quiet quiet;
  ServerEndpoint endpoint(server_tls(), EndpointConfig{}, &quiet);
  std::mt19937 gen(11);
  uint8_t reply[1500];
  std::vector<uint8_t> datagram;
  for (int i = 0; i < 2000; ++i) {
    datagram.resize(gen() % 1400 + 1);
    for (auto& b : datagram) b = static_cast<uint8_t>(gen());
    auto r = endpoint.on_datagram(kPath, datagram, kSecond, reply);
    // A reply is only ever smaller than what provoked it (no amplification).
    if (r.kind == ServerEndpoint::DatagramResult::Kind::kReplied) {
      EXPECT_LE(r.reply_bytes, std::max<size_t>(datagram.size(), 1200));
    }
  }
  EXPECT_EQ(endpoint.connection_count(), 0u);
  EXPECT_EQ(endpoint.stats().accepted, 0u);
}

TEST(ServerEndpoint, AnswersUnknownShortHeaderWithSmallerStatelessReset) {
  Quiet quiet;
  ServerEndpoint endpoint(server_tls(), EndpointConfig{}, &quiet);
  std::vector<uint8_t> datagram(100, 0x5a);
  datagram[0] = 0x40;  // short header, fixed bit set
  uint8_t reply[1500];
  auto r = endpoint.on_datagram(kPath, datagram, kSecond, reply);
  ASSERT_EQ(r.kind, ServerEndpoint::DatagramResult::Kind::kReplied);
  EXPECT_LT(r.reply_bytes, datagram.size());
  EXPECT_EQ(reply[0] & 0xc0, 0x40) << "a stateless reset looks like a short-header packet";
  EXPECT_EQ(endpoint.stats().stateless_resets_sent, 1u);

  std::vector<uint8_t> tiny(30, 0x5a);
  tiny[0] = 0x40;
  r = endpoint.on_datagram(kPath, tiny, kSecond, reply);
  EXPECT_EQ(r.kind, ServerEndpoint::DatagramResult::Kind::kDropped) << "too small to answer";
}

TEST(ServerEndpoint, AnswersUnknownVersionWithVersionNegotiation) {
  Quiet quiet;
  ServerEndpoint endpoint(server_tls(), EndpointConfig{}, &quiet);
  std::vector<uint8_t> datagram(1200, 0);
  datagram[0] = 0xc0;
  datagram[1] = 0x1a, datagram[2] = 0x2a, datagram[3] = 0x3a, datagram[4] = 0x4a;  // version
  datagram[5] = 8;                                                                 // DCID length
  for (int i = 0; i < 8; ++i) datagram[6 + i] = static_cast<uint8_t>(i + 1);
  datagram[14] = 8;  // SCID length
  for (int i = 0; i < 8; ++i) datagram[15 + i] = static_cast<uint8_t>(0x80 + i);
  uint8_t reply[1500];
  auto r = endpoint.on_datagram(kPath, datagram, kSecond, reply);
  ASSERT_EQ(r.kind, ServerEndpoint::DatagramResult::Kind::kReplied);
  // Version Negotiation: long header with version 0.
  EXPECT_EQ(reply[0] & 0x80, 0x80);
  EXPECT_EQ(reply[1] | reply[2] | reply[3] | reply[4], 0);
  EXPECT_EQ(endpoint.stats().version_negotiations_sent, 1u);
}

TEST(ServerEndpoint, RetryValidatesAddressBeforeAccepting) {
  Quiet server_side;
  EndpointConfig config;
  config.retry = EndpointConfig::Retry::kAlways;
  ServerEndpoint endpoint(server_tls(), config, &server_side);
  MemoryLink link(endpoint, /*seed=*/9);
  Quiet client_side;
  Connection::Config cc;
  cc.observer = &client_side;
  auto client = Connection::connect(client_tls(), make_path("127.0.0.1", 50000, "127.0.0.1", 4433),
                                    cc, link.now());
  ASSERT_TRUE(client.has_value());
  link.add_client(**client);
  ASSERT_TRUE(link.run_until(
      [&] { return client_side.handshakes == 1 && server_side.handshakes == 1; }, 10 * kSecond));
  EXPECT_EQ(endpoint.stats().retries_sent, 1u);
  EXPECT_EQ(endpoint.stats().accepted, 1u);
}

TEST(ServerEndpoint, RefusesConnectionsBeyondTheLimit) {
  Quiet server_side;
  EndpointConfig config;
  config.retry = EndpointConfig::Retry::kNever;
  config.max_connections = 1;
  ServerEndpoint endpoint(server_tls(), config, &server_side);
  MemoryLink link(endpoint, /*seed=*/10);
  Quiet a_side, b_side;
  Connection::Config ca, cb;
  ca.observer = &a_side;
  cb.observer = &b_side;
  auto a = Connection::connect(client_tls(), make_path("127.0.0.1", 50001, "127.0.0.1", 4433), ca,
                               link.now());
  auto b = Connection::connect(client_tls(), make_path("127.0.0.1", 50002, "127.0.0.1", 4433), cb,
                               link.now());
  ASSERT_TRUE(a && b);
  link.add_client(**a);
  ASSERT_TRUE(link.run_until([&] { return a_side.handshakes == 1; }, 10 * kSecond));
  link.add_client(**b);
  link.run_until([&] { return (*b)->state() == Connection::State::kClosed; }, 10 * kSecond);
  EXPECT_EQ(b_side.handshakes, 0);
  EXPECT_EQ((*b)->close_reason().kind, CloseReason::Kind::kPeerTransport);
  EXPECT_EQ((*b)->close_reason().code, NGTCP2_CONNECTION_REFUSED);
  EXPECT_EQ(endpoint.stats().refused, 1u);
  EXPECT_EQ(endpoint.connection_count(), 1u);
}

TEST(ServerEndpoint, IdleTimeoutFreesTheConnection) {
  Quiet server_side;
  EndpointConfig config;
  config.retry = EndpointConfig::Retry::kNever;
  config.transport.idle_timeout = 2 * kSecond;
  ServerEndpoint endpoint(server_tls(), config, &server_side);
  MemoryLink link(endpoint, /*seed=*/12);
  Quiet client_side;
  Connection::Config cc;
  cc.observer = &client_side;
  cc.transport.idle_timeout = 2 * kSecond;
  auto client = Connection::connect(client_tls(), make_path("127.0.0.1", 50000, "127.0.0.1", 4433),
                                    cc, link.now());
  ASSERT_TRUE(client.has_value());
  link.add_client(**client);
  ASSERT_TRUE(link.run_until([&] { return server_side.handshakes == 1; }, 10 * kSecond));
  ASSERT_EQ(endpoint.connection_count(), 1u);
  // Nothing more is sent: both sides time out and the server forgets the connection.
  // (Which side goes first depends on which received the other's last packet, e.g. a PMTUD
  // probe's acknowledgement.)
  ASSERT_TRUE(link.run_until(
      [&] {
        return endpoint.connection_count() == 0 && (*client)->state() == Connection::State::kClosed;
      },
      30 * kSecond));
  EXPECT_EQ((*client)->close_reason().kind, CloseReason::Kind::kIdleTimeout);
}

// A client whose address is not validated gets at most 3x what it sent (RFC 9000 8.1), also
// when its Initial carries a token the server cannot verify: someone spoofing a victim's
// address must not turn the server's handshake retransmissions into a flood.
TEST(ServerEndpoint, AnUnverifiableTokenDoesNotLiftTheAmplificationLimit) {
  for (const bool with_token : {false, true}) {
    SCOPED_TRACE(with_token ? "bogus token" : "no token");
    Quiet server_side;
    EndpointConfig config;
    config.retry = EndpointConfig::Retry::kNever;
    ServerEndpoint endpoint(server_tls(), config, &server_side);
    Quiet client_side;
    Connection::Config cc;
    cc.observer = &client_side;
    if (with_token) cc.token = {0x01, 0xaa, 0xbb, 0xcc};
    Timestamp now = kSecond;
    auto client = Connection::connect(client_tls(),
                                      make_path("127.0.0.1", 50000, "127.0.0.1", 4433), cc, now);
    ASSERT_TRUE(client.has_value());
    // The client's first flight reaches the server; nothing the server sends ever comes back.
    std::vector<uint8_t> buffer(kMaxBurstPackets * 1500);
    uint8_t reply[1500];
    size_t received = 0;
    for (Burst b; (b = (*client)->write(buffer, now)).bytes > 0;) {
      for (size_t off = 0; off < b.bytes; off += b.segment_size) {
        const size_t len = std::min(b.segment_size, b.bytes - off);
        received += len;
        endpoint.on_datagram(kPath, std::span(buffer.data() + off, len), now, reply);
      }
    }
    ASSERT_GE(received, 1200u);
    ASSERT_EQ(endpoint.connection_count(), 1u);
    // The server writes, and retransmits on every timeout, until its handshake times out.
    size_t sent = 0;
    const Timestamp end = now + 15 * kSecond;
    while (now < end && endpoint.connection_count() > 0) {
      Timestamp next = end;
      endpoint.for_each_connection([&](Connection& conn) {
        if (conn.expiry() <= now) conn.handle_expiry(now);
        for (Burst b; (b = conn.write(buffer, now)).bytes > 0;) sent += b.bytes;
        next = std::min(next, conn.expiry());
      });
      endpoint.reap();
      now = std::max(now + 1, next);
    }
    EXPECT_GT(sent, 0u);
    EXPECT_LE(sent, 3 * received) << "the server sent " << sent << " bytes to an address that sent "
                                  << received;
  }
}

// Under Retry::kUnderLoad only handshakes still in progress count against the budget: finished
// ones (and however many established connections) do not.
TEST(ServerEndpoint, RetriesOnlyWhenTheHandshakesInProgressReachTheBudget) {
  Quiet server_side;
  EndpointConfig config;
  config.retry = EndpointConfig::Retry::kUnderLoad;
  config.handshake_budget = 2;
  ServerEndpoint endpoint(server_tls(), config, &server_side);
  MemoryLink link(endpoint, /*seed=*/13);
  std::vector<Quiet> sides(5);  // outlive the clients
  std::vector<std::unique_ptr<Connection>> clients;
  auto connect = [&](uint16_t port) {
    Connection::Config cc;
    cc.observer = &sides[clients.size()];
    auto c = Connection::connect(client_tls(), make_path("127.0.0.1", port, "127.0.0.1", 4433), cc,
                                 link.now());
    EXPECT_TRUE(c.has_value());
    clients.push_back(std::move(*c));
    return clients.back().get();
  };
  link.add_client(*connect(50001));
  link.add_client(*connect(50002));
  ASSERT_TRUE(link.run_until([&] { return server_side.handshakes == 2; }, 10 * kSecond));
  EXPECT_EQ(endpoint.stats().retries_sent, 0u);
  // Three more whose Initials arrive while nothing answers them: the third finds two in progress.
  std::vector<uint8_t> buffer(kMaxBurstPackets * 1500);
  uint8_t reply[1500];
  for (uint16_t port : {50003, 50004, 50005}) {
    Connection* c = connect(port);
    const Burst b = c->write(buffer, link.now());
    ASSERT_GT(b.bytes, 0u);
    endpoint.on_datagram(make_path("127.0.0.1", 4433, "127.0.0.1", port),
                         std::span(buffer.data(), std::min(b.bytes, b.segment_size)), link.now(),
                         reply);
  }
  EXPECT_EQ(endpoint.stats().accepted, 4u);
  EXPECT_EQ(endpoint.stats().retries_sent, 1u);
  EXPECT_EQ(endpoint.handshakes_in_progress(), 2u);
}

}  // namespace
}  // namespace qsse::quic

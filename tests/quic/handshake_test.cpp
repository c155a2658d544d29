// The QUIC + TLS stack end to end in memory: ngtcp2 client and server on wolfSSL, a
// certificate generated in-process, ALPN negotiated, 1 MiB sent zero-copy and verified; and the
// handshake failures a client must see.
#include <gtest/gtest.h>

#include <map>
#include <numeric>

#include <wolfssl/options.h>  // first: the build's settings

#include <wolfssl/ssl.h>

#include "memory_link.hpp"
#include "quic/connection.hpp"
#include "quic/endpoint.hpp"
#include "quic/ngtcp2_additions.h"
#include "quic/tls.hpp"

namespace qsse::quic {
namespace {

using testing::MemoryLink;
using testing::NetworkFaults;

// Records what a client receives.
struct ClientRecorder : ConnectionObserver {
  bool handshake = false;
  bool closed = false;
  std::map<int64_t, std::vector<uint8_t>> data;
  std::map<int64_t, bool> fin;
  void on_handshake_completed(Connection&) override { handshake = true; }
  bool on_stream_data(Connection&, int64_t id, std::span<const uint8_t> bytes, bool f) override {
    auto& d = data[id];
    d.insert(d.end(), bytes.begin(), bytes.end());
    if (f) fin[id] = true;
    return true;
  }
  void on_closed(Connection&) override { closed = true; }
};

// Sends `payload` on one unidirectional stream as soon as a connection is established,
// in slices of one shared buffer (no copies).
struct ServerSender : ConnectionObserver {
  BufferRef payload;
  size_t slice = 64 * 1024;
  int handshakes = 0;
  bool closed = false;
  std::string alpn;
  Connection* conn = nullptr;
  void on_handshake_completed(Connection& c) override {
    ++handshakes;
    alpn = std::string(c.alpn());
    conn = &c;
    if (!payload) return;
    auto stream = c.open_uni_stream();
    ASSERT_TRUE(stream.has_value());
    for (size_t off = 0; off < payload.size(); off += slice) {
      ASSERT_TRUE(c.send(*stream, payload, off, std::min(slice, payload.size() - off)));
    }
    ASSERT_TRUE(c.finish(*stream));
  }
  bool on_stream_data(Connection&, int64_t, std::span<const uint8_t>, bool) override {
    return true;
  }
  void on_closed(Connection& c) override {
    closed = true;
    close_reason = c.close_reason();
  }
  CloseReason close_reason;
};

BufferRef make_payload(size_t size) {
  BufferRef buf = BufferRef::allocate(size);
  std::mt19937 gen(7);
  for (size_t i = 0; i < size; ++i) buf.data()[i] = static_cast<uint8_t>(gen());
  return buf;
}

struct Fixture {
  CertificateBundle cert;
  std::shared_ptr<TlsContext> server_tls;
  ServerSender server_observer;
  std::unique_ptr<ServerEndpoint> server;
  ClientRecorder client_observer;
  std::unique_ptr<Connection> client;

  explicit Fixture(std::vector<std::string> server_alpn = {std::string(kAlpnNative)}) {
    auto generated = generate_self_signed("localhost");
    EXPECT_TRUE(generated.has_value()) << (generated ? "" : generated.error());
    cert = *generated;
    ServerTlsOptions options;
    options.certificate_pem = cert.certificate_pem;
    options.private_key_pem = cert.private_key_pem;
    options.alpn = std::move(server_alpn);
    auto tls = TlsContext::server(options);
    EXPECT_TRUE(tls.has_value()) << (tls ? "" : tls.error());
    server_tls = *tls;
    EndpointConfig config;
    config.retry = EndpointConfig::Retry::kNever;
    server = std::make_unique<ServerEndpoint>(server_tls, config, &server_observer);
  }

  // Builds the client; returns false (with the reason in `error`) if that fails.
  // `ciphers` (a wolfSSL cipher list) narrows what the client offers.
  bool connect(const ClientTlsOptions& options, MemoryLink& link, std::string* error = nullptr,
               const char* ciphers = nullptr, const TransportSettings& transport = {}) {
    auto tls = TlsContext::client(options);
    if (!tls) {
      if (error) *error = tls.error();
      return false;
    }
    if (ciphers != nullptr && wolfSSL_CTX_set_cipher_list((*tls)->native(), ciphers) != 1) {
      if (error) *error = std::string("cipher list refused: ") + ciphers;
      return false;
    }
    Connection::Config config;
    config.transport = transport;
    config.observer = &client_observer;
    auto conn = Connection::connect(*tls, testing::make_path("127.0.0.1", 50000, "127.0.0.1", 4433),
                                    config, link.now());
    if (!conn) {
      if (error) *error = conn.error();
      return false;
    }
    client = std::move(*conn);
    link.add_client(*client);
    return true;
  }
};

ClientTlsOptions trusting(const std::string& ca_pem) {
  ClientTlsOptions options;
  options.ca_pem = ca_pem;
  options.server_name = "localhost";
  return options;
}

TEST(QuicHandshake, NegotiatesAlpnAndDeliversOneMebibyteIntact) {
  Fixture f;
  const size_t kSize = 1 << 20;
  f.server_observer.payload = make_payload(kSize);
  MemoryLink link(*f.server, /*seed=*/1);
  ASSERT_TRUE(f.connect(trusting(f.cert.certificate_pem), link));

  const bool delivered = link.run_until([&] {
    for (auto& [id, done] : f.client_observer.fin) {
      if (done) return true;
    }
    return false;
  });
  ASSERT_TRUE(delivered) << "stream not finished in time";
  EXPECT_TRUE(f.client_observer.handshake);
  EXPECT_EQ(f.client->alpn(), kAlpnNative);
  EXPECT_EQ(f.server_observer.alpn, kAlpnNative);
  ASSERT_EQ(f.client_observer.data.size(), 1u);
  const auto& received = f.client_observer.data.begin()->second;
  ASSERT_EQ(received.size(), kSize);
  EXPECT_TRUE(std::equal(received.begin(), received.end(), f.server_observer.payload.data()));

  // Every slice is released once the client acknowledged it: nothing stays buffered.
  ASSERT_TRUE(
      link.run_until([&] { return f.server_observer.conn->buffered_bytes() == 0; }, 5 * kSecond));
  EXPECT_EQ(f.server->stats().accepted, 1u);
}

TEST(QuicHandshake, DeliversIntactOverLossyReorderingNetwork) {
  Fixture f;
  // 16 KB datagrams on this link: 4 MiB take ~260 plus acknowledgements, enough for 5% loss to
  // show with any seed (1 MiB with one acknowledgement per two packets lost none with seed 42).
  const size_t kSize = 4 << 20;
  f.server_observer.payload = make_payload(kSize);
  NetworkFaults faults;
  faults.loss = 0.05;
  faults.duplicate = 0.02;
  faults.reorder = 0.05;
  MemoryLink link(*f.server, /*seed=*/42, faults);
  ASSERT_TRUE(f.connect(trusting(f.cert.certificate_pem), link));
  ASSERT_TRUE(link.run_until([&] { return !f.client_observer.fin.empty(); }, 120 * kSecond));
  const auto& received = f.client_observer.data.begin()->second;
  ASSERT_EQ(received.size(), kSize);
  EXPECT_TRUE(std::equal(received.begin(), received.end(), f.server_observer.payload.data()));
  EXPECT_GT(link.datagrams_lost(), 0u) << "the network should have dropped something";
}

// Connects over `link` and lets the handshake's own packets (HANDSHAKE_DONE,
// NEW_CONNECTION_ID, their acknowledgements) settle for 100 ms; f.server_observer.conn is then
// the server's connection.
void connect_and_settle(Fixture& f, MemoryLink& link,
                        const TransportSettings& client_transport = {}) {
  ASSERT_TRUE(
      f.connect(trusting(f.cert.certificate_pem), link, nullptr, nullptr, client_transport));
  ASSERT_TRUE(link.run_until([&] { return f.server_observer.conn != nullptr; }, 5 * kSecond));
  const Timestamp settle = link.now() + 100 * kMillisecond;
  link.run_until([&] { return link.now() >= settle; }, 200 * kMillisecond);
}

// The client's acknowledgements while the server sends `packets` small packets one at a time,
// each arriving before the next leaves: how many datagrams the client sent meanwhile.
uint64_t acknowledgements_for(size_t packets, const TransportSettings& client_transport) {
  Fixture f;
  NetworkFaults faults;
  faults.delay = 100 * kMicrosecond;  // 16 packets arrive within 1.6 ms: the threshold acts first
  MemoryLink link(*f.server, /*seed=*/21, faults);
  connect_and_settle(f, link, client_transport);
  if (::testing::Test::HasFatalFailure()) return 0;
  Connection& server = *f.server_observer.conn;
  auto stream = server.open_uni_stream();
  EXPECT_TRUE(stream.has_value());
  const BufferRef payload = make_payload(64 * packets);
  const uint64_t before = link.datagrams_sent_to_server();
  for (size_t i = 0; i < packets; ++i) {
    EXPECT_TRUE(server.send(*stream, payload, i * 64, 64));
    const size_t want = (i + 1) * 64;
    EXPECT_TRUE(link.run_until(
        [&] {
          auto it = f.client_observer.data.find(*stream);
          return it != f.client_observer.data.end() && it->second.size() == want;
        },
        kSecond))
        << "packet " << i;
  }
  return link.datagrams_sent_to_server() - before;
}

TEST(QuicHandshake, AcknowledgesOncePerThresholdOfPacketsReceived) {
  const size_t kPackets = 160;
  const uint64_t by_default = acknowledgements_for(kPackets, TransportSettings{});
  EXPECT_GE(by_default, kPackets / 16 - 1);
  EXPECT_LE(by_default, kPackets / 16 + 1);
  TransportSettings every_fourth;
  every_fourth.ack_eliciting_threshold = 4;
  const uint64_t by_four = acknowledgements_for(kPackets, every_fourth);
  EXPECT_GE(by_four, kPackets / 4 - 1);
  EXPECT_LE(by_four, kPackets / 4 + 1);
}

TEST(QuicHandshake, AcknowledgesALonePacketAfterHalfTheMaxAckDelay) {
  Fixture f;
  NetworkFaults faults;
  faults.delay = 100 * kMicrosecond;
  MemoryLink link(*f.server, /*seed=*/22, faults);
  ASSERT_NO_FATAL_FAILURE(connect_and_settle(f, link));
  Connection& server = *f.server_observer.conn;
  ASSERT_EQ(server.buffered_bytes(), 0u);
  auto stream = server.open_uni_stream();
  ASSERT_TRUE(stream.has_value());
  ASSERT_TRUE(server.send(*stream, make_payload(64), 0, 64));
  ASSERT_TRUE(link.run_until([&] { return !f.client_observer.data.empty(); }, kSecond));
  const Timestamp received = link.now();
  const uint64_t before = link.datagrams_sent_to_server();
  ASSERT_TRUE(link.run_until([&] { return server.buffered_bytes() == 0; }, kSecond));
  // 12.5 ms (half of the 25 ms announced) plus the trip back; one acknowledgement.
  EXPECT_GE(link.now() - received, 12'500 * kMicrosecond);
  EXPECT_LE(link.now() - received, 13'000 * kMicrosecond);
  EXPECT_EQ(link.datagrams_sent_to_server() - before, 1u);
}

// A fixture on a memory link with a one-way delay of `delay`, and a buffer to write the
// server's connection into (once connect_and_settle() has made it).
struct SettledLink {
  Fixture f;
  MemoryLink link;
  std::vector<uint8_t> out = std::vector<uint8_t>(kMaxBurstPackets * 1500);
  explicit SettledLink(uint64_t delay) : link(*f.server, /*seed=*/23, faults(delay)) {}
  static NetworkFaults faults(uint64_t delay) {
    NetworkFaults n;
    n.delay = delay;
    return n;
  }
  Connection& server() { return *f.server_observer.conn; }
  Burst write() { return server().write(out, link.now()); }
};

TEST(QuicWrite, ALoneEventIsOnePacketAndTheConnectionSaysItHasNothingMore) {
  SettledLink l(100 * kMicrosecond);
  ASSERT_NO_FATAL_FAILURE(connect_and_settle(l.f, l.link));
  ASSERT_TRUE(l.write().drained);  // settled: nothing to send
  auto stream = l.server().open_uni_stream();
  ASSERT_TRUE(stream.has_value());
  ASSERT_TRUE(l.server().send(*stream, make_payload(64), 0, 64));
  const uint64_t skipped = l.server().writes_skipped();
  const Burst b = l.write();
  EXPECT_EQ(b.packets, 1u);
  EXPECT_GT(b.bytes, 64u);
  EXPECT_LT(b.bytes, 200u);
  EXPECT_TRUE(b.drained);
  // One call into ngtcp2 wrote the packet; the empty one after it was skipped.
  EXPECT_EQ(l.server().writes_skipped(), skipped + 1);
  EXPECT_EQ(l.write().bytes, 0u);  // what `drained` promises
  EXPECT_EQ(l.server().writes_skipped(), skipped + 2);
}

TEST(QuicWrite, EventsOfTwoStreamsShareOnePacket) {
  SettledLink l(100 * kMicrosecond);
  ASSERT_NO_FATAL_FAILURE(connect_and_settle(l.f, l.link));
  auto first = l.server().open_uni_stream();
  auto second = l.server().open_uni_stream();
  ASSERT_TRUE(first.has_value() && second.has_value());
  const BufferRef payload = make_payload(128);
  ASSERT_TRUE(l.server().send(*first, payload, 0, 64));
  ASSERT_TRUE(l.server().send(*second, payload, 64, 64));
  const Burst b = l.write();
  EXPECT_EQ(b.packets, 1u);
  EXPECT_GT(b.bytes, 128u);
  EXPECT_TRUE(b.drained);
  // Both arrive, from that one datagram.
  ASSERT_TRUE(l.link.run_until([&] { return l.f.client_observer.data.size() == 2; }, kSecond));
  EXPECT_EQ(l.f.client_observer.data[*first].size(), 64u);
  EXPECT_EQ(l.f.client_observer.data[*second].size(), 64u);
}

TEST(QuicWrite, MoreQueuedRangesThanOneCallTakesStillShareOnePacket) {
  SettledLink l(100 * kMicrosecond);
  ASSERT_NO_FATAL_FAILURE(connect_and_settle(l.f, l.link));
  auto stream = l.server().open_uni_stream();
  ASSERT_TRUE(stream.has_value());
  // 40 events in 40 separate buffers: 40 ranges, more than one call into ngtcp2 passes.
  std::vector<BufferRef> events;
  for (int i = 0; i < 40; ++i) {
    events.push_back(make_payload(64));
    ASSERT_TRUE(l.server().send(*stream, events.back(), 0, 64));
  }
  const Burst b = l.write();
  EXPECT_EQ(b.packets, 1u);
  EXPECT_GT(b.bytes, 40u * 64);
  EXPECT_TRUE(b.drained);
}

TEST(QuicWrite, ABacklogIsNotDrainedUntilItIsAllWritten) {
  // A fast path: pacing holds nothing back (on a slower one the next packet waits for the
  // connection's timer, and the write says it is drained meanwhile).
  SettledLink l(1 * kMicrosecond);
  ASSERT_NO_FATAL_FAILURE(connect_and_settle(l.f, l.link));
  auto stream = l.server().open_uni_stream();
  ASSERT_TRUE(stream.has_value());
  // Two packets: the memory link's path MTU is 16,000 bytes, and the first congestion window
  // takes two of them.
  const size_t kBytes = 24 * 1024;
  ASSERT_TRUE(l.server().send(*stream, make_payload(kBytes), 0, kBytes));
  // Every packet a write adds needs room for the largest one ngtcp2 might write (a path-MTU
  // probe). With less than one more packet of room beyond that, a write returns one packet.
  l.out.resize(TransportSettings{}.max_tx_udp_payload + 1000);
  size_t written = 0;
  int undrained = 0;
  for (; undrained < 100; ++undrained) {
    const Burst b = l.write();
    written += b.bytes;
    if (b.drained) break;
    ASSERT_GT(b.bytes, 0u) << "a write that is not drained has written something";
  }
  EXPECT_GE(undrained, 2);
  EXPECT_GT(written, kBytes);
  EXPECT_EQ(l.write().bytes, 0u);
}

// Settles `l`, then has its server connection write one 64-byte event, alone in one packet.
void write_a_lone_event(SettledLink& l) {
  ASSERT_NO_FATAL_FAILURE(connect_and_settle(l.f, l.link));
  auto stream = l.server().open_uni_stream();
  ASSERT_TRUE(stream.has_value());
  ASSERT_TRUE(l.server().send(*stream, make_payload(64), 0, 64));
  ASSERT_EQ(l.write().packets, 1u);
}

// ngtcp2 paces: after a write it holds the next packet back for the time the ones written take
// at the pacing rate. On a fast path (here a 1 us link) that rounds to no time at all, and the
// bootstrap's edit arms no timer for it; otherwise the connection would be due again at once and
// wake its shard for a write with nothing to send.
TEST(QuicWrite, ASmallPacketOnAFastPathArmsNoPacingTimer) {
  SettledLink l(1 * kMicrosecond);
  ASSERT_NO_FATAL_FAILURE(write_a_lone_event(l));
  // The next thing due is loss detection (at least the 1 ms timer granularity of RFC 9002).
  EXPECT_GE(l.server().expiry(), l.link.now() + kMillisecond);
}

TEST(QuicWrite, ASlowerPathIsStillPaced) {
  // 1 ms each way: a small packet's pacing time is microseconds, and the timer is armed.
  SettledLink l(1 * kMillisecond);
  ASSERT_NO_FATAL_FAILURE(write_a_lone_event(l));
  EXPECT_GT(l.server().expiry(), l.link.now());
  EXPECT_LT(l.server().expiry(), l.link.now() + 100 * kMicrosecond);
}

// Connection::write skips its call into ngtcp2 when it has no stream data and
// qsse_ngtcp2_conn_has_pending_tx (tools/ngtcp2-additions.c) says ngtcp2 has nothing either. Before
// every write of either side, this probe makes that call itself whenever the predicate says
// "nothing": it must write nothing, or the skip would have lost a packet.
struct SkipProbe {
  uint64_t skippable = 0;
  uint64_t pending = 0;
  uint64_t wrongly_skippable = 0;
  void operator()(Connection& conn, Timestamp now) {
    if (qsse_ngtcp2_conn_has_pending_tx(conn.native(), now) != 0) {
      ++pending;
      return;
    }
    ++skippable;
    if (write_without_stream_data(conn.native(), now) != 0) ++wrongly_skippable;
  }
};

TEST(QuicWrite, AWriteIsSkippedOnlyWhenNgtcp2HasNothingToSend) {
  // A lossy, duplicating, reordering link: immediate acknowledgements of out-of-order packets,
  // PTO probes, retransmissions, flow-control credit; and a key update halfway.
  Fixture f;
  const size_t kSize = 2 << 20;
  f.server_observer.payload = make_payload(kSize);
  f.server_observer.slice = 1000;  // many ranges, many packets
  NetworkFaults faults;
  faults.loss = 0.05;
  faults.duplicate = 0.02;
  faults.reorder = 0.05;
  MemoryLink link(*f.server, /*seed=*/44, faults);
  SkipProbe probe;
  bool key_update_started = false;
  link.before_write = [&](Connection& conn, Timestamp now) {
    probe(conn, now);
    auto received = f.client_observer.data.begin();
    if (!key_update_started && received != f.client_observer.data.end() &&
        received->second.size() >= kSize / 2 && &conn == f.client.get()) {
      key_update_started = ngtcp2_conn_initiate_key_update(conn.native(), now) == 0;
    }
  };
  ASSERT_TRUE(f.connect(trusting(f.cert.certificate_pem), link));
  const bool done = link.run_until([&] { return !f.client_observer.fin.empty(); }, 120 * kSecond);
  EXPECT_EQ(probe.wrongly_skippable, 0u)
      << "of " << probe.skippable << " writes the predicate let go";
  ASSERT_TRUE(done);
  EXPECT_EQ(f.client_observer.data.begin()->second.size(), kSize);
  EXPECT_TRUE(key_update_started);
  EXPECT_GT(link.datagrams_lost(), 0u);
  EXPECT_GT(probe.skippable, 100u);
  EXPECT_GT(probe.pending, 100u);
}

TEST(QuicWrite, ASubscriberSkipsTheWriteAfterEachPacketItDoesNotAcknowledgeYet) {
  // One small packet at a time, each arriving before the next leaves. The client acknowledges
  // every 16th; after the other 15 it has nothing to send, and its write skips ngtcp2.
  SettledLink l(100 * kMicrosecond);
  ASSERT_NO_FATAL_FAILURE(connect_and_settle(l.f, l.link));
  Connection& client = *l.f.client;
  auto stream = l.server().open_uni_stream();
  ASSERT_TRUE(stream.has_value());
  SkipProbe probe;
  l.link.before_write = [&](Connection& conn, Timestamp now) {
    if (&conn == &client) probe(conn, now);
  };
  constexpr size_t kPackets = 160;
  const BufferRef payload = make_payload(64 * kPackets);
  const uint64_t skipped = client.writes_skipped();
  for (size_t i = 0; i < kPackets; ++i) {
    ASSERT_TRUE(l.server().send(*stream, payload, i * 64, 64));
    const size_t want = (i + 1) * 64;
    ASSERT_TRUE(l.link.run_until([&] { return l.f.client_observer.data[*stream].size() == want; },
                                 kSecond));
  }
  EXPECT_EQ(probe.wrongly_skippable, 0u);
  // The client's writes: after each packet received, plus the rounds around them.
  EXPECT_GE(probe.skippable, kPackets * 15 / 16);
  EXPECT_GE(probe.pending, kPackets / 16 - 1) << "every 16th packet is acknowledged at once";
  EXPECT_GE(client.writes_skipped() - skipped, kPackets * 15 / 16) << "write() did not skip";
}

TEST(QuicHandshake, ClientRejectsCertificateItDoesNotTrust) {
  Fixture f;
  auto other = generate_self_signed("localhost");
  ASSERT_TRUE(other.has_value());
  MemoryLink link(*f.server, /*seed=*/2);
  ASSERT_TRUE(f.connect(trusting(other->certificate_pem), link));

  link.run_until([&] { return f.client->state() == Connection::State::kClosed; }, 10 * kSecond);
  EXPECT_FALSE(f.client_observer.handshake);
  EXPECT_EQ(f.server_observer.handshakes, 0);
  EXPECT_EQ(f.client->close_reason().kind, CloseReason::Kind::kLocalTransport);
  EXPECT_NE(f.client->close_reason().code, 0u) << "a TLS alert should be reported";
}

TEST(QuicHandshake, ClientRejectsNameMismatch) {
  Fixture f;
  MemoryLink link(*f.server, /*seed=*/3);
  ClientTlsOptions options = trusting(f.cert.certificate_pem);
  options.server_name = "not-localhost.example";
  ASSERT_TRUE(f.connect(options, link));
  link.run_until([&] { return f.client->state() == Connection::State::kClosed; }, 10 * kSecond);
  EXPECT_FALSE(f.client_observer.handshake);
  EXPECT_EQ(f.client->close_reason().kind, CloseReason::Kind::kLocalTransport);
}

TEST(QuicHandshake, InsecureSkipVerifyAcceptsUnknownCertificate) {
  Fixture f;
  MemoryLink link(*f.server, /*seed=*/4);
  ClientTlsOptions options;
  options.insecure_skip_verify = true;
  ASSERT_TRUE(f.connect(options, link));
  ASSERT_TRUE(link.run_until([&] { return f.client_observer.handshake; }, 10 * kSecond));
  EXPECT_EQ(f.client->alpn(), kAlpnNative);
}

TEST(QuicHandshake, MismatchedAlpnFailsHandshakeOnBothSides) {
  Fixture f;
  MemoryLink link(*f.server, /*seed=*/5);
  ClientTlsOptions options = trusting(f.cert.certificate_pem);
  options.alpn = {"other/1"};
  ASSERT_TRUE(f.connect(options, link));
  link.run_until([&] { return f.client->state() == Connection::State::kClosed; }, 10 * kSecond);
  EXPECT_FALSE(f.client_observer.handshake);
  EXPECT_EQ(f.server_observer.handshakes, 0);
  EXPECT_EQ(f.client->close_reason().kind, CloseReason::Kind::kPeerTransport);
  // CRYPTO_ERROR (0x100) + TLS alert no_application_protocol (120).
  EXPECT_EQ(f.client->close_reason().code, NGTCP2_CRYPTO_ERROR | 120u);
}

TEST(QuicHandshake, ServerPrefersItsOwnAlpnOrder) {
  Fixture f({std::string(kAlpnLegacy), std::string(kAlpnNative)});
  MemoryLink link(*f.server, /*seed=*/6);
  ClientTlsOptions options = trusting(f.cert.certificate_pem);
  options.alpn = {std::string(kAlpnNative), std::string(kAlpnLegacy)};
  ASSERT_TRUE(f.connect(options, link));
  ASSERT_TRUE(link.run_until(
      [&] { return f.client_observer.handshake && f.server_observer.handshakes == 1; },
      10 * kSecond));
  EXPECT_EQ(f.client->alpn(), kAlpnLegacy);
  EXPECT_EQ(f.server_observer.alpn, kAlpnLegacy);
}

TEST(TlsContext, ReportsUnreadableCertificateFiles) {
  ServerTlsOptions options;
  options.certificate_file = "/nonexistent/cert.pem";
  options.private_key_file = "/nonexistent/key.pem";
  auto tls = TlsContext::server(options);
  ASSERT_FALSE(tls.has_value());
  EXPECT_NE(tls.error().find("/nonexistent/cert.pem"), std::string::npos) << tls.error();
}

TEST(TlsContext, ReportsKeyThatDoesNotMatchCertificate) {
  auto a = generate_self_signed("localhost");
  auto b = generate_self_signed("localhost");
  ASSERT_TRUE(a && b);
  ServerTlsOptions options;
  options.certificate_pem = a->certificate_pem;
  options.private_key_pem = b->private_key_pem;
  auto tls = TlsContext::server(options);
  ASSERT_FALSE(tls.has_value());
  EXPECT_NE(tls.error().find("does not match"), std::string::npos) << tls.error();
}

}  // namespace
}  // namespace qsse::quic

namespace qsse::quic {
namespace {

// Key update (RFC 9001 §6) in the middle of a transfer: both directions switch keys and the
// data still arrives intact.
TEST(QuicHandshake, KeyUpdateMidTransferKeepsDataIntact) {
  Fixture f;
  const size_t kSize = 1 << 20;
  f.server_observer.payload = make_payload(kSize);
  MemoryLink link(*f.server, /*seed=*/13);
  ASSERT_TRUE(f.connect(trusting(f.cert.certificate_pem), link));
  // Wait until part of the stream arrived and the handshake is confirmed on both sides.
  ASSERT_TRUE(link.run_until([&] {
    return !f.client_observer.data.empty() &&
           f.client_observer.data.begin()->second.size() > kSize / 4;
  }));
  ASSERT_TRUE(link.run_until(
      [&] { return ngtcp2_conn_initiate_key_update(f.client->native(), link.now()) == 0; },
      5 * kSecond))
      << "the client could not start a key update";
  ASSERT_TRUE(link.run_until([&] { return !f.client_observer.fin.empty(); }));
  const auto& received = f.client_observer.data.begin()->second;
  ASSERT_EQ(received.size(), kSize);
  EXPECT_TRUE(std::equal(received.begin(), received.end(), f.server_observer.payload.data()));
}

// A server releases its wolfSSL session once the handshake completed (memory per idle
// connection); what it reported stays, and data keeps flowing.
TEST(QuicHandshake, ServerReleasesTlsSessionAfterHandshake) {
  Fixture f;
  f.server_observer.payload = make_payload(64 * 1024);
  MemoryLink link(*f.server, /*seed=*/17);
  ASSERT_TRUE(f.connect(trusting(f.cert.certificate_pem), link));
  ASSERT_TRUE(link.run_until([&] { return !f.client_observer.fin.empty(); }));
  ASSERT_NE(f.server_observer.conn, nullptr);
  EXPECT_FALSE(f.server_observer.conn->holds_tls_session());
  EXPECT_TRUE(f.client->holds_tls_session()) << "a client keeps its session (tickets)";
  EXPECT_EQ(f.server_observer.conn->alpn(), kAlpnNative);
  EXPECT_NE(f.server_observer.conn->cipher_name().find("TLS13"), std::string_view::npos)
      << f.server_observer.conn->cipher_name();
  EXPECT_EQ(f.server_observer.conn->cipher_name(), f.client->cipher_name());
  EXPECT_EQ(f.client_observer.data.begin()->second.size(), 64u * 1024);
}

// TLS bytes from a client after the handshake (in 1-RTT CRYPTO frames) reach a server that no
// longer holds a session: it closes with CRYPTO_ERROR unexpected_message, not a crash.
TEST(QuicHandshake, CryptoDataAfterHandshakeClosesWithUnexpectedMessage) {
  Fixture f;
  MemoryLink link(*f.server, /*seed=*/19);
  ASSERT_TRUE(f.connect(trusting(f.cert.certificate_pem), link));
  ASSERT_TRUE(link.run_until([&] {
    return f.server_observer.conn != nullptr && !f.server_observer.conn->holds_tls_session() &&
           ngtcp2_conn_get_handshake_completed(f.client->native());
  }));
  static const uint8_t kStray[] = {0x18, 0x00, 0x00, 0x01, 0x00};  // a TLS KeyUpdate message
  ASSERT_EQ(ngtcp2_conn_submit_crypto_data(f.client->native(), NGTCP2_ENCRYPTION_LEVEL_1RTT, kStray,
                                           sizeof(kStray)),
            0);
  ASSERT_TRUE(link.run_until([&] { return f.client_observer.closed && f.server_observer.closed; },
                             10 * kSecond));
  EXPECT_EQ(f.server_observer.close_reason.reason, "TLS data after the handshake");
  EXPECT_EQ(f.client->close_reason().kind, CloseReason::Kind::kPeerTransport);
  EXPECT_EQ(f.client->close_reason().code, NGTCP2_CRYPTO_ERROR | 10u);
}

// Packets altered on the way fail authentication and are dropped like lost ones, for every
// cipher suite the server accepts: the stream still arrives intact. (wolfSSL 5.7.2's EVP
// ChaCha20-Poly1305, which ngtcp2's glue would use, never checks the tag: altered packets would
// be accepted and the data or the connection broken.)
TEST(QuicHandshake, CorruptedPacketsAreDroppedAndTheDataArrivesIntactWithEverySuite) {
  for (const char* suite :
       {"TLS13-AES128-GCM-SHA256", "TLS13-AES256-GCM-SHA384", "TLS13-CHACHA20-POLY1305-SHA256"}) {
    SCOPED_TRACE(suite);
    Fixture f;
    const size_t kSize = 1 << 20;
    f.server_observer.payload = make_payload(kSize);
    NetworkFaults faults;
    faults.corrupt = 0.25;
    MemoryLink link(*f.server, /*seed=*/23, faults);
    std::string error;
    ASSERT_TRUE(f.connect(trusting(f.cert.certificate_pem), link, &error, suite)) << error;
    ASSERT_TRUE(
        link.run_until([&] { return !f.client_observer.fin.empty() || f.client_observer.closed; }));
    ASSERT_FALSE(f.client_observer.closed) << f.client->close_reason().reason;
    EXPECT_EQ(f.client->cipher_name(), suite);
    const auto& received = f.client_observer.data.begin()->second;
    ASSERT_EQ(received.size(), kSize);
    EXPECT_TRUE(std::equal(received.begin(), received.end(), f.server_observer.payload.data()));
    EXPECT_GT(link.datagrams_corrupted(), 10u) << "the link altered too few packets to tell ";
  }
}

}  // namespace
}  // namespace qsse::quic

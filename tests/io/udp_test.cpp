// UDP backends over real loopback sockets: batching, GSO bursts split back into datagrams,
// IPv4 and IPv6, wake-ups from other threads, and a full socket buffer.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "io/datagram_io.hpp"

namespace qsse::io {
namespace {

struct Received {
  std::vector<std::vector<uint8_t>> datagrams;
  Address from;
};

// Receives until `count` datagrams arrived or 5 s passed.
Received receive_n(DatagramIo& io, size_t count) {
  Received r;
  const uint64_t deadline = monotonic_ns() + 5'000'000'000ull;
  while (r.datagrams.size() < count && monotonic_ns() < deadline) {
    io.wait(std::min(deadline, monotonic_ns() + 100'000'000));
    io.receive(256, [&](const RxDatagram& d) {
      r.datagrams.emplace_back(d.data.begin(), d.data.end());
      r.from = *d.remote;
    });
  }
  return r;
}

// Every test runs against each backend.
class UdpBackend : public ::testing::TestWithParam<Backend> {};

Backend current_backend = Backend::kPortable;

std::unique_ptr<DatagramIo> open_or_die(const char* bind, bool gso = true,
                                        Backend backend = current_backend) {
  UdpOptions options;
  options.bind = *Address::parse(bind);
  options.gso = gso;
  auto io = open_udp(options, backend);
  EXPECT_TRUE(io.has_value()) << (io ? "" : io.error());
  return io ? std::move(*io) : nullptr;
}

TEST(Address, ParsesAndPrintsIPv4AndIPv6) {
  auto v4 = Address::parse("127.0.0.1:4433");
  ASSERT_TRUE(v4.has_value());
  EXPECT_EQ(v4->family(), AF_INET);
  EXPECT_EQ(v4->port(), 4433);
  EXPECT_EQ(v4->to_string(), "127.0.0.1:4433");
  auto v6 = Address::parse("[::1]:80");
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->family(), AF_INET6);
  EXPECT_EQ(v6->to_string(), "[::1]:80");
  EXPECT_EQ(Address::parse("localhost:1")->to_string(), "127.0.0.1:1");
  EXPECT_EQ(Address::parse(":9000")->to_string(), "0.0.0.0:9000");
}

TEST(Address, RejectsMalformedAddressesWithAReason) {
  for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
                          "example.com:80", "[::1:80", "[::1]80", "1.2.3.4:80x"}) {
    auto a = Address::parse(bad);
    ASSERT_FALSE(a.has_value()) << bad;
    EXPECT_NE(a.error().find("bad address"), std::string::npos) << a.error();
  }
}

TEST_P(UdpBackend, ReportsAddressInUse) {
  current_backend = GetParam();
  auto first = open_or_die("127.0.0.1:0");
  UdpOptions options;
  options.bind = first->local_address();
  auto second = open_udp(options, GetParam());
  ASSERT_FALSE(second.has_value());
  EXPECT_NE(second.error().find("in use"), std::string::npos) << second.error();
}

void check_burst_round_trip(const char* bind, bool gso) {
  auto a = open_or_die(bind, gso);
  auto b = open_or_die(bind, gso);
  ASSERT_TRUE(a && b);
  // One burst: 10 datagrams of 1200 bytes and a last one of 500, each filled with its index.
  std::vector<uint8_t> burst(10 * 1200 + 500);
  for (size_t i = 0; i < burst.size(); ++i) burst[i] = static_cast<uint8_t>(i / 1200);
  TxBurst tx{burst.data(), burst.size(), 1200, b->local_address()};
  ASSERT_EQ(a->send({&tx, 1}), 1u);
  Received r = receive_n(*b, 11);
  ASSERT_EQ(r.datagrams.size(), 11u);
  for (size_t i = 0; i < 11; ++i) {
    EXPECT_EQ(r.datagrams[i].size(), i < 10 ? 1200u : 500u);
    EXPECT_EQ(r.datagrams[i].front(), static_cast<uint8_t>(i));
  }
  EXPECT_EQ(r.from, a->local_address());
  a->receive(16, [](const RxDatagram&) {});  // lets a completion-based backend count sends
  EXPECT_EQ(a->stats().tx_datagrams, 11u);
  EXPECT_EQ(b->stats().rx_datagrams, 11u);
}

TEST_P(UdpBackend, GsoBurstArrivesAsSeparateDatagrams) {
  current_backend = GetParam();
  check_burst_round_trip("127.0.0.1:0", true);
}

TEST_P(UdpBackend, BurstWithoutGsoArrivesAsSeparateDatagrams) {
  current_backend = GetParam();
  check_burst_round_trip("127.0.0.1:0", false);
}

TEST_P(UdpBackend, WorksOverIPv6) {
  current_backend = GetParam();
  UdpOptions options;
  options.bind = *Address::parse("[::1]:0");
  auto probe = open_udp(options, GetParam());
  if (!probe) GTEST_SKIP() << "no IPv6 loopback here: " << probe.error();
  check_burst_round_trip("[::1]:0", true);
}

TEST_P(UdpBackend, WakeFromAnotherThreadEndsWait) {
  current_backend = GetParam();
  auto io = open_or_die("127.0.0.1:0");
  std::atomic<bool> waiting{false};
  std::thread waker([&] {
    while (!waiting.load()) std::this_thread::yield();
    io->wake();
  });
  waiting = true;
  const uint64_t start = monotonic_ns();
  io->wait(start + 30'000'000'000ull);  // would block 30 s without the wake
  waker.join();
  EXPECT_LT(monotonic_ns() - start, 10'000'000'000ull);
}

TEST_P(UdpBackend, FullSocketBufferIsReportedNotBlocking) {
  current_backend = GetParam();
  UdpOptions options;
  options.bind = *Address::parse("127.0.0.1:0");
  options.socket_buffer = 4096;  // tiny, so the receiver fills quickly
  auto receiver = open_udp(options, GetParam());
  ASSERT_TRUE(receiver.has_value());
  auto sender = open_or_die("127.0.0.1:0");
  std::vector<uint8_t> data(1200, 0x42);
  TxBurst tx{data.data(), data.size(), data.size(), (*receiver)->local_address()};
  // Loopback drops what the receiver cannot hold; the sender never blocks either way.
  const uint64_t start = monotonic_ns();
  for (int i = 0; i < 20000; ++i) {
    if (sender->send({&tx, 1}) == 0) sender->receive(64, [](const RxDatagram&) {});
  }
  EXPECT_LT(monotonic_ns() - start, 5'000'000'000ull);
  (*receiver)->wait(monotonic_ns() + 100'000'000);
  size_t got = (*receiver)->receive(100000, [](const RxDatagram&) {});
  EXPECT_GT(got, 0u);
  EXPECT_LT(got, 20000u) << "a 4 KiB receive buffer cannot have held everything";
}

// A datagram callback may reply at once. The reply must not disturb the rest of the receive
// batch: here the three datagrams arrive as one GRO message, and sending from inside the
// callback must not cut the message short.
TEST(PortableUdp, ReplyFromTheCallbackKeepsTheRestOfAGroBatch) {
  auto receiver = open_or_die("127.0.0.1:0", true, Backend::kPortable);
  auto peer = open_or_die("127.0.0.1:0", true, Backend::kPortable);
  ASSERT_TRUE(receiver && peer);
  std::vector<uint8_t> burst(300);
  for (size_t i = 0; i < burst.size(); ++i) burst[i] = static_cast<uint8_t>(i / 100);
  TxBurst tx{burst.data(), burst.size(), 100, receiver->local_address()};
  ASSERT_EQ(peer->send({&tx, 1}), 1u);

  const std::vector<uint8_t> reply(10, 0x7e);
  std::vector<std::vector<uint8_t>> got;
  const uint64_t deadline = monotonic_ns() + 5'000'000'000ull;
  while (got.size() < 3 && monotonic_ns() < deadline) {
    receiver->wait(std::min(deadline, monotonic_ns() + 100'000'000));
    receiver->receive(256, [&](const RxDatagram& d) {
      got.emplace_back(d.data.begin(), d.data.end());
      if (got.size() == 1) {
        TxBurst answer{reply.data(), reply.size(), reply.size(), *d.remote};
        EXPECT_EQ(receiver->send({&answer, 1}), 1u);
      }
    });
  }
  ASSERT_EQ(got.size(), 3u) << "datagrams of the GRO batch after the reply were lost";
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(got[i], std::vector<uint8_t>(100, static_cast<uint8_t>(i))) << i;
  }
  Received answers = receive_n(*peer, 1);
  ASSERT_EQ(answers.datagrams.size(), 1u);
  EXPECT_EQ(answers.datagrams[0], reply);
}

// Sending from inside the receive callback while every send slot is busy must not disturb the
// completions being walked: each datagram is delivered once, and every send is accounted once.
TEST(IoUringUdp, SendingFromTheCallbackWithAllSlotsBusyKeepsCompletionsStraight) {
  auto receiver = open_or_die("127.0.0.1:0", true, Backend::kIoUring);
  auto peer = open_or_die("127.0.0.1:0", true, Backend::kPortable);
  ASSERT_TRUE(receiver && peer);
  if (std::string(receiver->name()) != "io_uring") GTEST_SKIP() << "io_uring unavailable";
  // A wake-up completion ahead of the datagram's, both waiting when receive() walks them (the
  // first receive() sets the ring up; on loopback the datagram is queued when send() returns).
  receiver->receive(64, [](const RxDatagram&) {});
  receiver->wake();
  const uint8_t ping[] = {1, 2, 3};
  TxBurst tx{ping, sizeof ping, sizeof ping, receiver->local_address()};
  ASSERT_EQ(peer->send({&tx, 1}), 1u);
  const std::vector<uint8_t> reply(32, 0x5a);
  const size_t kBursts = 300;  // more than the backend's send slots
  std::vector<TxBurst> replies;
  size_t delivered = 0, accepted = 0;
  const uint64_t deadline = monotonic_ns() + 5'000'000'000ull;
  while (delivered == 0 && monotonic_ns() < deadline) {
    receiver->wait(std::min(deadline, monotonic_ns() + 100'000'000));
    receiver->receive(64, [&](const RxDatagram& d) {
      ++delivered;
      replies.assign(kBursts, TxBurst{reply.data(), reply.size(), reply.size(), *d.remote});
      accepted = receiver->send(replies);
    });
  }
  ASSERT_EQ(delivered, 1u);
  EXPECT_GT(accepted, 0u);
  EXPECT_LT(accepted, kBursts) << "with every slot busy the rest is refused, not reaped";
  // Nothing new arrives: nothing is delivered again, and the sends complete as accepted.
  Received peer_got = receive_n(*peer, accepted);
  EXPECT_EQ(peer_got.datagrams.size(), accepted);
  for (int i = 0; i < 20; ++i) {
    receiver->wait(monotonic_ns() + 5'000'000);
    receiver->receive(64, [&](const RxDatagram&) { ++delivered; });
  }
  EXPECT_EQ(delivered, 1u) << "a datagram was delivered again";
  EXPECT_EQ(receiver->stats().tx_datagrams, accepted);
}

INSTANTIATE_TEST_SUITE_P(Backends, UdpBackend,
                         ::testing::Values(Backend::kPortable, Backend::kIoUring),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param == Backend::kPortable ? "portable" : "io_uring";
                         });

TEST(OpenUdp, AutoPicksIoUringWhereAvailable) {
  UdpOptions options;
  options.bind = *Address::parse("127.0.0.1:0");
  auto io = open_udp(options, Backend::kAuto);
  ASSERT_TRUE(io.has_value());
  EXPECT_STREQ((*io)->name(), "io_uring") << "this kernel (6.x) supports io_uring";
}

}  // namespace
}  // namespace qsse::io

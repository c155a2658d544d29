// qsse-handshake: proves the QUIC + TLS stack on this machine, over real UDP on loopback.
//
// A server (its own thread and socket) generates an ECDSA P-256 certificate in-process; a
// client verifies it against that certificate as trust anchor, negotiates ALPN qsse/1, and
// receives SIZE MiB on one unidirectional stream, checking every byte. Prints a readable report
// with a progress line per second.
//
//   qsse-handshake [--mib N] [--backend auto|portable] [--no-gso]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "engine/paths.hpp"
#include "io/datagram_io.hpp"
#include "quic/connection.hpp"
#include "quic/endpoint.hpp"
#include "quic/tls.hpp"

namespace {

using namespace qsse;
using quic::Connection;

constexpr size_t kChunk = 1 << 20;  // the server sends one 1 MiB buffer again and again

uint8_t pattern(size_t offset) {
  size_t i = offset % kChunk;
  return static_cast<uint8_t>((i * 131) ^ (i >> 9));
}

using engine::path_of;
using engine::remote_of;

// Writes everything a connection has to send right now.
void flush(io::DatagramIo& io, Connection& conn, std::vector<uint8_t>& buffer) {
  for (int rounds = 0; rounds < 16; ++rounds) {
    quic::Burst burst = conn.write(buffer, io::monotonic_ns());
    if (burst.bytes == 0) return;
    io::TxBurst tx{buffer.data(), burst.bytes, burst.segment_size, remote_of(conn.path())};
    while (io.send({&tx, 1}) == 0) io.wait(io::monotonic_ns() + 1'000'000);
  }
}

struct Sender final : quic::ConnectionObserver {
  quic::BufferRef chunk;
  size_t total = 0;
  size_t queued = 0;
  int64_t stream = -1;
  void on_handshake_completed(Connection& conn) override {
    auto id = conn.open_uni_stream();
    if (!id) return;
    stream = *id;
    top_up(conn);
  }
  // Keeps at most 8 MiB queued so memory stays flat however large the transfer.
  void top_up(Connection& conn) {
    if (stream < 0) return;
    while (queued < total && conn.buffered_bytes() < 8 * kChunk) {
      size_t n = std::min(kChunk, total - queued);
      if (!conn.send(stream, chunk, 0, n)) return;
      queued += n;
      if (queued == total) (void)conn.finish(stream);
    }
  }
  bool on_stream_data(Connection&, int64_t, std::span<const uint8_t>, bool) override {
    return true;
  }
};

struct Receiver final : quic::ConnectionObserver {
  bool handshake = false;
  bool fin = false;
  bool corrupt = false;
  size_t received = 0;
  void on_handshake_completed(Connection&) override { handshake = true; }
  bool on_stream_data(Connection&, int64_t, std::span<const uint8_t> data, bool f) override {
    for (size_t i = 0; i < data.size(); ++i) {
      if (data[i] != pattern(received + i)) corrupt = true;
    }
    received += data.size();
    fin = fin || f;
    return !corrupt;
  }
};

int usage() {
  std::fprintf(stderr, "usage: qsse-handshake [--mib N] [--backend auto|portable] [--no-gso]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  size_t mib = 256;
  io::Backend backend = io::Backend::kAuto;
  bool gso = true;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--mib" && i + 1 < argc) {
      mib = std::strtoul(argv[++i], nullptr, 10);
      if (mib == 0 || mib > 1 << 20) return usage();
    } else if (arg == "--backend" && i + 1 < argc) {
      std::string b = argv[++i];
      if (b == "auto")
        backend = io::Backend::kAuto;
      else if (b == "portable")
        backend = io::Backend::kPortable;
      else if (b == "io_uring")
        backend = io::Backend::kIoUring;
      else
        return usage();
    } else if (arg == "--no-gso") {
      gso = false;
    } else {
      return usage();
    }
  }

  auto cert = quic::generate_self_signed("localhost");
  if (!cert) return std::fprintf(stderr, "certificate: %s\n", cert.error().c_str()), 1;
  quic::ServerTlsOptions server_options;
  server_options.certificate_pem = cert->certificate_pem;
  server_options.private_key_pem = cert->private_key_pem;
  auto server_tls = quic::TlsContext::server(server_options);
  if (!server_tls) return std::fprintf(stderr, "server TLS: %s\n", server_tls.error().c_str()), 1;
  quic::ClientTlsOptions client_options;
  client_options.ca_pem = cert->certificate_pem;
  auto client_tls = quic::TlsContext::client(client_options);
  if (!client_tls) return std::fprintf(stderr, "client TLS: %s\n", client_tls.error().c_str()), 1;

  io::UdpOptions server_udp;
  server_udp.bind = *io::Address::parse("127.0.0.1:0");
  server_udp.gso = gso;
  auto server_io = io::open_udp(server_udp, backend);
  if (!server_io) return std::fprintf(stderr, "server socket: %s\n", server_io.error().c_str()), 1;
  io::UdpOptions client_udp = server_udp;
  auto client_io = io::open_udp(client_udp, backend);
  if (!client_io) return std::fprintf(stderr, "client socket: %s\n", client_io.error().c_str()), 1;

  std::printf("qsse-handshake: QUIC (ngtcp2 %s) + TLS 1.3 (wolfSSL) over UDP on loopback\n",
              NGTCP2_VERSION);
  std::printf("  I/O backend: %s, GSO %s\n", (*server_io)->name(),
              (*server_io)->gso() ? "on" : "off");
  std::printf("  server on %s with an ECDSA P-256 certificate generated in-process\n",
              (*server_io)->local_address().to_string().c_str());
  std::printf("  client trusts exactly that certificate and checks the name 'localhost'\n");

  std::atomic<bool> stop{false};
  Sender sender;
  sender.total = mib * kChunk;
  sender.chunk = quic::BufferRef::allocate(kChunk);
  for (size_t i = 0; i < kChunk; ++i) sender.chunk.data()[i] = pattern(i);

  std::thread server_thread([&] {
    quic::EndpointConfig config;
    quic::ServerEndpoint endpoint(*server_tls, config, &sender);
    io::DatagramIo& io = **server_io;
    std::vector<uint8_t> buffer(quic::kMaxBurstPackets * 1500);
    uint8_t reply[1500];
    while (!stop.load(std::memory_order_relaxed)) {
      io.receive(64, [&](const io::RxDatagram& d) {
        auto r =
            endpoint.on_datagram(path_of(*d.local, *d.remote), d.data, io::monotonic_ns(), reply);
        if (r.kind == quic::ServerEndpoint::DatagramResult::Kind::kReplied) {
          io::TxBurst tx{reply, r.reply_bytes, r.reply_bytes, *d.remote};
          io.send({&tx, 1});
        }
      });
      uint64_t next = UINT64_MAX;
      endpoint.for_each_connection([&](Connection& conn) {
        if (conn.expiry() <= io::monotonic_ns()) conn.handle_expiry(io::monotonic_ns());
        sender.top_up(conn);
        flush(io, conn, buffer);
        next = std::min(next, conn.expiry());
      });
      endpoint.reap();
      io.wait(std::min(next, io::monotonic_ns() + 100'000'000));
    }
  });

  Receiver receiver;
  Connection::Config config;
  config.observer = &receiver;
  config.transport.keep_alive = 5 * quic::kSecond;
  io::DatagramIo& io = **client_io;
  const uint64_t start = io::monotonic_ns();
  auto conn = Connection::connect(
      *client_tls, path_of(io.local_address(), (*server_io)->local_address()), config, start);
  if (!conn) return std::fprintf(stderr, "connect: %s\n", conn.error().c_str()), 1;
  Connection& c = **conn;
  std::vector<uint8_t> buffer(quic::kMaxBurstPackets * 1500);
  uint64_t handshake_at = 0, last_report = start, last_bytes = 0, transfer_start = 0;
  const uint64_t deadline = start + 120ull * 1'000'000'000;
  while (!receiver.fin && c.state() != Connection::State::kClosed &&
         io::monotonic_ns() < deadline) {
    flush(io, c, buffer);
    io.wait(std::min(c.expiry(), io::monotonic_ns() + 100'000'000));
    io.receive(64, [&](const io::RxDatagram& d) {
      c.read_datagram(path_of(*d.local, *d.remote), d.data, io::monotonic_ns());
    });
    const uint64_t now = io::monotonic_ns();
    if (c.expiry() <= now) c.handle_expiry(now);
    if (receiver.handshake && handshake_at == 0) {
      handshake_at = transfer_start = now;
      std::printf("handshake completed in %.2f ms: ALPN %.*s, cipher %.*s\n", (now - start) / 1e6,
                  static_cast<int>(c.alpn().size()), c.alpn().data(),
                  static_cast<int>(c.cipher_name().size()), c.cipher_name().data());
      std::printf("receiving %zu MiB on one unidirectional stream, checking every byte...\n", mib);
    }
    if (now - last_report >= 1'000'000'000 && handshake_at != 0) {
      std::printf("  %5.1f s  %7.1f MiB  %7.1f MiB/s\n", (now - transfer_start) / 1e9,
                  receiver.received / 1048576.0,
                  (receiver.received - last_bytes) / 1048576.0 / ((now - last_report) / 1e9));
      last_report = now;
      last_bytes = receiver.received;
    }
  }
  flush(io, c, buffer);  // acknowledge the end of the stream
  const uint64_t end = io::monotonic_ns();
  ngtcp2_conn_info info;
  ngtcp2_conn_get_conn_info(c.native(), &info);
  stop = true;
  (*server_io)->wake();
  server_thread.join();

  const bool ok = receiver.fin && !receiver.corrupt && receiver.received == sender.total;
  const double seconds = (end - transfer_start) / 1e9;
  std::printf(
      "%s: %.1f MiB in %.2f s = %.1f MiB/s; smoothed RTT %.3f ms; "
      "client received %llu datagrams, sent %llu\n",
      ok ? "OK" : "FAILED", receiver.received / 1048576.0, seconds,
      receiver.received / 1048576.0 / seconds, info.smoothed_rtt / 1e6,
      static_cast<unsigned long long>(io.stats().rx_datagrams),
      static_cast<unsigned long long>(io.stats().tx_datagrams));
  if (!ok) {
    std::printf("  fin %d, corrupt %d, state %d, close reason: %s\n", receiver.fin,
                receiver.corrupt, static_cast<int>(c.state()), c.close_reason().reason.c_str());
  }
  return ok ? 0 : 1;
}

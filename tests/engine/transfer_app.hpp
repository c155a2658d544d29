// tests/engine/transfer_app.hpp — shard applications for engine tests: a server that sends a
// fixed amount of patterned data on one stream to every client, and a client that checks it.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "engine/shard.hpp"

namespace qsse::engine::testing {

inline constexpr size_t kChunk = 1 << 20;

// Polls `done` until it holds or `seconds` pass (a deadline, never a blind sleep).
template <class F>
bool wait_for(F&& done, int seconds) {
  const uint64_t deadline = io::monotonic_ns() + uint64_t(seconds) * 1'000'000'000;
  while (!done() && io::monotonic_ns() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

// A server TLS context with a fresh self-signed certificate and a client that trusts exactly it.
struct TestTls {
  std::shared_ptr<quic::TlsContext> server;
  std::shared_ptr<quic::TlsContext> client;
  TestTls() {
    auto cert = quic::generate_self_signed("localhost");
    quic::ServerTlsOptions so;
    so.certificate_pem = cert->certificate_pem;
    so.private_key_pem = cert->private_key_pem;
    server = *quic::TlsContext::server(so);
    quic::ClientTlsOptions co;
    co.ca_pem = cert->certificate_pem;
    client = *quic::TlsContext::client(co);
  }
};

inline uint8_t pattern(size_t offset) {
  const size_t i = offset % kChunk;
  return static_cast<uint8_t>((i * 131) ^ (i >> 9));
}

// Sends `total` bytes to each connection on one unidirectional stream, from one shared 1 MiB
// buffer (zero-copy), keeping at most `window` bytes queued per connection.
class SenderApp final : public ShardApp {
 public:
  explicit SenderApp(size_t total, size_t window = 8 * kChunk) : total_(total), window_(window) {
    chunk_ = quic::BufferRef::allocate(kChunk);
    for (size_t i = 0; i < kChunk; ++i) chunk_.data()[i] = pattern(i);
  }
  void on_handshake_completed(quic::Connection& conn) override {
    auto stream = conn.open_uni_stream();
    if (!stream) return;
    streams_[&conn] = State{*stream, 0};
    ++handshakes;
  }
  bool on_stream_data(quic::Connection&, int64_t, std::span<const uint8_t>, bool) override {
    return true;
  }
  void on_closed(quic::Connection& conn) override { streams_.erase(&conn); }
  void on_round(Shard& shard, uint64_t) override {
    for (auto& [conn, state] : streams_) {
      bool queued_any = false;
      while (state.queued < total_ && conn->buffered_bytes() < window_) {
        const size_t n = std::min(kChunk, total_ - state.queued);
        if (!conn->send(state.stream, chunk_, 0, n)) break;
        state.queued += n;
        queued_any = true;
        if (state.queued == total_) (void)conn->finish(state.stream);
      }
      if (queued_any) shard.mark_dirty(*conn);
    }
  }
  std::atomic<int> handshakes{0};

 private:
  struct State {
    int64_t stream;
    size_t queued;
  };
  size_t total_;
  size_t window_;
  quic::BufferRef chunk_;
  std::map<quic::Connection*, State> streams_;
};

// Checks every received byte against the pattern; counts connections that got everything.
class ReceiverApp final : public ShardApp {
 public:
  explicit ReceiverApp(size_t expected) : expected_(expected) {}
  void on_handshake_completed(quic::Connection&) override { ++handshakes; }
  bool on_stream_data(quic::Connection& conn, int64_t, std::span<const uint8_t> data,
                      bool fin) override {
    size_t& got = received_[&conn];
    for (size_t i = 0; i < data.size(); ++i) {
      if (data[i] != pattern(got + i)) {
        ++corrupt;
        return false;
      }
    }
    got += data.size();
    bytes += data.size();
    if (fin) {
      if (got == expected_)
        ++complete;
      else
        ++short_streams;
    }
    return true;
  }
  std::atomic<int> handshakes{0};
  std::atomic<int> complete{0};
  std::atomic<int> corrupt{0};
  std::atomic<int> short_streams{0};
  std::atomic<uint64_t> bytes{0};

 private:
  size_t expected_;
  std::map<quic::Connection*, size_t> received_;
};

// The first datagram a fresh client connection would send (a real, valid Initial).
inline std::vector<uint8_t> client_initial(std::shared_ptr<quic::TlsContext> tls,
                                           const io::Address& local, const io::Address& remote) {
  struct Nop final : quic::ConnectionObserver {
    void on_handshake_completed(quic::Connection&) override {}
    bool on_stream_data(quic::Connection&, int64_t, std::span<const uint8_t>, bool) override {
      return true;
    }
  } nop;
  quic::PathAddresses path;
  path.local = local.storage;
  path.local_len = local.length;
  path.remote = remote.storage;
  path.remote_len = remote.length;
  quic::Connection::Config config;
  config.observer = &nop;
  auto conn = quic::Connection::connect(tls, path, config, io::monotonic_ns());
  std::vector<uint8_t> buffer(quic::kMaxBurstPackets * 1500);
  quic::Burst burst = (*conn)->write(buffer, io::monotonic_ns());
  buffer.resize(burst.segment_size);
  return buffer;
}

}  // namespace qsse::engine::testing

// Fuzz target: arbitrary datagrams into the server's accept path — header decode, ngtcp2_accept,
// connection creation, ngtcp2_conn_read_pkt, and the replies and packets the server writes back.
//
// Input: a sequence of records [length: 2 bytes big-endian][datagram bytes], each delivered
// to one ServerEndpoint at an advancing virtual time (the first record usually being a client
// Initial from the seed corpus). Anything must be dropped, answered or closed without a crash,
// a sanitizer report or a leak.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>

#include "quic/endpoint.hpp"
#include "quic/tls.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

namespace {

using namespace qsse::quic;

std::shared_ptr<TlsContext> server_tls() {
  static std::shared_ptr<TlsContext> tls = [] {
    auto made = TlsContext::server(ServerTlsOptions{});
    if (!made) std::abort();
    return *made;
  }();
  return tls;
}

struct Sink final : ConnectionObserver {
  void on_handshake_completed(Connection&) override {}
  bool on_stream_data(Connection&, int64_t, std::span<const uint8_t>, bool) override {
    return true;
  }
};

PathAddresses fuzz_path() {
  PathAddresses p;
  auto* local = reinterpret_cast<sockaddr_in*>(&p.local);
  local->sin_family = AF_INET;
  local->sin_port = htons(4433);
  local->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  p.local_len = sizeof(sockaddr_in);
  auto* remote = reinterpret_cast<sockaddr_in*>(&p.remote);
  remote->sin_family = AF_INET;
  remote->sin_port = htons(50000);
  remote->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  p.remote_len = sizeof(sockaddr_in);
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Sink sink;
  EndpointConfig config;
  config.retry = EndpointConfig::Retry::kNever;
  ServerEndpoint endpoint(server_tls(), config, &sink);
  const PathAddresses path = fuzz_path();
  static uint8_t out[kMaxBurstPackets * 1500];
  uint8_t reply[1500];
  Timestamp now = 1 * kSecond;

  size_t pos = 0;
  while (pos + 2 <= size) {
    size_t len = (static_cast<size_t>(data[pos]) << 8) | data[pos + 1];
    pos += 2;
    len = std::min(len, size - pos);
    endpoint.on_datagram(path, std::span<const uint8_t>(data + pos, len), now, reply);
    pos += len;
    now += 1 * kMillisecond;
    endpoint.for_each_connection([&](Connection& conn) {
      for (int i = 0; i < 4 && conn.write(out, now).bytes > 0; ++i) {
      }
      if (conn.expiry() <= now) conn.handle_expiry(now);
    });
    endpoint.reap();
  }
  return 0;
}

// tests/quic/memory_link.hpp — a seeded in-memory network joining client Connections to one
// ServerEndpoint, with virtual time. Datagrams can be lost, duplicated, reordered, corrupted and
// delayed, all decided by a seeded generator, so every run of a test sees the same network.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <queue>
#include <random>
#include <vector>

#include "quic/connection.hpp"
#include "quic/endpoint.hpp"

namespace qsse::quic::testing {

inline PathAddresses make_path(const char* local_ip, uint16_t local_port, const char* remote_ip,
                               uint16_t remote_port) {
  PathAddresses p;
  auto set = [](sockaddr_storage& ss, socklen_t& len, const char* ip, uint16_t port) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    inet_pton(AF_INET, ip, &sin->sin_addr);
    len = sizeof(sockaddr_in);
  };
  set(p.local, p.local_len, local_ip, local_port);
  set(p.remote, p.remote_len, remote_ip, remote_port);
  return p;
}

inline PathAddresses reversed(const PathAddresses& p) {
  PathAddresses r;
  r.local = p.remote;
  r.local_len = p.remote_len;
  r.remote = p.local;
  r.remote_len = p.local_len;
  return r;
}

struct NetworkFaults {
  double loss = 0;       // probability a datagram is dropped
  double duplicate = 0;  // probability a datagram is delivered twice
  double reorder = 0;    // probability a datagram gets extra delay (overtaken by later ones)
  double corrupt = 0;    // probability one byte in a datagram's second half is flipped
  uint64_t delay = 1 * kMillisecond;  // one-way delay
  uint64_t reorder_delay = 3 * kMillisecond;
};

class MemoryLink {
 public:
  MemoryLink(ServerEndpoint& server, uint64_t seed, NetworkFaults faults = {})
      : server_(server), rng_(seed), faults_(faults) {}

  // Adds a client connection that lives at `path.local` and talks to `path.remote`.
  void add_client(Connection& client) { clients_.push_back(&client); }

  Timestamp now() const { return now_; }

  // Runs until `done()` is true or `max_time` of virtual time has passed. Returns done().
  bool run_until(const std::function<bool()>& done, uint64_t max_time = 60 * kSecond) {
    const Timestamp deadline = now_ + max_time;
    while (!done()) {
      flush_all();
      if (deliver_due()) continue;
      Timestamp next = next_event();
      if (next == UINT64_MAX || next > deadline) return done();
      now_ = std::max(now_, next);
      expire_due();
      server_.reap();
    }
    return true;
  }

  // Called before every write() of every connection (a test's probe of a connection's state).
  std::function<void(Connection&, Timestamp)> before_write;

  uint64_t datagrams_sent() const { return sent_; }
  uint64_t datagrams_sent_to_server() const { return sent_to_server_; }
  uint64_t datagrams_lost() const { return lost_; }
  uint64_t datagrams_corrupted() const { return corrupted_; }

 private:
  struct InFlight {
    Timestamp at;
    uint64_t seq;
    bool to_server;
    Connection* client;  // destination (to client) or source (to server)
    PathAddresses path;  // as seen by the receiver
    std::vector<uint8_t> bytes;
    bool operator>(const InFlight& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };

  void schedule(bool to_server, Connection* client, const PathAddresses& receiver_path,
                const uint8_t* data, size_t len) {
    ++sent_;
    if (to_server) ++sent_to_server_;
    std::uniform_real_distribution<double> u(0, 1);
    if (u(rng_) < faults_.loss) {
      ++lost_;
      return;
    }
    std::vector<uint8_t> bytes(data, data + len);
    if (len > 1 && u(rng_) < faults_.corrupt) {
      ++corrupted_;
      std::uniform_int_distribution<size_t> at(len / 2, len - 1);
      bytes[at(rng_)] ^= static_cast<uint8_t>(1u << (rng_() % 8));
    }
    int copies = u(rng_) < faults_.duplicate ? 2 : 1;
    for (int i = 0; i < copies; ++i) {
      Timestamp at = now_ + faults_.delay + (u(rng_) < faults_.reorder ? faults_.reorder_delay : 0);
      queue_.push(InFlight{at, seq_++, to_server, client, receiver_path, bytes});
    }
  }

  void emit(Connection& conn, bool to_server, Connection* client) {
    for (int rounds = 0; rounds < 64; ++rounds) {
      if (before_write) before_write(conn, now_);
      Burst b = conn.write(buffer_, now_);
      if (b.bytes == 0) return;
      PathAddresses receiver = reversed(conn.path());
      for (size_t off = 0; off < b.bytes; off += b.segment_size) {
        size_t len = std::min(b.segment_size, b.bytes - off);
        schedule(to_server, client, receiver, buffer_.data() + off, len);
      }
    }
  }

  void flush_all() {
    for (Connection* c : clients_) emit(*c, true, c);
    server_.for_each_connection([&](Connection& conn) {
      Connection* dest = nullptr;
      for (Connection* c : clients_) {
        if (same_address(c->path().local, conn.path().remote)) dest = c;
      }
      emit(conn, false, dest);
    });
  }

  bool deliver_due() {
    bool any = false;
    while (!queue_.empty() && queue_.top().at <= now_) {
      InFlight d = queue_.top();
      queue_.pop();
      any = true;
      if (d.to_server) {
        uint8_t reply[1500];
        auto r = server_.on_datagram(d.path, d.bytes, now_, reply);
        if (r.kind == ServerEndpoint::DatagramResult::Kind::kReplied) {
          schedule(false, d.client, reversed(d.path), reply, r.reply_bytes);
        }
      } else if (d.client != nullptr) {
        d.client->read_datagram(d.path, d.bytes, now_);
      }
    }
    return any;
  }

  Timestamp next_event() {
    Timestamp next = queue_.empty() ? UINT64_MAX : queue_.top().at;
    for (Connection* c : clients_) next = std::min(next, c->expiry());
    server_.for_each_connection([&](Connection& c) { next = std::min(next, c.expiry()); });
    return next;
  }

  void expire_due() {
    for (Connection* c : clients_) {
      if (c->expiry() <= now_) c->handle_expiry(now_);
    }
    server_.for_each_connection([&](Connection& c) {
      if (c.expiry() <= now_) c.handle_expiry(now_);
    });
  }

  static bool same_address(const sockaddr_storage& a, const sockaddr_storage& b) {
    const auto* x = reinterpret_cast<const sockaddr_in*>(&a);
    const auto* y = reinterpret_cast<const sockaddr_in*>(&b);
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }

  ServerEndpoint& server_;
  std::vector<Connection*> clients_;
  std::mt19937_64 rng_;
  NetworkFaults faults_;
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<>> queue_;
  Timestamp now_ = 1 * kSecond;
  uint64_t seq_ = 0;
  uint64_t sent_ = 0;
  uint64_t sent_to_server_ = 0;
  uint64_t lost_ = 0;
  uint64_t corrupted_ = 0;
  std::vector<uint8_t> buffer_ = std::vector<uint8_t>(kMaxBurstPackets * 1500);
};

}  // namespace qsse::quic::testing

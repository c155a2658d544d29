// io/memory.hpp — test backends: an in-memory datagram network and a fault-injecting wrapper.
//
// MemoryNetwork joins any number of MemoryIo endpoints by address, inside one process, with no
// sockets: send() appends to the destination's queue, receive() drains one's own. It is
// thread-safe (endpoints may live on different shard threads); datagrams to an address nobody
// has opened are dropped and counted, as on a real network.
//
// FaultyIo wraps any DatagramIo and, decided by a seeded generator, drops, duplicates, delays,
// corrupts or reorders the datagrams it sends, or refuses bursts like a full socket. Delayed
// datagrams are held and sent by later calls on the owner thread. Same seed, same decisions.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <vector>

#include "io/datagram_io.hpp"

namespace qsse::io {

class MemoryIo;

class MemoryNetwork : public std::enable_shared_from_this<MemoryNetwork> {
 public:
  static std::shared_ptr<MemoryNetwork> create() {
    return std::shared_ptr<MemoryNetwork>(new MemoryNetwork());
  }
  // Opens an endpoint at `address` (port 0 picks a free port). With `reuse_port`, several
  // endpoints may share an address, like SO_REUSEPORT sockets: each datagram goes to one of
  // them, chosen by the steering function (default: a hash of the sender's address, as the
  // kernel does). Errors: address in use.
  [[nodiscard]] Result<std::unique_ptr<DatagramIo>, std::string> open(const Address& address,
                                                                      bool reuse_port = false);
  // Replaces the steering: f(sender, group size) -> index of the receiving endpoint, in the
  // order they were opened. Lets tests move a client between shards (a NAT rebinding).
  void set_steering(std::function<size_t(const Address& from, size_t group_size)> f);
  uint64_t undeliverable() const { return undeliverable_.load(); }

 private:
  friend class MemoryIo;
  MemoryNetwork() = default;
  void deliver(const Address& from, const Address& to, const uint8_t* data, size_t length);
  void close(const Address& address, MemoryIo* endpoint);

  std::mutex mutex_;
  struct Group {
    bool reuse_port = false;
    std::vector<MemoryIo*> members;
  };
  std::map<std::vector<uint8_t>, Group> endpoints_;  // key: address bytes
  std::function<size_t(const Address&, size_t)> steering_;
  uint16_t next_port_ = 40000;
  std::atomic<uint64_t> undeliverable_{0};
};

struct FaultOptions {
  double loss = 0;
  double duplicate = 0;
  double reorder = 0;     // probability of an extra `reorder_delay_ns`
  double corrupt = 0;     // probability that one random byte of a datagram is flipped
  double refuse = 0;      // probability that send() stops before a burst, as on a full socket:
                          // it and the rest are refused, and the caller must offer them again
  uint64_t delay_ns = 0;  // added to every datagram
  uint64_t reorder_delay_ns = 2'000'000;
  uint64_t seed = 1;
};

// Wraps `inner`; see the header comment.
std::unique_ptr<DatagramIo> make_faulty(std::unique_ptr<DatagramIo> inner, const FaultOptions& f);

}  // namespace qsse::io

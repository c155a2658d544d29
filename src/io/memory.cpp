#include "io/memory.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <queue>

namespace qsse::io {
namespace {

std::vector<uint8_t> key_of(const Address& a) {
  const auto* p = reinterpret_cast<const uint8_t*>(&a.storage);
  return std::vector<uint8_t>(p, p + a.length);
}

void set_port(Address& a, uint16_t port) {
  if (a.family() == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&a.storage)->sin6_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in*>(&a.storage)->sin_port = htons(port);
  }
}

}  // namespace

class MemoryIo final : public DatagramIo {
 public:
  MemoryIo(std::shared_ptr<MemoryNetwork> network, Address local)
      : network_(std::move(network)), local_(local) {}
  ~MemoryIo() override { network_->close(local_, this); }

  const char* name() const override { return "memory"; }
  const Address& local_address() const override { return local_; }
  const IoStats& stats() const override { return stats_; }
  bool gso() const override { return true; }

  size_t receive(size_t max_datagrams, const RxVisitor& visit) override {
    {
      std::lock_guard lock(mutex_);
      const size_t n = std::min(max_datagrams, queue_.size());
      batch_.clear();
      for (size_t i = 0; i < n; ++i) {
        batch_.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    ++stats_.rx_syscalls;
    for (const auto& d : batch_) {
      visit(RxDatagram{d.bytes, &d.from, &local_});
      ++stats_.rx_datagrams;
      stats_.rx_bytes += d.bytes.size();
    }
    return batch_.size();
  }

  size_t send(std::span<const TxBurst> bursts) override {
    for (const TxBurst& b : bursts) {
      for (size_t off = 0; off < b.length; off += b.segment_size) {
        network_->deliver(local_, b.remote, b.data + off, std::min(b.segment_size, b.length - off));
        ++stats_.tx_datagrams;
        stats_.tx_bytes += std::min(b.segment_size, b.length - off);
      }
    }
    ++stats_.tx_syscalls;
    return bursts.size();
  }

  void wait(uint64_t deadline_ns) override {
    std::unique_lock lock(mutex_);
    auto ready = [&] { return !queue_.empty() || woken_; };
    if (deadline_ns == UINT64_MAX) {
      cv_.wait(lock, ready);
    } else {
      const uint64_t now = monotonic_ns();
      if (deadline_ns > now) cv_.wait_for(lock, std::chrono::nanoseconds(deadline_ns - now), ready);
    }
    woken_ = false;
  }

  void wake() override {
    {
      std::lock_guard lock(mutex_);
      woken_ = true;
    }
    cv_.notify_one();
  }

  void push(const Address& from, const uint8_t* data, size_t length) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(Datagram{from, std::vector<uint8_t>(data, data + length)});
    }
    cv_.notify_one();
  }

 private:
  struct Datagram {
    Address from;
    std::vector<uint8_t> bytes;
  };
  std::shared_ptr<MemoryNetwork> network_;
  Address local_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Datagram> queue_;
  std::vector<Datagram> batch_;
  bool woken_ = false;
  IoStats stats_;
};

Result<std::unique_ptr<DatagramIo>, std::string> MemoryNetwork::open(const Address& address,
                                                                     bool reuse_port) {
  std::lock_guard lock(mutex_);
  Address local = address;
  if (local.port() == 0) {
    do {
      set_port(local, next_port_++);
    } while (endpoints_.count(key_of(local)) != 0);
  }
  Group& group = endpoints_[key_of(local)];
  if (!group.members.empty() && !(group.reuse_port && reuse_port)) {
    return fail("memory network: " + local.to_string() + " in use");
  }
  group.reuse_port = reuse_port;
  auto io = std::make_unique<MemoryIo>(shared_from_this(), local);
  group.members.push_back(io.get());
  return std::unique_ptr<DatagramIo>(std::move(io));
}

void MemoryNetwork::set_steering(std::function<size_t(const Address&, size_t)> f) {
  std::lock_guard lock(mutex_);
  steering_ = std::move(f);
}

void MemoryNetwork::deliver(const Address& from, const Address& to, const uint8_t* data,
                            size_t length) {
  std::lock_guard lock(mutex_);
  auto it = endpoints_.find(key_of(to));
  if (it == endpoints_.end() || it->second.members.empty()) {
    ++undeliverable_;
    return;
  }
  const auto& members = it->second.members;
  size_t index = 0;
  if (members.size() > 1) {
    if (steering_) {
      index = steering_(from, members.size()) % members.size();
    } else {
      const auto key = key_of(from);
      index = std::hash<std::string_view>()(
                  std::string_view(reinterpret_cast<const char*>(key.data()), key.size())) %
              members.size();
    }
  }
  members[index]->push(from, data, length);
}

void MemoryNetwork::close(const Address& address, MemoryIo* endpoint) {
  std::lock_guard lock(mutex_);
  auto it = endpoints_.find(key_of(address));
  if (it == endpoints_.end()) return;
  std::erase(it->second.members, endpoint);
  if (it->second.members.empty()) endpoints_.erase(it);
}

namespace {

class FaultyIo final : public DatagramIo {
 public:
  FaultyIo(std::unique_ptr<DatagramIo> inner, const FaultOptions& options)
      : inner_(std::move(inner)), options_(options), rng_(options.seed) {}

  const char* name() const override { return inner_->name(); }
  const Address& local_address() const override { return inner_->local_address(); }
  const IoStats& stats() const override { return inner_->stats(); }
  bool gso() const override { return inner_->gso(); }
  void wake() override { inner_->wake(); }

  size_t receive(size_t max_datagrams, const RxVisitor& visit) override {
    release_due();
    return inner_->receive(max_datagrams, visit);
  }

  size_t send(std::span<const TxBurst> bursts) override {
    release_due();
    std::uniform_real_distribution<double> u(0, 1);
    const uint64_t now = monotonic_ns();
    size_t accepted = 0;
    for (const TxBurst& b : bursts) {
      if (options_.refuse > 0 && u(rng_) < options_.refuse) break;
      ++accepted;
      for (size_t off = 0; off < b.length; off += b.segment_size) {
        const size_t len = std::min(b.segment_size, b.length - off);
        if (u(rng_) < options_.loss) continue;
        const int copies = u(rng_) < options_.duplicate ? 2 : 1;
        for (int c = 0; c < copies; ++c) {
          uint64_t due = now + options_.delay_ns;
          if (u(rng_) < options_.reorder) due += options_.reorder_delay_ns;
          std::vector<uint8_t> bytes(b.data + off, b.data + off + len);
          if (!bytes.empty() && u(rng_) < options_.corrupt) {
            bytes[rng_() % bytes.size()] ^= static_cast<uint8_t>(1 + rng_() % 255);
          }
          held_.push(Held{due, seq_++, b.remote, std::move(bytes)});
        }
      }
    }
    release_due();
    return accepted;
  }

  void wait(uint64_t deadline_ns) override {
    if (!held_.empty()) deadline_ns = std::min(deadline_ns, held_.top().due);
    inner_->wait(deadline_ns);
    release_due();
  }

 private:
  struct Held {
    uint64_t due;
    uint64_t seq;
    Address remote;
    std::vector<uint8_t> bytes;
    bool operator>(const Held& o) const { return due != o.due ? due > o.due : seq > o.seq; }
  };

  void release_due() {
    const uint64_t now = monotonic_ns();
    while (!held_.empty() && held_.top().due <= now) {
      const Held& h = held_.top();
      TxBurst tx{h.bytes.data(), h.bytes.size(), h.bytes.size(), h.remote};
      if (inner_->send({&tx, 1}) == 0) return;  // socket full: try again later
      held_.pop();
    }
  }

  std::unique_ptr<DatagramIo> inner_;
  FaultOptions options_;
  std::mt19937_64 rng_;
  std::priority_queue<Held, std::vector<Held>, std::greater<>> held_;
  uint64_t seq_ = 0;
};

}  // namespace

std::unique_ptr<DatagramIo> make_faulty(std::unique_ptr<DatagramIo> inner,
                                        const FaultOptions& options) {
  return std::make_unique<FaultyIo>(std::move(inner), options);
}

}  // namespace qsse::io

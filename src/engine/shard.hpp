// engine/shard.hpp — one shard: a thread that owns a UDP socket (its own io_uring), a QUIC
// server endpoint and/or client connections, their timers, and the application running on them.
//
// Duty cycle (do_work), with a cap on each step so ACKs keep flowing under load:
//   1. drain the inbox: tasks posted by other threads, datagrams forwarded by other shards;
//   2. receive up to `max_rx_per_round` datagrams and hand each to its connection (or accept);
//   3. let the application run (ShardApp::on_round: e.g. move published events into streams);
//   4. fire due timers;
//   5. write every connection that has something to send, as GSO bursts, and submit them with
//      one send() call. Bursts the socket cannot take now (its buffer is full) stay queued, in
//      order, and go first next round; connections go on writing behind them while the
//      shard's 2 MiB send buffer has room, then wait (first in line next round) with their
//      data in their stream queues. Nothing written is dropped.
// Only connections touched in a round are written (received data, timer, application said so),
// so idle connections cost nothing per round. Timers live in a min-heap with lazy deletion.
//
// Connection IDs carry the shard id in their first byte. A datagram that arrives on the wrong
// shard (the kernel's SO_REUSEPORT hash changes when a client's address changes) is forwarded to
// its owner through that shard's inbox.
//
// Threads: run() (or do_work()) on the shard thread only; post(), forward() and stop() from any
// thread. Everything else (connect, the app callbacks) runs on the shard thread.
#pragma once

#include <concurrentqueue.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <queue>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "io/datagram_io.hpp"
#include "quic/cid_table.hpp"
#include "quic/connection.hpp"
#include "quic/endpoint.hpp"

namespace qsse::engine {

class Shard;
class ShardGroup;

// The application a shard runs: it observes every connection of the shard (server-accepted
// and client) and gets a hook once per round. Called on the shard thread only.
class ShardApp : public quic::ConnectionObserver {
 public:
  // After the inbox and the received datagrams were processed, before writing.
  virtual void on_round(Shard& shard, uint64_t now) { (void)shard, (void)now; }
  // The shard is about to block in wait(). Return false if work arrived meanwhile (the shard
  // then runs another round instead). Lets an app publish "I am asleep, wake me" safely.
  virtual bool prepare_to_sleep() { return true; }
  // The shard returned from wait().
  virtual void woke_up() {}
  // The latest time (monotonic ns) the shard may sleep until, for the app's own timers.
  virtual uint64_t next_deadline() { return UINT64_MAX; }
};

struct ShardConfig {
  uint8_t shard_id = 0;
  io::UdpOptions udp;
  io::Backend backend = io::Backend::kAuto;
  quic::EndpointConfig endpoint;         // used when the shard serves (server TLS given)
  size_t max_rx_per_round = 64;          // datagrams received per round before writing again
  size_t max_bursts_per_connection = 4;  // write rounds per connection per duty cycle
  // The shard thread's name (`top -H`, perf, gdb), at most 15 bytes; the shard id is appended.
  std::string thread_name = "qsse-shard";
  // 0: the thread keeps the scheduling it was started with. 1-99: ShardGroup::start gives it
  // the SCHED_FIFO real-time policy at this priority (see set_realtime_priority).
  int realtime_priority = 0;
};

// Gives `thread` the SCHED_FIFO real-time policy at `priority` (1-99). A SCHED_FIFO thread
// runs as soon as it is runnable, ahead of every ordinary thread, and keeps its core until it
// blocks: a shard that sleeps between rounds is never kept waiting behind other work for a
// scheduler time slice (milliseconds). Needs root, CAP_SYS_NICE or an RLIMIT_RTPRIO of at least
// `priority`. Errors: a message naming the priority and the reason.
[[nodiscard]] Result<void, std::string> set_realtime_priority(pthread_t thread, int priority);
// Whether `priority` is a valid realtime_priority (0, or 1-99). Errors: a message.
[[nodiscard]] Result<void, std::string> check_realtime_priority(int priority);

class Shard {
 public:
  // `io` may be given (tests: memory network); otherwise the shard opens config.udp with
  // config.backend. `server_tls` null: client-only shard. Errors: a message (socket, TLS).
  [[nodiscard]] static Result<std::unique_ptr<Shard>, std::string> create(
      const ShardConfig& config, std::shared_ptr<const quic::TlsContext> server_tls, ShardApp* app,
      std::unique_ptr<io::DatagramIo> io = nullptr);
  ~Shard();

  uint8_t id() const { return config_.shard_id; }
  const ShardConfig& config() const { return config_; }
  io::DatagramIo& io() { return *io_; }
  quic::ServerEndpoint* endpoint() { return endpoint_.get(); }

  // Runs duty cycles until stop(). Returns after closing nothing: call shutdown() first for a
  // graceful close.
  void run();
  // One duty cycle; returns the amount of work done (0: idle, the caller may wait).
  size_t do_work();
  // Blocks until the next timer, a datagram, or a wake-up.
  void wait();
  void stop();
  bool stopping() const { return stop_.load(std::memory_order_relaxed); }
  // True on the thread inside run().
  bool on_shard_thread() const { return thread_.load() == std::this_thread::get_id(); }

  // Thread-safe: runs `task` on the shard thread at the start of a later round.
  void post(std::function<void(Shard&)> task);
  // Thread-safe: a datagram that belongs to this shard, received by another. False: dropped,
  // because kMaxForwarded datagrams wait already (a flood of packets naming this shard must
  // not grow the queue without bound; a lost datagram is QUIC's to recover).
  bool forward(const io::RxDatagram& datagram);
  static constexpr size_t kMaxForwarded = 4096;

  // Shard thread: opens a client connection to `remote`; the first Initial leaves at once.
  [[nodiscard]] Result<quic::Connection*, std::string> connect(
      const io::Address& remote, std::shared_ptr<const quic::TlsContext> client_tls,
      quic::TransportSettings transport = {});
  // Shard thread: the connection has new data to send (call after Connection::send).
  void mark_dirty(quic::Connection& conn);
  // Shard thread: closes every connection with `app_error`; run() continues until they drained
  // or `deadline_ns` passed.
  void close_all(uint64_t app_error, std::string_view reason);
  size_t connection_count() const;
  template <class F>
  void for_each_client(F&& visit) {
    for (auto& c : clients_) visit(*c);
  }

  // Set by ShardGroup so misrouted datagrams can reach their owner.
  void set_group(ShardGroup* group) { group_ = group; }

  struct Stats {
    uint64_t rounds = 0;
    uint64_t forwarded_out = 0;
    uint64_t forwarded_in = 0;
    uint64_t forward_dropped = 0;  // for another shard, whose queue was full
    uint64_t replies_dropped = 0;  // stateless replies with no room in the send buffer
    uint64_t bursts_sent = 0;
    uint64_t bursts_joined = 0;      // bursts sent as part of an earlier one to the same peer
    uint64_t unroutable = 0;         // client-only shard: datagrams for no connection (dropped)
    uint64_t datagrams_written = 0;  // by connections: handed to the backend or queued for it
    uint64_t send_blocked = 0;       // send() calls that left bursts queued (socket full)
  };
  const Stats& stats() const { return stats_; }

 private:
  class Observer;
  struct Forwarded {
    io::Address remote;
    io::Address local;
    std::vector<uint8_t> bytes;
  };
  struct Timer {
    uint64_t at;
    quic::Connection* conn;
    bool operator>(const Timer& o) const { return at > o.at; }
  };
  // A min-heap of timers that keeps its storage when rebuilt (no allocation once grown).
  class TimerHeap : public std::priority_queue<Timer, std::vector<Timer>, std::greater<>> {
   public:
    // Replaces every entry with those `fill` appends to the vector it is given.
    template <class F>
    void rebuild(F&& fill) {
      c.clear();
      fill(c);
      std::make_heap(c.begin(), c.end(), comp);
    }
  };

  Shard(const ShardConfig& config, ShardApp* app);
  void on_datagram(const io::RxDatagram& d, uint64_t now);
  void deliver(const io::Address& remote, const io::Address& local, std::span<const uint8_t> bytes,
               uint64_t now);
  size_t fire_timers(uint64_t now);
  size_t flush(uint64_t now);
  void write_connection(quic::Connection& conn, uint64_t now);
  void queue_burst(const uint8_t* data, const quic::Burst& burst, const sockaddr* remote,
                   socklen_t remote_length);
  // Offers the queued bursts to the backend; keeps (and moves to the front of tx_buffer_) what
  // it refuses. True when nothing is left queued.
  bool send_queued();
  // Too little room left in tx_buffer_ for another burst.
  bool tx_full() const;
  void schedule(quic::Connection& conn);
  void forget(quic::Connection& conn);
  void reap_clients();

  ShardConfig config_;
  ShardApp* app_;
  std::unique_ptr<Observer> observer_;
  std::unique_ptr<io::DatagramIo> io_;
  std::unique_ptr<quic::ServerEndpoint> endpoint_;
  std::vector<std::unique_ptr<quic::Connection>> clients_;
  quic::CidTable client_routes_;
  ShardGroup* group_ = nullptr;

  moodycamel::ConcurrentQueue<std::function<void(Shard&)>> tasks_;
  moodycamel::ConcurrentQueue<Forwarded> forwarded_;
  std::atomic<bool> stop_{false};
  std::atomic<std::thread::id> thread_{};  // run()'s

  std::unordered_set<quic::Connection*> live_;
  std::vector<quic::Connection*> dirty_;
  std::vector<quic::Connection*> flushing_;  // flush(): the dirty list being written
  bool reap_due_ = false;                    // a connection closed: reap at the end of the round
  uint64_t last_reap_ = 0;
  TimerHeap timers_;

  // Outgoing bursts of one round, written into `tx_buffer_` and sent with one send() call; what
  // the socket refused stays at the front of both for the next attempt.
  std::vector<uint8_t> tx_buffer_;
  size_t tx_used_ = 0;
  std::vector<io::TxBurst> tx_bursts_;
  bool tx_blocked_ = false;  // this round's send() could not take everything
  uint8_t reply_[1500];      // a stateless reply written when tx_buffer_ has no room (dropped)
  Stats stats_;
};

// N shards on one address (SO_REUSEPORT), one thread each.
class ShardGroup {
 public:
  ShardGroup() = default;
  ~ShardGroup();
  void add(std::unique_ptr<Shard> shard);
  Shard& shard(size_t i) { return *shards_[i]; }
  size_t size() const { return shards_.size(); }
  // Starts one thread per shard running Shard::run(), with the shard's realtime_priority.
  // Errors: the priority could not be set (the shards are stopped again).
  [[nodiscard]] Result<void, std::string> start();
  // Stops all shards and joins their threads.
  void stop();
  // Hands a datagram to the shard that owns its destination CID (`shard_id` < size()); false:
  // dropped, that shard's queue is full.
  bool forward(uint8_t shard_id, const io::RxDatagram& datagram);

 private:
  std::vector<std::unique_ptr<Shard>> shards_;
  std::vector<std::thread> threads_;
};

}  // namespace qsse::engine

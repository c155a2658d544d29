#include "engine/shard.hpp"

#include "engine/paths.hpp"

#include <ngtcp2/ngtcp2.h>

#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace qsse::engine {
namespace {

constexpr size_t kTxBufferSize = 2 << 20;
constexpr size_t kMaxBurstBytes = quic::kMaxBurstPackets * 1500;
// A GSO send carries at most this many bytes (one IPv4 UDP datagram's limit, with room to spare).
constexpr size_t kMaxGsoBytes = 65'000;
// While the socket refuses bursts, the shard retries this often (loopback drains a full buffer
// in well under a millisecond).
constexpr uint64_t kSendRetryNs = 100'000;

}  // namespace

// Sits between the connections and the application: keeps the shard's bookkeeping (live set,
// timers, dirty list) and passes every event on.
class Shard::Observer final : public quic::ConnectionObserver {
 public:
  explicit Observer(Shard& shard) : shard_(shard) {}
  void on_handshake_completed(quic::Connection& c) override {
    shard_.live_.insert(&c);
    shard_.app_->on_handshake_completed(c);
  }
  bool on_stream_data(quic::Connection& c, int64_t id, std::span<const uint8_t> data,
                      bool fin) override {
    return shard_.app_->on_stream_data(c, id, data, fin);
  }
  void on_stream_opened(quic::Connection& c, int64_t id) override {
    shard_.app_->on_stream_opened(c, id);
  }
  void on_stream_closed(quic::Connection& c, int64_t id, uint64_t code) override {
    shard_.app_->on_stream_closed(c, id, code);
  }
  void on_streams_available(quic::Connection& c) override { shard_.app_->on_streams_available(c); }
  void on_closed(quic::Connection& c) override {
    shard_.reap_due_ = true;
    shard_.forget(c);
    shard_.app_->on_closed(c);
  }

 private:
  Shard& shard_;
};

Shard::Shard(const ShardConfig& config, ShardApp* app)
    : config_(config),
      app_(app),
      observer_(std::make_unique<Observer>(*this)),
      tx_buffer_(kTxBufferSize) {}

Shard::~Shard() {
  // Connections report on_closed while being destroyed; the bookkeeping must still exist.
  endpoint_.reset();
  clients_.clear();
}

Result<std::unique_ptr<Shard>, std::string> Shard::create(
    const ShardConfig& config, std::shared_ptr<const quic::TlsContext> server_tls, ShardApp* app,
    std::unique_ptr<io::DatagramIo> io) {
  if (app == nullptr) return fail(std::string("a shard needs an application"));
  std::unique_ptr<Shard> shard(new Shard(config, app));
  if (io == nullptr) {
    auto opened = io::open_udp(config.udp, config.backend);
    if (!opened) return fail(opened.error());
    io = std::move(*opened);
  }
  shard->io_ = std::move(io);
  if (server_tls != nullptr) {
    quic::EndpointConfig endpoint = config.endpoint;
    endpoint.shard_id = config.shard_id;
    shard->endpoint_ = std::make_unique<quic::ServerEndpoint>(std::move(server_tls), endpoint,
                                                              shard->observer_.get());
  }
  return shard;
}

void Shard::run() {
  const std::string name = config_.thread_name.substr(0, 12) + "-" + std::to_string(id());
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
  thread_ = std::this_thread::get_id();
  while (!stop_.load(std::memory_order_relaxed)) {
    if (do_work() == 0) wait();
  }
  thread_ = std::thread::id();  // (a later thread may get the same id)
}

void Shard::stop() {
  stop_.store(true, std::memory_order_relaxed);
  io_->wake();
}

void Shard::post(std::function<void(Shard&)> task) {
  tasks_.enqueue(std::move(task));
  io_->wake();
}

bool Shard::forward(const io::RxDatagram& d) {
  if (forwarded_.size_approx() >= kMaxForwarded) return false;
  forwarded_.enqueue(
      Forwarded{*d.remote, *d.local, std::vector<uint8_t>(d.data.begin(), d.data.end())});
  io_->wake();
  return true;
}

void Shard::wait() {
  // Connections left to write: go on at once, unless they wait for the socket to drain.
  if (!dirty_.empty() && tx_bursts_.empty()) return;
  // A backend may consume a wake-up while receiving (io_uring drains its eventfd there), so
  // work posted before that must be looked for here; work posted after it wakes us again.
  if (tasks_.size_approx() > 0 || forwarded_.size_approx() > 0) return;
  // The same holds for stop()'s wake-up: a shard stopped right after it started (or while it
  // received) would otherwise sleep with no deadline and never see the flag.
  if (stopping()) return;
  uint64_t deadline = UINT64_MAX;
  if (!timers_.empty()) deadline = timers_.top().at;
  deadline = std::min(deadline, app_->next_deadline());
  // Bursts the socket refused: try again soon (a backend may also wake on a completed send).
  if (!tx_bursts_.empty()) deadline = std::min(deadline, io::monotonic_ns() + kSendRetryNs);
  if (!app_->prepare_to_sleep()) return;
  io_->wait(deadline);
  app_->woke_up();
}

size_t Shard::do_work() {
  ++stats_.rounds;
  size_t work = 0;
  uint64_t now = io::monotonic_ns();

  // 1. Inbox: tasks and forwarded datagrams, bounded per round.
  std::function<void(Shard&)> task;
  for (int i = 0; i < 64 && tasks_.try_dequeue(task); ++i, ++work) task(*this);
  Forwarded fwd;
  for (int i = 0; i < 64 && forwarded_.try_dequeue(fwd); ++i, ++work) {
    ++stats_.forwarded_in;
    deliver(fwd.remote, fwd.local, fwd.bytes, now);
  }

  // 2. Receive, capped so that we write (and acknowledge) between batches. Time is read again
  // after every step that may create connections: ngtcp2 requires it never to go backwards.
  now = io::monotonic_ns();
  work +=
      io_->receive(config_.max_rx_per_round, [&](const io::RxDatagram& d) { on_datagram(d, now); });

  // 3. The application.
  now = io::monotonic_ns();
  app_->on_round(*this, now);

  // 4. Timers, 5. writes.
  now = io::monotonic_ns();
  work += fire_timers(now);
  work += flush(now);
  // Reaping walks every connection: only after one closed (or once a second, in case one
  // closed without telling), not every round.
  if (reap_due_ || now - last_reap_ > 1'000'000'000) {
    if (endpoint_ != nullptr) endpoint_->reap();
    reap_clients();
    reap_due_ = false;
    last_reap_ = now;
  }
  return work;
}

void Shard::on_datagram(const io::RxDatagram& d, uint64_t now) {
  if (d.data.empty()) return;
  // A short-header packet (or a long-header one other than Initial) whose CID names another
  // shard and is unknown here belongs to that shard.
  if (group_ != nullptr && d.data.size() > quic::kCidLength) {
    const bool long_header = (d.data[0] & 0x80) != 0;
    const uint8_t* dcid = nullptr;
    size_t dcid_len = 0;
    if (!long_header) {
      dcid = d.data.data() + 1;
      dcid_len = quic::kCidLength;
    } else if (d.data.size() > 6 + quic::kCidLength && ((d.data[0] >> 4) & 0x3) != 0) {
      dcid_len = d.data[5];
      dcid = d.data.data() + 6;
      if (dcid_len != quic::kCidLength) dcid = nullptr;
    }
    if (dcid != nullptr && dcid[0] != id() && dcid[0] < group_->size() &&
        (endpoint_ == nullptr || endpoint_->find(dcid, dcid_len) == nullptr) &&
        client_routes_.find(dcid, dcid_len) == nullptr) {
      if (group_->forward(dcid[0], d)) {
        ++stats_.forwarded_out;
      } else {
        ++stats_.forward_dropped;
      }
      return;
    }
  }
  deliver(*d.remote, *d.local, d.data, now);
}

void Shard::deliver(const io::Address& remote, const io::Address& local,
                    std::span<const uint8_t> bytes, uint64_t now) {
  const quic::PathAddresses path = path_of(local, remote);
  // Client connections first: a client shard has no endpoint.
  if (!clients_.empty()) {
    ngtcp2_version_cid vc;
    if (ngtcp2_pkt_decode_version_cid(&vc, bytes.data(), bytes.size(), quic::kCidLength) == 0) {
      if (quic::Connection* conn = client_routes_.find(vc.dcid, vc.dcidlen)) {
        conn->read_datagram(path, bytes, now);
        mark_dirty(*conn);
        return;
      }
    }
  }
  if (endpoint_ == nullptr) {
    ++stats_.unroutable;
    return;
  }
  // A stateless reply (Retry, version negotiation, reset, refusal) is written into the round's
  // send buffer and leaves with everything else; with no room left it is dropped (the peer
  // tries again).
  const bool room = !tx_full();
  const std::span<uint8_t> reply =
      room ? std::span(tx_buffer_.data() + tx_used_, kMaxBurstBytes) : std::span<uint8_t>(reply_);
  auto result = endpoint_->on_datagram(path, bytes, now, reply);
  using Kind = quic::ServerEndpoint::DatagramResult::Kind;
  if (result.kind == Kind::kReplied) {
    if (room) {
      queue_burst(reply.data(), quic::Burst{result.reply_bytes, result.reply_bytes, 1},
                  remote.sockaddr_ptr(), remote.length);
      tx_used_ += result.reply_bytes;
    } else {
      ++stats_.replies_dropped;
    }
  } else if (result.connection != nullptr &&
             result.connection->state() != quic::Connection::State::kClosed) {
    // (One that ended while reading the datagram has been forgotten already, and the next
    // reap destroys it: it must not be listed again.)
    if (result.kind == Kind::kAccepted) live_.insert(result.connection);
    mark_dirty(*result.connection);
  }
}

void Shard::mark_dirty(quic::Connection& conn) {
  // A closed connection has nothing left to write, and is destroyed at the next reap, which may
  // come before the next flush.
  if (conn.state() == quic::Connection::State::kClosed) return;
  if (!conn.write_pending) {
    conn.write_pending = true;
    dirty_.push_back(&conn);
  }
}

void Shard::schedule(quic::Connection& conn) {
  const uint64_t at = conn.expiry();
  if (at != UINT64_MAX) timers_.push(Timer{at, &conn});
  // Lazy deletion leaves stale entries; rebuild when they dominate.
  if (timers_.size() > 4 * live_.size() + 1024) {
    timers_.rebuild([&](std::vector<Timer>& fresh) {
      for (quic::Connection* c : live_) {
        if (c->expiry() != UINT64_MAX) fresh.push_back(Timer{c->expiry(), c});
      }
    });
  }
}

void Shard::forget(quic::Connection& conn) {
  live_.erase(&conn);
  // The connection is about to be destroyed: no pointer to it may stay on the write list.
  if (conn.write_pending) {
    std::erase(dirty_, &conn);
    conn.write_pending = false;
  }
}

size_t Shard::fire_timers(uint64_t now) {
  size_t fired = 0;
  while (!timers_.empty() && timers_.top().at <= now) {
    quic::Connection* conn = timers_.top().conn;
    timers_.pop();
    if (live_.count(conn) == 0 || conn->expiry() > now) continue;  // stale entry
    conn->handle_expiry(now);
    if (live_.count(conn) != 0) mark_dirty(*conn);
    ++fired;
  }
  return fired;
}

size_t Shard::flush(uint64_t now) {
  // Both lists keep their capacity: marking and flushing allocate nothing in steady state.
  flushing_.clear();
  flushing_.swap(dirty_);
  // What the socket refused last round leaves before anything newer.
  tx_blocked_ = !send_queued();
  const uint64_t written_before = stats_.datagrams_written;
  size_t done = 0;
  for (; done < flushing_.size(); ++done) {
    if (tx_blocked_ && tx_full()) break;  // the socket is full: the rest wait
    quic::Connection* conn = flushing_[done];
    conn->write_pending = false;
    write_connection(*conn, now);
  }
  if (done < flushing_.size()) {
    // Those not written this round (still marked) go first next round, ahead of those that
    // wrote and want more: a full socket is shared in turn, not taken by the same connections
    // every round while the others fall behind.
    flushing_.erase(flushing_.begin(), flushing_.begin() + static_cast<ptrdiff_t>(done));
    flushing_.insert(flushing_.end(), dirty_.begin(), dirty_.end());
    dirty_.swap(flushing_);
  }
  (void)send_queued();
  return stats_.datagrams_written - written_before;
}

bool Shard::send_queued() {
  if (tx_bursts_.empty()) return true;
  const size_t sent = io_->send(tx_bursts_);
  stats_.bursts_sent += sent;
  if (sent >= tx_bursts_.size()) {
    tx_bursts_.clear();
    tx_used_ = 0;
    return true;
  }
  // The socket's buffer is full. Dropping the rest would only make QUIC resend it after a
  // loss timeout (and count it as congestion): keep it, in order, for the next attempt. The
  // bursts lie back to back from the first unsent one to tx_used_: move them to the front.
  ++stats_.send_blocked;
  tx_bursts_.erase(tx_bursts_.begin(), tx_bursts_.begin() + static_cast<ptrdiff_t>(sent));
  const size_t offset = static_cast<size_t>(tx_bursts_.front().data - tx_buffer_.data());
  if (offset > 0) {
    std::memmove(tx_buffer_.data(), tx_buffer_.data() + offset, tx_used_ - offset);
    for (io::TxBurst& burst : tx_bursts_) burst.data -= offset;
    tx_used_ -= offset;
  }
  return false;
}

bool Shard::tx_full() const {
  return tx_buffer_.size() - tx_used_ < kMaxBurstBytes;
}

void Shard::write_connection(quic::Connection& conn, uint64_t now) {
  // Connections still handshaking are not in live_ yet but need their timers.
  live_.insert(&conn);
  bool more = false;  // stopped before the connection had nothing left to write
  for (size_t bursts = 0;; ++bursts) {
    if (bursts == config_.max_bursts_per_connection) {
      more = true;
      break;
    }
    if (tx_full()) {
      // Send what is queued to make room. When the socket takes too little of it, this
      // connection writes again next round; its data waits in its stream queues.
      if (!tx_blocked_) tx_blocked_ = !send_queued();
      if (tx_full()) {
        more = true;
        break;
      }
    }
    quic::Burst burst =
        conn.write(std::span<uint8_t>(tx_buffer_.data() + tx_used_, kMaxBurstBytes), now);
    if (burst.bytes == 0) break;
    const ngtcp2_addr& remote = conn.remote_address();
    queue_burst(tx_buffer_.data() + tx_used_, burst, remote.addr, remote.addrlen);
    tx_used_ += burst.bytes;
    stats_.datagrams_written += burst.packets;
    if (burst.drained) break;
  }
  if (more) mark_dirty(conn);  // next round
  if (conn.state() == quic::Connection::State::kClosed) {
    forget(conn);
    return;
  }
  schedule(conn);
}

void Shard::queue_burst(const uint8_t* data, const quic::Burst& burst, const sockaddr* remote,
                        socklen_t remote_length) {
  // Bursts of different connections to one peer address (a process that multiplexes many
  // connections over one socket) become one GSO send when they line up: adjacent in tx_buffer_,
  // the earlier one ending on a full segment, the same segment size. The kernel moves one
  // buffer instead of one per datagram, and on loopback the peer receives it as one GRO batch.
  if (!tx_bursts_.empty()) {
    io::TxBurst& last = tx_bursts_.back();
    const size_t segments = last.length / last.segment_size;
    if (last.data + last.length == data && last.segment_size == burst.segment_size &&
        last.length % last.segment_size == 0 &&
        segments + burst.packets <= quic::kMaxBurstPackets &&
        last.length + burst.bytes <= kMaxGsoBytes && last.remote.equals(remote, remote_length)) {
      last.length += burst.bytes;
      ++stats_.bursts_joined;
      return;
    }
  }
  tx_bursts_.push_back(
      io::TxBurst{data, burst.bytes, burst.segment_size, io::Address::of(remote, remote_length)});
}

Result<quic::Connection*, std::string> Shard::connect(
    const io::Address& remote, std::shared_ptr<const quic::TlsContext> client_tls,
    quic::TransportSettings transport) {
  quic::Connection::Config config;
  config.transport = transport;
  config.shard_id = id();
  config.cid_registry = &client_routes_;
  config.observer = observer_.get();
  auto conn = quic::Connection::connect(
      std::move(client_tls), path_of(io_->local_address(), remote), config, io::monotonic_ns());
  if (!conn) return fail(conn.error());
  quic::Connection* raw = conn->get();
  clients_.push_back(std::move(*conn));
  live_.insert(raw);
  mark_dirty(*raw);  // the first Initial leaves this round
  return raw;
}

void Shard::close_all(uint64_t app_error, std::string_view reason) {
  if (endpoint_ != nullptr) {
    endpoint_->for_each_connection([&](quic::Connection& c) {
      c.close(app_error, reason);
      mark_dirty(c);
    });
  }
  for (auto& c : clients_) {
    c->close(app_error, reason);
    mark_dirty(*c);
  }
}

size_t Shard::connection_count() const {
  return (endpoint_ != nullptr ? endpoint_->connection_count() : 0) + clients_.size();
}

void Shard::reap_clients() {
  for (size_t i = 0; i < clients_.size();) {
    if (clients_[i]->state() == quic::Connection::State::kClosed) {
      forget(*clients_[i]);
      std::swap(clients_[i], clients_.back());
      clients_.pop_back();
    } else {
      ++i;
    }
  }
}

ShardGroup::~ShardGroup() {
  stop();
}

void ShardGroup::add(std::unique_ptr<Shard> shard) {
  shard->set_group(this);
  shards_.push_back(std::move(shard));
}

Result<void, std::string> set_realtime_priority(pthread_t thread, int priority) {
  sched_param param{};
  param.sched_priority = priority;
  const int rc = pthread_setschedparam(thread, SCHED_FIFO, &param);
  if (rc == 0) return {};
  std::string error = "cannot run a thread with SCHED_FIFO priority " + std::to_string(priority) +
                      ": " + std::strerror(rc);
  if (rc == EPERM) error += " (needs root, CAP_SYS_NICE or an RLIMIT_RTPRIO that allows it)";
  return fail(std::move(error));
}

Result<void, std::string> check_realtime_priority(int priority) {
  if (priority < 0 || priority > 99) {
    return fail("realtime_priority must be 0 (ordinary scheduling) or 1-99 (SCHED_FIFO), not " +
                std::to_string(priority));
  }
  return {};
}

Result<void, std::string> ShardGroup::start() {
  for (auto& shard : shards_) {
    threads_.emplace_back([s = shard.get()] { s->run(); });
    if (const int priority = shard->config().realtime_priority; priority != 0) {
      if (auto set = set_realtime_priority(threads_.back().native_handle(), priority); !set) {
        stop();
        return set;
      }
    }
  }
  return {};
}

void ShardGroup::stop() {
  for (auto& shard : shards_) shard->stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

bool ShardGroup::forward(uint8_t shard_id, const io::RxDatagram& datagram) {
  return shards_[shard_id]->forward(datagram);
}

}  // namespace qsse::engine

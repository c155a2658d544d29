// The qsse side of qsse-bench: an in-process qsse::Server (or a remote one, --connect) and a
// load client built on the engine's shards: C client shards, each one thread and one UDP socket
// driving K/C qsse/1 connections (control stream: HELLO -> WELCOME/ERROR; event lanes: EVENT
// and GAP frames, one FrameReader per lane), instead of one qsse::Client (one thread) per
// subscriber.
#include <qsse/server.hpp>

#include <arpa/inet.h>

#include <algorithm>
#include <mutex>
#include <thread>

#include "driver.hpp"
#include "engine/shard.hpp"
#include "payload.hpp"
#include "probe.hpp"
#include "quic/tls.hpp"
#include "wire/frame.hpp"
#include "wire/frame_reader.hpp"

namespace qsse::bench {
namespace {

constexpr size_t kMaxHandshakesInFlight = 64;  // per client shard
constexpr uint64_t kMs = 1'000'000;
// The per-subscriber allowance nats-server gets (max_pending in nats_target.cpp).
constexpr size_t kWindowedSlowConsumerBytes = 256u << 20;

io::Backend backend_of(const std::string& name) {
  if (name == "io_uring") return io::Backend::kIoUring;
  if (name == "portable") return io::Backend::kPortable;
  return io::Backend::kAuto;
}

// Counts the UDP payload bytes a client shard receives and sends (the engine's IoStats counts
// datagrams and system calls only).
struct WireCounters {
  Counter rx_bytes, tx_bytes, rx_datagrams;
};

class CountingIo final : public io::DatagramIo {
 public:
  CountingIo(std::unique_ptr<io::DatagramIo> inner, WireCounters& counters)
      : inner_(std::move(inner)), counters_(counters) {}
  const char* name() const override { return inner_->name(); }
  const io::Address& local_address() const override { return inner_->local_address(); }
  size_t receive(size_t max_datagrams, const io::RxVisitor& visit) override {
    uint64_t bytes = 0;
    const size_t n = inner_->receive(max_datagrams, [&](const io::RxDatagram& d) {
      bytes += d.data.size();
      visit(d);
    });
    if (n != 0) {
      counters_.rx_bytes.add(bytes);
      counters_.rx_datagrams.add(n);
    }
    return n;
  }
  size_t send(std::span<const io::TxBurst> bursts) override {
    const size_t n = inner_->send(bursts);
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; ++i) bytes += bursts[i].length;
    if (bytes != 0) counters_.tx_bytes.add(bytes);
    return n;
  }
  void wait(uint64_t deadline_ns) override { inner_->wait(deadline_ns); }
  void wake() override { inner_->wake(); }
  const io::IoStats& stats() const override { return inner_->stats(); }
  bool gso() const override { return inner_->gso(); }

 private:
  std::unique_ptr<io::DatagramIo> inner_;
  WireCounters& counters_;
};

// One client shard and the subscriber connections it drives.
class LoadClient final : public engine::ShardApp {
 public:
  struct Session {
    size_t index = 0;  // subscriber index (Receivers)
    std::string pattern;
    quic::Connection* conn = nullptr;
    int64_t control_stream = -1;
    wire::FrameReader control{wire::kDefaultMaxFrameSize};
    std::vector<std::pair<int64_t, wire::FrameReader>> lanes;
    bool handshake_done = false;
    bool welcomed = false;
  };

  LoadClient(Receivers& receivers, size_t thread_index, std::vector<size_t> subscribers,
             const std::vector<std::string>& patterns, io::Address remote,
             std::shared_ptr<quic::TlsContext> tls)
      : receivers_(receivers),
        stats_(receivers.thread(thread_index)),
        remote_(remote),
        tls_(std::move(tls)) {
    sessions_.resize(subscribers.size());
    for (size_t i = 0; i < subscribers.size(); ++i) {
      sessions_[i].index = subscribers[i];
      sessions_[i].pattern = patterns[subscribers[i]];
    }
  }

  ~LoadClient() override {
    stop();
    shard_.reset();
  }

  Result<void, std::string> open(const Scenario& scenario) {
    engine::ShardConfig config;
    config.udp.bind = *io::Address::parse(remote_.family() == AF_INET6 ? "[::]:0" : "0.0.0.0:0");
    config.backend = backend_of(scenario.io_backend);
    config.thread_name = "bench-subs";
    auto opened = io::open_udp(config.udp, config.backend);
    if (!opened) return fail("client socket: " + opened.error());
    backend_ = (*opened)->name();
    auto counting = std::make_unique<CountingIo>(std::move(*opened), wire_);
    auto shard = engine::Shard::create(config, nullptr, this, std::move(counting));
    if (!shard) return fail("client shard: " + shard.error());
    shard_ = std::move(*shard);
    return {};
  }

  void start() {
    thread_ = std::thread([this] {
      tid_ = current_tid();
      shard_->run();
    });
    shard_->post([this](engine::Shard&) { connecting_ = true; });
  }

  // Closes every connection (bounded wait), stops the shard and joins its thread.
  void stop() {
    if (!thread_.joinable()) return;
    shard_->post([this](engine::Shard& shard) {
      closing_ = true;
      for (auto& s : sessions_) {
        if (s.conn != nullptr) {
          s.conn->close(static_cast<uint64_t>(ErrorCode::kNoError), "qsse-bench done");
          shard.mark_dirty(*s.conn);
        }
      }
    });
    const uint64_t deadline = now_ns() + 2'000 * kMs;
    while (open_.load() > 0 && now_ns() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    shard_->stop();
    thread_.join();
    shard_.reset();  // connections still open report on_closed to us now
  }

  size_t welcomed() const { return welcomed_.load(); }
  size_t failed() const { return failed_.load(); }
  size_t lost() const { return lost_.load(); }
  std::string first_error() const {
    std::lock_guard lock(mutex_);
    return first_error_;
  }
  uint64_t cpu_ns() const { return tid_ != 0 && thread_.joinable() ? thread_cpu_ns(tid_) : 0; }
  const WireCounters& wire() const { return wire_; }
  const std::string& backend() const { return backend_; }

  // ---- ShardApp (shard thread) ----
  void on_round(engine::Shard& shard, uint64_t) override {
    if (!connecting_ || closing_) return;
    while (next_ < sessions_.size() && in_flight_ < kMaxHandshakesInFlight) {
      Session& s = sessions_[next_++];
      quic::TransportSettings transport;
      transport.idle_timeout = 30'000 * kMs;
      transport.keep_alive = 10'000 * kMs;
      transport.handshake_timeout = 10'000 * kMs;
      transport.max_streams_uni = wire::kMaxEventLanes + 2;
      transport.max_streams_bidi = 0;
      auto conn = shard.connect(remote_, tls_, transport);
      if (!conn) {
        record_failure("connect: " + conn.error());
        continue;
      }
      s.conn = *conn;
      s.conn->user_data = &s;
      ++in_flight_;
      open_.fetch_add(1);
    }
  }

  uint64_t next_deadline() override {
    return connecting_ && next_ < sessions_.size() ? now_ns() + kMs : UINT64_MAX;
  }

  void on_handshake_completed(quic::Connection& c) override {
    Session& s = *static_cast<Session*>(c.user_data);
    s.handshake_done = true;
    --in_flight_;
    auto stream = c.open_bidi_stream();
    if (!stream) {
      c.close(static_cast<uint64_t>(ErrorCode::kFailedToCreateStream), "no control stream");
      return;
    }
    s.control_stream = *stream;
    const std::string_view pattern = s.pattern;
    wire::HelloParams hello;
    hello.max_frame_size = wire::kDefaultMaxFrameSize;
    hello.patterns = std::span<const std::string_view>(&pattern, 1);
    quic::BufferRef frame = quic::BufferRef::allocate(wire::encoded_size(hello));
    if (!wire::encode(std::span<uint8_t>(frame.data(), frame.size()), hello) ||
        !c.send(s.control_stream, frame)) {
      c.close(static_cast<uint64_t>(ErrorCode::kFailedToSendOffer), "HELLO not sent");
      return;
    }
    shard_->mark_dirty(c);
  }

  bool on_stream_data(quic::Connection& c, int64_t stream_id, std::span<const uint8_t> data,
                      bool) override {
    Session& s = *static_cast<Session*>(c.user_data);
    if (stream_id == s.control_stream) {
      s.control.feed(data);
      return drain_control(s);
    }
    wire::FrameReader* reader = nullptr;
    for (auto& [id, r] : s.lanes) {
      if (id == stream_id) reader = &r;
    }
    if (reader == nullptr) {
      if (s.lanes.size() >= wire::kMaxEventLanes + 2) {
        c.close(static_cast<uint64_t>(ErrorCode::kProtocolViolation), "too many lanes");
        return false;
      }
      reader =
          &s.lanes.emplace_back(stream_id, wire::FrameReader(wire::kDefaultMaxFrameSize)).second;
    }
    reader->feed(data);
    return drain_lane(s, *reader, now_ns());
  }

  void on_closed(quic::Connection& c) override {
    auto* s = static_cast<Session*>(c.user_data);
    if (s == nullptr) return;
    s->conn = nullptr;
    open_.fetch_sub(1);
    if (!s->handshake_done) --in_flight_;
    if (closing_) return;
    const quic::CloseReason& why = c.close_reason();
    std::string what = "subscriber " + std::to_string(s->index) +
                       " closed: " + (why.reason.empty() ? std::string("no reason") : why.reason) +
                       " (code " + std::to_string(why.code) + ")";
    if (s->welcomed) {
      stats_.errors.add();
      lost_.fetch_add(1);
      note_error(std::move(what));
    } else {
      record_failure(std::move(what));
    }
  }

 private:
  bool drain_control(Session& s) {
    for (;;) {
      auto frame = s.control.next();
      if (!frame) return frame.error() == wire::DecodeError::kNeedMore;
      if (frame->get_if<wire::WelcomeFrame>() != nullptr) {
        if (!s.welcomed) welcomed_.fetch_add(1);
        s.welcomed = true;
      } else if (const auto* error = frame->get_if<wire::ErrorFrame>()) {
        stats_.errors.add();
        note_error("subscriber " + std::to_string(s.index) + ": ERROR " +
                   std::string(to_string(error->code)) + " " + std::string(error->topic) + " " +
                   std::string(error->message));
      }
      // GOAWAY and unknown frames: nothing to do for a benchmark.
    }
  }

  bool drain_lane(Session& s, wire::FrameReader& reader, uint64_t now) {
    SubscriberTrack& track = receivers_.subscriber(s.index);
    for (;;) {
      auto frame = reader.next();
      if (!frame) return frame.error() == wire::DecodeError::kNeedMore;
      if (const auto* event = frame->get_if<wire::EventFrame>()) {
        const uint32_t topic = parse_topic_index(event->topic.data(), event->topic.size());
        if (topic >= track.last.size()) {
          stats_.unknown.add();
          continue;
        }
        Receivers::on_event(stats_, track, topic, event->id, payload_sent_ns(event->data), now);
      } else if (const auto* gap = frame->get_if<wire::GapFrame>()) {
        const uint32_t topic = parse_topic_index(gap->topic.data(), gap->topic.size());
        stats_.server_gaps.add(gap->last_id - gap->first_id + 1);
        if (topic < track.last.size())
          track.last[topic] = std::max(track.last[topic], gap->last_id);
      }
    }
  }

  // A subscriber could not be set up (connect, handshake, HELLO refused).
  void record_failure(std::string what) {
    failed_.fetch_add(1);
    note_error(std::move(what));
  }
  void note_error(std::string what) {
    std::lock_guard lock(mutex_);
    if (first_error_.empty()) first_error_ = std::move(what);
  }

  Receivers& receivers_;
  ReceiverThread& stats_;
  io::Address remote_;
  std::shared_ptr<quic::TlsContext> tls_;
  std::unique_ptr<engine::Shard> shard_;
  WireCounters wire_;
  std::string backend_;
  std::thread thread_;
  std::atomic<pid_t> tid_{0};

  // shard thread only
  std::vector<Session> sessions_;
  size_t next_ = 0;
  size_t in_flight_ = 0;
  bool connecting_ = false;
  bool closing_ = false;

  std::atomic<size_t> welcomed_{0}, failed_{0}, lost_{0}, open_{0};
  mutable std::mutex mutex_;
  std::string first_error_;
};

class QsseTarget final : public Target {
 public:
  ~QsseTarget() override {
    stop_subscribers();
    stop();
  }
  std::string name() const override { return "qsse"; }
  bool can_publish() const override { return server_ != nullptr; }
  bool server_in_process() const override { return server_ != nullptr; }

  Result<void, std::string> start(const Scenario& s, Receivers& receivers) override {
    scenario_ = s;
    for (size_t t = 0; t < s.topics; ++t) topics_.push_back("bench." + std::to_string(t));
    std::string address = s.connect;
    quic::ClientTlsOptions tls;
    tls.alpn = {std::string(wire::kAlpn)};
    tls.server_name = "localhost";
    if (s.connect.empty()) {
      ServerConfig config;
      config.shards = s.shards;
      config.realtime_priority = s.realtime_priority;
      config.io_backend = static_cast<IoBackend>(backend_of(s.io_backend));
      config.worker.client_acceptor_queue_size = std::max<size_t>(1'000, s.subscribers);
      if (s.slow_consumer_bytes != 0) {
        config.slow_consumer_bytes = s.slow_consumer_bytes;
      } else if (s.qsse_window) {
        config.slow_consumer_bytes = kWindowedSlowConsumerBytes;
      }
      slow_consumer_bytes_ = config.slow_consumer_bytes;
      config.slow_consumer_policy = s.policy == "close"          ? SlowConsumerPolicy::kClose
                                    : s.policy == "backpressure" ? SlowConsumerPolicy::kBackPressure
                                                                 : SlowConsumerPolicy::kDropWithGap;
      const std::vector<pid_t> before = list_threads();
      auto server = Server::create("127.0.0.1:0", topics_, config);
      if (!server) return fail(server.error());
      server_ = std::move(*server);
      for (pid_t tid : list_threads()) {
        if (std::find(before.begin(), before.end(), tid) == before.end())
          server_tids_.push_back(tid);
      }
      address = server_->address();
      tls.ca_pem = server_->certificate_pem();
    } else {
      tls.ca_file = s.ca_file;
      tls.insecure_skip_verify = s.insecure;
      if (s.ca_file.empty() && !s.insecure) {
        return fail(std::string("--connect needs --ca FILE or --insecure"));
      }
    }
    auto remote = io::Address::parse(address);
    if (!remote) return fail("address " + address + ": " + remote.error());
    auto context = quic::TlsContext::client(tls);
    if (!context) return fail("client TLS: " + context.error());

    std::vector<std::string> patterns;
    for (size_t i = 0; i < s.subscribers; ++i) {
      const uint32_t topic = s.topic_of(i);
      patterns.push_back(topic == kAllTopics ? "bench.*" : topics_[topic]);
    }
    const size_t threads = receivers.thread_count();
    for (size_t c = 0; c < threads; ++c) {
      std::vector<size_t> mine;
      for (size_t i = c; i < s.subscribers; i += threads) mine.push_back(i);
      clients_.push_back(
          std::make_unique<LoadClient>(receivers, c, mine, patterns, *remote, *context));
      if (auto opened = clients_.back()->open(s); !opened) return fail(opened.error());
    }
    for (auto& c : clients_) c->start();

    const uint64_t deadline = now_ns() + (20'000 + 20 * s.subscribers) * kMs;
    for (;;) {
      size_t welcomed = 0, failed = 0;
      for (auto& c : clients_) {
        welcomed += c->welcomed();
        failed += c->failed();
      }
      if (welcomed == s.subscribers) break;
      if (failed > 0) return fail(first_error());
      if (now_ns() > deadline || g_interrupted) {
        return fail("only " + std::to_string(welcomed) + " of " + std::to_string(s.subscribers) +
                    " subscribers were welcomed in time");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return {};
  }

  Publish publish(size_t, uint32_t topic, std::span<const uint8_t> payload) override {
    const PublishResult result = server_->publish(topics_[topic], payload);
    if (result.ok()) return Publish::kOk;
    if (result.status == PublishStatus::kBackPressure) return Publish::kBackPressure;
    std::lock_guard lock(mutex_);
    if (publish_error_.empty())
      publish_error_ = "publish: " + std::string(to_string(result.status));
    return Publish::kFailed;
  }

  Probe probe() override {
    Probe p;
    for (pid_t tid : server_tids_) p.server_cpu_ns += thread_cpu_ns(tid);
    if (server_ == nullptr && scenario_.server_pid > 0)
      p.server_cpu_ns = other_process_cpu_ns(scenario_.server_pid);
    for (auto& c : clients_) {
      p.subscriber_cpu_ns += c->cpu_ns();
      p.wire_rx += c->wire().rx_bytes.get();
      p.wire_tx += c->wire().tx_bytes.get();
      p.rx_datagrams += c->wire().rx_datagrams.get();
    }
    return p;
  }

  uint64_t server_peak_rss() override {
    return server_ == nullptr && scenario_.server_pid > 0 ? peak_rss_bytes(scenario_.server_pid)
                                                          : 0;
  }
  void reset_server_peak_rss() override {
    if (server_ == nullptr && scenario_.server_pid > 0) (void)reset_peak_rss(scenario_.server_pid);
  }

  std::string failure() const override {
    {
      std::lock_guard lock(mutex_);
      if (!publish_error_.empty()) return publish_error_;
    }
    size_t lost = 0;
    for (const auto& c : clients_) lost += c->lost();
    if (!clients_.empty() && lost == scenario_.subscribers)
      return "every subscriber connection was lost: " + first_error();
    return {};
  }

  void stop_subscribers() override {
    for (auto& c : clients_) c->stop();
  }

  void stop() override {
    if (server_ != nullptr) {
      server_->shutdown(std::chrono::milliseconds(50));
      server_.reset();
    }
    clients_.clear();
  }

  std::string notes() const override {
    const std::string io = clients_.empty() ? "?" : clients_.front()->backend();
    std::string text = "client I/O " + io + "; wire bytes: UDP payload at the subscribers' sockets";
    size_t lost = 0;
    for (const auto& c : clients_) lost += c->lost();
    if (lost > 0)
      text += "; " + std::to_string(lost) + " subscriber(s) lost, first: " + first_error();
    if (server_ != nullptr) {
      text += "; server in-process, " + std::to_string(scenario_.shards) +
              " shard(s), slow_consumer_bytes " + std::to_string(slow_consumer_bytes_) +
              ", policy " + scenario_.policy;
      const ServerStats stats = server_->stats();
      text += "; server: " + std::to_string(stats.events_dropped) +
              " event copies dropped for slow consumers, " + std::to_string(stats.back_pressure) +
              " publishes refused (back-pressure)";
    }
    return text;
  }

 private:
  std::string first_error() const {
    for (const auto& c : clients_) {
      if (std::string e = c->first_error(); !e.empty()) return e;
    }
    return "subscriber failed";
  }

  Scenario scenario_;
  std::vector<std::string> topics_;
  std::unique_ptr<Server> server_;
  std::vector<pid_t> server_tids_;
  size_t slow_consumer_bytes_ = 0;
  std::vector<std::unique_ptr<LoadClient>> clients_;
  mutable std::mutex mutex_;
  std::string publish_error_;
};

}  // namespace

std::unique_ptr<Target> make_qsse_target() {
  return std::make_unique<QsseTarget>();
}

}  // namespace qsse::bench

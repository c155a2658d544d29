// qsse::Client: one client shard on its own thread running ClientApp, which owns the
// connection, speaks qsse/1 or the legacy format, reconnects, and dispatches to handlers.
#include <qsse/client.hpp>
#include <qsse/topic.hpp>

#include <arpa/inet.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include "engine/frames.hpp"
#include "engine/shard.hpp"
#include "pubsub/pattern_trie.hpp"
#include "wire/frame.hpp"
#include "wire/frame_reader.hpp"
#include "wire/legacy.hpp"

namespace qsse {
namespace {

constexpr uint64_t kMs = 1'000'000;

// The handlers, immutable once built; replaced as a whole when one changes.
struct HandlerTable {
  std::vector<std::pair<std::string, EventHandler>> events;  // in the order they were set
  pubsub::PatternTrie trie;                                  // pattern -> index into events
  MessageHandler on_message;
  ErrorHandler on_error;
};

using engine::encode_frame;

std::string host_of(std::string_view address) {
  if (!address.empty() && address.front() == '[')
    return std::string(address.substr(1, address.find(']') - 1));
  return std::string(address.substr(0, address.rfind(':')));
}

}  // namespace

struct Client::Impl final : engine::ShardApp {
  // --- configuration, fixed at creation ---
  std::string address_text;
  io::Address remote;
  ClientConfig config;
  std::shared_ptr<quic::TlsContext> tls;
  engine::ShardGroup group;
  engine::Shard* shard = nullptr;

  // --- shared with other threads ---
  mutable std::mutex mutex;
  std::condition_variable cv;
  std::shared_ptr<const HandlerTable> handlers = std::make_shared<HandlerTable>();
  enum class Start { kPending, kReady, kFailed } start = Start::kPending;
  std::string start_error;
  std::atomic<uint64_t> events{0}, gaps{0}, reconnects{0};
  std::atomic<bool> connected{false};
  std::atomic<bool> closing{false};
  std::mutex stop_mutex;  // close(): joining the thread

  // --- client thread only ---
  std::vector<std::string> patterns;
  quic::Connection* conn = nullptr;
  int64_t control_stream = -1;
  wire::FrameReader control_reader{wire::kDefaultMaxFrameSize};
  std::map<int64_t, wire::FrameReader> lane_readers;
  wire::LineReader line_reader;
  wire::LegacyDecoder legacy_decoder;
  uint64_t epoch = 0;
  std::map<std::string, uint64_t, std::less<>> last_ids;
  int attempts = 0;  // failed attempts in the current outage
  uint64_t reconnect_at = UINT64_MAX;
  std::mt19937_64 rng{std::random_device{}()};

  // ---- helpers ----
  void dispatch_event(std::string_view topic, std::span<const uint8_t> data) {
    // close() (perhaps from a handler) ends the calls, also for events already received.
    if (closing.load(std::memory_order_relaxed)) return;
    events.fetch_add(1, std::memory_order_relaxed);
    std::shared_ptr<const HandlerTable> table;
    {
      std::lock_guard lock(mutex);
      table = handlers;
    }
    thread_local std::vector<uint32_t> matched;
    matched.clear();
    (void)table->trie.match(
        topic, [&](pubsub::SubscriberId id, std::string_view) { matched.push_back(id); });
    if (matched.empty()) {
      if (table->on_message) table->on_message(topic, data);
      return;
    }
    std::sort(matched.begin(), matched.end());
    matched.erase(std::unique(matched.begin(), matched.end()), matched.end());
    for (uint32_t index : matched) table->events[index].second(topic, data);
  }

  void dispatch_error(const ClientError& error) {
    if (closing.load(std::memory_order_relaxed)) return;
    std::shared_ptr<const HandlerTable> table;
    {
      std::lock_guard lock(mutex);
      table = handlers;
    }
    if (table->on_error) {
      table->on_error(error);
    } else {
      std::fprintf(stderr, "qsse client: error %d (%s) %s %s\n", error.code,
                   std::string(to_string(static_cast<ErrorCode>(error.code))).c_str(),
                   error.topic.c_str(), error.message.c_str());
    }
  }

  void finish_start(Start result, std::string error = {}) {
    std::lock_guard lock(mutex);
    if (start != Start::kPending) return;
    start = result;
    start_error = std::move(error);
    cv.notify_all();
  }

  void connect_now(uint64_t now) {
    reconnect_at = UINT64_MAX;
    quic::TransportSettings transport;
    transport.idle_timeout = static_cast<uint64_t>(config.idle_timeout.count()) * kMs;
    transport.keep_alive = static_cast<uint64_t>(config.keep_alive.count()) * kMs;
    transport.handshake_timeout = static_cast<uint64_t>(config.connect_timeout.count()) * kMs;
    transport.max_streams_uni = wire::kMaxEventLanes + 2;
    transport.max_streams_bidi = 0;
    auto c = shard->connect(remote, tls, transport);
    if (!c) {
      on_attempt_failed(now, c.error());
      return;
    }
    conn = *c;
  }

  void on_attempt_failed(uint64_t now, const std::string& why) {
    connected = false;
    if (closing) return;
    const ReconnectPolicy& p = config.reconnect;
    if (!p.retry || attempts >= p.retry_times) {
      if (start == Start::kPending) {
        finish_start(Start::kFailed, why);
      } else {
        dispatch_error(ClientError{
            static_cast<int>(ErrorCode::kUnknown), {}, "connection lost and not restored: " + why});
      }
      return;
    }
    double wait = static_cast<double>(p.retry_interval.count()) * kMs;
    for (int i = 0; i < attempts; ++i) wait *= p.backoff;
    wait = std::min(wait, static_cast<double>(p.max_interval.count()) * kMs);
    std::uniform_real_distribution<double> jitter(1.0 - p.jitter, 1.0 + p.jitter);
    wait *= jitter(rng);
    ++attempts;
    reconnect_at = now + static_cast<uint64_t>(wait);
  }

  // ---- ShardApp ----
  void on_handshake_completed(quic::Connection& c) override {
    if (&c != conn) return;
    lane_readers.clear();
    control_reader = wire::FrameReader(config.max_frame_size);
    line_reader = wire::LineReader();
    if (config.protocol == Protocol::kNative) {
      auto stream = c.open_bidi_stream();
      if (!stream)
        return c.close(static_cast<uint64_t>(ErrorCode::kFailedToCreateStream), "no stream");
      control_stream = *stream;
      std::vector<std::string_view> views(patterns.begin(), patterns.end());
      std::vector<wire::ResumePosition> resume;
      for (const auto& [topic, id] : last_ids) resume.push_back({topic, id});
      wire::HelloParams hello;
      hello.max_frame_size = config.max_frame_size;
      hello.token = config.token;
      hello.patterns = views;
      hello.resume_epoch = epoch;
      hello.resume = resume;
      quic::BufferRef frame = quic::BufferRef::allocate(wire::encoded_size(hello));
      if (!wire::encode(std::span<uint8_t>(frame.data(), frame.size()), hello)) {
        return c.close(static_cast<uint64_t>(ErrorCode::kFailedToSendOffer), "HELLO too large");
      }
      (void)c.send(control_stream, frame);
    } else {
      auto stream = c.open_uni_stream();
      if (!stream)
        return c.close(static_cast<uint64_t>(ErrorCode::kFailedToCreateStream), "no stream");
      std::vector<std::string_view> views(patterns.begin(), patterns.end());
      quic::BufferRef offer =
          quic::BufferRef::allocate(wire::legacy_offer_size(config.token, views));
      auto n = wire::encode_legacy_offer(std::span<uint8_t>(offer.data(), offer.size()),
                                         config.token, views);
      if (!n) return c.close(static_cast<uint64_t>(ErrorCode::kFailedToSendOffer), "bad offer");
      (void)c.send(*stream, offer, 0, *n);
      (void)c.finish(*stream);
    }
    shard->mark_dirty(c);
  }

  bool on_stream_data(quic::Connection& c, int64_t stream_id, std::span<const uint8_t> data,
                      bool) override {
    if (&c != conn) return true;
    if (config.protocol == Protocol::kLegacy) return on_legacy_data(data);
    if (stream_id == control_stream) {
      control_reader.feed(data);
      return drain(control_reader, true);
    }
    auto [it, added] = lane_readers.try_emplace(stream_id, config.max_frame_size);
    it->second.feed(data);
    return drain(it->second, false);
  }

  bool drain(wire::FrameReader& reader, bool control) {
    for (;;) {
      auto frame = reader.next();
      if (!frame) {
        if (frame.error() == wire::DecodeError::kNeedMore) return true;
        conn->close(static_cast<uint64_t>(wire::to_error_code(frame.error())),
                    wire::to_string(frame.error()));
        return true;
      }
      if (const auto* event = frame->get_if<wire::EventFrame>(); event && !control) {
        auto& last = last_ids[std::string(event->topic)];
        last = std::max(last, event->id);
        dispatch_event(event->topic, event->data);
      } else if (const auto* gap = frame->get_if<wire::GapFrame>(); gap && !control) {
        gaps.fetch_add(gap->last_id - gap->first_id + 1, std::memory_order_relaxed);
        auto& last = last_ids[std::string(gap->topic)];
        last = std::max(last, gap->last_id);
        dispatch_error(ClientError{
            static_cast<int>(gap->reason), std::string(gap->topic),
            "missed events " + std::to_string(gap->first_id) + "-" + std::to_string(gap->last_id)});
      } else if (const auto* welcome = frame->get_if<wire::WelcomeFrame>(); welcome && control) {
        if (welcome->server_epoch != epoch) last_ids.clear();  // ids of another server instance
        epoch = welcome->server_epoch;
        attempts = 0;
        connected = true;
        finish_start(Start::kReady);
      } else if (const auto* error = frame->get_if<wire::ErrorFrame>(); error && control) {
        dispatch_error(ClientError{static_cast<int>(error->code), std::string(error->topic),
                                   std::string(error->message)});
      } else if (const auto* goaway = frame->get_if<wire::GoAwayFrame>(); goaway && control) {
        // The server drains: keep receiving until it closes; reconnect then, after its delay.
        config.reconnect.retry_interval = std::chrono::milliseconds(goaway->retry_after_ms);
      } else if (frame->get_if<wire::UnknownFrame>() == nullptr) {
        conn->close(static_cast<uint64_t>(ErrorCode::kProtocolViolation), "unexpected frame");
        return true;
      }
    }
  }

  bool on_legacy_data(std::span<const uint8_t> data) {
    line_reader.feed(data);
    if (start == Start::kPending) {  // the server opened its stream: the offer was accepted
      attempts = 0;
      connected = true;
      finish_start(Start::kReady);
    }
    for (;;) {
      auto line = line_reader.next();
      if (!line) {
        if (line.error() == wire::LegacyError::kNeedMore) return true;
        conn->close(static_cast<uint64_t>(wire::to_error_code(line.error())), "bad line");
        return true;
      }
      auto event = legacy_decoder.decode_event(*line);
      if (!event) {
        conn->close(static_cast<uint64_t>(wire::to_error_code(event.error())), "bad event");
        return true;
      }
      if (event->topic == wire::kLegacyErrorTopic) {
        auto payload = legacy_decoder.decode_error_payload(event->data);
        ClientError error;
        error.code =
            payload ? static_cast<int>(payload->code) : static_cast<int>(ErrorCode::kUnknown);
        if (payload) {
          error.topic = std::string(payload->topic);
          error.message = std::string(payload->data_json);
        }
        dispatch_error(error);
      } else {
        dispatch_event(event->topic, event->data);
      }
    }
  }

  void on_closed(quic::Connection& c) override {
    if (&c != conn) return;
    conn = nullptr;
    connected = false;
    const quic::CloseReason& reason = c.close_reason();
    const uint64_t now = io::monotonic_ns();
    if (closing) return;
    if (reason.kind == quic::CloseReason::Kind::kPeerApplication &&
        reason.code == static_cast<uint64_t>(ErrorCode::kNotAuthorized)) {
      // Authentication failed: retrying with the same token cannot help.
      if (start == Start::kPending) {
        finish_start(Start::kFailed, "not authorized (the server closed with code 1)");
      } else {
        dispatch_error(ClientError{1, {}, "not authorized"});
      }
      return;
    }
    std::string why = reason.reason.empty() ? "connection closed" : reason.reason;
    if (reason.kind == quic::CloseReason::Kind::kPeerApplication) {
      why += " (server code " + std::to_string(reason.code) + ")";
    } else if (reason.kind == quic::CloseReason::Kind::kLocalTransport ||
               reason.kind == quic::CloseReason::Kind::kPeerTransport) {
      why += " (transport code " + std::to_string(reason.code) + ")";
    }
    if (start != Start::kPending) reconnects.fetch_add(1, std::memory_order_relaxed);
    on_attempt_failed(now, why);
  }

  void on_round(engine::Shard&, uint64_t now) override {
    if (!closing && conn == nullptr && reconnect_at <= now) connect_now(now);
  }

  uint64_t next_deadline() override { return reconnect_at; }
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Client::~Client() {
  if (impl_ != nullptr && impl_->shard->on_shard_thread()) {
    // The client's thread would have to join itself.
    std::fputs("qsse: a Client destroyed inside its own handler; close() it there instead\n",
               stderr);
    std::abort();
  }
  close();
}

Result<std::unique_ptr<Client>, std::string> Client::create(std::string_view address,
                                                            const std::vector<std::string>& topics,
                                                            const ClientConfig& config,
                                                            ClientHandlers handlers) {
  auto remote = io::Address::parse(address);
  if (!remote) return fail("qsse client: " + remote.error());
  for (const auto& topic : topics) {
    if (auto valid = validate_pattern(topic); !valid) {
      return fail("qsse client: invalid topic pattern '" + topic +
                  "': " + std::string(topic_error_name(valid.error())));
    }
  }
  if (config.max_frame_size < wire::kMinMaxFrameSize) {
    return fail(std::string("qsse client: max_frame_size must be at least 16384"));
  }
  if (auto valid = engine::check_realtime_priority(config.realtime_priority); !valid) {
    return fail("qsse client: " + valid.error());
  }
  auto impl = std::make_unique<Impl>();
  impl->address_text = std::string(address);
  impl->remote = *remote;
  impl->config = config;
  impl->patterns = topics;
  impl->line_reader = wire::LineReader(wire::kDefaultMaxLineSize);
  {
    auto table = std::make_shared<HandlerTable>();
    table->events = std::move(handlers.events);
    for (uint32_t i = 0; i < table->events.size(); ++i) {
      if (auto valid = validate_pattern(table->events[i].first); !valid) {
        return fail("qsse client: invalid handler pattern '" + table->events[i].first + "'");
      }
      (void)table->trie.insert(table->events[i].first, i);
    }
    table->on_message = std::move(handlers.on_message);
    table->on_error = std::move(handlers.on_error);
    impl->handlers = std::move(table);
  }

  quic::ClientTlsOptions tls;
  tls.ca_file = config.tls.ca_file;
  tls.ca_pem = config.tls.ca_pem;
  tls.insecure_skip_verify = config.tls.insecure_skip_verify;
  tls.server_name = config.tls.server_name;
  if (tls.server_name.empty()) {
    const std::string host = host_of(address);
    in6_addr scratch;
    const bool numeric = inet_pton(AF_INET, host.c_str(), &scratch) == 1 ||
                         inet_pton(AF_INET6, host.c_str(), &scratch) == 1;
    // A certificate for an IP literal is rare; loopback servers use "localhost" (ours does).
    tls.server_name = !numeric ? host : (host == "127.0.0.1" || host == "::1") ? "localhost" : "";
  }
  tls.alpn = {std::string(config.protocol == Protocol::kNative ? wire::kAlpn : wire::kLegacyAlpn)};
  auto context = quic::TlsContext::client(tls);
  if (!context) return fail("qsse client: " + context.error());
  impl->tls = *context;

  engine::ShardConfig shard_config;
  shard_config.udp.bind =
      *io::Address::parse(remote->family() == AF_INET6 ? "[::]:0" : "0.0.0.0:0");
  shard_config.backend = static_cast<io::Backend>(config.io_backend);
  shard_config.thread_name = "qsse-client";
  shard_config.realtime_priority = config.realtime_priority;
  auto shard = engine::Shard::create(shard_config, nullptr, impl.get());
  if (!shard) return fail("qsse client: " + shard.error());
  impl->shard = shard->get();
  impl->group.add(std::move(*shard));
  Impl* raw = impl.get();
  raw->shard->post([raw](engine::Shard&) { raw->connect_now(io::monotonic_ns()); });
  if (auto started = raw->group.start(); !started) return fail("qsse client: " + started.error());

  std::unique_lock lock(raw->mutex);
  raw->cv.wait(lock, [&] { return raw->start != Impl::Start::kPending; });
  if (raw->start == Impl::Start::kFailed) {
    std::string error =
        "qsse client: cannot connect to " + std::string(address) + ": " + raw->start_error;
    lock.unlock();
    raw->closing = true;
    raw->group.stop();
    return fail(error);
  }
  lock.unlock();
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

void Client::set_event_handler(std::string_view pattern, EventHandler handler) {
  std::lock_guard lock(impl_->mutex);
  auto table = std::make_shared<HandlerTable>();
  table->on_message = impl_->handlers->on_message;
  table->on_error = impl_->handlers->on_error;
  bool replaced = false;
  for (const auto& entry : impl_->handlers->events) {
    if (entry.first == pattern) {
      replaced = true;
      if (handler) table->events.emplace_back(entry.first, handler);
    } else {
      table->events.push_back(entry);
    }
  }
  if (!replaced && handler) table->events.emplace_back(std::string(pattern), std::move(handler));
  for (uint32_t i = 0; i < table->events.size(); ++i) {
    (void)table->trie.insert(table->events[i].first, i);
  }
  impl_->handlers = std::move(table);
}

void Client::set_error_handler(ErrorHandler handler) {
  std::lock_guard lock(impl_->mutex);
  auto table = std::make_shared<HandlerTable>();
  table->events = impl_->handlers->events;
  for (uint32_t i = 0; i < table->events.size(); ++i)
    (void)table->trie.insert(table->events[i].first, i);
  table->on_message = impl_->handlers->on_message;
  table->on_error = std::move(handler);
  impl_->handlers = std::move(table);
}

void Client::set_message_handler(MessageHandler handler) {
  std::lock_guard lock(impl_->mutex);
  auto table = std::make_shared<HandlerTable>();
  table->events = impl_->handlers->events;
  for (uint32_t i = 0; i < table->events.size(); ++i)
    (void)table->trie.insert(table->events[i].first, i);
  table->on_error = impl_->handlers->on_error;
  table->on_message = std::move(handler);
  impl_->handlers = std::move(table);
}

namespace {

Result<void, std::string> change_subscription(Client::Impl* impl,
                                              const std::vector<std::string>& patterns,
                                              bool subscribe) {
  if (impl->config.protocol != Protocol::kNative) {
    return fail(std::string("subscribe/unsubscribe need the native protocol"));
  }
  if (impl->closing) return fail(std::string("client is closed"));
  for (const auto& p : patterns) {
    if (auto valid = validate_pattern(p); !valid) {
      return fail("invalid topic pattern '" + p +
                  "': " + std::string(topic_error_name(valid.error())));
    }
  }
  impl->shard->post([impl, patterns, subscribe](engine::Shard& shard) {
    for (const auto& p : patterns) {
      auto it = std::find(impl->patterns.begin(), impl->patterns.end(), p);
      if (subscribe && it == impl->patterns.end()) impl->patterns.push_back(p);
      if (!subscribe && it != impl->patterns.end()) impl->patterns.erase(it);
    }
    if (impl->conn == nullptr || impl->control_stream < 0) return;  // sent in the next HELLO
    std::vector<std::string_view> views(patterns.begin(), patterns.end());
    quic::BufferRef frame;
    if (subscribe) {
      frame = encode_frame(wire::SubscribeParams{views, {}});
    } else {
      frame = encode_frame(wire::UnsubscribeParams{views});
    }
    (void)impl->conn->send(impl->control_stream, frame);
    shard.mark_dirty(*impl->conn);
  });
  return {};
}

}  // namespace

Result<void, std::string> Client::subscribe(const std::vector<std::string>& patterns) {
  return change_subscription(impl_.get(), patterns, true);
}

Result<void, std::string> Client::unsubscribe(const std::vector<std::string>& patterns) {
  return change_subscription(impl_.get(), patterns, false);
}

void Client::close() {
  if (impl_ == nullptr) return;
  if (impl_->shard->on_shard_thread()) {
    // From a handler: the thread cannot wait for itself. The connection closes now, the
    // CONNECTION_CLOSE leaves at the end of this round, and the thread stops after it (the
    // destructor joins it).
    if (impl_->closing.exchange(true)) return;
    if (impl_->conn != nullptr) {
      impl_->conn->close(static_cast<uint64_t>(ErrorCode::kNoError), "client closed");
      impl_->shard->mark_dirty(*impl_->conn);
    }
    impl_->shard->stop();
    return;
  }
  std::lock_guard lock(impl_->stop_mutex);  // one caller at a time joins the thread
  if (!impl_->closing.exchange(true)) {
    std::atomic<bool> sent{false};
    impl_->shard->post([this, &sent](engine::Shard& shard) {
      if (impl_->conn != nullptr) {
        impl_->conn->close(static_cast<uint64_t>(ErrorCode::kNoError), "client closed");
        shard.mark_dirty(*impl_->conn);
      }
      sent = true;
    });
    const uint64_t deadline = io::monotonic_ns() + 1'000 * kMs;
    while (!sent && io::monotonic_ns() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the CONNECTION_CLOSE leaves
  }
  // Joins the thread, also when a handler closed (the thread then stopped by itself): nothing
  // of the client may be destroyed while it still runs.
  impl_->group.stop();
}

ClientStats Client::stats() const {
  ClientStats s;
  s.events = impl_->events.load();
  s.gaps = impl_->gaps.load();
  s.reconnects = impl_->reconnects.load();
  s.connected = impl_->connected.load();
  return s;
}

Protocol Client::protocol() const {
  return impl_->config.protocol;
}

}  // namespace qsse

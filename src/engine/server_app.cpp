#include "engine/server_app.hpp"

#include <qsse/topic.hpp>

#include "engine/frames.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <unordered_map>
#include <unordered_set>

namespace qsse::engine {
namespace {

// Events taken from the inbox per round: large enough to amortise, small enough that a round
// still writes (and acknowledges) often.
constexpr size_t kInboxBatch = 1024;
constexpr size_t kInboxBatchesPerRound = 4;
// pack_lanes pays one copy per event to save one queue entry and reference per member: worth it
// from a few members on.
constexpr size_t kPackMinMembers = 4;

bool is_client_uni(int64_t stream_id) {
  return (stream_id & 0x3) == 0x2;
}

}  // namespace

struct ServerApp::Session {
  uint32_t id = 0;
  quic::Connection* conn = nullptr;
  bool legacy = false;
  bool ready = false;    // HELLO (or legacy offer) processed
  bool closing = false;  // close_session called; waiting for the connection to go
  std::string token;
  int64_t control_stream = -1;
  wire::FrameReader reader;
  wire::LineReader line_reader;
  int64_t legacy_stream = -1;
  std::array<int64_t, wire::kMaxEventLanes> lanes;
  std::vector<std::string> patterns;
  size_t peer_max_frame = wire::kMinMaxFrameSize;
  bool dropping = false;
  uint64_t holding_since = 0;  // kBackPressure: over the bound, no progress since; 0: not
  size_t holding_level = 0;    // its buffered bytes then
  std::unordered_map<uint32_t, std::pair<uint64_t, uint64_t>> gaps;  // topic -> missed ids
  std::unordered_set<uint32_t> replayed;  // topics replayed to it (at most once each)
  // topic -> the id it resumed from, while this shard's live delivery is still at or below it
  // (a shard behind the one the client was on): those events it has, and does not get again.
  std::unordered_map<uint32_t, uint64_t> resume_floor;

  Session(size_t max_frame, size_t max_line) : reader(max_frame), line_reader(max_line) {
    lanes.fill(-1);
  }
  void record_gap(uint32_t topic, uint64_t id) {
    auto [it, added] = gaps.try_emplace(topic, id, id);
    if (!added) it->second.second = id;
  }
};

std::shared_ptr<Authenticator> ServerShared::authenticator() const {
  std::lock_guard lock(hooks_mutex_);
  return authenticator_;
}
std::shared_ptr<Authorizer> ServerShared::authorizer() const {
  std::lock_guard lock(hooks_mutex_);
  return authorizer_;
}
void ServerShared::set_authenticator(std::shared_ptr<Authenticator> a) {
  std::lock_guard lock(hooks_mutex_);
  authenticator_ = std::move(a);
}
void ServerShared::set_authorizer(std::shared_ptr<Authorizer> a) {
  std::lock_guard lock(hooks_mutex_);
  authorizer_ = std::move(a);
}

namespace {
// datagrams_dropped_total's reasons, in ServerMetrics::datagrams_dropped's order.
constexpr std::array<std::string_view, 4> kDatagramDropReasons = {
    "truncated",           // received, larger than the receive buffer
    "send_error",          // refused by the kernel
    "forward_queue_full",  // for another shard, whose queue was full
    "reply_no_room",       // a stateless reply, with no room left in the round's send buffer
};
}  // namespace

ServerMetrics::ServerMetrics(const ServerConfig& config, const EventHub& hub, size_t shards)
    : registry(metrics::RegistryOptions{config.metric_namespace, config.metric_subsystem}),
      connections(registry.gauge("connections", "Client connections open now").get()),
      handshakes_ok(
          registry
              .counter("handshakes_total", "Completed QUIC handshakes", {}, metrics::Cells{shards})
              .get()),
      handshakes_failed(registry
                            .counter("handshake_failures_total",
                                     "Handshakes that failed (TLS, ALPN, timeout)", {},
                                     metrics::Cells{shards})
                            .get()),
      auth_failures(registry
                        .counter("auth_failures_total",
                                 "Connections closed because authentication failed", {},
                                 metrics::Cells{shards})
                        .get()),
      protocol_errors(registry
                          .counter("protocol_errors_total",
                                   "Connections closed for protocol violations", {},
                                   metrics::Cells{shards})
                          .get()),
      slow_consumer_closes(registry
                               .counter("slow_consumer_closes_total",
                                        "Connections closed as slow consumers", {},
                                        metrics::Cells{shards})
                               .get()),
      resumed_events(registry
                         .counter("resumed_events_total",
                                  "Events replayed from history to resuming clients", {},
                                  metrics::Cells{shards})
                         .get()),
      back_pressure(registry
                        .counter("publish_back_pressure_total",
                                 "publish() calls refused because an inbox was full")
                        .get()),
      back_pressure_timeouts(
          registry
              .counter("back_pressure_timeouts_total",
                       "Subscribers that held publishers back for back_pressure_timeout_ms and "
                       "were switched to dropping with GAP")
              .get()),
      datagrams_received(registry
                             .counter("datagrams_received_total", "UDP datagrams received", {},
                                      metrics::Cells{shards})
                             .get()),
      datagrams_sent(
          registry.counter("datagrams_sent_total", "UDP datagrams sent", {}, metrics::Cells{shards})
              .get()),
      bytes_received(registry
                         .counter("received_bytes_total", "UDP payload bytes received", {},
                                  metrics::Cells{shards})
                         .get()),
      bytes_sent(
          registry.counter("sent_bytes_total", "UDP payload bytes sent", {}, metrics::Cells{shards})
              .get()),
      errors_sent(registry.counter("errors_total",
                                   "Errors sent to clients (ERROR frames, legacy error events, "
                                   "connection closes), by code",
                                   {"code"}, metrics::Cells{shards})) {
  auto& published_family =
      registry.counter("events_published_total", "Events published", {"topic"});
  auto& delivered_family =
      registry.counter("events_delivered_total", "Event copies queued to subscribers", {"topic"},
                       metrics::Cells{shards});
  auto& dropped_family =
      registry.counter("events_dropped_total",
                       "Event copies not sent: the subscriber was too slow, or the "
                       "event exceeded its max_frame_size",
                       {"topic"}, metrics::Cells{shards});
  auto& subscribers_family =
      registry.gauge("subscribers", "Subscriptions whose pattern covers the topic", {"topic"});
  auto& dropped_datagrams = registry.counter(
      "datagrams_dropped_total",
      "UDP datagrams dropped: received larger than the receive buffer (truncated), refused by "
      "the kernel (send_error), for another shard whose queue was full (forward_queue_full), "
      "stateless replies with no room in the send buffer (reply_no_room)",
      {"reason"}, metrics::Cells{shards});
  for (size_t i = 0; i < kDatagramDropReasons.size(); ++i) {
    datagrams_dropped[i] = &dropped_datagrams.with({kDatagramDropReasons[i]});
  }
  for (uint32_t t = 0; t < hub.topic_count(); ++t) {
    const std::string_view topic = hub.topic_name(t);
    published.push_back(&published_family.with({topic}));
    delivered.push_back(&delivered_family.with({topic}));
    dropped.push_back(&dropped_family.with({topic}));
    subscribers.push_back(&subscribers_family.with({topic}));
  }
}

metrics::Counter& ServerMetrics::error(ErrorCode code) {
  std::lock_guard lock(errors_mutex_);  // errors are rare: a lookup under a lock is fine
  auto [it, added] = errors_by_code_.try_emplace(static_cast<uint64_t>(code), nullptr);
  if (added) it->second = &errors_sent.with({to_string(code)});
  return *it->second;
}

ServerApp::ServerApp(ServerShared& shared, size_t shard_index)
    : shared_(shared),
      shard_index_(shard_index),
      inbox_(shared.hub->inbox(shard_index)),
      topics_(shared.hub->topic_count()),
      legacy_decoder_(wire::kDefaultMaxLineSize),
      cell_{shard_index} {
  const uint32_t lanes = std::clamp<uint32_t>(shared.config.event_lanes, 1, wire::kMaxEventLanes);
  for (uint32_t t = 0; t < topics_.size(); ++t) {
    topics_[t].lane = wire::lane_for_topic(shared.hub->topic_name(t), lanes);
  }
  batch_.resize(kInboxBatch);
  ready_.reserve(kInboxBatch);
}

ServerApp::~ServerApp() = default;

ServerApp::Session* ServerApp::session_of(quic::Connection& conn) {
  return static_cast<Session*>(conn.user_data);
}

// ---- connection lifecycle -------------------------------------------------------------------

void ServerApp::on_handshake_completed(quic::Connection& conn) {
  shared_.metrics->handshakes_ok.inc(cell_);
  shared_.metrics->connections.inc();
  uint32_t id;
  if (!free_ids_.empty()) {
    id = free_ids_.back();
    free_ids_.pop_back();
  } else {
    id = static_cast<uint32_t>(sessions_.size());
    sessions_.emplace_back();
  }
  auto session =
      std::make_unique<Session>(shared_.config.max_frame_size, wire::kDefaultMaxLineSize);
  session->id = id;
  session->conn = &conn;
  session->legacy = conn.alpn() == wire::kLegacyAlpn;
  conn.user_data = session.get();
  sessions_[id] = std::move(session);
  ++live_sessions_;
  if (sessions_[id]->legacy && !shared_.config.accept_legacy) {
    close_session(*sessions_[id], ErrorCode::kUnsupportedVersion, "legacy protocol disabled");
  }
}

void ServerApp::on_closed(quic::Connection& conn) {
  Session* s = session_of(conn);
  if (s == nullptr) {
    if (!conn.handshake_completed()) {
      shared_.metrics->handshakes_failed.inc(cell_);
    }
    return;
  }
  conn.user_data = nullptr;
  for (const std::string& pattern : s->patterns) count_subscribers(pattern, -1);
  trie_.remove_all(s->id);
  ++trie_generation_;
  std::erase(catching_up_, s);
  std::erase(holding_, s);
  const uint32_t id = s->id;
  sessions_[id].reset();
  free_ids_.push_back(id);
  --live_sessions_;
  shared_.metrics->connections.dec();
}

void ServerApp::on_stream_opened(quic::Connection& conn, int64_t stream_id) {
  Session* s = session_of(conn);
  if (s == nullptr) return;
  const bool allowed =
      s->legacy ? is_client_uni(stream_id) && !s->ready : stream_id == 0;  // the control stream
  if (!allowed) {
    shared_.metrics->protocol_errors.inc(cell_);
    close_session(*s, ErrorCode::kProtocolViolation, "unexpected stream");
  }
}

bool ServerApp::on_stream_data(quic::Connection& conn, int64_t stream_id,
                               std::span<const uint8_t> data, bool fin) {
  Session* s = session_of(conn);
  if (s == nullptr || s->closing) return true;
  if (s->legacy) {
    if (!is_client_uni(stream_id) || s->ready) return true;  // after the offer: ignored
    return handle_legacy_offer(*s, data, fin);
  }
  if (stream_id != 0) return true;  // on_stream_opened already closed the connection
  s->control_stream = 0;
  return handle_control(*s, data, fin);
}

void ServerApp::close_session(Session& s, ErrorCode code, std::string_view reason) {
  if (s.closing) return;
  s.closing = true;
  if (code != ErrorCode::kNoError) shared_.metrics->error(code).inc(cell_);
  s.conn->close(static_cast<uint64_t>(code), reason);
  if (shard_ != nullptr) shard_->mark_dirty(*s.conn);
}

// ---- native control stream ------------------------------------------------------------------

bool ServerApp::handle_control(Session& s, std::span<const uint8_t> data, bool fin) {
  s.reader.feed(data);
  while (!s.closing) {
    auto frame = s.reader.next();
    if (!frame) {
      if (frame.error() == wire::DecodeError::kNeedMore) break;
      shared_.metrics->protocol_errors.inc(cell_);
      const ErrorCode code = wire::to_error_code(frame.error());
      send_error(s, code, {}, wire::to_string(frame.error()), true);
      close_session(s, code, wire::to_string(frame.error()));
      return true;
    }
    if (!handle_frame(s, *frame)) return true;
  }
  if (fin && !s.closing) {
    if (s.reader.finish()) {
      close_session(s, ErrorCode::kNoError, "client closed its control stream");
    } else {
      shared_.metrics->protocol_errors.inc(cell_);
      close_session(s, ErrorCode::kProtocolViolation, "control stream ended inside a frame");
    }
  }
  return true;
}

bool ServerApp::handle_frame(Session& s, const wire::Frame& frame) {
  auto violation = [&](std::string_view why) {
    shared_.metrics->protocol_errors.inc(cell_);
    send_error(s, ErrorCode::kProtocolViolation, {}, why, true);
    close_session(s, ErrorCode::kProtocolViolation, why);
    return false;
  };
  if (const auto* hello = frame.get_if<wire::HelloFrame>()) {
    if (s.ready) return violation("second HELLO");
    return handle_hello(s, *hello);
  }
  if (frame.get_if<wire::UnknownFrame>() != nullptr) return true;  // skipped by length
  if (!s.ready) return violation("first frame must be HELLO");
  if (const auto* sub = frame.get_if<wire::SubscribeFrame>()) {
    add_patterns(s, sub->patterns);
    if (!sub->resume.empty()) replay(s, sub->resume);
    return true;
  }
  if (const auto* unsub = frame.get_if<wire::UnsubscribeFrame>()) {
    remove_patterns(s, unsub->patterns);
    return true;
  }
  return violation("frame not allowed from a client");
}

bool ServerApp::handle_hello(Session& s, const wire::HelloFrame& hello) {
  if (hello.version != wire::kProtocolVersion) {
    send_error(s, ErrorCode::kUnsupportedVersion, {}, "this server speaks version 1", true);
    close_session(s, ErrorCode::kUnsupportedVersion, "unsupported version");
    return false;
  }
  s.token.assign(hello.token);
  s.peer_max_frame = static_cast<size_t>(hello.max_frame_size);
  if (auto auth = shared_.authenticator(); auth && !auth->authenticate(s.token)) {
    shared_.metrics->auth_failures.inc(cell_);
    close_session(s, ErrorCode::kNotAuthorized, "not authorized");
    return false;
  }
  wire::WelcomeFrame welcome;
  welcome.server_epoch = shared_.epoch;
  welcome.max_frame_size = shared_.config.max_frame_size;
  welcome.history_window = shared_.config.history_window;
  welcome.max_patterns = shared_.config.max_patterns_per_connection;
  send_control(s, encode_frame(welcome));
  s.ready = true;
  add_patterns(s, hello.patterns);
  if (hello.resume_epoch == shared_.epoch && !hello.resume.empty()) replay(s, hello.resume);
  return true;
}

void ServerApp::add_patterns(Session& s, const wire::StringList& patterns) {
  std::shared_ptr<Authorizer> authz = shared_.authorizer();
  for (std::string_view pattern : patterns) {
    ErrorCode refusal = ErrorCode::kNoError;
    std::string_view why;
    if (shared_.config.max_patterns_per_connection != 0 &&
        s.patterns.size() >= shared_.config.max_patterns_per_connection) {
      refusal = ErrorCode::kLimitExceeded, why = "too many patterns";
    } else if (auto valid = validate_pattern(pattern); !valid) {
      refusal = ErrorCode::kTopicNotAvailable, why = topic_error_name(valid.error());
    } else if (*shared_.hub->catalog().expand(pattern, [](std::string_view) {}) == 0) {
      refusal = ErrorCode::kTopicNotAvailable, why = "no such topic";
    } else if (authz && !authz->authorize(s.token, pattern)) {
      refusal = ErrorCode::kNotAuthorized, why = "not authorized for this topic";
    }
    if (refusal != ErrorCode::kNoError) {
      send_error(s, refusal, pattern, why);
      continue;
    }
    if (auto added = trie_.insert(pattern, s.id); added && *added) {
      ++trie_generation_;
      s.patterns.emplace_back(pattern);
      count_subscribers(pattern, +1);
    }
  }
}

void ServerApp::remove_patterns(Session& s, const wire::StringList& patterns) {
  for (std::string_view pattern : patterns) {
    if (auto removed = trie_.remove(pattern, s.id); removed && *removed) {
      ++trie_generation_;
      std::erase(s.patterns, pattern);
      count_subscribers(pattern, -1);
    }
  }
}

void ServerApp::replay(Session& s, const wire::ResumeList& resume) {
  for (const wire::ResumePosition& position : resume) {
    if (s.closing) return;
    const int64_t index = shared_.hub->index_of(position.topic);
    if (index < 0) continue;
    const auto topic = static_cast<uint32_t>(index);
    // Once per topic and session: the first replay brings the client up to date, and live
    // events follow. (A client repeating its resume list must not have the history queued
    // again each time.)
    if (s.replayed.contains(topic)) continue;
    bool covered = false;
    (void)trie_.match(position.topic, [&](pubsub::SubscriberId id, std::string_view) {
      covered = covered || id == s.id;
    });
    if (!covered) continue;
    s.replayed.insert(topic);
    TopicState& state = topics_[topic];
    const uint64_t last_delivered = state.next_id - 1;
    if (position.last_id >= last_delivered) {
      // Nothing missed. If this shard has not delivered that far yet, the client has the
      // events up to last_id from elsewhere: they are not delivered to it again.
      if (position.last_id > last_delivered) s.resume_floor[topic] = position.last_id;
      continue;
    }
    const uint64_t first_kept = state.history.empty() ? state.next_id : state.history.front().id;
    if (first_kept > position.last_id + 1) {
      send_gap(s, topic, position.last_id + 1, first_kept - 1, ErrorCode::kHistoryUnavailable);
    }
    // Under kDropWithGap, bounded like live delivery: what no longer fits under the
    // subscriber's bound is not queued but announced, with one GAP(slow_consumer) for the rest
    // of the topic. (The replay cannot wait for acknowledgements. Under the other policies,
    // which never drop, it queues the whole retained history: once per topic, so at most
    // history_window events per topic the client covers.)
    const bool may_drop = shared_.config.slow_consumer_policy == SlowConsumerPolicy::kDropWithGap;
    uint64_t first_unsent = 0;
    state.history.for_each([&](const PublishedEvent& event) {
      if (event.id <= position.last_id || first_unsent != 0) return;
      if (may_drop &&
          (s.dropping || s.conn->buffered_bytes() >= shared_.config.slow_consumer_bytes)) {
        first_unsent = event.id;
      } else if (event.frame_size > s.peer_max_frame) {
        send_gap(s, topic, event.id, event.id, ErrorCode::kEventTooLarge);
      } else if (send_event_frame(s, topic, event.frame, event.frame_size)) {
        shared_.metrics->resumed_events.inc(cell_);
      }
    });
    if (first_unsent != 0) {
      send_gap(s, topic, first_unsent, last_delivered, ErrorCode::kSlowConsumer);
    }
  }
  if (shard_ != nullptr) shard_->mark_dirty(*s.conn);
}

bool ServerApp::send_gap(Session& s, uint32_t topic, uint64_t first, uint64_t last,
                         ErrorCode reason) {
  wire::GapFrame gap{shared_.hub->topic_name(topic), first, last, reason};
  quic::BufferRef frame = encode_frame(gap);
  return send_event_frame(s, topic, frame, frame.size());
}

// ---- legacy offer ---------------------------------------------------------------------------

bool ServerApp::handle_legacy_offer(Session& s, std::span<const uint8_t> data, bool fin) {
  s.line_reader.feed(data);
  auto line = s.line_reader.next();
  if (!line) {
    if (line.error() == wire::LegacyError::kNeedMore && !fin) return true;
    shared_.metrics->protocol_errors.inc(cell_);
    const auto error =
        line.error() == wire::LegacyError::kNeedMore ? wire::LegacyError::kTruncated : line.error();
    close_session(s, wire::to_error_code(error), wire::to_string(error));
    return true;
  }
  auto offer = legacy_decoder_.decode_offer(*line);
  if (!offer) {
    shared_.metrics->protocol_errors.inc(cell_);
    close_session(s, wire::to_error_code(offer.error()), wire::to_string(offer.error()));
    return true;
  }
  s.token.assign(offer->token);
  if (auto auth = shared_.authenticator(); auth && !auth->authenticate(s.token)) {
    shared_.metrics->auth_failures.inc(cell_);
    close_session(s, ErrorCode::kNotAuthorized, "not authorized");
    return true;
  }
  auto stream = s.conn->open_uni_stream();
  if (!stream) {
    close_session(s, ErrorCode::kFailedToCreateStream, "no stream credit");
    return true;
  }
  s.legacy_stream = *stream;
  // A Go client accepts the server's stream only once data arrives on it, and blocks in
  // NewClient until then. One space is JSON whitespace: it opens the stream at once and is
  // skipped by the client's JSON decoder in front of the first event line.
  static const uint8_t kSpace[] = {' '};
  (void)s.conn->send_copy(s.legacy_stream, kSpace);
  s.ready = true;
  std::shared_ptr<Authorizer> authz = shared_.authorizer();
  std::vector<std::string> topics(offer->topics.begin(), offer->topics.end());
  for (const std::string& topic : topics) {
    ErrorCode refusal = ErrorCode::kNoError;
    if (shared_.config.max_patterns_per_connection != 0 &&
        s.patterns.size() >= shared_.config.max_patterns_per_connection) {
      refusal = ErrorCode::kLimitExceeded;
    } else if (!validate_pattern(topic) ||
               *shared_.hub->catalog().expand(topic, [](std::string_view) {}) == 0) {
      refusal = ErrorCode::kTopicNotAvailable;
    } else if (authz && !authz->authorize(s.token, topic)) {
      refusal = ErrorCode::kNotAuthorized;
    }
    if (refusal != ErrorCode::kNoError) {
      shared_.metrics->error(refusal).inc(cell_);
      quic::BufferRef error = quic::BufferRef::allocate(wire::legacy_error_size(refusal, topic));
      auto n =
          wire::encode_legacy_error(std::span<uint8_t>(error.data(), error.size()), refusal, topic);
      if (n) (void)s.conn->send(s.legacy_stream, error, 0, *n);
      continue;
    }
    if (auto added = trie_.insert(topic, s.id); added && *added) {
      ++trie_generation_;
      s.patterns.push_back(topic);
      count_subscribers(topic, +1);
    }
  }
  if (shard_ != nullptr) shard_->mark_dirty(*s.conn);
  return true;
}

// ---- sending --------------------------------------------------------------------------------

void ServerApp::send_control(Session& s, const quic::BufferRef& frame) {
  (void)s.conn->send(s.control_stream < 0 ? 0 : s.control_stream, frame);
  if (shard_ != nullptr) shard_->mark_dirty(*s.conn);
}

void ServerApp::send_error(Session& s, ErrorCode code, std::string_view topic,
                           std::string_view message, bool fatal) {
  if (!fatal) shared_.metrics->error(code).inc(cell_);  // fatal ones count at close_session
  if (s.legacy) return;
  wire::ErrorFrame error{code, fatal, topic, message};
  send_control(s, encode_frame(error));
}

int64_t ServerApp::lane_stream(Session& s, uint32_t lane) {
  if (s.lanes[lane] >= 0) return s.lanes[lane];
  auto stream = s.conn->open_uni_stream();
  if (!stream) return -1;
  s.lanes[lane] = *stream;
  return *stream;
}

bool ServerApp::send_event_frame(Session& s, uint32_t topic, const quic::BufferRef& frame,
                                 size_t size) {
  const int64_t stream = lane_stream(s, topics_[topic].lane);
  if (stream < 0) return false;
  return s.conn->send(stream, frame, 0, size).has_value();
}

void ServerApp::send_goaway(uint64_t retry_after_ms) {
  wire::GoAwayFrame goaway{ErrorCode::kServerShutdown, retry_after_ms, "server shutting down"};
  quic::BufferRef frame = encode_frame(goaway);
  for (auto& s : sessions_) {
    if (s && s->ready && !s->legacy && !s->closing) send_control(*s, frame);
  }
}

// ---- the event path -------------------------------------------------------------------------

void ServerApp::on_round(Shard& shard, uint64_t now) {
  shard_ = &shard;
  now_ = now;
  export_io_stats(shard);
  // Bounded per round, so that under sustained publishing the shard still writes (and reads
  // acknowledgements) between batches; the rest waits for the next round. A subscriber over
  // its bound under kBackPressure stops the draining (the publishers see a full inbox).
  size_t taken = 0;
  size_t batches = 0;
  if (update_holding()) {
    do {
      // batch_ keeps kInboxBatch elements for good: sizing it per round constructed and
      // destroyed 1,024 events each time, most of an idle round's work.
      taken = inbox_.queue.try_dequeue_bulk(batch_.begin(), kInboxBatch);
      if (taken == 0) break;
      shared_.hub->released(shard_index_, taken);
      for (PublishedEvent& event : std::span(batch_.data(), taken)) {
        TopicState& state = topics_[event.topic];
        if (event.id != state.next_id) {
          state.waiting.emplace(event.id, std::move(event));  // a predecessor is still on its way
          continue;
        }
        accept(std::move(event));
        ++state.next_id;
        while (!state.waiting.empty() && state.waiting.begin()->first == state.next_id) {
          accept(std::move(state.waiting.begin()->second));
          state.waiting.erase(state.waiting.begin());
          ++state.next_id;
        }
      }
      deliver_ready();
      for (size_t i = 0; i < taken; ++i) batch_[i].frame = {};  // release the slabs now
    } while (taken == kInboxBatch && holding_.empty() && ++batches < kInboxBatchesPerRound);
  }

  for (size_t i = 0; i < catching_up_.size();) {
    Session* s = catching_up_[i];
    catch_up(*s);
    if (!s->dropping) {
      catching_up_[i] = catching_up_.back();
      catching_up_.pop_back();
    } else {
      ++i;
    }
  }
}

void ServerApp::accept(PublishedEvent&& event) {
  if (shared_.config.history_window > 0) {
    topics_[event.topic].history.push(event, shared_.config.history_window);
  }
  const uint32_t a = audience_of(event.topic);
  Audience& audience = audiences_[a];
  if (audience.members.empty()) return;
  if (audience.pending.empty()) active_audiences_.push_back(a);
  audience.pending.push_back(static_cast<uint32_t>(ready_.size()));
  ready_.push_back(ReadyEvent{std::move(event), {}, 0});
}

uint32_t ServerApp::audience_of(uint32_t topic) {
  // Who matches a topic changes only when subscriptions do: walk the trie once per change, not
  // once per event, and share the result with every topic matched by the same sessions.
  TopicState& state = topics_[topic];
  if (state.matched_generation == trie_generation_) return state.audience;
  if (audiences_generation_ != trie_generation_) {  // all audiences are stale: start over
    audience_count_ = 0;
    audience_by_hash_.clear();
    audiences_generation_ = trie_generation_;
  }
  if (audience_count_ == audiences_.size()) audiences_.emplace_back();
  Audience& candidate = audiences_[audience_count_];
  candidate.members.clear();
  candidate.pending.clear();
  (void)trie_.match_unique(shared_.hub->topic_name(topic),
                           [&](pubsub::SubscriberId id) { candidate.members.push_back(id); });
  std::sort(candidate.members.begin(), candidate.members.end());  // also walks memory in order
  uint64_t hash = candidate.members.size();
  for (pubsub::SubscriberId id : candidate.members) {
    hash = (hash ^ id) * 0x9E3779B97F4A7C15ULL;
    hash ^= hash >> 29;
  }
  state.matched_generation = trie_generation_;
  auto [first, last] = audience_by_hash_.equal_range(hash);
  for (auto it = first; it != last; ++it) {
    if (audiences_[it->second].members == candidate.members) {
      state.audience = it->second;
      return state.audience;
    }
  }
  state.audience = static_cast<uint32_t>(audience_count_++);
  audience_by_hash_.emplace(hash, state.audience);
  return state.audience;
}

void ServerApp::deliver_ready() {
  for (const uint32_t a : active_audiences_) {
    Audience& audience = audiences_[a];
    if (audience.members.size() >= kPackMinMembers) pack_lanes(audience);
    // Sessions and connections are scattered on the heap: with many subscribers, fetch the
    // ones a few places ahead while this one is served. (Nothing here frees a session, so
    // the members stay valid.)
    const std::vector<pubsub::SubscriberId>& members = audience.members;
    for (size_t i = 0; i < members.size(); ++i) {
      if (i + 8 < members.size()) __builtin_prefetch(sessions_[members[i + 8]].get());
      if (i + 4 < members.size()) __builtin_prefetch(sessions_[members[i + 4]]->conn);
      deliver_run(*sessions_[members[i]], audience.pending);
    }
    audience.pending.clear();
  }
  active_audiences_.clear();
  for (const ReadyEvent& r : ready_) {
    if (r.delivered > 0) shared_.metrics->delivered[r.event.topic]->add(cell_, r.delivered);
  }
  ready_.clear();  // releases the frames (and slabs) now
}

void ServerApp::pack_lanes(Audience& audience) {
  // A connection merges a slice into the previous one on its stream only when the bytes are
  // contiguous in one slab (Connection::send). A publisher's slab holds events in publishing
  // order, so events of different lanes (topics) alternate in it, and each member would take
  // one queue entry and one reference per event. Sort the pending events by lane (stable).
  std::array<uint32_t, wire::kMaxEventLanes + 1> start{};
  for (const uint32_t i : audience.pending) ++start[topics_[ready_[i].event.topic].lane + 1];
  for (size_t lane = 1; lane < start.size(); ++lane) start[lane] += start[lane - 1];
  by_lane_.resize(audience.pending.size());
  for (const uint32_t i : audience.pending) {
    by_lane_[start[topics_[ready_[i].event.topic].lane]++] = i;
  }
  // start[lane] is now where the next lane's run begins.
  size_t begin = 0;
  for (size_t lane = 0; lane < wire::kMaxEventLanes; ++lane) {
    const size_t end = start[lane];
    const std::span<const uint32_t> run(by_lane_.data() + begin, end - begin);
    begin = end;
    bool contiguous = true;
    for (size_t k = 1; k < run.size() && contiguous; ++k) {
      const PublishedEvent& prev = ready_[run[k - 1]].event;
      const PublishedEvent& next = ready_[run[k]].event;
      contiguous = prev.frame.continues_into(prev.frame_size, next.frame);
    }
    if (contiguous) continue;  // one topic's burst, or a single lane: already one range
    for (const uint32_t i : run) {
      PublishedEvent& event = ready_[i].event;
      if (event.frame_size > quic::kMaxSliceBytes) continue;  // standalone either way
      event.frame = packed_.copy_of(event.bytes());
    }
  }
}

void ServerApp::deliver_run(Session& s, std::span<const uint32_t> events) {
  if (s.closing || !s.ready) return;
  bool sent_any = false;
  for (const uint32_t i : events) {
    ReadyEvent& r = ready_[i];
    if (deliver_to(s, r.event, r.legacy_line)) {
      ++r.delivered;
      sent_any = true;
    }
  }
  if (sent_any) shard_->mark_dirty(*s.conn);
}

bool ServerApp::deliver_to(Session& s, const PublishedEvent& event, quic::BufferRef& legacy_line) {
  if (s.closing) return false;
  if (!s.resume_floor.empty()) {
    if (auto floor = s.resume_floor.find(event.topic); floor != s.resume_floor.end()) {
      if (event.id <= floor->second) return false;  // it has this one: neither sent nor dropped
      s.resume_floor.erase(floor);
    }
  }
  // Not sent: the subscriber is told later (GAP) and the copy counts as dropped.
  const auto missed = [&] {
    s.record_gap(event.topic, event.id);
    shared_.metrics->dropped[event.topic]->inc(cell_);
    return false;
  };
  if (s.dropping) return missed();
  if (s.conn->buffered_bytes() >= shared_.config.slow_consumer_bytes &&
      !(shared_.config.slow_consumer_policy == SlowConsumerPolicy::kBackPressure && hold_for(s))) {
    if (shared_.config.slow_consumer_policy == SlowConsumerPolicy::kClose) {
      shared_.metrics->slow_consumer_closes.inc(cell_);
      close_session(s, ErrorCode::kSlowConsumer, "slow consumer");
      return false;
    }
    s.dropping = true;
    catching_up_.push_back(&s);
    return missed();
  }
  bool sent;
  if (s.legacy) {
    if (!legacy_line) {
      const std::string_view topic = shared_.hub->topic_name(event.topic);
      const auto payload = event.payload();
      legacy_line = quic::BufferRef::allocate(wire::legacy_event_size(topic, payload.size()));
      auto n = wire::encode_legacy_event(std::span<uint8_t>(legacy_line.data(), legacy_line.size()),
                                         topic, payload);
      if (!n) {
        legacy_line = {};  // not a line: the next taker tries again, nobody sends it
        return false;
      }
    }
    sent = s.conn->send(s.legacy_stream, legacy_line).has_value();
  } else if (event.frame_size > s.peer_max_frame) {
    // Too large for this subscriber: it is told (GAP event_too_large), and the copy counts as
    // dropped, not delivered.
    sent = send_gap(s, event.topic, event.id, event.id, ErrorCode::kEventTooLarge);
    if (sent) {
      shared_.metrics->dropped[event.topic]->inc(cell_);
      shard_->mark_dirty(*s.conn);
      return false;
    }
  } else {
    sent = send_event_frame(s, event.topic, event.frame, event.frame_size);
  }
  if (!sent) {
    // A connection that is going away is not a slow consumer: nothing to count or report.
    if (s.conn->state() != quic::Connection::State::kEstablished) return false;
    return missed();
  }
  return true;  // deliver_run counts it and marks the connection
}

bool ServerApp::hold_for(Session& s) {
  if (s.holding_since == 0) {
    s.holding_since = now_;
    s.holding_level = s.conn->buffered_bytes();
    holding_.push_back(&s);
  }
  // Still within its time: this event is queued all the same (the overshoot is bounded by one
  // inbox batch, the draining stops after it).
  return now_ - s.holding_since < back_pressure_timeout_ns();
}

bool ServerApp::update_holding() {
  const uint64_t release_below = shared_.config.slow_consumer_bytes / 2;
  for (size_t i = 0; i < holding_.size();) {
    Session* s = holding_[i];
    const size_t level = s->conn->buffered_bytes();
    if (level < s->holding_level) {  // it is draining, only slowly: not stalled
      s->holding_since = now_;
      s->holding_level = level;
    }
    const bool drained = s->closing || level < release_below;
    const bool expired = now_ - s->holding_since >= back_pressure_timeout_ns();
    if (!drained && !expired) {
      ++i;
      continue;
    }
    if (!drained) {
      // Held the others back long enough: from now on it misses events and is told (GAP).
      shared_.metrics->back_pressure_timeouts.inc(cell_);
      if (!s->dropping) {
        s->dropping = true;
        catching_up_.push_back(s);
      }
    }
    s->holding_since = 0;
    holding_[i] = holding_.back();
    holding_.pop_back();
  }
  return holding_.empty();
}

uint64_t ServerApp::next_deadline() {
  uint64_t deadline = UINT64_MAX;
  for (const Session* s : holding_) {
    deadline = std::min(deadline, s->holding_since + back_pressure_timeout_ns());
  }
  return deadline;
}

uint64_t ServerApp::back_pressure_timeout_ns() const {
  return uint64_t{shared_.config.back_pressure_timeout_ms} * 1'000'000;
}

void ServerApp::catch_up(Session& s) {
  if (s.closing) {
    s.dropping = false;
    return;
  }
  if (s.conn->buffered_bytes() >= shared_.config.slow_consumer_bytes / 2) return;
  if (!s.legacy) {
    for (const auto& [topic, range] : s.gaps) {
      send_gap(s, topic, range.first, range.second, ErrorCode::kSlowConsumer);
    }
    shard_->mark_dirty(*s.conn);
  }
  s.gaps.clear();
  s.dropping = false;
}

void ServerApp::count_subscribers(std::string_view pattern, double delta) {
  (void)shared_.hub->catalog().expand(pattern, [&](std::string_view topic) {
    shared_.metrics->subscribers[static_cast<size_t>(shared_.hub->index_of(topic))]->add(delta);
  });
}

void ServerApp::export_io_stats(Shard& shard) {
  const io::IoStats& now = shard.io().stats();
  ServerMetrics& m = *shared_.metrics;
  m.datagrams_received.add(cell_, now.rx_datagrams - exported_io_.rx_datagrams);
  m.datagrams_sent.add(cell_, now.tx_datagrams - exported_io_.tx_datagrams);
  m.bytes_received.add(cell_, now.rx_bytes - exported_io_.rx_bytes);
  m.bytes_sent.add(cell_, now.tx_bytes - exported_io_.tx_bytes);
  const Shard::Stats& shard_stats = shard.stats();
  const uint64_t dropped[] = {
      now.rx_truncated - exported_io_.rx_truncated,
      now.tx_errors - exported_io_.tx_errors,
      shard_stats.forward_dropped - exported_forward_dropped_,
      shard_stats.replies_dropped - exported_replies_dropped_,
  };
  for (size_t i = 0; i < std::size(dropped); ++i) {
    if (dropped[i] != 0) m.datagrams_dropped[i]->add(cell_, dropped[i]);
  }
  exported_io_ = now;
  exported_forward_dropped_ = shard_stats.forward_dropped;
  exported_replies_dropped_ = shard_stats.replies_dropped;
}

bool ServerApp::prepare_to_sleep() {
  // Holding the publishers back: events in the inbox are not work until acknowledgements (a
  // datagram) or the hold's deadline wake the shard.
  if (!holding_.empty()) return true;
  inbox_.sleeping.store(true, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (inbox_.queue.size_approx() > 0) {
    inbox_.sleeping.store(false, std::memory_order_relaxed);
    return false;
  }
  return true;
}

void ServerApp::woke_up() {
  inbox_.sleeping.store(false, std::memory_order_relaxed);
}

}  // namespace qsse::engine

// engine/server_app.hpp — the qsse server running on one shard.
//
// Per connection it keeps a Session: the protocol (qsse/1 or legacy, from ALPN), the control
// stream and its FrameReader (or the legacy offer's LineReader), the event lanes it opened, the
// patterns it holds, and its slow-consumer state. Per shard it keeps the subscription trie
// (pattern -> session), and per declared topic the next id to deliver, events waiting for a
// predecessor (see EventHub), and the last `history_window` events for resume.
//
// Each round: take up to a batch of events from the shard's inbox, put each topic's in id order,
// and deliver them to every session whose patterns match (once per session:
// PatternTrie::match_unique, cached per topic until the subscriptions change) by queueing a
// reference to the shared EVENT frame on the topic's lane; then let sessions that were dropping
// catch up (GAP frames). Single-threaded: everything runs on the shard's thread.
//
// Delivery runs subscriber by subscriber, not event by event: topics matched by the same
// sessions share an Audience, and each member of an audience takes all of the batch's events
// for it at once. With many subscribers their state (session, connection, stream queues) is
// cold; touching it once per batch instead of once per event is most of the fan-out's cost.
#pragma once

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <qsse/auth.hpp>
#include <qsse/config.hpp>
#include <qsse/metrics.hpp>

#include "engine/event_history.hpp"
#include "engine/event_hub.hpp"
#include "engine/shard.hpp"
#include "pubsub/pattern_trie.hpp"
#include "wire/frame.hpp"
#include "wire/frame_reader.hpp"
#include "wire/legacy.hpp"

namespace qsse::engine {

// The server's metrics (Prometheus names under <namespace>_<subsystem>_). Handles are looked up
// once here; shards update them with relaxed atomics, each in its own cell (metrics::Shard).
struct ServerMetrics {
  ServerMetrics(const ServerConfig& config, const EventHub& hub, size_t shards);

  metrics::Registry registry;
  metrics::Gauge& connections;
  metrics::Counter& handshakes_ok;
  metrics::Counter& handshakes_failed;
  metrics::Counter& auth_failures;
  metrics::Counter& protocol_errors;
  metrics::Counter& slow_consumer_closes;
  metrics::Counter& resumed_events;
  metrics::Counter& back_pressure;
  metrics::Counter& back_pressure_timeouts;
  metrics::Counter& datagrams_received;
  metrics::Counter& datagrams_sent;
  metrics::Counter& bytes_received;
  metrics::Counter& bytes_sent;
  metrics::CounterFamily& errors_sent;  // ERROR frames and closes sent to clients, by code
  // UDP datagrams dropped, by reason (kDatagramDropReasons).
  std::array<metrics::Counter*, 4> datagrams_dropped{};
  // Per declared topic, indexed like EventHub topics.
  std::vector<metrics::Counter*> published;
  std::vector<metrics::Counter*> delivered;
  std::vector<metrics::Counter*> dropped;
  std::vector<metrics::Gauge*> subscribers;  // subscriptions whose pattern covers the topic

  metrics::Counter& error(ErrorCode code);

 private:
  std::mutex errors_mutex_;
  std::unordered_map<uint64_t, metrics::Counter*> errors_by_code_;
};

// What every shard of one server shares (read-only after start, but the auth hooks).
struct ServerShared {
  ServerConfig config;
  EventHub* hub = nullptr;
  uint64_t epoch = 0;
  std::unique_ptr<ServerMetrics> metrics;

  std::shared_ptr<Authenticator> authenticator() const;
  std::shared_ptr<Authorizer> authorizer() const;
  void set_authenticator(std::shared_ptr<Authenticator> a);
  void set_authorizer(std::shared_ptr<Authorizer> a);

 private:
  mutable std::mutex hooks_mutex_;  // taken once per HELLO, never on the event path
  std::shared_ptr<Authenticator> authenticator_;
  std::shared_ptr<Authorizer> authorizer_;
};

class ServerApp final : public ShardApp {
 public:
  ServerApp(ServerShared& shared, size_t shard_index);
  ~ServerApp() override;

  void on_handshake_completed(quic::Connection& conn) override;
  bool on_stream_data(quic::Connection& conn, int64_t stream_id, std::span<const uint8_t> data,
                      bool fin) override;
  void on_stream_opened(quic::Connection& conn, int64_t stream_id) override;
  void on_closed(quic::Connection& conn) override;
  void on_round(Shard& shard, uint64_t now) override;
  bool prepare_to_sleep() override;
  void woke_up() override;
  uint64_t next_deadline() override;

  // Shutdown, step 1: GOAWAY to every native session.
  void send_goaway(uint64_t retry_after_ms);
  size_t session_count() const { return live_sessions_; }

 private:
  struct Session;
  struct TopicState {
    uint64_t next_id = 1;                        // next id this shard delivers
    std::map<uint64_t, PublishedEvent> waiting;  // arrived before their predecessor
    EventHistory history;                        // last history_window delivered events
    uint32_t lane = 0;                           // lane_for_topic(name, lanes)
    uint32_t audience = 0;                       // index in audiences_, valid while
    uint64_t matched_generation = UINT64_MAX;    // this is trie_generation_
  };
  // The sessions whose patterns cover a topic, shared by every topic they cover alike (all of
  // them for subscribers of `*`-patterns over the same topics).
  struct Audience {
    std::vector<pubsub::SubscriberId> members;  // sorted
    std::vector<uint32_t> pending;              // the batch's events for them: indices into ready_
  };

  struct ReadyEvent {
    PublishedEvent event;
    quic::BufferRef legacy_line;  // made for its first legacy taker
    uint32_t delivered = 0;       // sessions it was queued for
  };

  Session* session_of(quic::Connection& conn);
  // Takes an event whose predecessors were all taken: into the history and ready_.
  void accept(PublishedEvent&& event);
  uint32_t audience_of(uint32_t topic);
  // Delivers ready_ to every audience, member by member, and empties it.
  void deliver_ready();
  // Copies an audience's events that are scattered in the publishers' slabs back to back into
  // this shard's slabs, lane by lane, so that each member queues them as a few ranges.
  void pack_lanes(Audience& audience);
  void deliver_run(Session& s, std::span<const uint32_t> events);
  bool deliver_to(Session& s, const PublishedEvent& event, quic::BufferRef& legacy_line);
  bool send_event_frame(Session& s, uint32_t topic, const quic::BufferRef& frame, size_t size);
  bool send_gap(Session& s, uint32_t topic, uint64_t first, uint64_t last, ErrorCode reason);
  void catch_up(Session& s);
  // kBackPressure: `s` is over its bound; true while it may still hold the publishers back.
  bool hold_for(Session& s);
  // Releases subscribers that drained (or held too long); true when none holds any more.
  bool update_holding();
  uint64_t back_pressure_timeout_ns() const;
  bool handle_control(Session& s, std::span<const uint8_t> data, bool fin);
  bool handle_frame(Session& s, const wire::Frame& frame);
  bool handle_hello(Session& s, const wire::HelloFrame& hello);
  void add_patterns(Session& s, const wire::StringList& patterns);
  void remove_patterns(Session& s, const wire::StringList& patterns);
  void replay(Session& s, const wire::ResumeList& resume);
  bool handle_legacy_offer(Session& s, std::span<const uint8_t> data, bool fin);
  void send_control(Session& s, const quic::BufferRef& frame);
  void send_error(Session& s, ErrorCode code, std::string_view topic, std::string_view message,
                  bool fatal = false);
  void close_session(Session& s, ErrorCode code, std::string_view reason);
  int64_t lane_stream(Session& s, uint32_t lane);
  void count_subscribers(std::string_view pattern, double delta);
  void export_io_stats(Shard& shard);

  ServerShared& shared_;
  size_t shard_index_;
  ShardInbox& inbox_;
  Shard* shard_ = nullptr;  // set on the first round
  pubsub::PatternTrie trie_;
  uint64_t trie_generation_ = 0;  // bumped on every change to trie_
  std::vector<TopicState> topics_;
  std::vector<std::unique_ptr<Session>> sessions_;  // indexed by SubscriberId
  std::vector<uint32_t> free_ids_;
  size_t live_sessions_ = 0;
  std::vector<Session*> catching_up_;
  std::vector<Session*> holding_;  // kBackPressure: subscribers over their bound
  uint64_t now_ = 0;               // the current round's time
  std::vector<PublishedEvent> batch_;
  // This batch's events in delivery order, with what each needs while it is being delivered.
  std::vector<ReadyEvent> ready_;
  // Audiences of the current trie generation (reused: members keep their capacity).
  std::vector<Audience> audiences_;
  size_t audience_count_ = 0;
  uint64_t audiences_generation_ = UINT64_MAX;
  std::unordered_multimap<uint64_t, uint32_t> audience_by_hash_;
  std::vector<uint32_t> active_audiences_;  // with pending events
  quic::SlabAllocator packed_;              // pack_lanes' copies
  std::vector<uint32_t> by_lane_;           // pack_lanes' scratch
  wire::LegacyDecoder legacy_decoder_;
  metrics::Shard cell_;
  io::IoStats exported_io_;                // io counters already added to the metrics
  uint64_t exported_forward_dropped_ = 0;  // and the shard's
  uint64_t exported_replies_dropped_ = 0;
};

}  // namespace qsse::engine

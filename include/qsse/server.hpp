// qsse/server.hpp — a qsse server: declared topics, publishing, authentication, metrics.
//
//   auto server = qsse::Server::create("127.0.0.1:4242", {"ride.1.location", "chat.room"});
//   if (!server) { std::cerr << server.error() << "\n"; return 1; }
//   (*server)->publish("ride.1.location", R"({"lat":35.7})");
//
// The server starts serving when create() returns: N shard threads (ServerConfig::shards), each
// with its own UDP socket on the address (SO_REUSEPORT), its own connections, and its own copy
// of the subscription trie. It speaks qsse/1 and, unless disabled, the Go library's format.
//
// Publishing: publish() may be called from any thread, concurrently. It never blocks and takes
// no lock. The event is encoded once and handed by reference to every shard; each shard sends
// the same bytes to every matching subscriber. Ids are assigned per topic (1, 2, 3, ...) and
// every subscriber sees the events of a topic in id order, whatever the number of publishing
// threads (docs/ENGINE.md, "Ordering"). The data is copied before publish() returns: the
// caller may reuse its buffer at once.
//
// Errors at creation (bad address, address in use, bad topic, unreadable or mismatched
// certificate) come back as a message; misuse (a config value out of range) too.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <qsse/auth.hpp>
#include <qsse/config.hpp>
#include <qsse/metrics.hpp>
#include <qsse/result.hpp>

namespace qsse {

enum class PublishStatus : uint8_t {
  kOk,
  // An inbox is full (a shard is behind): nothing was published; retry later. No subscriber
  // received the event, so there is never a partial publish.
  kBackPressure,
  // The topic is not declared, or the pattern matches no declared topic.
  kTopicNotAvailable,
  // Not a valid topic or pattern (docs/TOPICS.md).
  kInvalidTopic,
  // The event does not fit ServerConfig::max_frame_size, or the pattern names more topics than
  // an inbox holds (ServerConfig::inbox_capacity).
  kTooLarge,
  // shutdown() was called.
  kShutdown,
};

std::string_view to_string(PublishStatus status) noexcept;

struct PublishResult {
  PublishStatus status = PublishStatus::kOk;
  size_t topics = 0;     // topics the event was published on (a pattern may expand to many)
  uint64_t last_id = 0;  // the id the event got on the last of those topics
  bool ok() const { return status == PublishStatus::kOk; }
};

struct ServerStats {
  uint64_t connections = 0;  // open now: handshake completed, not yet closed
  uint64_t handshakes_ok = 0;
  uint64_t handshakes_failed = 0;  // TLS/ALPN failures, timeouts before completion
  uint64_t auth_failures = 0;
  uint64_t events_published = 0;  // publish() calls that succeeded, per topic
  uint64_t events_delivered = 0;  // event copies queued to subscribers
  uint64_t events_dropped = 0;    // not queued: subscriber too slow, or event > its max_frame
  uint64_t back_pressure = 0;     // publish() calls refused with kBackPressure
  uint64_t protocol_errors = 0;   // connections closed for protocol violations
};

class Server {
 public:
  // Binds, starts the shards and returns a running server. `topics` are the declared topics
  // (docs/TOPICS.md rules); patterns publish to and subscribe against them.
  [[nodiscard]] static Result<std::unique_ptr<Server>, std::string> create(
      std::string_view address, const std::vector<std::string>& topics,
      const ServerConfig& config = {});
  // Shuts down (shutdown() with a short drain) if still running.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Thread-safe, lock-free, non-blocking; see the header comment.
  PublishResult publish(std::string_view topic_or_pattern, std::span<const uint8_t> data);
  PublishResult publish(std::string_view topic_or_pattern, std::string_view data) {
    return publish(
        topic_or_pattern,
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
  }

  // Replace the hooks (auth.hpp). Thread-safe; connections authenticated afterwards use the
  // new ones.
  void set_authenticator(std::shared_ptr<Authenticator> authenticator);
  void set_authenticator_func(AuthenticatorFunc authenticate);
  void set_authorizer(std::shared_ptr<Authorizer> authorizer);
  void set_authorizer_func(AuthorizerFunc authorize);

  // Prometheus text exposition of the server's metrics. Thread-safe.
  std::string metrics_text() const;
  // The registry behind it, e.g. to serve with metrics::MetricsHttpServer or to add the
  // application's own metrics next to the server's. Lives as long as the server.
  metrics::Registry& metrics_registry() const;
  ServerStats stats() const;

  // The bound address ("127.0.0.1:4242"; useful with port 0) and the certificate clients
  // should trust (the generated one, or the configured one).
  std::string address() const;
  uint16_t port() const;
  const std::string& certificate_pem() const;

  // Graceful shutdown: GOAWAY to every native client, `drain` for queued events to be
  // delivered, then every connection is closed with code 24 (server_shutdown) and the shards
  // stop. publish() returns kShutdown from the start of the call. Idempotent.
  void shutdown(std::chrono::milliseconds drain = std::chrono::milliseconds(500));

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace qsse

// qsse::Server: N shards running ServerApp, one EventHub, shared TLS and hooks.
#include <qsse/server.hpp>
#include <qsse/topic.hpp>

#include <sys/random.h>

#include <cstdio>
#include <thread>

#include "engine/event_hub.hpp"
#include "engine/server_app.hpp"
#include "engine/shard.hpp"

namespace qsse {

std::string_view to_string(PublishStatus status) noexcept {
  switch (status) {
    case PublishStatus::kOk:
      return "ok";
    case PublishStatus::kBackPressure:
      return "back_pressure";
    case PublishStatus::kTopicNotAvailable:
      return "topic_not_available";
    case PublishStatus::kInvalidTopic:
      return "invalid_topic";
    case PublishStatus::kTooLarge:
      return "too_large";
    case PublishStatus::kShutdown:
      return "shutdown";
  }
  return "unknown";
}

struct Server::Impl {
  engine::ServerShared shared;
  std::unique_ptr<engine::EventHub> hub;
  std::shared_ptr<quic::TlsContext> tls;
  std::vector<std::unique_ptr<engine::ServerApp>> apps;
  engine::ShardGroup group;
  io::Address address;
  std::atomic<bool> shut_down{false};

  ~Impl() { group.stop(); }

  // Runs `task` on every shard and waits (bounded) until all have run it. A shard busy past the
  // wait (a slow authenticator hook) runs it later: what the posted work uses is its own.
  void on_every_shard(std::function<void(size_t, engine::Shard&)> task) {
    struct Pending {
      std::function<void(size_t, engine::Shard&)> task;
      std::atomic<size_t> done{0};
    };
    auto pending = std::make_shared<Pending>();
    pending->task = std::move(task);
    for (size_t i = 0; i < group.size(); ++i) {
      group.shard(i).post([pending, i](engine::Shard& shard) {
        pending->task(i, shard);
        pending->done.fetch_add(1);
      });
    }
    const uint64_t deadline = io::monotonic_ns() + 5'000'000'000ull;
    while (pending->done.load() < group.size() && io::monotonic_ns() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
};

namespace {

std::string check_config(const ServerConfig& config) {
  if (config.event_lanes < 1 || config.event_lanes > wire::kMaxEventLanes) {
    return "event_lanes must be 1-16";
  }
  if (config.max_frame_size < wire::kMinMaxFrameSize) {
    return "max_frame_size must be at least 16384";
  }
  if (config.shards > 255) return "at most 255 shards";
  if (config.inbox_capacity == 0) return "inbox_capacity must be positive";
  if (config.slow_consumer_bytes < 2 * config.max_frame_size) {
    return "slow_consumer_bytes must be at least twice max_frame_size";
  }
  if (config.worker.cleaning_interval.count() <= 0)
    return "worker.cleaning_interval must be positive";
  if (auto valid = engine::check_realtime_priority(config.realtime_priority); !valid) {
    return valid.error();
  }
  return {};
}

std::shared_ptr<Authenticator> wrap(AuthenticatorFunc f) {
  struct FromFunc final : Authenticator {
    AuthenticatorFunc f;
    bool authenticate(std::string_view token) override { return f(token); }
  };
  auto a = std::make_shared<FromFunc>();
  a->f = std::move(f);
  return a;
}

std::shared_ptr<Authorizer> wrap(AuthorizerFunc f) {
  struct FromFunc final : Authorizer {
    AuthorizerFunc f;
    bool authorize(std::string_view token, std::string_view topic) override {
      return f(token, topic);
    }
  };
  auto a = std::make_shared<FromFunc>();
  a->f = std::move(f);
  return a;
}

uint64_t random_epoch() {
  uint64_t epoch = 0;
  while (epoch == 0) {
    if (getrandom(&epoch, sizeof(epoch), 0) != sizeof(epoch)) continue;
    epoch &= (uint64_t{1} << 62) - 1;
  }
  return epoch;
}

}  // namespace

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  shutdown(std::chrono::milliseconds(100));
}

Result<std::unique_ptr<Server>, std::string> Server::create(std::string_view address,
                                                            const std::vector<std::string>& topics,
                                                            const ServerConfig& config) {
  if (std::string problem = check_config(config); !problem.empty()) {
    return fail("qsse server: " + problem);
  }
  for (const auto& topic : topics) {
    if (auto valid = validate_topic(topic); !valid) {
      return fail("qsse server: invalid topic '" + topic +
                  "': " + std::string(topic_error_name(valid.error())));
    }
  }
  auto bind = io::Address::parse(address);
  if (!bind) return fail("qsse server: " + bind.error());

  auto impl = std::make_unique<Impl>();
  impl->shared.config = config;
  impl->shared.epoch = random_epoch();

  quic::ServerTlsOptions tls;
  tls.certificate_file = config.tls.certificate_file;
  tls.private_key_file = config.tls.private_key_file;
  tls.certificate_pem = config.tls.certificate_pem;
  tls.private_key_pem = config.tls.private_key_pem;
  tls.alpn = {std::string(wire::kAlpn)};
  if (config.accept_legacy) tls.alpn.emplace_back(wire::kLegacyAlpn);
  auto context = quic::TlsContext::server(tls);
  if (!context) return fail("qsse server: " + context.error());
  impl->tls = *context;

  size_t shards = config.shards;
  if (shards == 0) shards = std::max(1u, std::thread::hardware_concurrency());
  impl->hub = std::make_unique<engine::EventHub>(topics, shards, config.inbox_capacity,
                                                 config.max_frame_size);
  impl->shared.hub = impl->hub.get();
  impl->shared.metrics = std::make_unique<engine::ServerMetrics>(config, *impl->hub, shards);
  impl->hub->set_metrics(impl->shared.metrics->published, &impl->shared.metrics->back_pressure);

  quic::EndpointConfig endpoint;
  endpoint.retry = quic::EndpointConfig::Retry::kUnderLoad;
  endpoint.handshake_budget = config.worker.client_acceptor_queue_size;
  endpoint.max_connections = config.max_connections;
  endpoint.transport.idle_timeout =
      static_cast<uint64_t>(config.worker.cleaning_interval.count()) * quic::kMillisecond;
  endpoint.transport.max_streams_bidi = 1;  // the control stream
  endpoint.transport.max_streams_uni = 1;   // the legacy offer
  // Subscribers send acknowledgements and small control frames: ask them for Ethernet-sized
  // datagrams, so no connection keeps a 16 KB decryption buffer for their PMTUD probes.
  endpoint.transport.max_rx_udp_payload = 1'472;
  if (getrandom(endpoint.static_secret.data(), endpoint.static_secret.size(), 0) !=
      static_cast<ssize_t>(endpoint.static_secret.size())) {
    return fail(std::string("qsse server: no randomness for the static secret"));
  }

  // Hooks from the config are in force before the first packet is read.
  if (config.authenticator) impl->shared.set_authenticator(wrap(config.authenticator));
  if (config.authorizer) impl->shared.set_authorizer(wrap(config.authorizer));

  io::Address bound = *bind;
  for (size_t i = 0; i < shards; ++i) {
    engine::ShardConfig shard_config;
    shard_config.shard_id = static_cast<uint8_t>(i);
    shard_config.thread_name = "qsse-server";
    shard_config.udp.bind = bound;
    shard_config.udp.reuse_port = true;
    shard_config.backend = static_cast<io::Backend>(config.io_backend);
    shard_config.endpoint = endpoint;
    shard_config.realtime_priority = config.realtime_priority;
    impl->apps.push_back(std::make_unique<engine::ServerApp>(impl->shared, i));
    auto shard = engine::Shard::create(shard_config, impl->tls, impl->apps.back().get());
    if (!shard) return fail("qsse server: " + shard.error());
    bound = (*shard)->io().local_address();  // the others join the same (now known) port
    engine::Shard* raw = shard->get();
    impl->hub->inbox(i).wake = [raw] { raw->io().wake(); };
    impl->group.add(std::move(*shard));
  }
  impl->address = bound;
  if (auto started = impl->group.start(); !started) return fail("qsse server: " + started.error());
  std::fprintf(stderr, "qsse: server on %s, %zu shard(s), I/O %s%s\n", bound.to_string().c_str(),
               shards, impl->group.shard(0).io().name(),
               config.authenticator ? ""
                                    : "; no authenticator set: every token is accepted until "
                                      "set_authenticator is called");
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

PublishResult Server::publish(std::string_view topic_or_pattern, std::span<const uint8_t> data) {
  return impl_->hub->publish(topic_or_pattern, data);
}

void Server::set_authenticator(std::shared_ptr<Authenticator> authenticator) {
  impl_->shared.set_authenticator(std::move(authenticator));
}

void Server::set_authenticator_func(AuthenticatorFunc authenticate) {
  set_authenticator(wrap(std::move(authenticate)));
}

void Server::set_authorizer(std::shared_ptr<Authorizer> authorizer) {
  impl_->shared.set_authorizer(std::move(authorizer));
}

void Server::set_authorizer_func(AuthorizerFunc authorize) {
  set_authorizer(wrap(std::move(authorize)));
}

ServerStats Server::stats() const {
  const engine::ServerMetrics& m = *impl_->shared.metrics;
  ServerStats s;
  s.connections = static_cast<uint64_t>(m.connections.value());
  s.handshakes_ok = m.handshakes_ok.value();
  s.handshakes_failed = m.handshakes_failed.value();
  s.auth_failures = m.auth_failures.value();
  for (size_t t = 0; t < m.published.size(); ++t) {
    s.events_published += m.published[t]->value();
    s.events_delivered += m.delivered[t]->value();
    s.events_dropped += m.dropped[t]->value();
  }
  s.back_pressure = m.back_pressure.value();
  s.protocol_errors = m.protocol_errors.value();
  return s;
}

std::string Server::metrics_text() const {
  return impl_->shared.metrics->registry.prometheus_text();
}

metrics::Registry& Server::metrics_registry() const {
  return impl_->shared.metrics->registry;
}

std::string Server::address() const {
  return impl_->address.to_string();
}
uint16_t Server::port() const {
  return impl_->address.port();
}
const std::string& Server::certificate_pem() const {
  return impl_->tls->certificate_pem();
}

void Server::shutdown(std::chrono::milliseconds drain) {
  if (impl_ == nullptr || impl_->shut_down.exchange(true)) return;
  impl_->hub->stop_publishing();
  const auto retry_ms = static_cast<uint64_t>(drain.count());
  impl_->on_every_shard([impl = impl_.get(), retry_ms](size_t i, engine::Shard&) {
    impl->apps[i]->send_goaway(retry_ms);
  });
  std::this_thread::sleep_for(drain);
  impl_->on_every_shard([](size_t, engine::Shard& shard) {
    shard.close_all(static_cast<uint64_t>(ErrorCode::kServerShutdown), "server shutdown");
  });
  // Let the CONNECTION_CLOSE packets leave before the sockets go.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  impl_->group.stop();
}

}  // namespace qsse

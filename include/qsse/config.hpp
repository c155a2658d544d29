// qsse/config.hpp — configuration of a Server and a Client.
//
// Every field has a working default; a Server or Client created with a default-constructed
// config runs on loopback with a self-signed certificate (server) and certificate verification
// ON (client: give it the CA or set insecure_skip_verify for development).
//
// The Go library's settings map as follows (docs/ENGINE.md has the details):
//   MetricNamespace / MetricSubsystem      -> metric_namespace / metric_subsystem
//   Worker.CleaningInterval                -> worker.cleaning_interval: idle and broken clients
//                                             are detected and freed within this time (it is the
//                                             QUIC idle timeout; clients keep alive at 1/3 of it)
//   Worker.ClientAcceptorCount / QueueSize -> worker.client_acceptor_queue_size: handshakes in
//                                             progress per shard before new clients must prove
//                                             their address with a QUIC Retry
//   Worker.EventDistributorCount           -> shards (threads delivering events)
//   Worker.EventDistributorQueueSize       -> inbox_capacity (events queued per shard before
//                                             publish() reports back-pressure)
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include <qsse/auth.hpp>

namespace qsse {

enum class IoBackend : uint8_t {
  kAuto,      // io_uring where the kernel allows it, else the portable backend (logged)
  kIoUring,   // fail if io_uring is unavailable
  kPortable,  // recvmmsg/sendmmsg
};

// What the server does with a subscriber whose queued + unacknowledged bytes exceed
// ServerConfig::slow_consumer_bytes.
enum class SlowConsumerPolicy : uint8_t {
  // Stop queueing events for it; once it has drained below half the bound, tell it which ids
  // it missed with GAP frames (native) and continue. Legacy clients cannot be told: their
  // missed events are only counted.
  kDropWithGap,
  // Close the connection with error code 18 (slow_consumer).
  kClose,
  // Hold the publishers back (end-to-end flow control): while the subscriber is over the bound,
  // its shard takes no events from its inbox, so the inbox fills and publish() returns
  // kBackPressure; events flow again once it has drained below half the bound. A subscriber
  // over the bound that acknowledges nothing for back_pressure_timeout_ms is switched to
  // kDropWithGap, so a stalled peer stops the others for at most that long.
  kBackPressure,
};

struct ServerTlsConfig {
  // PEM files, or PEM text. All empty: an ECDSA P-256 self-signed certificate for "localhost"
  // is generated at start-up (Server::certificate_pem() returns it).
  std::string certificate_file;
  std::string private_key_file;
  std::string certificate_pem;
  std::string private_key_pem;
};

struct WorkerConfig {
  std::chrono::milliseconds cleaning_interval{30'000};
  size_t client_acceptor_queue_size = 1'000;
};

struct ServerConfig {
  std::string metric_namespace = "qsse";
  std::string metric_subsystem = "qsse";
  ServerTlsConfig tls;
  WorkerConfig worker;
  size_t shards = 0;  // 0: one per core
  IoBackend io_backend = IoBackend::kAuto;
  size_t inbox_capacity = 65'536;    // events waiting per shard
  size_t max_connections = 100'000;  // per shard
  size_t max_patterns_per_connection = 1'024;
  size_t max_frame_size = 65'536;         // largest frame accepted and sent; bounds event size
  size_t history_window = 1'024;          // events kept per topic for resume (0: none)
  uint32_t event_lanes = 8;               // unidirectional streams per connection (1-16)
  size_t slow_consumer_bytes = 8u << 20;  // per connection, queued + unacknowledged
  SlowConsumerPolicy slow_consumer_policy = SlowConsumerPolicy::kDropWithGap;
  uint32_t back_pressure_timeout_ms = 1'000;  // kBackPressure: longest hold without progress
  bool accept_legacy = true;                  // also speak the Go library's format (PROTOCOL_QUIC)
  // 0: the shard threads get the operating system's ordinary scheduling. 1-99: they run under
  // the SCHED_FIFO real-time policy at this priority, ahead of every ordinary thread, so a busy
  // machine does not hold an event back for a scheduler time slice (docs/ENGINE.md, "Real-time
  // scheduling"). Needs root, CAP_SYS_NICE or RLIMIT_RTPRIO; create() fails without them.
  int realtime_priority = 0;
  // Hooks in force from the first connection on (auth.hpp); either may also be set later with
  // Server::set_authenticator*/set_authorizer*. Unset: accept everything.
  AuthenticatorFunc authenticator;
  AuthorizerFunc authorizer;
};

struct ReconnectPolicy {
  bool retry = false;                               // reconnect at all (first dial and drops)
  int retry_times = 5;                              // attempts per outage
  std::chrono::milliseconds retry_interval{5'000};  // first wait
  double backoff = 2.0;                             // each further wait is this much longer
  std::chrono::milliseconds max_interval{60'000};
  double jitter = 0.2;  // +/- this fraction, at random
};

enum class Protocol : uint8_t {
  kNative,  // qsse/1: event ids, resume, run-time subscribe, per-topic lanes
  kLegacy,  // the Go library's JSON format (talks to Go qsse servers)
};

struct ClientTlsConfig {
  std::string ca_file;  // trust anchors (PEM); both empty: the system store
  std::string ca_pem;
  bool insecure_skip_verify = false;  // development only
  std::string server_name;            // SNI and name check; empty: the host of the address
};

struct ClientConfig {
  std::string token;
  ClientTlsConfig tls;
  ReconnectPolicy reconnect;
  Protocol protocol = Protocol::kNative;
  IoBackend io_backend = IoBackend::kAuto;
  std::chrono::milliseconds connect_timeout{10'000};  // per attempt
  std::chrono::milliseconds idle_timeout{30'000};
  std::chrono::milliseconds keep_alive{10'000};
  size_t max_frame_size = 65'536;
  // The client thread's scheduling: as ServerConfig::realtime_priority.
  int realtime_priority = 0;
};

}  // namespace qsse

// tools/bench/scenario.hpp — what one qsse-bench run does (Scenario) and what it measured
// (RunResult), shared by the qsse and NATS targets, the driver and the report writers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace qsse::bench {

// Topic index meaning "every topic" (a wildcard subscriber).
inline constexpr uint32_t kAllTopics = UINT32_MAX;

struct Scenario {
  // --- the load ---
  size_t subscribers = 10;    // K subscriber connections
  size_t client_threads = 1;  // C threads driving them (qsse: client shards; NATS: epoll loops)
  size_t topics = 1;          // N topics "bench.0" .. "bench.<N-1>"
  bool wildcard = false;      // every subscriber subscribes "bench.*" (else one exact topic)
  size_t publishers = 1;      // P publisher threads
  uint64_t rate = 0;          // total events/s published; 0: as fast as accepted ("max")
  size_t payload = 64;        // bytes per event (>= 16: timestamp, sequence)
  double duration = 5.0;      // measured seconds
  double warmup = 1.0;        // seconds published before measuring
  // NATS (and qsse, if qsse_window): publishers stay at most this many events ahead of the
  // slowest subscriber. 0: unbounded.
  uint64_t window = 65'536;
  bool qsse_window = false;

  // --- the qsse side ---
  size_t shards = 1;
  // ServerConfig::slow_consumer_bytes. 0: with qsse_window 256 MiB (what nats-server gets as
  // max_pending, so the window and not the drop policy governs both), else the engine default.
  size_t slow_consumer_bytes = 0;  // in-process server shards
  // ServerConfig::slow_consumer_policy: drop (GAP), close, or backpressure (hold publishers).
  std::string policy = "drop";
  std::string io_backend = "auto";  // auto, io_uring, portable (server and client shards)
  std::string connect;              // non-empty: subscribe to this server instead (no publishing)
  std::string ca_file;              // --connect: trust anchor
  bool insecure = false;            // --connect: skip certificate verification
  int server_pid = 0;               // --connect: read this process's CPU time and RSS

  // --- the NATS side ---
  std::string nats_server;  // binary; empty: search PATH and /usr/sbin

  bool quiet = false;  // no progress lines
  // SCHED_FIFO priority for every thread of the run, both systems' (0: ordinary scheduling).
  int realtime_priority = 0;

  // Subscriber i's topic: i mod N, or kAllTopics with --wildcard.
  uint32_t topic_of(size_t subscriber) const {
    return wildcard ? kAllTopics : static_cast<uint32_t>(subscriber % topics);
  }
  // How many subscribers receive an event published on `topic`.
  size_t fanout(size_t topic) const {
    if (wildcard) return subscribers;
    return subscribers / topics + (topic < subscribers % topics ? 1 : 0);
  }
  std::string rate_text() const { return rate == 0 ? "max" : std::to_string(rate); }
};

// One second of a run (t is seconds since measuring started; negative during warm-up).
struct Sample {
  double t = 0;
  double published_per_s = 0;
  double delivered_per_s = 0;
  uint64_t p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;  // ns, over that second's events
};

struct CpuSeconds {
  double server = 0;       // qsse shard threads / nats-server process
  double subscribers = 0;  // the load client's receiving threads
  double publishers = 0;   // publisher threads, plus the rest of this process (client library
                           // threads), excluding the in-process server
};

struct RunResult {
  std::string system;  // "qsse" or "nats"
  bool ok = false;     // the run completed (errors are in `error`)
  std::string error;
  std::string notes;  // facts worth printing (I/O backend, what wire bytes cover, ...)

  double seconds = 0;      // length of the measurement window
  uint64_t published = 0;  // events accepted by the server in the window
  uint64_t delivered = 0;  // events received by all subscribers in the window
  double published_per_s = 0;
  double delivered_per_s = 0;
  uint64_t publish_retries = 0;  // qsse: kBackPressure answers; whole run
  uint64_t window_waits = 0;     // publisher waits on the window; whole run

  // Latency over the window's deliveries, ns.
  uint64_t latency_count = 0;
  uint64_t untimed = 0;  // events whose payload carried no plausible send time (whole run)
  uint64_t p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;

  // Integrity over the whole run (warm-up, window and drain), per subscriber per topic.
  uint64_t expected_total = 0;  // deliveries the publishes called for
  uint64_t received_total = 0;  // deliveries that arrived
  uint64_t lost = 0;            // ids skipped (holes in the sequence, GAP frames)
  uint64_t undelivered = 0;     // published but not received when the drain ended (the tail)
  uint64_t reordered = 0;       // arrivals with an id not above the last one seen
  uint64_t server_gaps = 0;     // qsse: ids announced lost by GAP frames; NATS: dropped count
  uint64_t errors = 0;          // ERROR frames, unexpected closes, slow-consumer errors

  CpuSeconds cpu;                // over the window
  double process_cpu = 0;        // this process, over the window
  uint64_t peak_rss = 0;         // bytes: this process (qsse: includes the in-process server)
  uint64_t server_peak_rss = 0;  // bytes: the server process (NATS, or --server-pid)

  uint64_t wire_rx_bytes = 0;  // subscriber side, L4 payload, over the window
  uint64_t wire_tx_bytes = 0;
  uint64_t wire_rx_datagrams = 0;  // qsse: UDP datagrams received by the subscribers

  std::vector<Sample> timeline;
};

}  // namespace qsse::bench

// tools/bench/driver.hpp — runs one scenario against one system (a Target): publisher threads,
// pacing, the window, the progress line, the measurement window, the drain and the integrity
// check. The targets (qsse_target, nats_target) know how to start a server, connect the
// subscribers and publish; everything measured the same way for both lives here.
//
// Phases, each bounded in time: start (server, K subscribers ready) -> warm-up (publishing, not
// measured) -> window (`duration` seconds, measured) -> publishers stop -> drain (until every
// published event arrived, or nothing arrived for 1 s, at most 10 s) -> subscribers stop ->
// integrity check -> everything stops.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include <qsse/result.hpp>

#include "receivers.hpp"
#include "scenario.hpp"

namespace qsse::bench {

// Set by SIGINT/SIGTERM: every phase ends early, and the run still stops what it started.
extern std::atomic<bool> g_interrupted;

class Target {
 public:
  virtual ~Target() = default;
  virtual std::string name() const = 0;

  // Starts the server (or finds it), connects every subscriber and waits until all are
  // subscribed. Main thread. Errors: a message.
  [[nodiscard]] virtual Result<void, std::string> start(const Scenario& scenario,
                                                        Receivers& receivers) = 0;
  // False when this target only subscribes (qsse --connect).
  virtual bool can_publish() const { return true; }

  enum class Publish { kOk, kBackPressure, kFailed };
  // Publisher thread `publisher` (one thread per index). kFailed: why is in failure().
  virtual Publish publish(size_t publisher, uint32_t topic, std::span<const uint8_t> payload) = 0;
  // Main thread, after the publishers stopped: push out what client libraries buffer.
  virtual void flush_publishers() {}

  struct Probe {
    uint64_t server_cpu_ns = 0;
    uint64_t subscriber_cpu_ns = 0;
    uint64_t wire_rx = 0, wire_tx = 0, rx_datagrams = 0;
  };
  // Main thread, while running.
  virtual Probe probe() = 0;
  virtual bool server_in_process() const = 0;
  virtual uint64_t server_peak_rss() { return 0; }
  virtual void reset_server_peak_rss() {}
  // A fatal problem found by the target (subscribers gone, server died); empty if none.
  virtual std::string failure() const = 0;

  // Stops the receiving threads; Receivers are stable afterwards. Main thread.
  virtual void stop_subscribers() = 0;
  // Drops the client library counted itself (NATS slow-consumer drops), after stop_subscribers.
  virtual uint64_t client_drops() { return 0; }
  // Errors the target counted outside the receiving threads (lost connections, library errors).
  virtual uint64_t extra_errors() const { return 0; }
  // Stops everything else. Idempotent; the destructor calls it too.
  virtual void stop() = 0;
  virtual std::string notes() const { return {}; }
};

std::unique_ptr<Target> make_qsse_target();
std::unique_ptr<Target> make_nats_target();

// Runs `scenario` against `target` and stops it. Never throws for run-time failures: they come
// back in RunResult::error (ok == false).
RunResult run_scenario(Target& target, const Scenario& scenario);

}  // namespace qsse::bench

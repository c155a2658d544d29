// tools/examples/example_support.hpp — what every example program shares: its command line
// (--events N, --timeout SECONDS), a loopback server with a generated certificate, a client
// configuration that trusts it, and a bounded wait.
//
// Each example runs a server and its clients in one process on 127.0.0.1:0 and exits 0 once the
// clients received what they expected, 1 otherwise (so `meson test --suite tools` runs them).
#pragma once

#include <qsse/client.hpp>
#include <qsse/server.hpp>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace qsse::examples {

struct Options {
  int events = 0;
  double timeout_seconds = 10;
};

// Adds --events (default `default_events`) and --timeout to `app`.
inline void add_common_options(CLI::App& app, Options& options, int default_events) {
  options.events = default_events;
  app.add_option("--events", options.events, "Events the client must receive")
      ->check(CLI::Range(1, 1'000'000));
  app.add_option("--timeout", options.timeout_seconds, "Give up (exit 1) after SECONDS")
      ->check(CLI::PositiveNumber);
}

// A server on an ephemeral loopback port, or null (the reason printed).
inline std::unique_ptr<Server> start_server(const std::vector<std::string>& topics,
                                            const ServerConfig& config = {}) {
  auto server = Server::create("127.0.0.1:0", topics, config);
  if (!server) {
    std::fprintf(stderr, "cannot start the server: %s\n", server.error().c_str());
    return nullptr;
  }
  return std::move(*server);
}

// A client configuration that trusts `server`'s (generated) certificate.
inline ClientConfig trusting(const Server& server) {
  ClientConfig config;
  config.tls.ca_pem = server.certificate_pem();
  return config;
}

// Polls `done` every millisecond until it holds or the timeout passes.
inline bool wait_for(const std::function<bool()>& done, const Options& options) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(options.timeout_seconds));
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Publishes, retrying while the server reports back-pressure: an example never drops an event.
inline PublishResult publish_retrying(Server& server, std::string_view topic,
                                      std::string_view data) {
  for (;;) {
    PublishResult result = server.publish(topic, data);
    if (result.status != PublishStatus::kBackPressure) return result;
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

}  // namespace qsse::examples

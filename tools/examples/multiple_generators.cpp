// qsse-example-multiple-generators — several publisher threads on several topics at once.
//
//   qsse-example-multiple-generators [--events 400] [--generators 4] [--topics 2] [--timeout 10]
//
// Generator g publishes events "g=<g> seq=<n>" (n = 1, 2, ...) as fast as the server accepts
// them, on topic `generator.<g % topics>`, so several threads share each topic. publish() is
// lock-free and callable from any thread; back-pressure is retried, never dropped. A client
// subscribed to `generator.*` checks that it received every event exactly once and, for each
// generator, in the order it was published. Exits 0 when all --events arrived that way.
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "example_support.hpp"

int main(int argc, char** argv) {
  qsse::examples::Options options;
  int generators = 4;
  int topic_count = 2;
  CLI::App app{"qsse example: several publisher threads on several topics"};
  qsse::examples::add_common_options(app, options, 400);
  app.add_option("--generators", generators, "Publisher threads")->check(CLI::Range(1, 64));
  app.add_option("--topics", topic_count, "Topics the generators share")->check(CLI::Range(1, 64));
  CLI11_PARSE(app, argc, argv);

  std::vector<std::string> topics;
  for (int t = 0; t < topic_count; ++t) topics.push_back("generator." + std::to_string(t));
  auto server = qsse::examples::start_server(topics);
  if (!server) return 1;

  // What arrived: per generator, the last sequence number, and any ordering violation.
  std::mutex mutex;
  std::map<int, int> last_seq;
  int received = 0;
  std::vector<std::string> problems;
  qsse::ClientHandlers handlers;
  handlers.events.emplace_back(
      "generator.*", [&](std::string_view topic, std::span<const uint8_t> data) {
        const std::string text(reinterpret_cast<const char*>(data.data()), data.size());
        int g = -1, seq = -1;
        std::lock_guard lock(mutex);
        ++received;
        if (std::sscanf(text.c_str(), "g=%d seq=%d", &g, &seq) != 2) {
          problems.push_back("unreadable event '" + text + "'");
          return;
        }
        if (topic != topics[static_cast<size_t>(g % topic_count)]) {
          problems.push_back(text + " arrived on " + std::string(topic));
        }
        if (seq != last_seq[g] + 1) {
          problems.push_back("generator " + std::to_string(g) + ": got seq " + std::to_string(seq) +
                             " after " + std::to_string(last_seq[g]));
        }
        last_seq[g] = seq;
      });
  auto client = qsse::Client::create(server->address(), {"generator.*"},
                                     qsse::examples::trusting(*server), std::move(handlers));
  if (!client) {
    std::fprintf(stderr, "%s\n", client.error().c_str());
    return 1;
  }

  // The client is subscribed (create() returned): every event published from now on reaches it.
  std::vector<std::thread> threads;
  std::atomic<int> publish_failures{0};
  for (int g = 0; g < generators; ++g) {
    const int share = options.events / generators + (g < options.events % generators ? 1 : 0);
    threads.emplace_back([&, g, share] {
      const std::string& topic = topics[static_cast<size_t>(g % topic_count)];
      for (int seq = 1; seq <= share; ++seq) {
        const std::string data = "g=" + std::to_string(g) + " seq=" + std::to_string(seq);
        if (!qsse::examples::publish_retrying(*server, topic, data).ok()) publish_failures++;
      }
    });
  }
  for (std::thread& t : threads) t.join();

  const bool ok = qsse::examples::wait_for(
      [&] {
        std::lock_guard lock(mutex);
        return received >= options.events;
      },
      options);
  // A little longer, so that duplicates would show up as extra events.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  (*client)->close();
  server->shutdown();

  std::lock_guard lock(mutex);
  for (const auto& [g, seq] : last_seq) {
    std::printf("generator %d: %d events in order\n", g, seq);
  }
  if (!ok || received != options.events || !problems.empty() || publish_failures > 0) {
    for (const std::string& p : problems) std::fprintf(stderr, "FAILED: %s\n", p.c_str());
    std::fprintf(stderr, "FAILED: received %d of %d events (%d publish failures)\n", received,
                 options.events, publish_failures.load());
    return 1;
  }
  std::printf("ok: %d events from %d generators on %d topics, each generator in order\n", received,
              generators, topic_count);
  return 0;
}

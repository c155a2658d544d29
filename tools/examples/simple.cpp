// qsse-example-simple — a server that publishes on two topics every 50 ms, and a client that
// subscribes to both and prints what it receives, with one handler per topic.
//
//   qsse-example-simple [--events 6] [--timeout 10]
//
// Exits 0 once the client has printed --events events and saw both topics.
#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "example_support.hpp"

int main(int argc, char** argv) {
  qsse::examples::Options options;
  CLI::App app{"qsse example: a server publishing on two topics, a client printing them"};
  qsse::examples::add_common_options(app, options, 6);
  CLI11_PARSE(app, argc, argv);

  const std::vector<std::string> topics = {"news.sports", "news.weather"};
  auto server = qsse::examples::start_server(topics);
  if (!server) return 1;

  std::atomic<int> received{0};
  std::mutex mutex;
  std::set<std::string> seen_topics;
  auto print = [&](std::string_view topic, std::span<const uint8_t> data) {
    if (received.load() >= options.events) return;
    std::printf("client: %.*s: %.*s\n", static_cast<int>(topic.size()), topic.data(),
                static_cast<int>(data.size()), reinterpret_cast<const char*>(data.data()));
    std::lock_guard lock(mutex);
    seen_topics.emplace(topic);
    received.fetch_add(1);
  };
  qsse::ClientHandlers handlers;
  for (const std::string& topic : topics) handlers.events.emplace_back(topic, print);
  handlers.on_error = [](const qsse::ClientError& error) {
    std::fprintf(stderr, "client error %d: %s\n", error.code, error.message.c_str());
  };
  auto client = qsse::Client::create(server->address(), topics, qsse::examples::trusting(*server),
                                     std::move(handlers));
  if (!client) {
    std::fprintf(stderr, "%s\n", client.error().c_str());
    return 1;
  }

  std::atomic<bool> stop{false};
  std::thread publisher([&] {
    for (int round = 1; !stop.load(); ++round) {
      const std::string sports = "match " + std::to_string(round) + ": 2-1";
      const std::string weather = "forecast " + std::to_string(round) + ": sunny";
      (void)qsse::examples::publish_retrying(*server, "news.sports", sports);
      (void)qsse::examples::publish_retrying(*server, "news.weather", weather);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });

  const bool ok = qsse::examples::wait_for(
      [&] {
        std::lock_guard lock(mutex);
        return received.load() >= options.events && seen_topics.size() == topics.size();
      },
      options);
  stop = true;
  publisher.join();
  (*client)->close();
  server->shutdown();
  if (!ok) {
    std::fprintf(stderr, "FAILED: the client received %d of %d events\n", received.load(),
                 options.events);
    return 1;
  }
  std::printf("ok: %d events on %zu topics\n", received.load(), topics.size());
  return 0;
}

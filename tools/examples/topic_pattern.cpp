// qsse-example-topic-pattern — wildcard subscriptions, resolved by the server.
//
//   qsse-example-topic-pattern [--events 9] [--timeout 10]
//
// The server declares passenger and driver topics of a ride service and publishes on each in
// turn. One client subscribes to `ride.passenger.*` (a trailing `*` covers every topic below the
// prefix, `ride.passenger.account.name` included), another to `ride.*.start` (an inner `*` is
// exactly one segment). Exits 0 once each client received --events events, every one of them
// matching its pattern, and every topic its pattern covers was seen.
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "example_support.hpp"

namespace {

// What one subscriber expects and what it got.
struct Subscriber {
  Subscriber(std::string name_, std::string pattern_, std::set<std::string> expected)
      : name(std::move(name_)),
        pattern(std::move(pattern_)),
        expected_topics(std::move(expected)) {}

  std::string name;
  std::string pattern;
  std::set<std::string> expected_topics;
  std::mutex mutex;
  int received = 0;
  std::set<std::string> seen;
  std::vector<std::string> unexpected;
  std::unique_ptr<qsse::Client> client;

  bool done(int events) {
    std::lock_guard lock(mutex);
    return received >= events && seen == expected_topics;
  }
};

}  // namespace

int main(int argc, char** argv) {
  qsse::examples::Options options;
  CLI::App app{"qsse example: wildcard subscriptions such as ride.passenger.*"};
  qsse::examples::add_common_options(app, options, 9);
  CLI11_PARSE(app, argc, argv);

  const std::vector<std::string> topics = {"ride.passenger.start", "ride.passenger.end",
                                           "ride.passenger.account.name", "ride.driver.start",
                                           "ride.driver.location"};
  auto server = qsse::examples::start_server(topics);
  if (!server) return 1;

  Subscriber passengers{
      "passengers",
      "ride.passenger.*",
      {"ride.passenger.start", "ride.passenger.end", "ride.passenger.account.name"}};
  Subscriber starts{"starts", "ride.*.start", {"ride.passenger.start", "ride.driver.start"}};
  for (Subscriber* s : {&passengers, &starts}) {
    qsse::ClientHandlers handlers;
    handlers.events.emplace_back(
        s->pattern, [s, &options](std::string_view topic, std::span<const uint8_t> data) {
          std::lock_guard lock(s->mutex);
          if (s->received >= options.events) return;
          ++s->received;
          std::printf("%-10s %-28.*s %.*s\n", s->name.c_str(), static_cast<int>(topic.size()),
                      topic.data(), static_cast<int>(data.size()),
                      reinterpret_cast<const char*>(data.data()));
          if (s->expected_topics.count(std::string(topic)) == 0) {
            s->unexpected.emplace_back(topic);
          } else {
            s->seen.emplace(topic);
          }
        });
    // Nothing else may arrive: anything outside the pattern would land here.
    handlers.on_message = [s](std::string_view topic, std::span<const uint8_t>) {
      std::lock_guard lock(s->mutex);
      s->unexpected.emplace_back(topic);
    };
    auto client = qsse::Client::create(server->address(), {s->pattern},
                                       qsse::examples::trusting(*server), std::move(handlers));
    if (!client) {
      std::fprintf(stderr, "%s\n", client.error().c_str());
      return 1;
    }
    s->client = std::move(*client);
  }

  std::atomic<bool> stop{false};
  std::thread publisher([&] {
    for (int n = 1; !stop.load(); ++n) {
      const std::string& topic = topics[static_cast<size_t>(n - 1) % topics.size()];
      (void)qsse::examples::publish_retrying(*server, topic, "event " + std::to_string(n));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  const bool ok = qsse::examples::wait_for(
      [&] { return passengers.done(options.events) && starts.done(options.events); }, options);
  stop = true;
  publisher.join();
  passengers.client->close();
  starts.client->close();
  server->shutdown();

  bool clean = ok;
  for (Subscriber* s : {&passengers, &starts}) {
    std::lock_guard lock(s->mutex);
    for (const std::string& topic : s->unexpected) {
      std::fprintf(stderr, "FAILED: %s (%s) received %s\n", s->name.c_str(), s->pattern.c_str(),
                   topic.c_str());
      clean = false;
    }
    if (!ok) {
      std::fprintf(stderr, "FAILED: %s received %d of %d events on %zu of %zu topics\n",
                   s->name.c_str(), s->received, options.events, s->seen.size(),
                   s->expected_topics.size());
    }
  }
  if (!clean) return 1;
  std::printf("ok: each subscriber received %d events, all matching its pattern\n", options.events);
  return 0;
}

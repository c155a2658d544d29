// Resume lists a client sends (HELLO, SUBSCRIBE): what the server replays from its history, and
// what it must not: the same history again for a repeated list, more than the subscriber's
// bound, frames above the subscriber's limit, events the subscriber already has.
#include <gtest/gtest.h>

#include "test_support.hpp"
#include "wire_client.hpp"

namespace qsse {
namespace {

using engine::testing::WireClient;
using testing::eventually;
using testing::test_server_config;

constexpr const char* kTopic = "chat.room";

std::unique_ptr<Server> start_server(ServerConfig config = test_server_config()) {
  config.shards = 1;
  auto server = Server::create("127.0.0.1:0", {kTopic}, config);
  EXPECT_TRUE(server.has_value()) << (server ? "" : server.error());
  return server ? std::move(*server) : nullptr;
}

void publish(Server& server, size_t n, size_t size = 16) {
  for (size_t i = 0; i < n; ++i) ASSERT_TRUE(server.publish(kTopic, std::string(size, 'e')).ok());
}

// Sends SUBSCRIBE(patterns, resume) and waits until the server has processed it: the frame also
// names a topic that does not exist, answered with an ERROR once the whole frame is handled.
bool subscribe(WireClient& client, std::vector<std::string> patterns,
               std::vector<std::pair<std::string, uint64_t>> resume) {
  const size_t errors = client.errors();
  patterns.push_back("no.such.topic");
  client.subscribe(std::move(patterns), std::move(resume));
  return eventually([&] { return client.errors() > errors; });
}

// Waits until the client has the event with id `id` (a live event published after the request:
// everything the request made the server send arrived before it, on the same lane).
bool has_event(WireClient& client, uint64_t id) {
  return eventually([&] {
    for (const auto& r : client.received()) {
      if (!r.gap && r.first == id) return true;
    }
    return false;
  });
}

std::vector<uint64_t> event_ids(WireClient& client) {
  std::vector<uint64_t> ids;
  for (const auto& r : client.received()) {
    if (!r.gap) ids.push_back(r.first);
  }
  return ids;
}

std::vector<uint64_t> range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> ids;
  for (uint64_t id = first; id <= last; ++id) ids.push_back(id);
  return ids;
}

TEST(Resume, ARepeatedResumeListReplaysTheHistoryOnce) {
  auto server = start_server();
  ASSERT_TRUE(server);
  ASSERT_NO_FATAL_FAILURE(publish(*server, 50));
  WireClient client(server->address(), server->certificate_pem(), {kTopic});
  ASSERT_TRUE(eventually([&] { return client.welcomed(); }));
  // One list naming the topic 100 times, then the same list again.
  const std::vector<std::pair<std::string, uint64_t>> resume(100, {kTopic, 0});
  ASSERT_TRUE(subscribe(client, {}, resume));
  ASSERT_NO_FATAL_FAILURE(publish(*server, 1));
  ASSERT_TRUE(has_event(client, 51));
  ASSERT_TRUE(subscribe(client, {}, resume));
  ASSERT_NO_FATAL_FAILURE(publish(*server, 1));
  ASSERT_TRUE(has_event(client, 52));
  EXPECT_EQ(event_ids(client), range(1, 52));
}

TEST(Resume, ReplayStaysWithinTheSubscribersBoundAndAnnouncesTheRest) {
  ServerConfig config = test_server_config();
  config.slow_consumer_bytes = 128 * 1024;  // (the default policy: kDropWithGap)
  auto server = start_server(config);
  ASSERT_TRUE(server);
  ASSERT_NO_FATAL_FAILURE(publish(*server, 500, 1024));  // ~500 KiB retained
  WireClient client(server->address(), server->certificate_pem(), {kTopic});
  ASSERT_TRUE(eventually([&] { return client.welcomed(); }));
  ASSERT_TRUE(subscribe(client, {}, {{kTopic, 0}}));
  // A live event after the replay: it arrives, or (the connection may still be over its bound
  // when it is delivered) it is announced by a GAP of its own once the client caught up.
  ASSERT_NO_FATAL_FAILURE(publish(*server, 1));
  ASSERT_TRUE(eventually([&] {
    for (const auto& r : client.received()) {
      if (r.first <= 501 && 501 <= r.last) return true;
    }
    return false;
  }));
  // Events 1..k, then one GAP(slow_consumer) for k+1..500.
  const auto received = client.received();
  size_t gap_at = 0;
  while (gap_at < received.size() && !received[gap_at].gap) ++gap_at;
  ASSERT_LT(gap_at, received.size()) << "no GAP: the whole history was replayed";
  const auto& gap = received[gap_at];
  EXPECT_EQ(gap.reason, ErrorCode::kSlowConsumer);
  EXPECT_EQ(gap.first, gap_at + 1);
  EXPECT_EQ(gap.last, 500u);
  EXPECT_GT(gap.first, 1u);
  EXPECT_LT(gap.first * 1024, 2 * config.slow_consumer_bytes) << "replayed far past the bound";
  for (size_t i = 0; i < gap_at; ++i) EXPECT_EQ(received[i].first, i + 1);
}

// Under kBackPressure nothing is dropped: a client resuming with more backlog than its bound
// gets all of it.
TEST(Resume, ReplayUnderBackPressureSendsTheWholeHistory) {
  ServerConfig config = test_server_config();
  config.slow_consumer_bytes = 128 * 1024;
  config.slow_consumer_policy = SlowConsumerPolicy::kBackPressure;
  auto server = start_server(config);
  ASSERT_TRUE(server);
  ASSERT_NO_FATAL_FAILURE(publish(*server, 500, 1024));
  WireClient client(server->address(), server->certificate_pem(), {kTopic});
  ASSERT_TRUE(eventually([&] { return client.welcomed(); }));
  ASSERT_TRUE(subscribe(client, {}, {{kTopic, 0}}));
  ASSERT_TRUE(eventually([&] { return event_ids(client).size() >= 500; }));
  EXPECT_EQ(event_ids(client), range(1, 500));
}

TEST(Resume, ReplayHonoursTheSubscribersFrameLimit) {
  auto server = start_server();
  ASSERT_TRUE(server);
  ASSERT_TRUE(server->publish(kTopic, "small").ok());
  ASSERT_TRUE(server->publish(kTopic, std::string(20'000, 'x')).ok());
  ASSERT_TRUE(server->publish(kTopic, "small").ok());
  WireClient client(server->address(), server->certificate_pem(), {kTopic},
                    /*max_frame_size=*/16'384);
  ASSERT_TRUE(eventually([&] { return client.welcomed(); }));
  ASSERT_TRUE(subscribe(client, {}, {{kTopic, 0}}));
  ASSERT_NO_FATAL_FAILURE(publish(*server, 1));
  ASSERT_TRUE(has_event(client, 4));
  const auto received = client.received();
  ASSERT_EQ(received.size(), 4u);
  EXPECT_FALSE(received[0].gap);
  EXPECT_TRUE(received[1].gap);
  EXPECT_EQ(received[1].reason, ErrorCode::kEventTooLarge);
  EXPECT_EQ(received[1].first, 2u);
  EXPECT_EQ(received[1].last, 2u);
  EXPECT_EQ(event_ids(client), (std::vector<uint64_t>{1, 3, 4}));
}

// A client that resumes from an id this shard has not delivered yet got those events from
// another shard (its previous connection's): it gets the later ones only.
TEST(Resume, EventsTheSubscriberHasAreNotDeliveredAgain) {
  auto server = start_server();
  ASSERT_TRUE(server);
  ASSERT_NO_FATAL_FAILURE(publish(*server, 5));
  WireClient client(server->address(), server->certificate_pem(), {});
  ASSERT_TRUE(eventually([&] { return client.welcomed(); }));
  ASSERT_TRUE(subscribe(client, {kTopic}, {{kTopic, 8}}));
  ASSERT_NO_FATAL_FAILURE(publish(*server, 5));
  ASSERT_TRUE(has_event(client, 10));
  EXPECT_EQ(event_ids(client), (std::vector<uint64_t>{9, 10}));
}

}  // namespace
}  // namespace qsse

// The Go library's defects (issue #6) that ours must not have, each checked end to end.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>

#include "test_support.hpp"

namespace qsse {
namespace {

using testing::client_config_for;
using testing::eventually;
using testing::Gate;
using testing::Recorder;
using testing::test_server_config;

const std::vector<std::string> kTopics = {"ride.1.location", "ride.2.location", "ride.1.status",
                                          "chat.room"};

std::unique_ptr<Client> make_client(Server& server, ClientHandlers handlers,
                                    std::vector<std::string> topics = {"chat.room"}) {
  auto client = Client::create(server.address(), topics, client_config_for(server), handlers);
  EXPECT_TRUE(client.has_value()) << (client ? "" : client.error());
  return client ? std::move(*client) : nullptr;
}

void stalled_subscriber_does_not_slow_others(SlowConsumerPolicy policy) {
  ServerConfig config = test_server_config();
  config.shards = 1;  // both subscribers on one shard: the hardest case
  config.slow_consumer_bytes = 256 * 1024;
  config.slow_consumer_policy = policy;
  auto created = Server::create("127.0.0.1:0", kTopics, config);
  ASSERT_TRUE(created.has_value()) << created.error();
  Server& server = **created;

  Gate gate;
  std::atomic<int> stalled_events{0};
  Recorder stalled_errors;
  ClientHandlers stalled_handlers;
  stalled_handlers.events.emplace_back("chat.room",
                                       [&](std::string_view, std::span<const uint8_t>) {
                                         ++stalled_events;
                                         gate.wait();
                                       });
  stalled_handlers.on_error = stalled_errors.error_handler();
  auto stalled = make_client(server, stalled_handlers);
  Recorder fast;
  ClientHandlers fast_handlers;
  fast_handlers.events.emplace_back("chat.room", fast.event_handler());
  auto quick = make_client(server, fast_handlers);
  ASSERT_TRUE(stalled && quick);
  // Declared after the clients, so it runs first: a failed assertion must not leave the stalled
  // client's thread blocked while its destructor waits for it.
  struct ReleaseOnExit {
    Gate& gate;
    ~ReleaseOnExit() { gate.release(); }
  } release_on_exit{gate};

  // Published at a pace the fast subscriber easily follows (about 2 MB/s): only the stalled
  // one falls behind.
  constexpr int kEvents = 3000;
  const std::string payload(1024, 'e');
  auto slowest_publish = std::chrono::nanoseconds(0);
  for (int i = 0; i < kEvents; ++i) {
    const auto before = std::chrono::steady_clock::now();
    PublishResult r;
    while ((r = server.publish("chat.room", payload)).status == PublishStatus::kBackPressure) {
      std::this_thread::yield();
    }
    slowest_publish = std::max(slowest_publish, std::chrono::steady_clock::now() - before);
    ASSERT_TRUE(r.ok());
    std::this_thread::sleep_for(std::chrono::microseconds(400));
  }
  // No publish() ever waited for the stalled subscriber.
  EXPECT_LT(slowest_publish, std::chrono::milliseconds(50));
  ASSERT_TRUE(eventually([&] { return fast.event_count() == kEvents; }, 30))
      << "the fast subscriber got " << fast.event_count();
  const ServerStats stats = server.stats();
  if (policy == SlowConsumerPolicy::kDropWithGap) {
    EXPECT_GT(stats.events_dropped, 0u) << "the stalled subscriber's backlog is bounded";
    gate.release();
    // Once it drains, it is told what it missed.
    EXPECT_TRUE(eventually([&] { return stalled_errors.error_count() > 0; }, 30));
    std::lock_guard lock(stalled_errors.mutex);
    EXPECT_EQ(stalled_errors.errors[0].code, static_cast<int>(ErrorCode::kSlowConsumer));
    EXPECT_EQ(stalled_errors.errors[0].topic, "chat.room");
  } else {
    // Evicted: the server closed it with code 18 and freed it.
    EXPECT_TRUE(eventually([&] { return server.stats().connections == 1; }, 30));
    EXPECT_NE(server.metrics_text().find("errors_total{code=\"slow_consumer\"} 1"),
              std::string::npos);
    gate.release();
  }
}

TEST(GoDefects, StalledSubscriberIsBoundedAndToldWhatItMissed) {
  stalled_subscriber_does_not_slow_others(SlowConsumerPolicy::kDropWithGap);
}

TEST(GoDefects, StalledSubscriberIsEvictedUnderClosePolicy) {
  stalled_subscriber_does_not_slow_others(SlowConsumerPolicy::kClose);
}

TEST(GoDefects, IdleConnectionsStayUpThanksToKeepAlive) {
  ServerConfig config = test_server_config();
  config.worker.cleaning_interval = std::chrono::milliseconds(600);  // server idle timeout
  auto server = Server::create("127.0.0.1:0", kTopics, config);
  ASSERT_TRUE(server.has_value());
  Recorder rec;
  ClientConfig cc = client_config_for(**server);
  cc.keep_alive = std::chrono::milliseconds(150);
  ClientHandlers handlers;
  handlers.events.emplace_back("chat.room", rec.event_handler());
  auto client = Client::create((*server)->address(), {"chat.room"}, cc, handlers);
  ASSERT_TRUE(client.has_value());
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));  // idle for > 3 idle timeouts
  EXPECT_EQ((*server)->stats().connections, 1u);
  ASSERT_TRUE((*server)->publish("chat.room", "still here").ok());
  EXPECT_TRUE(eventually([&] { return rec.event_count() == 1; }));
  EXPECT_EQ((*client)->stats().reconnects, 0u);
}

TEST(GoDefects, PublisherMayReuseItsBufferAtOnce) {
  auto server = Server::create("127.0.0.1:0", kTopics, test_server_config());
  ASSERT_TRUE(server.has_value());
  Recorder rec;
  ClientHandlers handlers;
  handlers.events.emplace_back("chat.room", rec.event_handler());
  auto client = make_client(**server, handlers);
  ASSERT_TRUE(client);
  std::string buffer;
  for (int i = 0; i < 100; ++i) {
    buffer.assign(64, static_cast<char>('a' + i % 26));
    ASSERT_TRUE((*server)->publish("chat.room", buffer).ok());
    buffer.assign(64, '#');  // overwrite immediately, as a publisher reusing its buffer does
  }
  ASSERT_TRUE(eventually([&] { return rec.event_count() == 100; }));
  std::lock_guard lock(rec.mutex);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(rec.events[i].second, std::string(64, static_cast<char>('a' + i % 26)));
  }
}

TEST(GoDefects, PublishPatternStarMatchesOneSegment) {
  auto server = Server::create("127.0.0.1:0", kTopics, test_server_config());
  ASSERT_TRUE(server.has_value());
  Recorder rec;
  ClientHandlers handlers;
  handlers.events.emplace_back("*", rec.event_handler());
  auto client = make_client(**server, handlers, {"ride.*"});
  ASSERT_TRUE(client);
  auto r = (*server)->publish("ride.*.location", "x");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.topics, 2u) << "ride.1.location and ride.2.location, not ride.1.status";
  ASSERT_TRUE(eventually([&] { return rec.event_count() == 2; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(rec.event_count(), 2u);
}

TEST(GoDefects, BadPatternsAreReportedNotIgnored) {
  auto server = Server::create("127.0.0.1:0", kTopics, test_server_config());
  ASSERT_TRUE(server.has_value());
  auto bad = Client::create((*server)->address(), {"ri*de.x"}, client_config_for(**server));
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().find("ri*de.x"), std::string::npos);
  EXPECT_EQ((*server)->publish("ride.**", "x").status, PublishStatus::kInvalidTopic);
}

TEST(GoDefects, SettingHandlersWhileEventsArriveIsSafe) {
  auto server = Server::create("127.0.0.1:0", kTopics, test_server_config());
  ASSERT_TRUE(server.has_value());
  auto client = make_client(**server, {});
  ASSERT_TRUE(client);
  std::atomic<int> calls{0};
  std::atomic<bool> stop{false};
  std::atomic<bool> churning{false};
  std::thread churn([&] {
    for (int i = 0; !stop; ++i) {
      client->set_event_handler("chat.room",
                                [&](std::string_view, std::span<const uint8_t>) { ++calls; });
      churning = true;
      if (i % 3 == 0) client->set_event_handler("chat.room", nullptr);
      client->set_message_handler([](std::string_view, std::span<const uint8_t>) {});
    }
  });
  ASSERT_TRUE(eventually([&] { return churning.load(); }, 10));
  // Events arrive while the handlers change (a third of the time there is none): publish at
  // least 2,000, and on until one reached a handler (a whole burst may arrive in a gap).
  uint64_t published = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while ((published < 2000 || calls.load() == 0) && std::chrono::steady_clock::now() < deadline) {
    while ((*server)->publish("chat.room", "x").status == PublishStatus::kBackPressure) {
      std::this_thread::yield();
    }
    ++published;
    if (published >= 2000) std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  EXPECT_TRUE(eventually([&] { return client->stats().events == published; }, 30));
  stop = true;
  churn.join();
  EXPECT_GT(calls.load(), 0);
}

}  // namespace
}  // namespace qsse

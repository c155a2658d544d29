// SlowConsumerPolicy::kBackPressure: a slow subscriber holds the publishers back (publish()
// reports kBackPressure) and loses nothing; a stalled one holds them only until
// back_pressure_timeout_ms, then misses events and is told (GAP), while the others go on.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>

#include "test_support.hpp"

namespace qsse {
namespace {

using testing::client_config_for;
using testing::eventually;
using testing::Gate;
using testing::Recorder;
using testing::test_server_config;

constexpr size_t kPayload = 1024;

std::string payload_for(uint64_t sequence) {
  std::string payload(kPayload, 'p');
  std::memcpy(payload.data(), &sequence, sizeof sequence);
  return payload;
}

uint64_t sequence_of(const std::string& payload) {
  uint64_t sequence = 0;
  if (payload.size() >= sizeof sequence) std::memcpy(&sequence, payload.data(), sizeof sequence);
  return sequence;
}

struct TwoSubscribers {
  std::unique_ptr<Server> server;
  Gate gate;
  Recorder slow;  // its handler blocks on `gate`
  Recorder fast;
  std::unique_ptr<Client> slow_client;
  std::unique_ptr<Client> fast_client;

  explicit TwoSubscribers(uint32_t timeout_ms) {
    ServerConfig config = test_server_config();
    config.shards = 1;
    config.inbox_capacity = 512;
    config.slow_consumer_bytes = 128 * 1024;
    config.slow_consumer_policy = SlowConsumerPolicy::kBackPressure;
    config.back_pressure_timeout_ms = timeout_ms;
    auto created = Server::create("127.0.0.1:0", {"chat.room"}, config);
    EXPECT_TRUE(created.has_value()) << (created ? "" : created.error());
    if (!created) return;
    server = std::move(*created);
    ClientHandlers slow_handlers;
    auto record = slow.event_handler();
    slow_handlers.events.emplace_back(
        "chat.room", [this, record](std::string_view t, std::span<const uint8_t> d) {
          gate.wait();
          record(t, d);
        });
    slow_handlers.on_error = slow.error_handler();
    ClientHandlers fast_handlers;
    fast_handlers.events.emplace_back("chat.room", fast.event_handler());
    auto a =
        Client::create(server->address(), {"chat.room"}, client_config_for(*server), slow_handlers);
    auto b =
        Client::create(server->address(), {"chat.room"}, client_config_for(*server), fast_handlers);
    EXPECT_TRUE(a && b);
    if (a) slow_client = std::move(*a);
    if (b) fast_client = std::move(*b);
  }
  ~TwoSubscribers() { gate.release(); }  // never leave a client thread blocked in its destructor

  // Both subscribed: a first event reaches the fast one (the slow one's handler holds it).
  bool subscribed() {
    return server->publish("chat.room", payload_for(0)).ok() &&
           eventually([&] { return fast.event_count() == 1; }, 20);
  }
};

// Publishes events first..last in order, retrying on back-pressure; returns how many calls
// were refused, or -1 if `seconds` passed first.
int64_t publish_all(Server& server, uint64_t first, uint64_t last, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  int64_t refused = 0;
  for (uint64_t i = first; i <= last; ++i) {
    const std::string payload = payload_for(i);
    PublishResult r;
    while ((r = server.publish("chat.room", payload)).status == PublishStatus::kBackPressure) {
      ++refused;
      if (std::chrono::steady_clock::now() > deadline) return -1;
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    EXPECT_TRUE(r.ok());
  }
  return refused;
}

void expect_in_order(Recorder& r, uint64_t last) {
  std::lock_guard lock(r.mutex);
  ASSERT_EQ(r.events.size(), last + 1);
  for (uint64_t i = 0; i <= last; ++i) {
    ASSERT_EQ(sequence_of(r.events[i].second), i) << "event " << i << " lost or out of order";
  }
}

TEST(BackPressure, SlowSubscriberHoldsPublishersBackAndLosesNothing) {
  TwoSubscribers s(60'000);
  ASSERT_TRUE(s.server && s.slow_client && s.fast_client);
  ASSERT_TRUE(s.subscribed());
  // The slow subscriber reads nothing: its bound (128 KiB) plus the inbox (512 events) and the
  // client's receive window are all that fit before publish() must refuse.
  constexpr uint64_t kBeforeRelease = 20'000;
  uint64_t published = 0;
  bool refused = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!refused && published < kBeforeRelease && std::chrono::steady_clock::now() < deadline) {
    const PublishResult r = s.server->publish("chat.room", payload_for(published + 1));
    if (r.status == PublishStatus::kBackPressure) {
      refused = true;
    } else {
      ASSERT_TRUE(r.ok());
      ++published;
    }
  }
  ASSERT_TRUE(refused) << published << " events accepted while a subscriber read nothing";
  EXPECT_LT(published, 5'000u);
  s.gate.release();
  constexpr uint64_t kLast = 6'000;
  ASSERT_GE(publish_all(*s.server, published + 1, kLast, 60), 0) << "publishing never resumed";
  ASSERT_TRUE(eventually([&] { return s.slow.event_count() == kLast + 1; }, 60))
      << "the slow subscriber got " << s.slow.event_count();
  ASSERT_TRUE(eventually([&] { return s.fast.event_count() == kLast + 1; }, 20));
  expect_in_order(s.slow, kLast);
  expect_in_order(s.fast, kLast);
  EXPECT_EQ(s.slow.error_count(), 0u);
  EXPECT_EQ(s.server->stats().events_dropped, 0u);
}

TEST(BackPressure, StalledSubscriberHoldsPublishersOnlyUntilTheTimeout) {
  TwoSubscribers s(300);
  ASSERT_TRUE(s.server && s.slow_client && s.fast_client);
  ASSERT_TRUE(s.subscribed());
  // The stalled subscriber never reads while this runs: after 300 ms it stops holding the
  // others back, everything is published and the fast subscriber gets all of it.
  constexpr uint64_t kLast = 4'000;
  const auto started = std::chrono::steady_clock::now();
  const int64_t refused = publish_all(*s.server, 1, kLast, 30);
  ASSERT_GE(refused, 0) << "a stalled subscriber held the publishers back for good";
  EXPECT_GT(refused, 0) << "the stalled subscriber never held anyone back";
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(300));
  ASSERT_TRUE(eventually([&] { return s.fast.event_count() == kLast + 1; }, 30))
      << "the fast subscriber got " << s.fast.event_count();
  expect_in_order(s.fast, kLast);
  EXPECT_GT(s.server->stats().events_dropped, 0u);
  EXPECT_NE(s.server->metrics_text().find("back_pressure_timeouts_total 1"), std::string::npos);
  // Released, it drains and is told what it missed.
  s.gate.release();
  EXPECT_TRUE(eventually(
      [&] { return s.slow.has_error(static_cast<int>(ErrorCode::kSlowConsumer), "chat.room"); },
      30));
}

}  // namespace
}  // namespace qsse

// Server and Client end to end over loopback: the Go library's behaviours and ours.
#include <gtest/gtest.h>

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <thread>

#include "quic/tls.hpp"
#include "test_support.hpp"

namespace qsse {
namespace {

using testing::client_config_for;
using testing::eventually;
using testing::Recorder;
using testing::test_server_config;

const std::vector<std::string> kTopics = {"ride.1.location", "ride.2.location", "ride.1.status",
                                          "chat.room"};

std::unique_ptr<Server> start_server(ServerConfig config = test_server_config(),
                                     const char* address = "127.0.0.1:0") {
  auto server = Server::create(address, kTopics, config);
  EXPECT_TRUE(server.has_value()) << (server ? "" : server.error());
  return server ? std::move(*server) : nullptr;
}

std::unique_ptr<Client> connect(Server& server, std::vector<std::string> topics,
                                ClientConfig config) {
  auto client = Client::create(server.address(), topics, config);
  EXPECT_TRUE(client.has_value()) << (client ? "" : client.error());
  return client ? std::move(*client) : nullptr;
}

// Publishes until the recorder saw `until` events or time runs out (a fresh subscription may
// race the first publish; retrying is what a user would do, and counts are checked exactly).
TEST(ServerClient, DeliversEventsOnExactAndWildcardSubscriptions) {
  auto server = start_server();
  ASSERT_TRUE(server);
  Recorder rec;
  auto client = connect(*server, {"ride.*.location", "chat.room"}, client_config_for(*server));
  ASSERT_TRUE(client);
  client->set_event_handler("ride.*.location", rec.event_handler());
  client->set_event_handler("chat.room", rec.event_handler());
  ASSERT_TRUE(server->publish("ride.1.location", "a").ok());
  ASSERT_TRUE(server->publish("ride.2.location", "b").ok());
  ASSERT_TRUE(server->publish("ride.1.status", "not subscribed").ok());
  ASSERT_TRUE(server->publish("chat.room", "c").ok());
  ASSERT_TRUE(eventually([&] { return rec.event_count() >= 3; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // nothing more may arrive
  std::lock_guard lock(rec.mutex);
  ASSERT_EQ(rec.events.size(), 3u);
  std::multiset<std::string> got;
  for (auto& e : rec.events) got.insert(e.first + "=" + e.second);
  EXPECT_EQ(got,
            (std::multiset<std::string>{"ride.1.location=a", "ride.2.location=b", "chat.room=c"}));
}

TEST(ServerClient, AuthenticationFailureClosesWithCode1) {
  auto server = start_server();
  ASSERT_TRUE(server);
  server->set_authenticator_func([](std::string_view token) { return token == "good"; });
  ClientConfig config = client_config_for(*server);
  config.token = "bad";
  auto client = Client::create(server->address(), {"chat.room"}, config);
  ASSERT_FALSE(client.has_value());
  EXPECT_NE(client.error().find("not authorized"), std::string::npos) << client.error();
  EXPECT_TRUE(eventually([&] { return server->stats().auth_failures == 1; }));
  config.token = "good";
  EXPECT_TRUE(Client::create(server->address(), {"chat.room"}, config).has_value());
}

TEST(ServerClient, UnknownTopicGetsError2AndOtherTopicsStillFlow) {
  auto server = start_server();
  ASSERT_TRUE(server);
  Recorder rec;
  ClientHandlers handlers;
  handlers.on_error = rec.error_handler();
  handlers.events.emplace_back("chat.room", rec.event_handler());
  auto created = Client::create(server->address(), {"no.such.topic", "chat.room"},
                                client_config_for(*server), handlers);
  ASSERT_TRUE(created.has_value()) << created.error();
  auto& client = *created;
  EXPECT_TRUE(eventually([&] { return rec.has_error(2, "no.such.topic"); }));
  ASSERT_TRUE(server->publish("chat.room", "hello").ok());
  ASSERT_TRUE(eventually([&] { return rec.event_count() == 1; }));
  ASSERT_TRUE(client->subscribe({"another.missing"}).has_value());
  EXPECT_TRUE(eventually([&] { return rec.has_error(2, "another.missing"); }));
}

TEST(ServerClient, UnauthorizedTopicGetsError1AndOthersFlow) {
  auto server = start_server();
  ASSERT_TRUE(server);
  server->set_authorizer_func(
      [](std::string_view, std::string_view topic) { return topic != "ride.1.status"; });
  Recorder rec;
  auto client = connect(*server, {"chat.room"}, client_config_for(*server));
  ASSERT_TRUE(client);
  client->set_error_handler(rec.error_handler());
  client->set_event_handler("*", rec.event_handler());
  ASSERT_TRUE(client->subscribe({"ride.1.status"}).has_value());
  EXPECT_TRUE(eventually([&] { return rec.has_error(1, "ride.1.status"); }));
  ASSERT_TRUE(server->publish("ride.1.status", "secret").ok());
  ASSERT_TRUE(server->publish("chat.room", "public").ok());
  ASSERT_TRUE(eventually([&] { return rec.event_count() == 1; }));
  std::lock_guard lock(rec.mutex);
  EXPECT_EQ(rec.events[0].first, "chat.room");
}

TEST(ServerClient, DispatchesToEveryMatchingHandlerInOrderElseMessageHandler) {
  auto server = start_server();
  ASSERT_TRUE(server);
  Recorder rec;
  auto client = connect(*server, {"*"}, client_config_for(*server));
  ASSERT_TRUE(client);
  client->set_event_handler("ride.*", rec.event_handler("A:"));
  client->set_event_handler("ride.1.*", rec.event_handler("B:"));
  client->set_message_handler(rec.message_handler());
  ASSERT_TRUE(server->publish("ride.1.location", "x").ok());
  ASSERT_TRUE(server->publish("chat.room", "y").ok());
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(rec.mutex);
    return rec.events.size() == 2 && rec.messages.size() == 1;
  }));
  std::lock_guard lock(rec.mutex);
  EXPECT_EQ(rec.events[0].first, "A:ride.1.location");
  EXPECT_EQ(rec.events[1].first, "B:ride.1.location");
  EXPECT_EQ(rec.messages[0].first, "chat.room");
}

TEST(ServerClient, RunTimeSubscribeAndUnsubscribe) {
  auto server = start_server();
  ASSERT_TRUE(server);
  Recorder rec;
  auto client = connect(*server, {"chat.room"}, client_config_for(*server));
  ASSERT_TRUE(client);
  client->set_event_handler("*", rec.event_handler());
  ASSERT_TRUE(client->subscribe({"ride.1.*"}).has_value());
  ASSERT_TRUE(eventually([&] {
    server->publish("ride.1.status", "s");
    return rec.event_count() > 0;
  }));
  ASSERT_TRUE(client->unsubscribe({"ride.1.*"}).has_value());
  // After the unsubscription is processed, publishing ride.1.status delivers nothing, while
  // chat.room still arrives: publish a marker on chat.room after each ride event.
  const size_t before = rec.event_count();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const size_t settled = rec.event_count();
  ASSERT_TRUE(server->publish("ride.1.status", "after").ok());
  ASSERT_TRUE(server->publish("chat.room", "marker").ok());
  ASSERT_TRUE(eventually([&] { return rec.event_count() == settled + 1; }));
  std::lock_guard lock(rec.mutex);
  EXPECT_EQ(rec.events.back().first, "chat.room");
  EXPECT_GE(settled, before);
}

TEST(ServerClient, LegacyClientAgainstOurServer) {
  auto server = start_server();
  ASSERT_TRUE(server);
  Recorder rec;
  ClientHandlers handlers;
  handlers.on_error = rec.error_handler();
  handlers.events.emplace_back("chat.room", rec.event_handler());
  auto client = Client::create(server->address(), {"chat.room", "no.such.topic"},
                               client_config_for(*server, Protocol::kLegacy), handlers);
  ASSERT_TRUE(client.has_value())
      << "a legacy client must finish connecting before any event is published: " << client.error();
  ASSERT_TRUE(eventually([&] { return rec.has_error(2, "no.such.topic"); }))
      << "legacy error events (topic 'error', base64 JSON) are decoded";
  ASSERT_TRUE(server->publish("chat.room", std::string("bin\0ary\n\"<&>", 12)).ok());
  ASSERT_TRUE(eventually([&] { return rec.event_count() == 1; }));
  std::lock_guard lock(rec.mutex);
  EXPECT_EQ(rec.events[0].second, std::string("bin\0ary\n\"<&>", 12));
  EXPECT_EQ((*client)->protocol(), Protocol::kLegacy);
}

// The pattern limit holds for the Go client's offer too: topics beyond it are refused (legacy
// error event, code 19) and not subscribed.
TEST(ServerClient, LegacyOfferIsHeldToThePatternLimit) {
  ServerConfig config = test_server_config();
  config.max_patterns_per_connection = 2;
  auto server = start_server(config);
  ASSERT_TRUE(server);
  Recorder rec;
  ClientHandlers handlers;
  handlers.on_error = rec.error_handler();
  handlers.on_message = rec.message_handler();
  auto client = Client::create(server->address(), kTopics,
                               client_config_for(*server, Protocol::kLegacy), handlers);
  ASSERT_TRUE(client.has_value()) << client.error();
  ASSERT_TRUE(eventually([&] {
    return rec.has_error(19, kTopics[2]) && rec.has_error(19, kTopics[3]);
  })) << "the third and fourth topics are over the limit";
  // Only the first two are subscribed: an event on the fourth topic does not arrive, one on the
  // first does (published after it, on the same stream).
  ASSERT_TRUE(server->publish(kTopics[3], "over").ok());
  ASSERT_TRUE(server->publish(kTopics[0], "within").ok());
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(rec.mutex);
    return !rec.messages.empty();
  }));
  EXPECT_EQ(rec.error_count(), 2u);
  std::lock_guard lock(rec.mutex);
  ASSERT_EQ(rec.messages.size(), 1u);
  EXPECT_EQ(rec.messages[0].second, "within");
}

// Handlers may call any method, close() included: the connection closes (the server sees it go)
// and nothing waits for the client's own thread.
TEST(ServerClient, CloseFromInsideAHandlerClosesTheConnection) {
  auto server = start_server();
  ASSERT_TRUE(server);
  auto client = connect(*server, {"chat.room"}, client_config_for(*server));
  ASSERT_TRUE(client);
  std::atomic<int> calls{0};
  Client* raw = client.get();  // (the handler must not read `client`, which reset() writes)
  client->set_event_handler("chat.room", [&calls, raw](std::string_view, std::span<const uint8_t>) {
    ++calls;
    raw->close();
  });
  ASSERT_TRUE(eventually([&] {
    (void)server->publish("chat.room", "x");
    return calls.load() > 0;
  }));
  EXPECT_TRUE(eventually([&] { return server->stats().connections == 0; }));
  EXPECT_EQ(calls.load(), 1) << "no event is handled after close()";
  client.reset();  // joins the stopped thread
}

TEST(ServerClient, ReconnectsAfterServerRestartAndEventsFlowAgain) {
  // A deployment keeps its certificate across restarts.
  auto cert = quic::generate_self_signed("localhost");
  ASSERT_TRUE(cert.has_value());
  ServerConfig config = test_server_config();
  config.tls.certificate_pem = cert->certificate_pem;
  config.tls.private_key_pem = cert->private_key_pem;
  auto server = start_server(config);
  ASSERT_TRUE(server);
  const std::string address = server->address();
  Recorder rec;
  ClientConfig cc = client_config_for(*server);
  cc.reconnect.retry = true;
  cc.reconnect.retry_times = 100;
  cc.reconnect.retry_interval = std::chrono::milliseconds(50);
  cc.reconnect.backoff = 1.0;
  ClientHandlers handlers;
  handlers.events.emplace_back("chat.room", rec.event_handler());
  auto client = Client::create(address, {"chat.room"}, cc, handlers);
  ASSERT_TRUE(client.has_value()) << client.error();
  ASSERT_TRUE(server->publish("chat.room", "before").ok());
  ASSERT_TRUE(eventually([&] { return rec.event_count() == 1; }));

  server->shutdown(std::chrono::milliseconds(10));
  server.reset();
  EXPECT_TRUE(eventually([&] { return !(*client)->stats().connected; }));

  server = start_server(config, address.c_str());  // same address, new instance
  ASSERT_TRUE(server);
  ASSERT_TRUE(eventually([&] { return (*client)->stats().connected; }, 20))
      << "the client did not come back";
  EXPECT_GE((*client)->stats().reconnects, 1u);
  ASSERT_TRUE(eventually([&] {
    server->publish("chat.room", "after");
    return rec.event_count() >= 2;
  }));
  std::lock_guard lock(rec.mutex);
  EXPECT_EQ(rec.events[1].second, "after");
}

TEST(ServerClient, HundredSubscribersGetEveryEventOnceInOrder) {
  ServerConfig config = test_server_config();
  auto server = start_server(config);
  ASSERT_TRUE(server);
  constexpr int kClients = 100;
  constexpr int kEvents = 300;
  struct Check {
    std::mutex m;
    std::map<std::string, int> next;  // topic -> next expected sequence number
    int received = 0;
    bool out_of_order = false;
  };
  std::vector<std::unique_ptr<Check>> checks;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kClients; ++i) {
    auto check = std::make_unique<Check>();
    Check* c = check.get();
    auto client = connect(*server, {"ride.*"}, client_config_for(*server));
    ASSERT_TRUE(client);
    client->set_event_handler("ride.*", [c](std::string_view topic, std::span<const uint8_t> d) {
      std::lock_guard lock(c->m);
      const int seq = std::stoi(std::string(reinterpret_cast<const char*>(d.data()), d.size()));
      int& expected = c->next[std::string(topic)];
      if (seq != expected) c->out_of_order = true;
      expected = seq + 1;
      ++c->received;
    });
    checks.push_back(std::move(check));
    clients.push_back(std::move(client));
  }
  // Three topics, each with its own sequence; published from two threads at once.
  const std::vector<std::string> topics = {"ride.1.location", "ride.2.location", "ride.1.status"};
  auto publisher = [&](int first_topic) {
    for (int n = 0; n < kEvents; ++n) {
      for (size_t t = first_topic; t < topics.size(); t += 2) {
        while (server->publish(topics[t], std::to_string(n)).status ==
               PublishStatus::kBackPressure) {
          std::this_thread::yield();
        }
      }
    }
  };
  std::thread a(publisher, 0), b(publisher, 1);
  a.join();
  b.join();
  const int expected = kEvents * static_cast<int>(topics.size());
  ASSERT_TRUE(eventually(
      [&] {
        for (auto& c : checks) {
          std::lock_guard lock(c->m);
          if (c->received < expected) return false;
        }
        return true;
      },
      60));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  for (int i = 0; i < kClients; ++i) {
    std::lock_guard lock(checks[i]->m);
    EXPECT_EQ(checks[i]->received, expected) << "client " << i;
    EXPECT_FALSE(checks[i]->out_of_order) << "client " << i;
  }
  EXPECT_EQ(server->stats().events_delivered, uint64_t(expected) * kClients);
  EXPECT_EQ(server->stats().events_dropped, 0u);
}

// Subscribers with different, overlapping pattern sets: the shard groups topics by who matches
// them and delivers subscriber by subscriber, copying events scattered over the publishers'
// buffers together per lane. Each subscriber must still get exactly its topics' events, each
// once, every topic in order, byte for byte (some frames too large to be copied together).
TEST(ServerClient, OverlappingSubscriptionsGetExactlyTheirTopicsInOrder) {
  auto server = start_server();
  ASSERT_TRUE(server);
  const std::vector<std::pair<std::vector<std::string>, int>> groups = {
      {{"*"}, 5},
      {{"ride.*"}, 4},
      {{"ride.1.*"}, 4},
      {{"ride.*.location", "chat.room"}, 4},
      {{"ride.1.location", "ride.*.location"}, 1},  // two patterns, one topic: once
      {{"chat.room"}, 2},
  };
  auto covers = [](const std::vector<std::string>& patterns, const std::string& topic) {
    for (const std::string& p : patterns) {
      if (p == "*" || p == topic || (p == "ride.*" && topic.starts_with("ride.")) ||
          (p == "ride.1.*" && topic.starts_with("ride.1.")) ||
          (p == "ride.*.location" && topic.starts_with("ride.") && topic.ends_with(".location"))) {
        return true;
      }
    }
    return false;
  };
  constexpr int kEvents = 400;
  // Every 7th event carries 3,000 bytes: above the slab slice size, a buffer of its own.
  auto payload = [](const std::string& topic, int n) {
    std::string p = topic + ":" + std::to_string(n) + ":";
    p.resize(n % 7 == 0 ? 3000 : p.size() + n % 50, static_cast<char>('a' + n % 26));
    return p;
  };
  struct Check {
    std::mutex m;
    std::map<std::string, int> next;  // topic -> next expected sequence number
    int received = 0;
    std::string error;  // the first mismatch
  };
  std::vector<std::unique_ptr<Check>> checks;
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<int> expected;
  for (const auto& [patterns, count] : groups) {
    int want = 0;
    for (const std::string& topic : kTopics) want += covers(patterns, topic) ? kEvents : 0;
    for (int i = 0; i < count; ++i) {
      auto check = std::make_unique<Check>();
      Check* c = check.get();
      auto client = connect(*server, patterns, client_config_for(*server));
      ASSERT_TRUE(client);
      client->set_message_handler(
          [c, &payload](std::string_view topic, std::span<const uint8_t> d) {
            const std::string data(reinterpret_cast<const char*>(d.data()), d.size());
            std::lock_guard lock(c->m);
            ++c->received;
            int& expected_seq = c->next[std::string(topic)];
            if (data != payload(std::string(topic), expected_seq) && c->error.empty()) {
              c->error = std::string(topic) + " #" + std::to_string(expected_seq) + ": got " +
                         data.substr(0, 40);
            }
            ++expected_seq;
          });
      checks.push_back(std::move(check));
      clients.push_back(std::move(client));
      expected.push_back(want);
    }
  }
  // Client::create returned once subscribed: every event below is owed to every match.
  auto publisher = [&](size_t first_topic) {
    for (int n = 0; n < kEvents; ++n) {
      for (size_t t = first_topic; t < kTopics.size(); t += 2) {
        while (server->publish(kTopics[t], payload(kTopics[t], n)).status ==
               PublishStatus::kBackPressure) {
          std::this_thread::yield();
        }
      }
    }
  };
  std::thread a(publisher, 0), b(publisher, 1);
  a.join();
  b.join();
  EXPECT_TRUE(eventually(
      [&] {
        for (size_t i = 0; i < checks.size(); ++i) {
          std::lock_guard lock(checks[i]->m);
          if (!checks[i]->error.empty()) return true;  // failed already: report below
          if (checks[i]->received < expected[i]) return false;
        }
        return true;
      },
      60));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // nothing more may arrive
  uint64_t total = 0;
  for (size_t i = 0; i < checks.size(); ++i) {
    std::lock_guard lock(checks[i]->m);
    EXPECT_EQ(checks[i]->received, expected[i]) << "client " << i;
    EXPECT_EQ(checks[i]->error, "") << "client " << i;
    total += static_cast<uint64_t>(expected[i]);
  }
  EXPECT_EQ(server->stats().events_delivered, total);
  EXPECT_EQ(server->stats().events_dropped, 0u);
}

// Subscriptions change while events flow: clients subscribe and unsubscribe, connect and leave
// (their session ids are reused), so the shard recomputes who matches each topic between
// batches. Steady subscribers must still get every event once and in order; the others never an
// event they do not match, never one twice, and each topic in order.
TEST(ServerClient, SubscriptionChurnWhileEventsFlow) {
  auto server = start_server();
  ASSERT_TRUE(server);
  constexpr int kMinEvents = 1000, kMaxEvents = 100'000;  // per topic
  constexpr int kToggles = 5;
  struct Check {
    std::mutex m;
    std::map<std::string, int> last;  // topic -> last sequence number seen
    int received = 0;
    std::string error;  // the first problem
    void take(std::string_view topic, std::span<const uint8_t> d, bool gaps_allowed,
              bool ride_allowed) {
      const int seq = std::stoi(std::string(reinterpret_cast<const char*>(d.data()), d.size()));
      std::lock_guard lock(m);
      ++received;
      auto [it, first] = last.try_emplace(std::string(topic), -1);
      const bool in_order = gaps_allowed ? seq > it->second : seq == it->second + 1;
      if (error.empty() && !in_order) {
        error = std::string(topic) + ": " + std::to_string(seq) + " after " +
                std::to_string(it->second);
      }
      if (error.empty() && !ride_allowed && topic.starts_with("ride.")) {
        error = "unsubscribed topic " + std::string(topic);
      }
      it->second = seq;
    }
  };
  auto make_client = [&](std::vector<std::string> patterns, Check* c, bool gaps, bool ride) {
    auto client = connect(*server, patterns, client_config_for(*server));
    if (client) {
      client->set_message_handler([c, gaps, ride](std::string_view t, std::span<const uint8_t> d) {
        c->take(t, d, gaps, ride);
      });
    }
    return client;
  };
  std::vector<std::unique_ptr<Check>> steady_checks;
  std::vector<std::unique_ptr<Client>> steady;
  for (int i = 0; i < 6; ++i) {
    steady_checks.push_back(std::make_unique<Check>());
    steady.push_back(make_client({"*"}, steady_checks.back().get(), false, true));
    ASSERT_TRUE(steady.back());
  }
  // The publisher goes on (each topic numbered from 0) until the churn below is done.
  std::atomic<bool> publishing{true};
  std::atomic<bool> churn_done{false};
  std::atomic<int> published{0};  // per topic
  std::thread publisher([&] {
    int n = 0;
    for (; n < kMaxEvents && !(n >= kMinEvents && churn_done.load()); ++n) {
      for (const std::string& topic : kTopics) {
        while (server->publish(topic, std::to_string(n)).status == PublishStatus::kBackPressure) {
          std::this_thread::yield();
        }
      }
      if (n % 5 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // spread
    }
    published = n;
    publishing = false;
  });
  // Churn until the publisher is done: a toggling subscriber, and short-lived clients that each
  // wait for an event and leave; one of all topics, then one of chat.room only, which takes the
  // session id the first one freed (and must not inherit its topics).
  Check toggler_check;
  auto toggler = make_client({"chat.room"}, &toggler_check, true, true);
  ASSERT_TRUE(toggler);
  std::vector<std::unique_ptr<Check>> passer_checks;
  auto pass = [&](std::vector<std::string> patterns, bool ride) {
    passer_checks.push_back(std::make_unique<Check>());
    Check* c = passer_checks.back().get();
    auto passer = make_client(patterns, c, true, ride);
    EXPECT_TRUE(passer);
    (void)eventually([&] {
      std::lock_guard lock(c->m);
      return c->received > 0 || !publishing.load();
    });
  };
  int toggles = 0;
  for (; toggles < kToggles && publishing.load(); ++toggles) {
    EXPECT_TRUE(toggler->subscribe({"ride.1.*"}).has_value());
    pass({"*"}, true);
    pass({"chat.room"}, false);
    EXPECT_TRUE(toggler->unsubscribe({"ride.1.*"}).has_value());
  }
  churn_done = true;
  publisher.join();
  const int expected = published.load() * static_cast<int>(kTopics.size());
  EXPECT_TRUE(eventually(
      [&] {
        for (auto& c : steady_checks) {
          std::lock_guard lock(c->m);
          if (!c->error.empty()) return true;  // failed already: report below
          if (c->received < expected) return false;
        }
        return true;
      },
      60));
  for (size_t i = 0; i < steady_checks.size(); ++i) {
    std::lock_guard lock(steady_checks[i]->m);
    EXPECT_EQ(steady_checks[i]->received, expected) << "steady client " << i;
    EXPECT_EQ(steady_checks[i]->error, "") << "steady client " << i;
  }
  {
    std::lock_guard lock(toggler_check.m);
    EXPECT_EQ(toggler_check.error, "");
    EXPECT_GT(toggler_check.received, 0);
  }
  int passers_served = 0;
  for (auto& c : passer_checks) {
    std::lock_guard lock(c->m);
    EXPECT_EQ(c->error, "");
    passers_served += c->received > 0 ? 1 : 0;
  }
  EXPECT_EQ(toggles, kToggles) << "the publisher reached its bound before the churn was done";
  EXPECT_EQ(passers_served, 2 * kToggles) << "clients that joined mid-stream got nothing";
}

TEST(ServerClient, PublishReportsBadInputs) {
  auto server = start_server();
  ASSERT_TRUE(server);
  EXPECT_EQ(server->publish("no.such.topic", "x").status, PublishStatus::kTopicNotAvailable);
  EXPECT_EQ(server->publish("bad..topic", "x").status, PublishStatus::kInvalidTopic);
  EXPECT_EQ(server->publish("nothing.*", "x").status, PublishStatus::kTopicNotAvailable);
  auto expanded = server->publish("ride.*", "x");
  EXPECT_TRUE(expanded.ok());
  EXPECT_EQ(expanded.topics, 3u) << "ride.* covers the three ride topics";
  EXPECT_EQ(server->publish("chat.room", std::string(70'000, 'x')).status,
            PublishStatus::kTooLarge);
  server->shutdown(std::chrono::milliseconds(1));
  EXPECT_EQ(server->publish("chat.room", "x").status, PublishStatus::kShutdown);
}

// A pattern naming more topics than an inbox holds can never be published: it is refused as
// too large, not reported as back-pressure (which tells the caller to retry).
TEST(ServerClient, PublishToMoreTopicsThanAnInboxHoldsIsTooLarge) {
  ServerConfig config = test_server_config();
  config.inbox_capacity = 2;
  auto server = start_server(config);
  ASSERT_TRUE(server);
  EXPECT_EQ(server->publish("ride.*", "x").status, PublishStatus::kTooLarge);
  EXPECT_TRUE(server->publish("ride.1.location", "x").ok());
}

// An event larger than the max_frame_size a client announced is not sent to it: the client is
// told with a GAP, the next events arrive, and the server counts the copy as dropped.
TEST(ServerClient, EventLargerThanTheClientsMaxFrameBecomesAGapAndCountsAsDropped) {
  auto server = start_server();
  ASSERT_TRUE(server);
  Recorder rec;
  ClientHandlers handlers;
  handlers.events.emplace_back("chat.room", rec.event_handler());
  ClientConfig config = client_config_for(*server);
  config.max_frame_size = 16'384;
  auto client = Client::create(server->address(), {"chat.room"}, config, handlers);
  ASSERT_TRUE(client.has_value()) << client.error();
  ASSERT_TRUE(server->publish("chat.room", "before").ok());
  ASSERT_TRUE(server->publish("chat.room", std::string(20'000, 'x')).ok());
  ASSERT_TRUE(server->publish("chat.room", "after").ok());
  ASSERT_TRUE(eventually([&] { return rec.event_count() == 2 && (*client)->stats().gaps == 1; }));
  {
    std::lock_guard lock(rec.mutex);
    EXPECT_EQ(rec.events[0].second, "before");
    EXPECT_EQ(rec.events[1].second, "after");
  }
  EXPECT_EQ(server->stats().events_delivered, 2u);
  EXPECT_EQ(server->stats().events_dropped, 1u);
  EXPECT_NE(server->metrics_text().find("events_dropped_total{topic=\"chat.room\"} 1\n"),
            std::string::npos);
}

TEST(ServerClient, CreationErrorsAreClear) {
  auto bad_topic = Server::create("127.0.0.1:0", {"ok.topic", "bad..topic"});
  ASSERT_FALSE(bad_topic.has_value());
  EXPECT_NE(bad_topic.error().find("bad..topic"), std::string::npos);
  auto bad_address = Server::create("nowhere:80", {"a"});
  ASSERT_FALSE(bad_address.has_value());
  ServerConfig config;
  config.tls.certificate_file = "/nonexistent.pem";
  config.tls.private_key_file = "/nonexistent.key";
  auto bad_cert = Server::create("127.0.0.1:0", {"a"}, config);
  ASSERT_FALSE(bad_cert.has_value());
  EXPECT_NE(bad_cert.error().find("/nonexistent.pem"), std::string::npos);
  auto first = start_server(test_server_config());
  ASSERT_TRUE(first);
  ServerConfig plain;
  plain.shards = 1;
  // A second server on the same port: SO_REUSEPORT would share it, so the port is taken by a
  // plain socket first in the io tests; here an unparsable port is the clear error.
  auto bad_port = Server::create("127.0.0.1:99999", {"a"}, plain);
  ASSERT_FALSE(bad_port.has_value());
  EXPECT_NE(bad_port.error().find("port"), std::string::npos);
}

// The scheduling of the thread named `name` in this process (its policy and priority), or
// nullopt when no such thread runs.
std::optional<std::pair<int, int>> thread_scheduling(const std::string& name) {
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string line;
    if (!std::getline(comm, line) || line != name) continue;
    const pid_t tid = std::stoi(task.path().filename().string());
    sched_param param{};
    if (sched_getparam(tid, &param) != 0) return std::nullopt;
    return std::pair{sched_getscheduler(tid), param.sched_priority};
  }
  return std::nullopt;
}

// Whether this process may run threads under SCHED_FIFO (root, CAP_SYS_NICE or RLIMIT_RTPRIO).
bool may_use_sched_fifo() {
  std::promise<void> done;
  std::thread probe([finished = done.get_future()] { finished.wait(); });  // alive until asked
  sched_param param{};
  param.sched_priority = 1;
  const bool allowed = pthread_setschedparam(probe.native_handle(), SCHED_FIFO, &param) == 0;
  done.set_value();
  probe.join();
  return allowed;
}

TEST(ServerClient, RealtimePriorityOutOfRangeIsRefused) {
  for (int priority : {-1, 100}) {
    ServerConfig server_config = test_server_config();
    server_config.realtime_priority = priority;
    auto server = Server::create("127.0.0.1:0", kTopics, server_config);
    ASSERT_FALSE(server.has_value());
    EXPECT_NE(server.error().find("realtime_priority must be 0"), std::string::npos)
        << server.error();
    ClientConfig client_config;
    client_config.realtime_priority = priority;
    auto client = Client::create("127.0.0.1:9", {"a"}, client_config);
    ASSERT_FALSE(client.has_value());
    EXPECT_NE(client.error().find("realtime_priority must be 0"), std::string::npos)
        << client.error();
  }
}

// Shard and client threads run under SCHED_FIFO at the configured priorities, and events flow.
// A process that may not use SCHED_FIFO gets a clear error instead.
TEST(ServerClient, RealtimePriorityRunsTheThreadsUnderSchedFifo) {
  ServerConfig server_config = test_server_config();
  server_config.realtime_priority = 3;
  auto server = Server::create("127.0.0.1:0", kTopics, server_config);
  if (!may_use_sched_fifo()) {
    ASSERT_FALSE(server.has_value());
    EXPECT_NE(server.error().find("SCHED_FIFO priority 3"), std::string::npos) << server.error();
    GTEST_SKIP() << "this process may not use SCHED_FIFO; checked the error only";
  }
  ASSERT_TRUE(server.has_value()) << server.error();
  for (const char* shard : {"qsse-server-0", "qsse-server-1"}) {
    EXPECT_EQ(thread_scheduling(shard), (std::pair{SCHED_FIFO, 3})) << shard;
  }
  ClientConfig client_config = client_config_for(**server);
  client_config.realtime_priority = 2;
  Recorder rec;
  auto client = connect(**server, {"chat.room"}, client_config);
  ASSERT_TRUE(client);
  client->set_event_handler("chat.room", rec.event_handler());
  EXPECT_EQ(thread_scheduling("qsse-client-0"), (std::pair{SCHED_FIFO, 2}));
  ASSERT_TRUE(eventually([&] {
    (void)(*server)->publish("chat.room", "x");
    return rec.event_count() >= 1;
  }));
}

// The child of RealtimePriorityWithoutPermissionFailsClearly: gives up the right to use
// SCHED_FIFO (root its capabilities; anyone may lower their own RLIMIT_RTPRIO to 0), then
// creates a server and a client that ask for it. Exits 0 after printing the server's error when
// both failed with a SCHED_FIFO message.
[[noreturn]] void create_without_sched_fifo_permission() {
  if (getuid() == 0 && setuid(65534) != 0) std::exit(2);
  const rlimit no_rtprio{0, 0};
  if (setrlimit(RLIMIT_RTPRIO, &no_rtprio) != 0 || may_use_sched_fifo()) std::exit(3);
  ServerConfig config = test_server_config();
  config.realtime_priority = 1;
  auto server = Server::create("127.0.0.1:0", kTopics, config);
  if (server.has_value()) std::exit(1);
  ClientConfig client_config;
  client_config.realtime_priority = 1;
  client_config.io_backend = IoBackend::kPortable;
  auto client = Client::create("127.0.0.1:9", {"a"}, client_config);
  if (client.has_value() || client.error().find("SCHED_FIFO") == std::string::npos) std::exit(4);
  std::fprintf(stderr, "%s\n", server.error().c_str());
  std::exit(0);
}

// Without the right to use SCHED_FIFO, creating a server or a client fails and says why
// (checked in a child process: the test suite runs as root in CI).
TEST(ServerClient, RealtimePriorityWithoutPermissionFailsClearly) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(create_without_sched_fifo_permission(), ::testing::ExitedWithCode(0),
              "SCHED_FIFO priority 1: Operation not permitted \\(needs root");
}

TEST(ServerClient, ClientFailsClearlyWhenNothingListens) {
  ClientConfig config;
  config.tls.insecure_skip_verify = true;
  config.connect_timeout = std::chrono::milliseconds(300);
  config.io_backend = IoBackend::kPortable;
  auto client = Client::create("127.0.0.1:9", {"a"}, config);
  ASSERT_FALSE(client.has_value());
  EXPECT_NE(client.error().find("cannot connect"), std::string::npos) << client.error();
}

TEST(ServerClient, ClientRejectsServerItDoesNotTrust) {
  auto server = start_server();
  ASSERT_TRUE(server);
  ClientConfig config;  // verification on, system store: the self-signed cert is not in it
  config.io_backend = IoBackend::kPortable;
  config.connect_timeout = std::chrono::milliseconds(2000);
  auto client = Client::create(server->address(), {"chat.room"}, config);
  ASSERT_FALSE(client.has_value());
  EXPECT_TRUE(eventually([&] { return server->stats().connections == 0; }));
}

}  // namespace
}  // namespace qsse

namespace qsse {
namespace {

// Shutdown right after start must not wait for a lost wake-up (it once took 5 s with io_uring:
// the shard consumed the wake-up while receiving and then slept with the task still queued).
TEST(ServerClient, ShutdownRightAfterCreateIsPrompt) {
  for (IoBackend backend : {IoBackend::kIoUring, IoBackend::kPortable}) {
    for (int i = 0; i < 5; ++i) {
      ServerConfig config = test_server_config();
      config.io_backend = backend;
      auto server = Server::create("127.0.0.1:0", kTopics, config);
      ASSERT_TRUE(server.has_value());
      (void)(*server)->publish("ride.*", "x");
      const auto start = std::chrono::steady_clock::now();
      (*server)->shutdown(std::chrono::milliseconds(1));
      EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
    }
  }
}

}  // namespace
}  // namespace qsse

namespace qsse {
namespace {

// A client that loses its connection comes back with its last ids and gets, exactly once,
// what was published while it was away (resume from the server's history).
TEST(ServerClient, ResumesWithoutGapsAfterADrop) {
  auto server = start_server();
  ASSERT_TRUE(server);
  Recorder rec;
  ClientConfig cc = client_config_for(*server);
  cc.keep_alive = std::chrono::milliseconds(0);      // no keep-alive, and a short idle timeout:
  cc.idle_timeout = std::chrono::milliseconds(300);  // the client drops the connection itself
  cc.reconnect.retry = true;
  cc.reconnect.retry_times = 100;
  cc.reconnect.retry_interval = std::chrono::milliseconds(400);
  cc.reconnect.backoff = 1.0;
  cc.reconnect.jitter = 0;
  ClientHandlers handlers;
  handlers.events.emplace_back("chat.room", rec.event_handler());
  auto client = Client::create(server->address(), {"chat.room"}, cc, handlers);
  ASSERT_TRUE(client.has_value()) << client.error();
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(server->publish("chat.room", std::to_string(i)).ok());
  ASSERT_TRUE(eventually([&] { return rec.event_count() == 3; }));
  ASSERT_TRUE(eventually([&] { return !(*client)->stats().connected; }, 5)) << "no idle drop";
  for (int i = 4; i <= 5; ++i) ASSERT_TRUE(server->publish("chat.room", std::to_string(i)).ok());
  ASSERT_TRUE(eventually([&] { return rec.event_count() >= 5; }, 10));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::lock_guard lock(rec.mutex);
  ASSERT_EQ(rec.events.size(), 5u) << "no duplicates";
  for (int i = 0; i < 5; ++i) EXPECT_EQ(rec.events[i].second, std::to_string(i + 1));
  EXPECT_GE((*client)->stats().reconnects, 1u);
}

}  // namespace
}  // namespace qsse

namespace qsse {
namespace {

TEST(ServerClient, MetricsTextHasTheExpectedSeries) {
  ServerConfig config = test_server_config();
  config.metric_namespace = "ride";
  config.metric_subsystem = "push";
  auto server = start_server(config);
  ASSERT_TRUE(server);
  Recorder rec;
  ClientHandlers handlers;
  handlers.on_error = rec.error_handler();
  handlers.events.emplace_back("*", rec.event_handler());
  auto client = Client::create(server->address(), {"chat.room", "no.such"},
                               client_config_for(*server), handlers);
  ASSERT_TRUE(client.has_value()) << client.error();
  ASSERT_TRUE(eventually([&] { return rec.has_error(2, "no.such"); }));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(server->publish("chat.room", "x").ok());
  ASSERT_TRUE(eventually([&] { return rec.event_count() == 3; }));
  const std::string text = server->metrics_text();
  for (const char* expected : {
           "ride_push_events_published_total{topic=\"chat.room\"} 3\n",
           "ride_push_events_delivered_total{topic=\"chat.room\"} 3\n",
           "ride_push_events_published_total{topic=\"ride.1.location\"} 0\n",
           "ride_push_connections 1\n",
           "ride_push_handshakes_total 1\n",
           "ride_push_subscribers{topic=\"chat.room\"} 1\n",
           "ride_push_errors_total{code=\"topic_not_available\"} 1\n",
           "# TYPE ride_push_events_dropped_total counter\n",
           "ride_push_datagrams_dropped_total{reason=\"forward_queue_full\"} 0\n",
           "ride_push_datagrams_dropped_total{reason=\"reply_no_room\"} 0\n",
       }) {
    EXPECT_NE(text.find(expected), std::string::npos) << "missing: " << expected << "\n" << text;
  }
  EXPECT_EQ(server->stats().events_delivered, 3u);
}

}  // namespace
}  // namespace qsse

// The declared-topic catalog: declaring, lookup, and expanding a pattern over declared topics
// (what publishing with a pattern does), checked by hand and against the naive matcher.
#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "pubsub/naive_matcher.hpp"
#include "pubsub/topic_catalog.hpp"

namespace {

using qsse::TopicError;
using qsse::pubsub::TopicCatalog;
using Topics = std::vector<std::string>;

Topics expand(const TopicCatalog& catalog, std::string_view pattern) {
  Topics out;
  auto r = catalog.expand(pattern, [&](std::string_view t) { out.emplace_back(t); });
  EXPECT_TRUE(r.has_value()) << pattern;
  if (r) {
    EXPECT_EQ(*r, out.size());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TopicCatalog make(const Topics& topics) {
  TopicCatalog catalog;
  for (const std::string& t : topics) {
    auto r = catalog.declare(t);
    EXPECT_TRUE(r.has_value() && *r) << t;
  }
  return catalog;
}

TEST(TopicCatalog, DeclareAndContains) {
  TopicCatalog catalog;
  auto first = catalog.declare("ride.passenger.start");
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(*first);
  auto again = catalog.declare("ride.passenger.start");
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(*again);
  EXPECT_EQ(catalog.size(), 1u);

  EXPECT_TRUE(catalog.contains("ride.passenger.start"));
  EXPECT_FALSE(catalog.contains("ride.passenger"));  // a prefix is not a declared topic
  EXPECT_FALSE(catalog.contains("ride.passenger.start.x"));
  EXPECT_FALSE(catalog.contains("ride.*.start"));  // not a topic
  EXPECT_FALSE(catalog.contains(""));

  auto prefix = catalog.declare("ride.passenger");
  ASSERT_TRUE(prefix.has_value());
  EXPECT_TRUE(*prefix);
  EXPECT_TRUE(catalog.contains("ride.passenger"));
  EXPECT_EQ(catalog.size(), 2u);
}

TEST(TopicCatalog, DeclaringAnInvalidTopicIsAnError) {
  TopicCatalog catalog;
  for (std::string_view topic : {"", "ride.*", "ride..x", "ri*de", "ride.", "a b"}) {
    auto r = catalog.declare(topic);
    ASSERT_FALSE(r.has_value()) << topic;
    EXPECT_EQ(r.error(), qsse::validate_topic(topic).error());
  }
  EXPECT_EQ(catalog.size(), 0u);
  EXPECT_TRUE(expand(catalog, "*").empty());
}

TEST(TopicCatalog, ExpandFollowsTheMatchingRules) {
  const TopicCatalog catalog =
      make({"ride.passenger", "ride.passenger.start", "ride.passenger.account.name",
            "ride.driver.start", "ride.driver.x.start", "price.eur"});
  EXPECT_EQ(expand(catalog, "ride.passenger.*"),
            (Topics{"ride.passenger.account.name", "ride.passenger.start"}));
  EXPECT_EQ(expand(catalog, "ride.*.start"), (Topics{"ride.driver.start", "ride.passenger.start"}));
  EXPECT_EQ(expand(catalog, "ride.*"),
            (Topics{"ride.driver.start", "ride.driver.x.start", "ride.passenger",
                    "ride.passenger.account.name", "ride.passenger.start"}));
  EXPECT_EQ(expand(catalog, "*"),
            (Topics{"price.eur", "ride.driver.start", "ride.driver.x.start", "ride.passenger",
                    "ride.passenger.account.name", "ride.passenger.start"}));
  EXPECT_EQ(expand(catalog, "*.*.start"), (Topics{"ride.driver.start", "ride.passenger.start"}));
  EXPECT_EQ(expand(catalog, "ride.passenger"), (Topics{"ride.passenger"}));
  EXPECT_EQ(expand(catalog, "*.eur"), (Topics{"price.eur"}));
  EXPECT_TRUE(expand(catalog, "ride.driver").empty());  // a prefix only, not declared
  EXPECT_TRUE(expand(catalog, "ride.nobody.*").empty());
  EXPECT_TRUE(expand(catalog, "price.eur.*").empty());

  int calls = 0;
  auto bad = catalog.expand("ri*de", [&](std::string_view) { ++calls; });
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error(), TopicError::kWildcardInSegment);
  EXPECT_EQ(calls, 0);
}

std::string random_path(std::mt19937& rng, bool pattern) {
  static const char* const kWords[] = {"ride", "driver", "passenger", "start", "1", "2"};
  const int depth = std::uniform_int_distribution<int>(1, 5)(rng);
  std::string out;
  for (int i = 0; i < depth; ++i) {
    if (i > 0) out += '.';
    const int pick = std::uniform_int_distribution<int>(0, 7)(rng);
    out += (pattern && pick < 2) ? std::string("*") : std::string(kWords[pick % 6]);
  }
  return out;
}

TEST(TopicCatalog, ExpandAgreesWithNaiveMatcher) {
  for (std::uint32_t seed : {7u, 8u, 9u}) {
    std::mt19937 rng(seed);
    TopicCatalog catalog;
    std::set<std::string> declared;
    for (int i = 0; i < 300; ++i) {
      const std::string topic = random_path(rng, false);
      auto r = catalog.declare(topic);
      ASSERT_TRUE(r.has_value());
      EXPECT_EQ(*r, declared.insert(topic).second);
    }
    std::size_t total = 0;
    for (int i = 0; i < 500; ++i) {
      const std::string pattern = random_path(rng, true);
      Topics expected;
      for (const std::string& t : declared) {
        if (qsse::pubsub::naive::pattern_matches(pattern, t)) expected.push_back(t);
      }
      ASSERT_EQ(expand(catalog, pattern), expected) << pattern;
      total += expected.size();
    }
    EXPECT_GT(total, 500u);  // the workload really matches things
    for (const std::string& t : declared) EXPECT_TRUE(catalog.contains(t));
  }
}

}  // namespace

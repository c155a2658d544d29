// The shard-local wildcard trie: matching rules, subscription bookkeeping, compaction, and a
// differential check against the naive matcher on seeded random workloads.
#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "pubsub/naive_matcher.hpp"
#include "pubsub/pattern_trie.hpp"

namespace qsse::pubsub {
struct PatternTrieTestAccess {
  static void set_generation(PatternTrie& trie, std::uint32_t generation) {
    trie.generation_ = generation;
  }
};
}  // namespace qsse::pubsub

namespace {

using qsse::TopicError;
using qsse::pubsub::PatternTrie;
using qsse::pubsub::PatternTrieTestAccess;
using qsse::pubsub::SubscriberId;
using Pairs = std::vector<std::pair<SubscriberId, std::string>>;

Pairs match_pairs(const PatternTrie& trie, std::string_view topic) {
  Pairs out;
  auto r = trie.match(topic, [&](SubscriberId s, std::string_view p) { out.emplace_back(s, p); });
  EXPECT_TRUE(r.has_value()) << topic;
  if (r) {
    EXPECT_EQ(*r, out.size());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<SubscriberId> match_unique(PatternTrie& trie, std::string_view topic) {
  std::vector<SubscriberId> out;
  auto r = trie.match_unique(topic, [&](SubscriberId s) { out.push_back(s); });
  EXPECT_TRUE(r.has_value()) << topic;
  if (r) {
    EXPECT_EQ(*r, out.size());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void insert_ok(PatternTrie& trie, std::string_view pattern, SubscriberId s) {
  auto r = trie.insert(pattern, s);
  ASSERT_TRUE(r.has_value()) << pattern;
  ASSERT_TRUE(*r) << pattern;
}

// (pattern, topic, matches): every rule of docs/TOPICS.md, including the examples of issue #4.
struct MatchCase {
  std::string_view pattern;
  std::string_view topic;
  bool matches;
};

constexpr MatchCase kMatchCases[] = {
    // Exact patterns match only themselves, byte for byte.
    {"ride", "ride", true},
    {"ride", "ride.x", false},
    {"ride.x", "ride", false},
    {"ride.passenger.start", "ride.passenger.start", true},
    {"ride.passenger", "ride.pass", false},
    {"ride.pass", "ride.passenger", false},
    {"Ride", "ride", false},
    {"ride.42", "ride.420", false},
    // A trailing `*` matches one or more remaining segments, never zero.
    {"ride.passenger.*", "ride.passenger.start", true},
    {"ride.passenger.*", "ride.passenger.account.name", true},
    {"ride.passenger.*", "ride.passenger", false},
    {"ride.passenger.*", "ride", false},
    {"ride.passenger.*", "ride.driver.start", false},
    {"ride.*", "ride", false},
    {"ride.*", "ride.a", true},
    {"ride.*", "ride.a.b", true},
    {"ride.*", "rides.a", false},
    // A `*` that is not last matches exactly one segment.
    {"ride.*.start", "ride.driver.start", true},
    {"ride.*.start", "ride.driver.x.start", false},
    {"ride.*.start", "ride.start", false},
    {"ride.*.start", "ride.driver.stop", false},
    {"ride.*.start", "ride.driver.start.now", false},
    {"*.start", "ride.start", true},
    {"*.start", "start", false},
    {"*.start", "ride.x.start", false},
    // Several wildcards.
    {"*.*", "a", false},
    {"*.*", "a.b", true},
    {"*.*", "a.b.c", true},
    {"ride.*.*", "ride.a", false},
    {"ride.*.*", "ride.a.b", true},
    {"ride.*.*", "ride.a.b.c", true},
    {"a.*.c.*", "a.b.c.d", true},
    {"a.*.c.*", "a.b.c.d.e", true},
    {"a.*.c.*", "a.b.c", false},
    {"a.*.c.*", "a.b.x.d", false},
    {"*.b.*", "a.b.c", true},
    {"*.b.*", "a.b", false},
    // A lone `*` matches every topic.
    {"*", "ride", true},
    {"*", "ride.passenger.account.name", true},
    {"*", "a.b.c.d.e.f.g.h.i.j", true},
};

TEST(PatternTrieMatch, Table) {
  for (const MatchCase& c : kMatchCases) {
    SCOPED_TRACE(std::string(c.pattern) + " vs " + std::string(c.topic));
    PatternTrie trie;
    insert_ok(trie, c.pattern, 7);
    const Pairs got = match_pairs(trie, c.topic);
    const Pairs expected = c.matches ? Pairs{{7, std::string(c.pattern)}} : Pairs{};
    EXPECT_EQ(got, expected);
    // The reference model agrees on the same table.
    EXPECT_EQ(qsse::pubsub::naive::pattern_matches(c.pattern, c.topic), c.matches);
  }
}

TEST(PatternTrieMatch, AllTablePatternsAtOnce) {
  // The same table with every pattern in one trie (each under its own subscriber), so that
  // shared prefixes and sibling branches are exercised together.
  PatternTrie trie;
  std::vector<std::string_view> patterns;
  for (const MatchCase& c : kMatchCases) {
    if (std::find(patterns.begin(), patterns.end(), c.pattern) == patterns.end()) {
      patterns.push_back(c.pattern);
    }
  }
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    insert_ok(trie, patterns[i], static_cast<SubscriberId>(i));
  }
  for (const MatchCase& c : kMatchCases) {
    const SubscriberId id = static_cast<SubscriberId>(
        std::find(patterns.begin(), patterns.end(), c.pattern) - patterns.begin());
    const Pairs got = match_pairs(trie, c.topic);
    const bool found = std::find(got.begin(), got.end(),
                                 std::pair<SubscriberId, std::string>(id, c.pattern)) != got.end();
    EXPECT_EQ(found, c.matches) << c.pattern << " vs " << c.topic;
  }
}

TEST(PatternTrieMatch, OverlappingPatternsOfOneSubscriber) {
  PatternTrie trie;
  insert_ok(trie, "ride.*", 1);
  insert_ok(trie, "ride.42.*", 1);
  insert_ok(trie, "ride.42.location", 1);
  insert_ok(trie, "ride.*.location", 2);
  insert_ok(trie, "*", 3);

  // match(): once per (subscriber, pattern), with the pattern as subscribed.
  EXPECT_EQ(match_pairs(trie, "ride.42.location"), (Pairs{{1, "ride.*"},
                                                          {1, "ride.42.*"},
                                                          {1, "ride.42.location"},
                                                          {2, "ride.*.location"},
                                                          {3, "*"}}));
  // match_unique(): once per subscriber, whatever number of its patterns match.
  EXPECT_EQ(match_unique(trie, "ride.42.location"), (std::vector<SubscriberId>{1, 2, 3}));
  EXPECT_EQ(match_unique(trie, "ride.7.location"), (std::vector<SubscriberId>{1, 2, 3}));
  EXPECT_EQ(match_unique(trie, "ride.42"), (std::vector<SubscriberId>{1, 3}));
  EXPECT_EQ(match_unique(trie, "price.eur"), (std::vector<SubscriberId>{3}));
  // Repeated calls keep de-duplicating correctly (fresh generation each time).
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(match_unique(trie, "ride.42.location"), (std::vector<SubscriberId>{1, 2, 3}));
  }
}

TEST(PatternTrieMatch, MatchUniqueSurvivesGenerationWrapAround) {
  PatternTrie trie;
  insert_ok(trie, "ride.1", 1);
  insert_ok(trie, "ride.*", 2);
  // Never-stamped subscribers must still be reported by the first call after a wrap.
  PatternTrieTestAccess::set_generation(trie, 0xffffffffu);
  EXPECT_EQ(match_unique(trie, "ride.1"), (std::vector<SubscriberId>{1, 2}));
  // A stamp from before the wrap must not hide a subscriber when the counter comes round to it.
  PatternTrieTestAccess::set_generation(trie, 4);
  EXPECT_EQ(match_unique(trie, "ride.1"), (std::vector<SubscriberId>{1, 2}));  // stamps: 5
  PatternTrieTestAccess::set_generation(trie, 0xfffffffeu);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(match_unique(trie, "ride.1"), (std::vector<SubscriberId>{1, 2})) << i;
  }
}

TEST(PatternTrieMatch, ManySubscribersOnOnePattern) {
  PatternTrie trie;
  std::vector<SubscriberId> all;
  for (SubscriberId s = 0; s < 500; ++s) {
    insert_ok(trie, "ride.*.location", s);
    all.push_back(s);
  }
  EXPECT_EQ(match_unique(trie, "ride.1.location"), all);
  EXPECT_TRUE(match_unique(trie, "ride.1.status").empty());
  EXPECT_EQ(trie.node_count(), 4u);  // root, ride, *, location
}

TEST(PatternTrieMatch, InvalidTopicIsAnErrorAndVisitsNothing) {
  PatternTrie trie;
  insert_ok(trie, "*", 1);
  int calls = 0;
  for (std::string_view topic : {"", "ride.*", "ride..x", ".ride", "ride.", "ri de", "*"}) {
    auto r = trie.match(topic, [&](SubscriberId, std::string_view) { ++calls; });
    ASSERT_FALSE(r.has_value()) << topic;
    EXPECT_EQ(r.error(), qsse::validate_topic(topic).error()) << topic;
    auto u = trie.match_unique(topic, [&](SubscriberId) { ++calls; });
    ASSERT_FALSE(u.has_value()) << topic;
  }
  EXPECT_EQ(calls, 0);
}

TEST(PatternTrieSubscriptions, DuplicateInsertIsIdempotent) {
  PatternTrie trie;
  insert_ok(trie, "ride.*.start", 4);
  const std::size_t nodes = trie.node_count();
  auto again = trie.insert("ride.*.start", 4);
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(*again);
  EXPECT_EQ(trie.subscription_count(), 1u);
  EXPECT_EQ(trie.subscription_count(4), 1u);
  EXPECT_EQ(trie.node_count(), nodes);
  EXPECT_EQ(match_pairs(trie, "ride.x.start"), (Pairs{{4, "ride.*.start"}}));
  // One remove undoes it completely.
  auto removed = trie.remove("ride.*.start", 4);
  ASSERT_TRUE(removed.has_value());
  EXPECT_TRUE(*removed);
  EXPECT_TRUE(match_pairs(trie, "ride.x.start").empty());
  EXPECT_EQ(trie.node_count(), 1u);
}

TEST(PatternTrieSubscriptions, ExactAndTrailingWildcardAreDistinctPatterns) {
  PatternTrie trie;
  insert_ok(trie, "ride.42", 1);
  insert_ok(trie, "ride.42.*", 1);  // stored on the same node as "ride.42", but a different pattern
  EXPECT_TRUE(trie.contains("ride.42", 1));
  EXPECT_TRUE(trie.contains("ride.42.*", 1));
  EXPECT_EQ(match_pairs(trie, "ride.42"), (Pairs{{1, "ride.42"}}));
  EXPECT_EQ(match_pairs(trie, "ride.42.x"), (Pairs{{1, "ride.42.*"}}));

  auto r = trie.remove("ride.42", 1);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(*r);
  EXPECT_FALSE(trie.contains("ride.42", 1));
  EXPECT_TRUE(trie.contains("ride.42.*", 1));
  EXPECT_TRUE(match_pairs(trie, "ride.42").empty());
  EXPECT_EQ(match_pairs(trie, "ride.42.x"), (Pairs{{1, "ride.42.*"}}));
}

TEST(PatternTrieSubscriptions, ExactAndTrailingWildcardStayDistinctOnBusyNodes) {
  // Same as above, but with many other subscribers on the node, so that bookkeeping looks the
  // pair up from the subscriber's side rather than the node's.
  for (const bool exact_first : {true, false}) {
    PatternTrie trie;
    for (SubscriberId s = 10; s < 30; ++s) {
      insert_ok(trie, "ride.42", s);
      insert_ok(trie, "ride.42.*", s);
    }
    const std::string_view first = exact_first ? "ride.42" : "ride.42.*";
    const std::string_view second = exact_first ? "ride.42.*" : "ride.42";
    insert_ok(trie, first, 1);
    EXPECT_FALSE(trie.contains(second, 1));
    insert_ok(trie, second, 1);  // fails if the two were confused
    auto removed = trie.remove(first, 1);
    ASSERT_TRUE(removed.has_value());
    EXPECT_TRUE(*removed);
    EXPECT_FALSE(trie.contains(first, 1));
    EXPECT_TRUE(trie.contains(second, 1));
    EXPECT_EQ(trie.subscription_count(1), 1u);
  }
}

TEST(PatternTrieSubscriptions, RemoveOnlyThatPatternOfThatSubscriber) {
  PatternTrie trie;
  insert_ok(trie, "ride.*", 1);
  insert_ok(trie, "ride.*.x", 1);
  insert_ok(trie, "ride.*", 2);

  auto absent = trie.remove("ride.*.y", 1);
  ASSERT_TRUE(absent.has_value());
  EXPECT_FALSE(*absent);
  auto other_subscriber = trie.remove("ride.*.x", 2);
  ASSERT_TRUE(other_subscriber.has_value());
  EXPECT_FALSE(*other_subscriber);
  auto unknown_subscriber = trie.remove("ride.*", 999);
  ASSERT_TRUE(unknown_subscriber.has_value());
  EXPECT_FALSE(*unknown_subscriber);

  auto removed = trie.remove("ride.*", 1);
  ASSERT_TRUE(removed.has_value());
  EXPECT_TRUE(*removed);
  EXPECT_EQ(match_pairs(trie, "ride.a.x"), (Pairs{{1, "ride.*.x"}, {2, "ride.*"}}));
  EXPECT_EQ(trie.subscription_count(), 2u);
}

TEST(PatternTrieSubscriptions, InvalidPatternIsAnErrorAndChangesNothing) {
  PatternTrie trie;
  for (std::string_view pattern : {"", "ri*de", "ride..x", "ride.", ".ride", "**", "a b"}) {
    auto r = trie.insert(pattern, 1);
    ASSERT_FALSE(r.has_value()) << pattern;
    EXPECT_EQ(r.error(), qsse::validate_pattern(pattern).error());
    auto removed = trie.remove(pattern, 1);
    ASSERT_FALSE(removed.has_value()) << pattern;
    EXPECT_FALSE(trie.contains(pattern, 1));
  }
  EXPECT_EQ(trie.node_count(), 1u);
  EXPECT_EQ(trie.subscription_count(), 0u);
}

TEST(PatternTrieSubscriptions, RemoveAllRemovesEverySubscriberPatternAndNothingElse) {
  PatternTrie trie;
  insert_ok(trie, "ride.*", 5);
  insert_ok(trie, "ride.1.location", 5);
  insert_ok(trie, "*", 5);
  insert_ok(trie, "ride.1.location", 6);
  EXPECT_EQ(trie.subscription_count(5), 3u);

  EXPECT_EQ(trie.remove_all(5), 3u);
  EXPECT_EQ(trie.subscription_count(5), 0u);
  EXPECT_EQ(trie.subscription_count(), 1u);
  EXPECT_EQ(match_pairs(trie, "ride.1.location"), (Pairs{{6, "ride.1.location"}}));
  EXPECT_EQ(trie.remove_all(5), 0u);
  EXPECT_EQ(trie.remove_all(12345), 0u);  // never seen
  // The subscriber can come back (slot reuse by a new connection).
  insert_ok(trie, "ride.*", 5);
  EXPECT_EQ(match_unique(trie, "ride.1.location"), (std::vector<SubscriberId>{5, 6}));
}

TEST(PatternTrieSubscriptions, SubscriberIdsAreBounded) {
  PatternTrie trie;
  EXPECT_THROW((void)trie.insert("ride", PatternTrie::kMaxSubscribers), std::out_of_range);
  EXPECT_EQ(trie.node_count(), 1u);
  insert_ok(trie, "ride", PatternTrie::kMaxSubscribers - 1);
  EXPECT_EQ(match_unique(trie, "ride"),
            (std::vector<SubscriberId>{PatternTrie::kMaxSubscribers - 1}));
}

TEST(PatternTrieSubscriptions, SurvivesMove) {
  PatternTrie trie;
  insert_ok(trie, "ride.*.start", 1);
  PatternTrie moved(std::move(trie));
  EXPECT_EQ(match_pairs(moved, "ride.d.start"), (Pairs{{1, "ride.*.start"}}));
}

TEST(PatternTrieCompaction, NodeCountFollowsLivePrefixes) {
  PatternTrie trie;
  EXPECT_EQ(trie.node_count(), 1u);  // the root
  insert_ok(trie, "*", 1);           // stored at the root
  EXPECT_EQ(trie.node_count(), 1u);
  insert_ok(trie, "a.b.c", 1);  // a, a.b, a.b.c
  EXPECT_EQ(trie.node_count(), 4u);
  insert_ok(trie, "a.b.d", 1);
  EXPECT_EQ(trie.node_count(), 5u);
  insert_ok(trie, "a.*.c", 1);  // a.*, a.*.c
  EXPECT_EQ(trie.node_count(), 7u);
  insert_ok(trie, "a.b.*", 2);  // stored at a.b: no new node
  EXPECT_EQ(trie.node_count(), 7u);
  insert_ok(trie, "a", 2);
  EXPECT_EQ(trie.node_count(), 7u);

  auto remove = [&](std::string_view p, SubscriberId s) {
    auto r = trie.remove(p, s);
    ASSERT_TRUE(r.has_value());
    ASSERT_TRUE(*r) << p;
  };
  remove("a.b.c", 1);
  EXPECT_EQ(trie.node_count(), 6u);
  remove("a.*.c", 1);  // frees a.*.c and a.*
  EXPECT_EQ(trie.node_count(), 4u);
  remove("a.b.d", 1);  // a.b still holds "a.b.*"
  EXPECT_EQ(trie.node_count(), 3u);
  remove("a.b.*", 2);  // a still holds "a"
  EXPECT_EQ(trie.node_count(), 2u);
  remove("a", 2);
  EXPECT_EQ(trie.node_count(), 1u);
  EXPECT_EQ(match_pairs(trie, "a.b.c"), (Pairs{{1, "*"}}));
  EXPECT_EQ(trie.remove_all(1), 1u);
  EXPECT_EQ(trie.node_count(), 1u);
  EXPECT_EQ(trie.subscription_count(), 0u);
}

// Every non-root trie node is a distinct stored prefix of a live pattern (its segments without a
// trailing `*`), so the live node count is exactly 1 + the number of distinct such prefixes.
std::size_t expected_nodes(const std::set<std::pair<std::string, SubscriberId>>& live) {
  std::set<std::string> prefixes;
  for (const auto& [pattern, subscriber] : live) {
    std::vector<std::string_view> segs = qsse::pubsub::naive::split(pattern);
    if (segs.back() == "*") segs.pop_back();
    std::string prefix;
    for (std::string_view seg : segs) {
      prefix += std::string(seg) + ".";
      prefixes.insert(prefix);
    }
  }
  return prefixes.size() + 1;
}

std::string random_path(std::mt19937& rng, bool pattern, int max_depth, int ids) {
  static const char* const kWords[] = {"ride", "driver", "passenger", "location", "start", "a"};
  const int depth = std::uniform_int_distribution<int>(1, max_depth)(rng);
  std::string out;
  for (int i = 0; i < depth; ++i) {
    if (i > 0) out += '.';
    const int pick = std::uniform_int_distribution<int>(0, 9)(rng);
    if (pattern && pick < 2) {
      out += '*';
    } else if (pick < 6) {
      out += kWords[std::uniform_int_distribution<int>(0, 5)(rng)];
    } else {
      out += std::to_string(std::uniform_int_distribution<int>(0, ids - 1)(rng));
    }
  }
  return out;
}

TEST(PatternTrieCompaction, ChurnKeepsTrieExactlyAsLargeAsLivePatterns) {
  std::mt19937 rng(20240604);
  PatternTrie trie;
  std::set<std::pair<std::string, SubscriberId>> live;
  std::size_t peak_edges = 0;
  for (int round = 0; round < 20000; ++round) {
    const SubscriberId s = std::uniform_int_distribution<SubscriberId>(0, 31)(rng);
    const int op = std::uniform_int_distribution<int>(0, 9)(rng);
    if (op < 5) {
      const std::string p = random_path(rng, true, 5, 50);
      auto r = trie.insert(p, s);
      ASSERT_TRUE(r.has_value());
      EXPECT_EQ(*r, live.emplace(p, s).second);
    } else if (op < 9 && !live.empty()) {
      // Remove a live pattern (picked uniformly).
      auto it = live.begin();
      std::advance(it, std::uniform_int_distribution<std::size_t>(0, live.size() - 1)(rng));
      auto r = trie.remove(it->first, it->second);
      ASSERT_TRUE(r.has_value());
      EXPECT_TRUE(*r);
      live.erase(it);
    } else {
      std::size_t expected = std::erase_if(live, [&](const auto& e) { return e.second == s; });
      EXPECT_EQ(trie.remove_all(s), expected);
    }
    peak_edges = std::max(peak_edges, trie.edge_capacity());
    if (round % 97 == 0) {
      ASSERT_EQ(trie.node_count(), expected_nodes(live)) << "round " << round;
      ASSERT_EQ(trie.subscription_count(), live.size());
    }
  }
  for (SubscriberId s = 0; s < 32; ++s) (void)trie.remove_all(s);
  EXPECT_EQ(trie.node_count(), 1u);
  EXPECT_EQ(trie.subscription_count(), 0u);
  // The edge table shrank back from its peak.
  EXPECT_GT(peak_edges, qsse::pubsub::EdgeIndex::kMinCapacity);
  EXPECT_EQ(trie.edge_capacity(), qsse::pubsub::EdgeIndex::kMinCapacity);
}

TEST(PatternTrieCompaction, LargeFanOutBuildsAndTearsDown) {
  PatternTrie trie;
  for (SubscriberId s = 0; s < 20000; ++s) {
    insert_ok(trie, "ride." + std::to_string(s) + ".location", s);
  }
  EXPECT_EQ(trie.node_count(), 1 + 1 + 20000 + 20000u);
  EXPECT_EQ(match_unique(trie, "ride.19999.location"), (std::vector<SubscriberId>{19999}));
  EXPECT_GE(trie.edge_capacity(), 2 * 40001u);
  for (SubscriberId s = 0; s < 20000; ++s) EXPECT_EQ(trie.remove_all(s), 1u);
  EXPECT_EQ(trie.node_count(), 1u);
  EXPECT_EQ(trie.edge_capacity(), qsse::pubsub::EdgeIndex::kMinCapacity);
}

// Seeded random workloads: every match agrees with the naive linear scan.
class PatternTrieDifferential : public ::testing::TestWithParam<std::uint32_t> {};

TEST_P(PatternTrieDifferential, AgreesWithNaiveMatcher) {
  std::mt19937 rng(GetParam());
  PatternTrie trie;
  qsse::pubsub::naive::NaiveMatcher model;
  std::size_t matched_pairs = 0;
  for (int round = 0; round < 4000; ++round) {
    const SubscriberId s = std::uniform_int_distribution<SubscriberId>(0, 15)(rng);
    const int op = std::uniform_int_distribution<int>(0, 9)(rng);
    if (op < 4) {
      const std::string p = random_path(rng, true, 5, 8);
      auto r = trie.insert(p, s);
      ASSERT_TRUE(r.has_value());
      ASSERT_EQ(*r, model.insert(p, s)) << p;
    } else if (op < 6) {
      const std::string p = random_path(rng, true, 5, 8);
      auto r = trie.remove(p, s);
      ASSERT_TRUE(r.has_value());
      ASSERT_EQ(*r, model.remove(p, s)) << p;
    } else if (op == 6) {
      ASSERT_EQ(trie.remove_all(s), model.remove_all(s));
    } else {
      const std::string topic = random_path(rng, false, 6, 8);
      const Pairs got = match_pairs(trie, topic);
      ASSERT_EQ(got, model.match_sorted(topic)) << topic;
      ASSERT_EQ(match_unique(trie, topic), model.match_unique_sorted(topic)) << topic;
      matched_pairs += got.size();
    }
    ASSERT_EQ(trie.subscription_count(), model.size());
  }
  // The workload must actually produce matches, or this test proves nothing.
  EXPECT_GT(matched_pairs, 1000u);
}

INSTANTIATE_TEST_SUITE_P(Seeds, PatternTrieDifferential,
                         ::testing::Values(1u, 2u, 3u, 42u, 1234u, 987654u));

}  // namespace

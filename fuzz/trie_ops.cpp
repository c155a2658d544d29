// trie_ops: drives the pattern trie and the topic catalog with a sequence of operations decoded
// from the input, and checks every answer against the naive reference
// (src/pubsub/naive_matcher.hpp). Aborts on any disagreement. The whole input is also fed to the
// validators as raw bytes.
//
// Patterns and topics are mostly built from a small vocabulary of segments, so that subscriptions
// overlap and matches actually happen; some are raw random strings, to exercise rejection.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <qsse/topic.hpp>

#include "pubsub/naive_matcher.hpp"
#include "pubsub/pattern_trie.hpp"
#include "pubsub/topic_catalog.hpp"

namespace {

using qsse::pubsub::PatternTrie;
using qsse::pubsub::SubscriberId;
using qsse::pubsub::TopicCatalog;
namespace naive = qsse::pubsub::naive;

[[noreturn]] void mismatch(const char* what, std::string_view detail) {
  std::fprintf(stderr, "trie_ops mismatch: %s [%.*s]\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

void check(bool ok, const char* what, std::string_view detail = {}) {
  if (!ok) mismatch(what, detail);
}

// Validation of arbitrary bytes: never crashes, and agrees with the reference rules.
void check_validation(std::string_view text) {
  check(qsse::validate_topic(text).has_value() == naive::valid_topic(text), "validate_topic", text);
  check(qsse::validate_pattern(text).has_value() == naive::valid_pattern(text), "validate_pattern",
        text);
  if (auto r = qsse::validate_pattern(text); !r) {
    check(!qsse::topic_error_name(r.error()).empty(), "error name", text);
  }
}

}  // namespace

#if __has_include(<fuzzer/FuzzedDataProvider.h>)
#include <fuzzer/FuzzedDataProvider.h>

namespace {

constexpr std::string_view kVocabulary[] = {"ride", "driver", "start", "a", "1", "x-y_z:"};
constexpr SubscriberId kSubscribers = 8;

std::string make_path(FuzzedDataProvider& in, bool pattern) {
  if (in.ConsumeIntegralInRange<int>(0, 15) == 0) return in.ConsumeRandomLengthString(48);
  const int depth = in.ConsumeIntegralInRange<int>(1, 4);
  std::string out;
  for (int i = 0; i < depth; ++i) {
    if (i > 0) out += '.';
    if (pattern && in.ConsumeIntegralInRange<int>(0, 2) == 0) {
      out += '*';
    } else {
      const auto pick = in.ConsumeIntegralInRange<std::size_t>(0, std::size(kVocabulary) - 1);
      out += kVocabulary[pick];
    }
  }
  return out;
}

struct World {
  PatternTrie trie;
  naive::NaiveMatcher model;
  TopicCatalog catalog;
  std::set<std::string> declared;
};

void do_insert(World& w, const std::string& pattern, SubscriberId subscriber) {
  auto r = w.trie.insert(pattern, subscriber);
  check(r.has_value() == naive::valid_pattern(pattern), "insert validity", pattern);
  if (r) check(*r == w.model.insert(pattern, subscriber), "insert result", pattern);
}

void do_remove(World& w, const std::string& pattern, SubscriberId subscriber) {
  auto r = w.trie.remove(pattern, subscriber);
  check(r.has_value() == naive::valid_pattern(pattern), "remove validity", pattern);
  if (r) check(*r == w.model.remove(pattern, subscriber), "remove result", pattern);
}

void do_match(World& w, const std::string& topic) {
  std::vector<std::pair<SubscriberId, std::string>> pairs;
  auto r = w.trie.match(
      topic, [&](SubscriberId s, std::string_view p) { pairs.emplace_back(s, std::string(p)); });
  check(r.has_value() == naive::valid_topic(topic), "match validity", topic);
  if (!r) {
    check(pairs.empty(), "visitor called on invalid topic", topic);
    return;
  }
  check(*r == pairs.size(), "match count", topic);
  std::sort(pairs.begin(), pairs.end());
  check(pairs == w.model.match_sorted(topic), "match pairs", topic);

  std::vector<SubscriberId> unique;
  auto u = w.trie.match_unique(topic, [&](SubscriberId s) { unique.push_back(s); });
  check(u.has_value() && *u == unique.size(), "match_unique count", topic);
  std::sort(unique.begin(), unique.end());
  check(std::adjacent_find(unique.begin(), unique.end()) == unique.end(), "match_unique repeat",
        topic);
  check(unique == w.model.match_unique_sorted(topic), "match_unique set", topic);
}

void do_expand(World& w, const std::string& pattern) {
  std::vector<std::string> topics;
  auto r = w.catalog.expand(pattern, [&](std::string_view t) { topics.emplace_back(t); });
  check(r.has_value() == naive::valid_pattern(pattern), "expand validity", pattern);
  if (!r) return;
  check(*r == topics.size(), "expand count", pattern);
  std::sort(topics.begin(), topics.end());
  std::vector<std::string> expected;
  for (const std::string& t : w.declared) {
    if (naive::pattern_matches(pattern, t)) expected.push_back(t);
  }
  check(topics == expected, "expand topics", pattern);
}

void check_invariants(const World& w) {
  check(w.trie.subscription_count() == w.model.size(), "subscription count");
  if (w.model.size() == 0) {
    check(w.trie.node_count() == 1, "empty trie keeps nodes");
    check(w.trie.edge_capacity() == qsse::pubsub::EdgeIndex::kMinCapacity, "edge table size");
  }
  check(w.catalog.size() == w.declared.size(), "catalog size");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  check_validation(std::string_view(reinterpret_cast<const char*>(data), size));

  FuzzedDataProvider in(data, size);
  World w;
  int ops = 0;
  while (in.remaining_bytes() > 0 && ops++ < 2000) {
    const auto subscriber = in.ConsumeIntegralInRange<SubscriberId>(0, kSubscribers - 1);
    switch (in.ConsumeIntegralInRange<int>(0, 8)) {
      case 0:
      case 1:
        do_insert(w, make_path(in, true), subscriber);
        break;
      case 2:
        do_remove(w, make_path(in, true), subscriber);
        break;
      case 3:
        check(w.trie.remove_all(subscriber) == w.model.remove_all(subscriber), "remove_all");
        break;
      case 4:
      case 5:
        do_match(w, make_path(in, false));
        break;
      case 6: {
        const std::string pattern = make_path(in, true);
        check(w.trie.contains(pattern, subscriber) == w.model.contains(pattern, subscriber),
              "contains", pattern);
        break;
      }
      case 7: {
        const std::string topic = make_path(in, false);
        auto r = w.catalog.declare(topic);
        check(r.has_value() == naive::valid_topic(topic), "declare validity", topic);
        if (r) check(*r == w.declared.insert(topic).second, "declare result", topic);
        check(w.catalog.contains(topic) == (w.declared.count(topic) != 0), "catalog contains",
              topic);
        break;
      }
      case 8:
        do_expand(w, make_path(in, true));
        break;
    }
    check_invariants(w);
  }
  // Everything removed: the trie must be back to its root alone.
  for (SubscriberId s = 0; s < kSubscribers; ++s) {
    check(w.trie.remove_all(s) == w.model.remove_all(s), "final remove_all");
  }
  check_invariants(w);
  return 0;
}

#else  // no FuzzedDataProvider.h: validation only (see src/pubsub/meson.build)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  check_validation(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}

#endif

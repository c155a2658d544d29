// pubsub/naive_matcher.hpp — TEST-ONLY reference model of topic rules and pattern matching.
//
// Not part of the qsse_pubsub library: no library source includes this header. Tests, the
// trie_ops fuzz target and the benchmarks use it as the obviously-correct model that the trie,
// the catalog and the validators are checked against (differential testing), and as the linear
// scan the trie is measured against.
//
// It deliberately shares no code with the production path: it splits strings into vectors,
// checks each rule of docs/TOPICS.md separately, and matches by scanning every subscription
// with a segment-by-segment comparison. Slow and allocating on purpose; keep it simple rather
// than fast, because its value is being easy to check by reading.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qsse::pubsub::naive {

// Splits on every '.', keeping empty pieces ("a..b" -> {"a", "", "b"}).
inline std::vector<std::string_view> split(std::string_view text) {
  std::vector<std::string_view> pieces;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = text.find('.', start);
    if (dot == std::string_view::npos) {
      pieces.push_back(text.substr(start));
      return pieces;
    }
    pieces.push_back(text.substr(start, dot - start));
    start = dot + 1;
  }
}

inline bool is_segment_char(char c) {
  const std::string_view allowed =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-:";
  return allowed.find(c) != std::string_view::npos;
}

inline bool is_plain_segment(std::string_view segment) {
  return !segment.empty() && std::all_of(segment.begin(), segment.end(), is_segment_char);
}

// The rules of docs/TOPICS.md, each checked on its own.
inline bool valid(std::string_view text, bool allow_wildcard) {
  if (text.empty() || text.size() > 255) return false;
  const std::vector<std::string_view> segments = split(text);
  if (segments.size() > 32) return false;
  for (std::string_view segment : segments) {
    if (allow_wildcard && segment == "*") continue;
    if (!is_plain_segment(segment)) return false;
  }
  return true;
}

inline bool valid_topic(std::string_view topic) {
  return valid(topic, false);
}
inline bool valid_pattern(std::string_view pattern) {
  return valid(pattern, true);
}

// Whether split pattern segments match split topic segments. A `*` that is not last matches one
// segment; a last `*` matches one or more.
inline bool segments_match(const std::vector<std::string>& pattern,
                           const std::vector<std::string_view>& topic) {
  const bool trailing = !pattern.empty() && pattern.back() == "*";
  const std::size_t fixed = trailing ? pattern.size() - 1 : pattern.size();
  if (trailing ? topic.size() < pattern.size() : topic.size() != pattern.size()) return false;
  for (std::size_t i = 0; i < fixed; ++i) {
    if (pattern[i] != "*" && pattern[i] != topic[i]) return false;
  }
  return true;
}

// Both arguments must be valid (pattern / topic).
inline bool pattern_matches(std::string_view pattern, std::string_view topic) {
  std::vector<std::string> pattern_segments;
  for (std::string_view segment : split(pattern)) pattern_segments.emplace_back(segment);
  return segments_match(pattern_segments, split(topic));
}

using Subscriber = std::uint32_t;

// A list of (pattern, subscriber) pairs, matched by scanning all of them.
class NaiveMatcher {
 public:
  // Precondition: valid_pattern(pattern). Returns false if the pair was already present.
  bool insert(std::string_view pattern, Subscriber subscriber) {
    if (find(pattern, subscriber) != subscriptions_.end()) return false;
    Subscription subscription{std::string(pattern), {}, subscriber};
    for (std::string_view segment : split(pattern)) subscription.segments.emplace_back(segment);
    subscriptions_.push_back(std::move(subscription));
    return true;
  }

  bool remove(std::string_view pattern, Subscriber subscriber) {
    auto it = find(pattern, subscriber);
    if (it == subscriptions_.end()) return false;
    subscriptions_.erase(it);
    return true;
  }

  std::size_t remove_all(Subscriber subscriber) {
    return std::erase_if(subscriptions_,
                         [&](const Subscription& s) { return s.subscriber == subscriber; });
  }

  // Calls visitor(subscriber, pattern) for each matching pair; returns how many.
  // Precondition: valid_topic(topic).
  template <class Visitor>
  std::size_t match(std::string_view topic, Visitor&& visitor) const {
    const std::vector<std::string_view> topic_segments = split(topic);
    std::size_t calls = 0;
    for (const Subscription& s : subscriptions_) {
      if (segments_match(s.segments, topic_segments)) {
        visitor(s.subscriber, std::string_view(s.pattern));
        ++calls;
      }
    }
    return calls;
  }

  // The matching pairs, sorted, for comparisons.
  std::vector<std::pair<Subscriber, std::string>> match_sorted(std::string_view topic) const {
    std::vector<std::pair<Subscriber, std::string>> out;
    match(topic, [&](Subscriber s, std::string_view p) { out.emplace_back(s, std::string(p)); });
    std::sort(out.begin(), out.end());
    return out;
  }

  // The distinct matching subscribers, sorted.
  std::vector<Subscriber> match_unique_sorted(std::string_view topic) const {
    std::vector<Subscriber> out;
    match(topic, [&](Subscriber s, std::string_view) { out.push_back(s); });
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  bool contains(std::string_view pattern, Subscriber subscriber) const {
    return std::any_of(subscriptions_.begin(), subscriptions_.end(), [&](const Subscription& s) {
      return s.subscriber == subscriber && s.pattern == pattern;
    });
  }

  std::size_t size() const { return subscriptions_.size(); }

 private:
  struct Subscription {
    std::string pattern;
    std::vector<std::string> segments;
    Subscriber subscriber;
  };

  std::vector<Subscription>::iterator find(std::string_view pattern, Subscriber subscriber) {
    return std::find_if(subscriptions_.begin(), subscriptions_.end(), [&](const Subscription& s) {
      return s.subscriber == subscriber && s.pattern == pattern;
    });
  }

  std::vector<Subscription> subscriptions_;
};

}  // namespace qsse::pubsub::naive

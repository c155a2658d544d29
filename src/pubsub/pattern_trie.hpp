// pubsub/pattern_trie.hpp — the shard-local wildcard trie: which subscribers want a topic.
//
// Each shard keeps one PatternTrie holding the subscription patterns of its own connections.
// The publish path asks it, once per event, which subscribers the event's topic goes to.
// Patterns follow docs/TOPICS.md (<qsse/topic.hpp>): a `*` segment matches one segment, a
// trailing `*` matches one or more remaining segments.
//
// Shape. One node per distinct pattern prefix. A node's non-wildcard children live in one
// trie-wide hash table (EdgeIndex) keyed by (node, segment); its `*` child is a direct link.
// A pattern ending in a plain segment is stored in its last node's exact list; a pattern ending
// in `*` ("ride.42.*") is stored in the tail list of the node before the `*` ("ride.42"), which
// is reported for every topic that continues past that node. Matching walks the topic once,
// following at most the exact child and the `*` child at each level, so its cost depends on the
// topic's depth and on the number of results, not on the number of subscriptions.
//
// De-duplication. match() reports every matching (subscriber, pattern) pair: a subscriber with
// the overlapping patterns "ride.*" and "ride.42.*" is reported twice for "ride.42.location".
// match_unique() reports each matching subscriber once. The server's shard uses match_unique()
// (an event is sent once per connection, whatever number of its patterns match); the client
// uses match() with one subscriber id per event handler, so every matching handler runs (as the
// Go client does).
//
// Subscribers are small dense integers (the engine uses connection slot indices within a shard).
// Memory for per-subscriber bookkeeping is proportional to the largest id ever inserted, so ids
// must be below kMaxSubscribers.
//
// Allocation: match() and match_unique() never allocate. insert() may allocate; remove() and
// remove_all() release memory and allocate only when the edge table shrinks (it halves when less
// than an eighth full). Removing the last subscription under a branch frees that branch's nodes, so
// node_count() follows the live patterns, not the history of the trie.
//
// Thread: a PatternTrie belongs to one shard thread and is not synchronised; no locks, no atomics.
// Exceptions: only std::out_of_range from insert() for a subscriber id >= kMaxSubscribers (a
// programming error at the call site, not an input error), and std::bad_alloc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <qsse/result.hpp>
#include <qsse/topic.hpp>

#include "pubsub/edge_index.hpp"
#include "pubsub/topic_path.hpp"

namespace qsse::pubsub {

using SubscriberId = std::uint32_t;

class PatternTrie {
 public:
  // Subscriber ids must be < kMaxSubscribers (16M): per-subscriber arrays are sized by the
  // largest id seen, so this bounds the memory a wrong id can cost.
  static constexpr SubscriberId kMaxSubscribers = SubscriberId{1} << 24;

  PatternTrie();
  PatternTrie(const PatternTrie&) = delete;
  PatternTrie& operator=(const PatternTrie&) = delete;
  PatternTrie(PatternTrie&&) noexcept = default;
  PatternTrie& operator=(PatternTrie&&) noexcept = default;
  ~PatternTrie() = default;

  // Subscribes `subscriber` to `pattern`. Idempotent: inserting a (pattern, subscriber) pair that
  // is already present changes nothing and returns false; a new pair returns true. The trie
  // copies what it needs from `pattern`; the caller's string may go away afterwards.
  // Errors: any error of qsse::validate_pattern (nothing is changed).
  // Throws: std::out_of_range if subscriber >= kMaxSubscribers.
  [[nodiscard]] Result<bool, TopicError> insert(std::string_view pattern, SubscriberId subscriber);

  // Unsubscribes `subscriber` from exactly `pattern` (not from other patterns that overlap it).
  // Returns true if the pair was present, false if not. Frees the nodes no pattern needs any more.
  // Errors: any error of qsse::validate_pattern.
  [[nodiscard]] Result<bool, TopicError> remove(std::string_view pattern, SubscriberId subscriber);

  // Removes every pattern of `subscriber` (the connection went away). Returns how many.
  // Cost: proportional to that subscriber's pattern count. Any id is accepted.
  std::size_t remove_all(SubscriberId subscriber);

  // Calls visitor(SubscriberId subscriber, std::string_view pattern) once for every subscribed
  // (pattern, subscriber) pair whose pattern matches `topic`, in no specified order, and returns
  // how many calls it made. `pattern` is the subscribed pattern in its canonical text (equal to
  // what was inserted) and stays valid until that pair is removed.
  // The visitor must not modify this trie. No allocation.
  // Errors: any error of qsse::validate_topic (the visitor is not called).
  template <class Visitor>
  [[nodiscard]] Result<std::size_t, TopicError> match(std::string_view topic,
                                                      Visitor&& visitor) const;

  // Calls visitor(SubscriberId subscriber) once for every subscriber having at least one pattern
  // that matches `topic`, in no specified order; returns how many subscribers. Uses a
  // per-subscriber generation stamp, hence non-const. The visitor must not modify this trie.
  // No allocation. Errors: any error of qsse::validate_topic (the visitor is not called).
  template <class Visitor>
  [[nodiscard]] Result<std::size_t, TopicError> match_unique(std::string_view topic,
                                                             Visitor&& visitor);

  // Whether exactly this (pattern, subscriber) pair is subscribed. False for invalid patterns.
  bool contains(std::string_view pattern, SubscriberId subscriber) const;

  // Number of (pattern, subscriber) pairs subscribed.
  std::size_t subscription_count() const noexcept { return entries_.size() - free_entry_count_; }
  // Number of patterns `subscriber` has.
  std::size_t subscription_count(SubscriberId subscriber) const noexcept {
    return subscriber < subscribers_.size() ? subscribers_[subscriber].count : 0;
  }
  // Live trie nodes, including the root: 1 for an empty trie. For tests of compaction.
  std::size_t node_count() const noexcept { return nodes_.size() - free_node_count_; }
  // Slots in the edge hash table (follows the live edge count; for tests of compaction).
  std::size_t edge_capacity() const noexcept { return edges_.capacity(); }

 private:
  friend struct PatternTrieTestAccess;  // tests: drive the generation counter to its wrap-around

  static constexpr NodeId kRoot = 0;
  static constexpr std::uint32_t kNoEntry = 0xffffffffu;

  // One subscriber in a node's exact or tail list, with the index of its Entry.
  struct Member {
    SubscriberId subscriber;
    std::uint32_t entry;
  };

  struct Node {
    NodeId parent = kNoNode;
    NodeId star_child = kNoNode;    // the child for a non-trailing `*`
    std::uint32_t child_count = 0;  // children in edges_ (not counting star_child)
    std::uint64_t edge_hash = 0;    // this node's key in edges_ (unused for star children)
    std::vector<Member> exact;      // patterns ending at this node
    std::vector<Member> tail;       // patterns ending at this node + ".*"
    std::string label;              // this node's segment ("*" for a star child)
    // While exact or tail is non-empty: the tail pattern's text, "<path>.*" ("*" for the root).
    // The exact pattern is its prefix without the final ".*".
    std::string pattern;
  };

  // One (pattern, subscriber) pair: where it is stored, and its links in the subscriber's list.
  struct Entry {
    NodeId node = kNoNode;
    SubscriberId subscriber = 0;
    std::uint32_t slot = 0;  // index in nodes_[node].exact or .tail
    std::uint32_t prev = kNoEntry;
    std::uint32_t next = kNoEntry;
    bool tail = false;
  };

  struct SubscriberState {
    std::uint32_t first_entry = kNoEntry;
    std::uint32_t count = 0;
    std::uint32_t stamp = 0;  // match_unique generation that last reported this subscriber
  };

  // The node where `path` (a split pattern) is stored: the last segment's node, or for a
  // trailing wildcard the node before it. find_node returns kNoNode if it does not exist.
  NodeId find_node(const TopicPath& path) const noexcept;
  NodeId find_or_create_node(const TopicPath& path);
  NodeId child_of(NodeId node, std::string_view segment, std::uint64_t segment_hash) const noexcept;
  NodeId allocate_node(NodeId parent, std::string_view label);
  std::uint32_t find_entry(NodeId node, bool tail, SubscriberId subscriber) const noexcept;
  void erase_entry(std::uint32_t entry);
  void prune(NodeId node);

  static std::string_view exact_pattern(const Node& node) noexcept {
    return std::string_view(node.pattern).substr(0, node.pattern.size() - 2);
  }

  template <class Visitor>
  void walk(NodeId node_id, std::size_t depth, const TopicPath& path, Visitor& visitor,
            std::size_t& calls) const;

  // Freed nodes and entries are kept for reuse in intrusive lists (through Node::parent and
  // Entry::next), so removing never allocates.
  std::vector<Node> nodes_;
  NodeId free_node_head_ = kNoNode;
  std::size_t free_node_count_ = 0;
  std::vector<Entry> entries_;
  std::uint32_t free_entry_head_ = kNoEntry;
  std::size_t free_entry_count_ = 0;
  std::vector<SubscriberState> subscribers_;
  std::uint32_t generation_ = 0;
  EdgeIndex edges_;
};

template <class Visitor>
void PatternTrie::walk(NodeId node_id, std::size_t depth, const TopicPath& path, Visitor& visitor,
                       std::size_t& calls) const {
  const Node& node = nodes_[node_id];
  if (depth == path.depth) {
    for (const Member& member : node.exact) visitor(member.subscriber, exact_pattern(node));
    calls += node.exact.size();
    return;
  }
  // At least one topic segment remains, which is what a trailing `*` needs.
  if (!node.tail.empty()) {
    const std::string_view tail_pattern = node.pattern;
    for (const Member& member : node.tail) visitor(member.subscriber, tail_pattern);
    calls += node.tail.size();
  }
  if (node.child_count != 0) {
    const NodeId child = child_of(node_id, path.segments[depth], path.hashes[depth]);
    if (child != kNoNode) walk(child, depth + 1, path, visitor, calls);
  }
  if (node.star_child != kNoNode) walk(node.star_child, depth + 1, path, visitor, calls);
}

inline NodeId PatternTrie::child_of(NodeId node, std::string_view segment,
                                    std::uint64_t segment_hash) const noexcept {
  return edges_.find(edge_hash(node, segment_hash), [&](NodeId child) {
    const Node& candidate = nodes_[child];
    return candidate.parent == node && candidate.label == segment;
  });
}

template <class Visitor>
Result<std::size_t, TopicError> PatternTrie::match(std::string_view topic,
                                                   Visitor&& visitor) const {
  TopicPath path;
  if (auto split = split_topic(topic, path); !split) return fail(split.error());
  std::size_t calls = 0;
  walk(kRoot, 0, path, visitor, calls);
  return calls;
}

template <class Visitor>
Result<std::size_t, TopicError> PatternTrie::match_unique(std::string_view topic,
                                                          Visitor&& visitor) {
  TopicPath path;
  if (auto split = split_topic(topic, path); !split) return fail(split.error());
  if (++generation_ == 0) {
    // The stamps wrapped around: forget every old stamp so none can equal a new generation.
    for (SubscriberState& state : subscribers_) state.stamp = 0;
    generation_ = 1;
  }
  std::size_t unique = 0;
  auto dedup = [&](SubscriberId subscriber, std::string_view) {
    SubscriberState& state = subscribers_[subscriber];
    if (state.stamp == generation_) return;
    state.stamp = generation_;
    ++unique;
    visitor(subscriber);
  };
  std::size_t calls = 0;
  walk(kRoot, 0, path, dedup, calls);
  return unique;
}

}  // namespace qsse::pubsub

// pubsub/topic_catalog.hpp — the set of topics a server declares, and pattern expansion over it.
//
// A server is created with a list of topics (as in the Go library's NewServer(addr, topics, ...)).
// The catalog answers two questions with the same matching rules as the subscription trie
// (docs/TOPICS.md):
//   * contains(topic): is this topic declared? (a subscription to an undeclared topic is answered
//     with error code 2, "topic not available");
//   * expand(pattern, visitor): which declared topics does a pattern cover? Publishing with a
//     pattern publishes on each of them (as the Go library's Publish does over its topic list).
//
// Shape: a trie of declared topics, one node per distinct prefix. Non-wildcard lookups go through
// one EdgeIndex hash table; each node also lists its children, for `*`. Expanding costs time
// proportional to the nodes the pattern reaches, never to the whole catalog unless the pattern
// covers it (as "*" does).
//
// Topics are only ever added: the declared set is fixed configuration (there is no undeclare).
// Allocation: declare() allocates; contains() and expand() never do.
// Thread: not synchronised. Build it before the server starts, then share it read-only: the
// const members only read, so several threads may call them at once once nobody declares.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <qsse/result.hpp>
#include <qsse/topic.hpp>

#include "pubsub/edge_index.hpp"
#include "pubsub/topic_path.hpp"

namespace qsse::pubsub {

class TopicCatalog {
 public:
  TopicCatalog();

  // Declares `topic` (copied). Returns true if it was new, false if it was already declared.
  // Errors: any error of qsse::validate_topic (nothing is changed).
  [[nodiscard]] Result<bool, TopicError> declare(std::string_view topic);

  // Whether `topic` is declared. False for anything that is not a valid topic.
  bool contains(std::string_view topic) const noexcept;

  // Calls visitor(std::string_view topic) once for each declared topic that `pattern` matches,
  // in no specified order, and returns how many. A plain topic used as the pattern yields itself
  // if declared. The views stay valid as long as the catalog. The visitor must not declare.
  // No allocation. Errors: any error of qsse::validate_pattern (the visitor is not called).
  template <class Visitor>
  [[nodiscard]] Result<std::size_t, TopicError> expand(std::string_view pattern,
                                                       Visitor&& visitor) const;

  // Number of declared topics.
  std::size_t size() const noexcept { return declared_; }

 private:
  static constexpr NodeId kRoot = 0;

  struct Node {
    NodeId parent = kNoNode;
    bool declared = false;
    std::vector<NodeId> children;  // every child, for `*` and for a trailing `*`
    std::string label;             // this node's segment
    std::string topic;             // the full topic, when declared
  };

  NodeId child_of(NodeId node, std::string_view segment, std::uint64_t segment_hash) const noexcept;

  template <class Visitor>
  void walk(NodeId node_id, std::size_t depth, std::size_t stop, const TopicPath& path,
            Visitor& visitor, std::size_t& calls) const;
  template <class Visitor>
  void visit_below(NodeId node_id, Visitor& visitor, std::size_t& calls) const;

  std::vector<Node> nodes_;
  EdgeIndex edges_;
  std::size_t declared_ = 0;
};

inline NodeId TopicCatalog::child_of(NodeId node, std::string_view segment,
                                     std::uint64_t segment_hash) const noexcept {
  return edges_.find(edge_hash(node, segment_hash), [&](NodeId child) {
    return nodes_[child].parent == node && nodes_[child].label == segment;
  });
}

// Every declared topic strictly below node_id.
template <class Visitor>
void TopicCatalog::visit_below(NodeId node_id, Visitor& visitor, std::size_t& calls) const {
  for (const NodeId child : nodes_[node_id].children) {
    const Node& node = nodes_[child];
    if (node.declared) {
      visitor(std::string_view(node.topic));
      ++calls;
    }
    visit_below(child, visitor, calls);
  }
}

// Matches path.segments[depth..stop) below node_id; `stop` excludes a trailing `*`.
template <class Visitor>
void TopicCatalog::walk(NodeId node_id, std::size_t depth, std::size_t stop, const TopicPath& path,
                        Visitor& visitor, std::size_t& calls) const {
  const Node& node = nodes_[node_id];
  if (depth == stop) {
    if (path.trailing_wildcard) {
      visit_below(node_id, visitor, calls);
    } else if (node.declared) {
      visitor(std::string_view(node.topic));
      ++calls;
    }
    return;
  }
  if (is_wildcard(path.segments[depth])) {
    for (const NodeId child : node.children) walk(child, depth + 1, stop, path, visitor, calls);
  } else {
    const NodeId child = child_of(node_id, path.segments[depth], path.hashes[depth]);
    if (child != kNoNode) walk(child, depth + 1, stop, path, visitor, calls);
  }
}

template <class Visitor>
Result<std::size_t, TopicError> TopicCatalog::expand(std::string_view pattern,
                                                     Visitor&& visitor) const {
  TopicPath path;
  if (auto split = split_pattern(pattern, path); !split) return fail(split.error());
  std::size_t calls = 0;
  const std::size_t stop = path.trailing_wildcard ? path.depth - 1 : path.depth;
  walk(kRoot, 0, stop, path, visitor, calls);
  return calls;
}

}  // namespace qsse::pubsub

#include "pubsub/topic_catalog.hpp"

namespace qsse::pubsub {

TopicCatalog::TopicCatalog() {
  nodes_.emplace_back();
}

Result<bool, TopicError> TopicCatalog::declare(std::string_view topic) {
  TopicPath path;
  if (auto split = split_topic(topic, path); !split) return fail(split.error());
  NodeId node = kRoot;
  for (std::size_t i = 0; i < path.depth; ++i) {
    NodeId child = child_of(node, path.segments[i], path.hashes[i]);
    if (child == kNoNode) {
      child = static_cast<NodeId>(nodes_.size());
      nodes_.emplace_back();
      nodes_[child].parent = node;
      nodes_[child].label.assign(path.segments[i]);
      nodes_[node].children.push_back(child);
      edges_.insert(edge_hash(node, path.hashes[i]), child);
    }
    node = child;
  }
  if (nodes_[node].declared) return false;
  nodes_[node].declared = true;
  nodes_[node].topic.assign(topic);
  ++declared_;
  return true;
}

bool TopicCatalog::contains(std::string_view topic) const noexcept {
  TopicPath path;
  if (!split_topic(topic, path)) return false;
  NodeId node = kRoot;
  for (std::size_t i = 0; i < path.depth && node != kNoNode; ++i) {
    node = child_of(node, path.segments[i], path.hashes[i]);
  }
  return node != kNoNode && nodes_[node].declared;
}

}  // namespace qsse::pubsub

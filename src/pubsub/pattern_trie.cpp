#include "pubsub/pattern_trie.hpp"

#include <string>
#include <utility>

namespace qsse::pubsub {

namespace {

// How many segments of a split pattern are trie nodes: a trailing `*` is not a node, it is
// stored in the tail list of the node before it.
std::size_t stored_depth(const TopicPath& path) noexcept {
  return path.trailing_wildcard ? path.depth - 1 : path.depth;
}

template <class T>
void release(T& container) noexcept {
  T().swap(container);
}

}  // namespace

PatternTrie::PatternTrie() {
  nodes_.emplace_back();
}

NodeId PatternTrie::find_node(const TopicPath& path) const noexcept {
  NodeId node = kRoot;
  const std::size_t depth = stored_depth(path);
  for (std::size_t i = 0; i < depth && node != kNoNode; ++i) {
    node = is_wildcard(path.segments[i]) ? nodes_[node].star_child
                                         : child_of(node, path.segments[i], path.hashes[i]);
  }
  return node;
}

NodeId PatternTrie::find_or_create_node(const TopicPath& path) {
  NodeId node = kRoot;
  const std::size_t depth = stored_depth(path);
  for (std::size_t i = 0; i < depth; ++i) {
    const std::string_view segment = path.segments[i];
    NodeId child;
    if (is_wildcard(segment)) {
      child = nodes_[node].star_child;
      if (child == kNoNode) {
        child = allocate_node(node, segment);
        nodes_[node].star_child = child;
      }
    } else {
      child = child_of(node, segment, path.hashes[i]);
      if (child == kNoNode) {
        child = allocate_node(node, segment);
        const std::uint64_t hash = edge_hash(node, path.hashes[i]);
        nodes_[child].edge_hash = hash;
        edges_.insert(hash, child);
        ++nodes_[node].child_count;
      }
    }
    node = child;
  }
  return node;
}

NodeId PatternTrie::allocate_node(NodeId parent, std::string_view label) {
  NodeId id;
  if (free_node_head_ != kNoNode) {
    id = free_node_head_;
    free_node_head_ = nodes_[id].parent;
    --free_node_count_;
    nodes_[id] = Node{};
  } else {
    id = static_cast<NodeId>(nodes_.size());
    nodes_.emplace_back();
  }
  nodes_[id].parent = parent;
  nodes_[id].label.assign(label);
  return id;
}

std::uint32_t PatternTrie::find_entry(NodeId node_id, bool tail,
                                      SubscriberId subscriber) const noexcept {
  const Node& node = nodes_[node_id];
  const std::vector<Member>& members = tail ? node.tail : node.exact;
  const SubscriberState& state = subscribers_[subscriber];
  // Scan whichever is shorter: the node's subscribers or the subscriber's patterns.
  if (members.size() <= state.count) {
    for (const Member& member : members) {
      if (member.subscriber == subscriber) return member.entry;
    }
    return kNoEntry;
  }
  for (std::uint32_t e = state.first_entry; e != kNoEntry; e = entries_[e].next) {
    if (entries_[e].node == node_id && entries_[e].tail == tail) return e;
  }
  return kNoEntry;
}

Result<bool, TopicError> PatternTrie::insert(std::string_view pattern, SubscriberId subscriber) {
  if (subscriber >= kMaxSubscribers) {
    throw std::out_of_range("qsse::pubsub::PatternTrie::insert: subscriber id " +
                            std::to_string(subscriber) + " is not below kMaxSubscribers (" +
                            std::to_string(kMaxSubscribers) + ")");
  }
  TopicPath path;
  if (auto split = split_pattern(pattern, path); !split) return fail(split.error());
  if (subscriber >= subscribers_.size()) subscribers_.resize(std::size_t{subscriber} + 1);

  const NodeId node_id = find_or_create_node(path);
  const bool tail = path.trailing_wildcard;
  if (find_entry(node_id, tail, subscriber) != kNoEntry) return false;

  std::uint32_t entry_id;
  if (free_entry_head_ != kNoEntry) {
    entry_id = free_entry_head_;
    free_entry_head_ = entries_[entry_id].next;
    --free_entry_count_;
  } else {
    entry_id = static_cast<std::uint32_t>(entries_.size());
    entries_.emplace_back();
  }

  Node& node = nodes_[node_id];
  if (node.exact.empty() && node.tail.empty()) {
    // Valid pattern text is canonical (one spelling per pattern), so the input can be kept.
    node.pattern.assign(pattern);
    if (!tail) node.pattern.append(".*");
  }
  std::vector<Member>& members = tail ? node.tail : node.exact;
  SubscriberState& state = subscribers_[subscriber];
  entries_[entry_id] =
      Entry{node_id,  subscriber,        static_cast<std::uint32_t>(members.size()),
            kNoEntry, state.first_entry, tail};
  members.push_back(Member{subscriber, entry_id});
  if (state.first_entry != kNoEntry) entries_[state.first_entry].prev = entry_id;
  state.first_entry = entry_id;
  ++state.count;
  return true;
}

Result<bool, TopicError> PatternTrie::remove(std::string_view pattern, SubscriberId subscriber) {
  TopicPath path;
  if (auto split = split_pattern(pattern, path); !split) return fail(split.error());
  if (subscriber >= subscribers_.size()) return false;
  const NodeId node_id = find_node(path);
  if (node_id == kNoNode) return false;
  const std::uint32_t entry = find_entry(node_id, path.trailing_wildcard, subscriber);
  if (entry == kNoEntry) return false;
  erase_entry(entry);
  return true;
}

std::size_t PatternTrie::remove_all(SubscriberId subscriber) {
  if (subscriber >= subscribers_.size()) return 0;
  std::size_t removed = 0;
  while (subscribers_[subscriber].first_entry != kNoEntry) {
    erase_entry(subscribers_[subscriber].first_entry);
    ++removed;
  }
  return removed;
}

bool PatternTrie::contains(std::string_view pattern, SubscriberId subscriber) const {
  TopicPath path;
  if (!split_pattern(pattern, path) || subscriber >= subscribers_.size()) return false;
  const NodeId node_id = find_node(path);
  return node_id != kNoNode && find_entry(node_id, path.trailing_wildcard, subscriber) != kNoEntry;
}

void PatternTrie::erase_entry(std::uint32_t entry_id) {
  const Entry entry = entries_[entry_id];
  Node& node = nodes_[entry.node];

  // Swap-remove from the node's list, keeping the moved member's entry pointing at its slot.
  std::vector<Member>& members = entry.tail ? node.tail : node.exact;
  const Member last = members.back();
  members[entry.slot] = last;
  entries_[last.entry].slot = entry.slot;
  members.pop_back();

  // Unlink from the subscriber's list.
  SubscriberState& state = subscribers_[entry.subscriber];
  if (entry.prev != kNoEntry) {
    entries_[entry.prev].next = entry.next;
  } else {
    state.first_entry = entry.next;
  }
  if (entry.next != kNoEntry) entries_[entry.next].prev = entry.prev;
  --state.count;

  entries_[entry_id] = Entry{};
  entries_[entry_id].next = free_entry_head_;
  free_entry_head_ = entry_id;
  ++free_entry_count_;

  if (node.exact.empty() && node.tail.empty()) {
    release(node.exact);
    release(node.tail);
    release(node.pattern);
    prune(entry.node);
  }
}

void PatternTrie::prune(NodeId node_id) {
  while (node_id != kRoot) {
    Node& node = nodes_[node_id];
    if (!node.exact.empty() || !node.tail.empty() || node.child_count != 0 ||
        node.star_child != kNoNode) {
      return;
    }
    const NodeId parent_id = node.parent;
    Node& parent = nodes_[parent_id];
    if (parent.star_child == node_id) {
      parent.star_child = kNoNode;
    } else {
      edges_.erase(node.edge_hash, node_id);
      --parent.child_count;
    }
    release(node.label);
    node.parent = free_node_head_;
    free_node_head_ = node_id;
    ++free_node_count_;
    node_id = parent_id;
  }
}

}  // namespace qsse::pubsub

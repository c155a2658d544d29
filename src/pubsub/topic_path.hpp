// pubsub/topic_path.hpp — a validated topic or pattern cut into segments, with segment hashes.
//
// The one place that implements the rules of <qsse/topic.hpp>: validate_topic() and
// validate_pattern() are split_topic()/split_pattern() without the output. The trie and the
// topic catalog split their input once with these and then work on the segments.
//
// A TopicPath is a fixed-size value (no allocation) holding views into the caller's string: it
// is valid only while that string is alive and unchanged. Any thread; pure functions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <qsse/result.hpp>
#include <qsse/topic.hpp>

namespace qsse::pubsub {

struct TopicPath {
  // segments[0..depth) are the non-empty segments, in order; a wildcard segment is "*".
  std::array<std::string_view, kMaxTopicDepth> segments;
  // hashes[i] == hash_segment(segments[i]).
  std::array<std::uint64_t, kMaxTopicDepth> hashes;
  std::size_t depth = 0;
  // True if the last segment is "*" (only possible for patterns).
  bool trailing_wildcard = false;
};

// Validates `topic` as a topic and fills `out`. On error `out` is unspecified.
// Errors: as qsse::validate_topic.
[[nodiscard]] Result<void, TopicError> split_topic(std::string_view topic, TopicPath& out) noexcept;

// Validates `pattern` as a pattern and fills `out`. Errors: as qsse::validate_pattern.
[[nodiscard]] Result<void, TopicError> split_pattern(std::string_view pattern,
                                                     TopicPath& out) noexcept;

// A 64-bit hash of one segment's bytes (not seeded: stable for the life of the process, which is
// all the in-memory tables need). Segments are short, so this is tuned for a few to ~30 bytes.
std::uint64_t hash_segment(std::string_view segment) noexcept;

inline bool is_wildcard(std::string_view segment) noexcept {
  return segment == kWildcardSegment;
}

}  // namespace qsse::pubsub

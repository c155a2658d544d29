// Topic and pattern validation (<qsse/topic.hpp>) and splitting (pubsub/topic_path.hpp).
#include <array>
#include <cstring>

#include <qsse/topic.hpp>

#include "pubsub/topic_path.hpp"

namespace qsse {

namespace {

constexpr std::array<bool, 256> make_segment_chars() {
  std::array<bool, 256> table{};
  for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  table['_'] = table['-'] = table[':'] = true;
  return table;
}

constexpr std::array<bool, 256> kSegmentChars = make_segment_chars();

// One left-to-right pass that both validates and (when out != nullptr) records segments, so the
// error precedence documented in topic.hpp holds for validation and splitting alike.
template <bool kPattern>
Result<void, TopicError> scan(std::string_view text, pubsub::TopicPath* out) noexcept {
  const std::size_t size = text.size();
  if (size == 0) return fail(TopicError::kEmpty);
  if (size > kMaxTopicLength) return fail(TopicError::kTooLong);
  std::size_t depth = 0;
  std::size_t segment_start = 0;
  auto close_segment = [&](std::size_t end) {
    if (out != nullptr) {
      const std::string_view segment = text.substr(segment_start, end - segment_start);
      out->segments[depth] = segment;
      out->hashes[depth] = pubsub::hash_segment(segment);
    }
    ++depth;
  };
  for (std::size_t i = 0; i < size; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == kTopicSeparator) {
      if (i == segment_start) {
        return fail(i == 0 ? TopicError::kLeadingDot : TopicError::kEmptySegment);
      }
      close_segment(i);
      if (depth == kMaxTopicDepth) return fail(TopicError::kTooDeep);
      segment_start = i + 1;
    } else if (c == '*') {
      if (!kPattern) return fail(TopicError::kWildcardInTopic);
      const bool whole_segment =
          i == segment_start && (i + 1 == size || text[i + 1] == kTopicSeparator);
      if (!whole_segment) return fail(TopicError::kWildcardInSegment);
    } else if (!kSegmentChars[c]) {
      return fail(TopicError::kInvalidCharacter);
    }
  }
  if (segment_start == size) return fail(TopicError::kTrailingDot);
  close_segment(size);
  if (out != nullptr) {
    out->depth = depth;
    out->trailing_wildcard = kPattern && pubsub::is_wildcard(out->segments[depth - 1]);
  }
  return {};
}

}  // namespace

std::string_view topic_error_name(TopicError error) noexcept {
  switch (error) {
    case TopicError::kEmpty:
      return "empty topic";
    case TopicError::kTooLong:
      return "topic too long";
    case TopicError::kTooDeep:
      return "too many segments";
    case TopicError::kLeadingDot:
      return "leading dot";
    case TopicError::kTrailingDot:
      return "trailing dot";
    case TopicError::kEmptySegment:
      return "empty segment";
    case TopicError::kInvalidCharacter:
      return "invalid character";
    case TopicError::kWildcardInTopic:
      return "wildcard in topic";
    case TopicError::kWildcardInSegment:
      return "wildcard inside a segment";
  }
  return "unknown topic error";
}

Result<void, TopicError> validate_topic(std::string_view topic) noexcept {
  return scan<false>(topic, nullptr);
}

Result<void, TopicError> validate_pattern(std::string_view pattern) noexcept {
  return scan<true>(pattern, nullptr);
}

namespace pubsub {

Result<void, TopicError> split_topic(std::string_view topic, TopicPath& out) noexcept {
  return scan<false>(topic, &out);
}

Result<void, TopicError> split_pattern(std::string_view pattern, TopicPath& out) noexcept {
  return scan<true>(pattern, &out);
}

std::uint64_t hash_segment(std::string_view segment) noexcept {
  constexpr std::uint64_t kMul = 0x9fb21c651e98df25ULL;
  const char* p = segment.data();
  std::size_t n = segment.size();
  std::uint64_t h = 0x6a09e667f3bcc909ULL ^ (n * kMul);
  while (n >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    h = (h ^ word) * kMul;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    std::uint64_t word = 0;
    std::memcpy(&word, p, n);
    h = (h ^ word) * kMul;
  }
  // Final avalanche so that every output bit depends on every input bit.
  h ^= h >> 32;
  h *= 0xd6e8feb86659fd93ULL;
  h ^= h >> 32;
  return h;
}

}  // namespace pubsub
}  // namespace qsse

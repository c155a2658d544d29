// Topic and pattern validation (<qsse/topic.hpp>) and splitting (pubsub/topic_path.hpp).
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <qsse/topic.hpp>

#include "pubsub/naive_matcher.hpp"
#include "pubsub/topic_path.hpp"

namespace {

using qsse::TopicError;

// depth segments "s" joined by dots.
std::string segments(std::size_t depth, std::string_view segment = "s") {
  std::string out;
  for (std::size_t i = 0; i < depth; ++i) {
    if (i > 0) out += '.';
    out += segment;
  }
  return out;
}

struct Case {
  std::string text;
  std::optional<TopicError> topic_error;    // nullopt: a valid topic
  std::optional<TopicError> pattern_error;  // nullopt: a valid pattern
};

std::vector<Case> cases() {
  constexpr auto kOk = std::nullopt;
  return {
      // Valid topics (and therefore valid patterns).
      {"ride", kOk, kOk},
      {"ride.passenger.start", kOk, kOk},
      {"ride.passenger.account.name", kOk, kOk},
      {"Ride.DRIVER.42", kOk, kOk},
      {"user:42.price_eur.x-y", kOk, kOk},
      {"0.1.2", kOk, kOk},
      {"-._.:", kOk, kOk},
      {std::string(qsse::kMaxTopicLength, 'a'), kOk, kOk},
      {segments(qsse::kMaxTopicDepth), kOk, kOk},
      // Wildcards: fine in patterns as whole segments, never in topics.
      {"*", TopicError::kWildcardInTopic, kOk},
      {"ride.*", TopicError::kWildcardInTopic, kOk},
      {"ride.*.start", TopicError::kWildcardInTopic, kOk},
      {"ride.passenger.*", TopicError::kWildcardInTopic, kOk},
      {"*.*", TopicError::kWildcardInTopic, kOk},
      {"*.start", TopicError::kWildcardInTopic, kOk},
      {segments(qsse::kMaxTopicDepth, "*"), TopicError::kWildcardInTopic, kOk},
      {"ri*de", TopicError::kWildcardInTopic, TopicError::kWildcardInSegment},
      {"ride.*x", TopicError::kWildcardInTopic, TopicError::kWildcardInSegment},
      {"ride.x*", TopicError::kWildcardInTopic, TopicError::kWildcardInSegment},
      {"*ride", TopicError::kWildcardInTopic, TopicError::kWildcardInSegment},
      {"**", TopicError::kWildcardInTopic, TopicError::kWildcardInSegment},
      {"ride.**.x", TopicError::kWildcardInTopic, TopicError::kWildcardInSegment},
      // Empty things.
      {"", TopicError::kEmpty, TopicError::kEmpty},
      {".", TopicError::kLeadingDot, TopicError::kLeadingDot},
      {"..", TopicError::kLeadingDot, TopicError::kLeadingDot},
      {".ride", TopicError::kLeadingDot, TopicError::kLeadingDot},
      {".*", TopicError::kLeadingDot, TopicError::kLeadingDot},
      {"ride.", TopicError::kTrailingDot, TopicError::kTrailingDot},
      {"ride.passenger.", TopicError::kTrailingDot, TopicError::kTrailingDot},
      {"ride..start", TopicError::kEmptySegment, TopicError::kEmptySegment},
      {"ride..*", TopicError::kEmptySegment, TopicError::kEmptySegment},
      // Characters outside the set.
      {"ride start", TopicError::kInvalidCharacter, TopicError::kInvalidCharacter},
      {"ride/1", TopicError::kInvalidCharacter, TopicError::kInvalidCharacter},
      {"r\xc3\xaf"
       "de",
       TopicError::kInvalidCharacter, TopicError::kInvalidCharacter},
      {std::string("ri\0de", 5), TopicError::kInvalidCharacter, TopicError::kInvalidCharacter},
      {"ride\n", TopicError::kInvalidCharacter, TopicError::kInvalidCharacter},
      {"ride.#", TopicError::kInvalidCharacter, TopicError::kInvalidCharacter},
      {"ride.>", TopicError::kInvalidCharacter, TopicError::kInvalidCharacter},
      {"ride.?", TopicError::kInvalidCharacter, TopicError::kInvalidCharacter},
      // Limits.
      {std::string(qsse::kMaxTopicLength + 1, 'a'), TopicError::kTooLong, TopicError::kTooLong},
      {segments(qsse::kMaxTopicDepth + 1), TopicError::kTooDeep, TopicError::kTooDeep},
      {segments(qsse::kMaxTopicDepth + 1, "*"), TopicError::kWildcardInTopic, TopicError::kTooDeep},
      {segments(qsse::kMaxTopicDepth) + ".", TopicError::kTooDeep, TopicError::kTooDeep},
      // Precedence: length before content, then the first problem from the left.
      {std::string(qsse::kMaxTopicLength + 1, '.'), TopicError::kTooLong, TopicError::kTooLong},
      {"a..b*", TopicError::kEmptySegment, TopicError::kEmptySegment},
      {".a*", TopicError::kLeadingDot, TopicError::kLeadingDot},
      {"a b.*c", TopicError::kInvalidCharacter, TopicError::kInvalidCharacter},
      {"a*b c", TopicError::kWildcardInTopic, TopicError::kWildcardInSegment},
      {"ride.* ", TopicError::kWildcardInTopic, TopicError::kWildcardInSegment},
  };
}

std::string describe(const std::optional<TopicError>& e) {
  return e ? std::string(qsse::topic_error_name(*e)) : std::string("ok");
}

TEST(TopicValidation, Table) {
  for (const Case& c : cases()) {
    SCOPED_TRACE("text: \"" + c.text + "\"");
    const auto topic = qsse::validate_topic(c.text);
    const auto pattern = qsse::validate_pattern(c.text);
    const std::optional<TopicError> topic_got =
        topic ? std::nullopt : std::optional<TopicError>(topic.error());
    const std::optional<TopicError> pattern_got =
        pattern ? std::nullopt : std::optional<TopicError>(pattern.error());
    EXPECT_EQ(describe(topic_got), describe(c.topic_error));
    EXPECT_EQ(describe(pattern_got), describe(c.pattern_error));
    // The reference model, written independently, agrees on what is valid.
    EXPECT_EQ(qsse::pubsub::naive::valid_topic(c.text), !c.topic_error.has_value());
    EXPECT_EQ(qsse::pubsub::naive::valid_pattern(c.text), !c.pattern_error.has_value());
  }
}

TEST(TopicValidation, EveryValidTopicIsAValidPattern) {
  for (const Case& c : cases()) {
    if (!c.topic_error) {
      EXPECT_FALSE(c.pattern_error.has_value()) << c.text;
    }
  }
}

TEST(TopicValidation, ErrorNamesAreDistinctAndNonEmpty) {
  const TopicError all[] = {
      TopicError::kEmpty,
      TopicError::kTooLong,
      TopicError::kTooDeep,
      TopicError::kLeadingDot,
      TopicError::kTrailingDot,
      TopicError::kEmptySegment,
      TopicError::kInvalidCharacter,
      TopicError::kWildcardInTopic,
      TopicError::kWildcardInSegment,
  };
  std::set<std::string_view> names;
  for (TopicError e : all) {
    const std::string_view name = qsse::topic_error_name(e);
    EXPECT_FALSE(name.empty());
    EXPECT_NE(name, "unknown topic error");
    names.insert(name);
  }
  EXPECT_EQ(names.size(), std::size(all));
  EXPECT_EQ(qsse::topic_error_name(static_cast<TopicError>(0)), "unknown topic error");
  EXPECT_EQ(qsse::topic_error_name(static_cast<TopicError>(200)), "unknown topic error");
}

TEST(TopicPath, SplitsPatternIntoSegments) {
  qsse::pubsub::TopicPath path;
  ASSERT_TRUE(qsse::pubsub::split_pattern("ride.*.start", path));
  ASSERT_EQ(path.depth, 3u);
  EXPECT_EQ(path.segments[0], "ride");
  EXPECT_EQ(path.segments[1], "*");
  EXPECT_EQ(path.segments[2], "start");
  EXPECT_FALSE(path.trailing_wildcard);
  for (std::size_t i = 0; i < path.depth; ++i) {
    EXPECT_EQ(path.hashes[i], qsse::pubsub::hash_segment(path.segments[i]));
  }

  ASSERT_TRUE(qsse::pubsub::split_pattern("ride.passenger.*", path));
  EXPECT_EQ(path.depth, 3u);
  EXPECT_TRUE(path.trailing_wildcard);

  ASSERT_TRUE(qsse::pubsub::split_pattern("*", path));
  EXPECT_EQ(path.depth, 1u);
  EXPECT_TRUE(path.trailing_wildcard);

  const std::string deepest = segments(qsse::kMaxTopicDepth, "ab");
  ASSERT_TRUE(qsse::pubsub::split_topic(deepest, path));
  EXPECT_EQ(path.depth, qsse::kMaxTopicDepth);
  EXPECT_EQ(path.segments[qsse::kMaxTopicDepth - 1], "ab");

  EXPECT_FALSE(qsse::pubsub::split_topic("ride.*", path));
}

TEST(TopicPath, HashDependsOnEveryByte) {
  std::set<std::uint64_t> hashes;
  const std::string base = "location-of-ride-123456789";
  for (std::size_t n = 0; n <= base.size(); ++n)
    hashes.insert(qsse::pubsub::hash_segment(base.substr(0, n)));
  for (std::size_t i = 0; i < base.size(); ++i) {
    std::string changed = base;
    changed[i] ^= 1;
    hashes.insert(qsse::pubsub::hash_segment(changed));
  }
  EXPECT_EQ(hashes.size(), 2 * base.size() + 1);
}

}  // namespace

// qsse/topic.hpp — topic names and subscription patterns: the rules and their validation.
//
// The full rules, with examples, are in docs/TOPICS.md. In short:
//
//   topic    = segment *( "." segment )          e.g. "ride.42.location"
//   segment  = 1*( ALPHA / DIGIT / "_" / "-" / ":" )
//   pattern  = pseg *( "." pseg )                 e.g. "ride.*.location", "ride.42.*", "*"
//   pseg     = segment / "*"
//
// * At most kMaxTopicLength bytes and kMaxTopicDepth segments, for topics and patterns alike.
// * Matching is byte-for-byte and case-sensitive.
// * In a pattern, a `*` segment that is not the last one matches exactly one topic segment.
//   A `*` as the last segment matches ONE OR MORE remaining segments: "ride.passenger.*" matches
//   "ride.passenger.start" and "ride.passenger.account.name" but not "ride.passenger" itself.
//   So the pattern "*" matches every topic.
// * A `*` anywhere but as a whole segment ("ri*de", "**") is rejected, and a topic may not
//   contain `*` at all.
//
// Who calls this: the server (declared topics, publish, each client's subscriptions), the client
// (its handler patterns) and the command-line tools. Everything here is a pure function of its
// arguments: callable from any thread, no allocation, no exceptions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <qsse/result.hpp>

namespace qsse {

// Longest topic or pattern accepted, in bytes.
inline constexpr std::size_t kMaxTopicLength = 255;
// Most segments a topic or pattern may have.
inline constexpr std::size_t kMaxTopicDepth = 32;
// The segment separator and the wildcard segment.
inline constexpr char kTopicSeparator = '.';
inline constexpr std::string_view kWildcardSegment = "*";

// Why a topic or pattern was rejected. The validators report the first problem found, checking
// in this order: kEmpty, kTooLong, then left to right through the text (so "a..b*" reports
// kEmptySegment), and kTooDeep as soon as segment kMaxTopicDepth + 1 begins.
enum class TopicError : std::uint8_t {
  kEmpty = 1,          // the empty string
  kTooLong,            // more than kMaxTopicLength bytes
  kTooDeep,            // more than kMaxTopicDepth segments
  kLeadingDot,         // ".ride"
  kTrailingDot,        // "ride."
  kEmptySegment,       // "ride..start"
  kInvalidCharacter,   // a byte outside [A-Za-z0-9_:-] and not `.` or `*` ("ride start", "rïde")
  kWildcardInTopic,    // a topic (not a pattern) containing `*` ("ride.*")
  kWildcardInSegment,  // a pattern with `*` that is not a whole segment ("ri*de", "**")
};

// A short, stable, human-readable name ("empty segment") for logs and CLI messages. Never empty;
// "unknown topic error" for a value outside the enumeration.
std::string_view topic_error_name(TopicError error) noexcept;

// Checks a concrete topic (what events are published on and what servers declare).
// Errors: any TopicError except kWildcardInSegment (a `*` is kWildcardInTopic here).
[[nodiscard]] Result<void, TopicError> validate_topic(std::string_view topic) noexcept;

// Checks a subscription pattern. Every valid topic is also a valid pattern (one that matches
// only itself). Errors: any TopicError except kWildcardInTopic.
[[nodiscard]] Result<void, TopicError> validate_pattern(std::string_view pattern) noexcept;

}  // namespace qsse

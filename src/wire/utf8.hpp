// wire/utf8.hpp — UTF-8 validation for the text fields of both wire formats.
//
// Text fields (topics, patterns, error messages) must be well-formed UTF-8 as defined by
// RFC 3629 / Unicode §3.9: no overlong forms, no surrogates (U+D800..U+DFFF), nothing above
// U+10FFFF, no truncated sequences. NUL (U+0000) is well-formed and accepted here; the topic
// grammar (docs/TOPICS.md) is enforced by pubsub, not by the codec.
//
// Pure, allocation-free, thread-agnostic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace qsse::wire {

namespace detail {
// Validates [p, end) which starts at a non-ASCII byte or anywhere after; out of line.
bool is_valid_utf8_slow(const unsigned char* p, const unsigned char* end) noexcept;
}  // namespace detail

// True if `text` is well-formed UTF-8. ASCII runs are checked eight bytes at a time inline;
// the first non-ASCII byte hands over to the full validator.
inline bool is_valid_utf8(std::string_view text) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (end - p >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    if (word & 0x8080808080808080ULL) break;
    p += 8;
  }
  while (p != end && *p < 0x80) ++p;
  return p == end || detail::is_valid_utf8_slow(p, end);
}

}  // namespace qsse::wire

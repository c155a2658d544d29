// text_format.hpp — the pieces of the Prometheus text format 0.0.4 that need care: escaping,
// number spelling and name rules. Pure functions; any thread; they only append to `out`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace qsse::metrics::text {

// A label value between double quotes: `\` -> `\\`, `"` -> `\"`, newline -> `\n`.
void append_label_value(std::string& out, std::string_view value);

// HELP text: `\` -> `\\`, newline -> `\n` (quotes stay as they are).
void append_help(std::string& out, std::string_view help);

// A sample value as Prometheus parses it: shortest decimal that round-trips, "+Inf", "-Inf",
// "NaN". Used for gauges, sums and `le` bounds.
void append_double(std::string& out, double value);
void append_uint(std::string& out, std::uint64_t value);

// `input` with every byte sequence that is not valid UTF-8 (overlong forms, surrogates, code
// points above U+10FFFF, truncated sequences) replaced by U+FFFD.
std::string sanitize_utf8(std::string_view input);

}  // namespace qsse::metrics::text

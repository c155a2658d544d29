#include "metrics/text_format.hpp"

#include <charconv>
#include <cmath>
#include <cstddef>

#include <qsse/metrics.hpp>

namespace qsse::metrics {
namespace {

bool is_name_start(char c, bool colon_allowed) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         (colon_allowed && c == ':');
}

bool is_name_char(char c, bool colon_allowed) {
  return is_name_start(c, colon_allowed) || (c >= '0' && c <= '9');
}

bool is_valid_name(std::string_view name, bool colon_allowed) {
  if (name.empty() || !is_name_start(name.front(), colon_allowed)) return false;
  for (const char c : name) {
    if (!is_name_char(c, colon_allowed)) return false;
  }
  return true;
}

// Length of the valid UTF-8 sequence at the start of `s`, or 0 if it is not one.
std::size_t utf8_sequence_length(std::string_view s) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  std::uint32_t code_point = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    code_point = lead & 0x1Fu;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    code_point = lead & 0x0Fu;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    code_point = lead & 0x07u;
  } else {
    return 0;  // continuation byte, overlong 2-byte lead (C0, C1) or beyond U+10FFFF (F5..FF)
  }
  if (s.size() < length) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0u) != 0x80u) return 0;
    code_point = (code_point << 6) | (byte(i) & 0x3Fu);
  }
  static constexpr std::uint32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code_point < kMinimum[length]) return 0;                 // overlong
  if (code_point >= 0xD800 && code_point <= 0xDFFF) return 0;  // surrogate
  if (code_point > 0x10FFFF) return 0;
  return length;
}

}  // namespace

bool is_valid_metric_name(std::string_view name) noexcept {
  return is_valid_name(name, true);
}

bool is_valid_label_name(std::string_view name) noexcept {
  return is_valid_name(name, false) && !name.starts_with("__");
}

namespace text {

void append_label_value(std::string& out, std::string_view value) {
  for (const char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

void append_help(std::string& out, std::string_view help) {
  for (const char c : help) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

void append_double(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else {
    char buffer[32];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
    out.append(buffer, result.ptr);
  }
}

void append_uint(std::string& out, std::uint64_t value) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}

std::string sanitize_utf8(std::string_view input) {
  std::string out;
  out.reserve(input.size());
  while (!input.empty()) {
    const std::size_t length = utf8_sequence_length(input);
    if (length == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
      input.remove_prefix(1);
    } else {
      out.append(input.substr(0, length));
      input.remove_prefix(length);
    }
  }
  return out;
}

}  // namespace text
}  // namespace qsse::metrics

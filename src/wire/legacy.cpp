#include "wire/legacy.hpp"

#include <simdjson.h>
// options.h first: it carries the configuration wolfSSL was built with (this wolfSSL version has
// no WOLFSSL_USE_OPTIONS_H switch that would include it for us).
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/coding.h>
#include <wolfssl/wolfcrypt/settings.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <charconv>
#include <cstring>
#include <limits>
#include <new>

#include "wire/utf8.hpp"

namespace qsse::wire {

std::string_view to_string(LegacyError error) noexcept {
  switch (error) {
    case LegacyError::kNeedMore:
      return "need_more";
    case LegacyError::kTooLarge:
      return "too_large";
    case LegacyError::kInvalidJson:
      return "invalid_json";
    case LegacyError::kWrongType:
      return "wrong_type";
    case LegacyError::kInvalidBase64:
      return "invalid_base64";
    case LegacyError::kTruncated:
      return "truncated";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------------
// Base64: shape checks here, the conversion itself by wolfSSL.

namespace {

// Go's json decoder uses base64.StdEncoding: alphabet A-Za-z0-9+/, '=' padding to a multiple of
// four. wolfSSL's decoder is more lenient (skips spaces and newlines, stops at the first '='),
// so the canonical shape is checked first.
constexpr std::array<bool, 256> kBase64Alphabet = [] {
  std::array<bool, 256> table{};
  for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  table['+'] = table['/'] = true;
  return table;
}();

// Number of decoded bytes, or nullopt if `text` is not canonical padded base64.
std::optional<size_t> base64_decoded_size(std::string_view text) noexcept {
  if (text.size() % 4 != 0) return std::nullopt;
  if (text.empty()) return 0;
  size_t padding = 0;
  if (text.back() == '=') padding = text[text.size() - 2] == '=' ? 2 : 1;
  const size_t body = text.size() - padding;
  for (size_t i = 0; i < body; ++i) {
    if (!kBase64Alphabet[static_cast<unsigned char>(text[i])]) return std::nullopt;
  }
  return text.size() / 4 * 3 - padding;
}

constexpr size_t kMaxBase64Input = size_t{3} << 30;  // keeps every size inside wolfSSL's word32

// kMaxLegacyData is the most whose base64 size wolfSSL can hold.
static_assert(base64_size(kMaxLegacyData) <= std::numeric_limits<word32>::max() &&
              base64_size(kMaxLegacyData + 1) > std::numeric_limits<word32>::max());

}  // namespace

// ---------------------------------------------------------------------------------------------
// JSON string escaping, as Go's encoding/json does it with HTML escaping on (the default of
// json.Marshal): '"' and '\\' get a backslash; \b \f \n \r \t their short forms; other control
// characters and < > & become \u00XX (lowercase hex); U+2028 and U+2029 become \u2028/\u2029.

namespace {

// Escaped length of each ASCII byte; bytes >= 0x80 are copied (checked separately for
// U+2028/U+2029).
constexpr std::array<uint8_t, 256> kEscapedSize = [] {
  std::array<uint8_t, 256> table{};
  for (int c = 0; c < 256; ++c) table[c] = 1;
  for (int c = 0; c < 0x20; ++c) table[c] = 6;
  for (int c : {'\b', '\f', '\n', '\r', '\t', '"', '\\'}) table[c] = 2;
  for (int c : {'<', '>', '&'}) table[c] = 6;
  return table;
}();

bool is_line_separator(const unsigned char* p, const unsigned char* end) noexcept {
  // U+2028 = E2 80 A8, U+2029 = E2 80 A9.
  return end - p >= 3 && p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9);
}

}  // namespace

size_t json_string_size(std::string_view text) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  size_t size = 2;
  for (; p != end; ++p) {
    if (*p == 0xe2 && is_line_separator(p, end)) {
      size += 6;
      p += 2;
    } else {
      size += kEscapedSize[*p];
    }
  }
  return size;
}

char* write_json_string(char* out, std::string_view text) noexcept {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  *out++ = '"';
  for (; p != end; ++p) {
    const unsigned char c = *p;
    if (kEscapedSize[c] == 1 && !(c == 0xe2 && is_line_separator(p, end))) {
      *out++ = static_cast<char>(c);
      continue;
    }
    *out++ = '\\';
    switch (c) {
      case '"':
        *out++ = '"';
        continue;
      case '\\':
        *out++ = '\\';
        continue;
      case '\b':
        *out++ = 'b';
        continue;
      case '\f':
        *out++ = 'f';
        continue;
      case '\n':
        *out++ = 'n';
        continue;
      case '\r':
        *out++ = 'r';
        continue;
      case '\t':
        *out++ = 't';
        continue;
      default:
        break;
    }
    if (c == 0xe2) {  // U+2028 / U+2029
      std::memcpy(out, p[2] == 0xa8 ? "u2028" : "u2029", 5);
      out += 5;
      p += 2;
      continue;
    }
    *out++ = 'u';
    *out++ = '0';
    *out++ = '0';
    *out++ = kHex[c >> 4];
    *out++ = kHex[c & 0xf];
  }
  *out++ = '"';
  return out;
}

// ---------------------------------------------------------------------------------------------
// Encoders.

namespace {

constexpr std::string_view kTopicKey = "{\"topic\":";
constexpr std::string_view kDataKey = "\"data\":";
constexpr std::string_view kTokenKey = "\"token\":";
constexpr std::string_view kTopicsKey = "\"topics\":";
constexpr std::string_view kCodeKey = "{\"code\":";

char* put(char* out, std::string_view s) noexcept {
  std::memcpy(out, s.data(), s.size());
  return out + s.size();
}

// Returns the end of the encoding, or nullptr if wolfSSL refused (never, for data of at most
// kMaxLegacyData bytes, which encode_legacy_event checks first).
char* put_base64(char* out, std::span<const uint8_t> data) noexcept {
  if (data.empty()) return out;
  if (data.size() > kMaxLegacyData) return nullptr;
  const size_t expected = base64_size(data.size());
  auto size = static_cast<word32>(expected);
  // An exact output size keeps wolfSSL from writing its NUL terminator past the encoding.
  if (Base64_Encode_NoNl(data.data(), static_cast<word32>(data.size()),
                         reinterpret_cast<byte*>(out), &size) != 0 ||
      size != expected) {
    return nullptr;
  }
  return out + size;
}

// Bytes of the JSON object members "topic" and "data" of an event, braces included.
size_t event_object_size(std::string_view topic, size_t data_size) noexcept {
  size_t size = 2;  // { }
  if (!topic.empty()) size += kTopicKey.size() - 1 + json_string_size(topic);
  if (data_size != 0)
    size += (topic.empty() ? 0 : 1) + kDataKey.size() + 2 + base64_size(data_size);
  return size;
}

// Returns the end of the object, or nullptr if put_base64 failed.
char* write_event_object(char* out, std::string_view topic, std::span<const uint8_t> data) {
  *out++ = '{';
  if (!topic.empty()) out = write_json_string(put(out, kTopicKey.substr(1)), topic);
  if (!data.empty()) {
    if (!topic.empty()) *out++ = ',';
    out = put(out, kDataKey);
    *out++ = '"';
    out = put_base64(out, data);
    if (out == nullptr) return nullptr;
    *out++ = '"';
  }
  *out++ = '}';
  return out;
}

size_t decimal_size(int64_t value) noexcept {
  char digits[24];
  return static_cast<size_t>(std::to_chars(digits, digits + sizeof digits, value).ptr - digits);
}

// {"code":N,"data":{"topic":"x"}} with Go's omitempty on both members.
size_t error_object_size(int64_t code, std::string_view topic) noexcept {
  size_t size = 2;
  if (code != 0) size += kCodeKey.size() - 1 + decimal_size(code);
  if (!topic.empty()) {
    size += (code != 0 ? 1 : 0) + kDataKey.size() + kTopicKey.size() + json_string_size(topic) + 1;
  }
  return size;
}

}  // namespace

size_t legacy_event_size(std::string_view topic, size_t data_size) noexcept {
  return event_object_size(topic, data_size) + 1;
}

Result<size_t, EncodeError> encode_legacy_event(std::span<uint8_t> out, std::string_view topic,
                                                std::span<const uint8_t> data) noexcept {
  if (!is_valid_utf8(topic)) return fail(EncodeError::kInvalidText);
  if (data.size() > kMaxLegacyData) return fail(EncodeError::kValueOutOfRange);
  const size_t size = legacy_event_size(topic, data.size());
  if (out.size() < size) return fail(EncodeError::kBufferTooSmall);
  char* end = write_event_object(reinterpret_cast<char*>(out.data()), topic, data);
  if (end == nullptr) return fail(EncodeError::kValueOutOfRange);
  *end = kLegacyDelimiter;
  return size;
}

size_t legacy_offer_size(std::string_view token,
                         std::span<const std::string_view> topics) noexcept {
  size_t size = 3;  // { } \n
  if (!token.empty()) size += kTokenKey.size() + json_string_size(token);
  if (!topics.empty()) {
    size += (token.empty() ? 0 : 1) + kTopicsKey.size() + 2 + (topics.size() - 1);
    for (std::string_view topic : topics) size += json_string_size(topic);
  }
  return size;
}

Result<size_t, EncodeError> encode_legacy_offer(std::span<uint8_t> out, std::string_view token,
                                                std::span<const std::string_view> topics) noexcept {
  if (!is_valid_utf8(token)) return fail(EncodeError::kInvalidText);
  for (std::string_view topic : topics) {
    if (!is_valid_utf8(topic)) return fail(EncodeError::kInvalidText);
  }
  const size_t size = legacy_offer_size(token, topics);
  if (out.size() < size) return fail(EncodeError::kBufferTooSmall);
  char* p = reinterpret_cast<char*>(out.data());
  *p++ = '{';
  if (!token.empty()) p = write_json_string(put(p, kTokenKey), token);
  if (!topics.empty()) {
    if (!token.empty()) *p++ = ',';
    p = put(p, kTopicsKey);
    *p++ = '[';
    for (size_t i = 0; i < topics.size(); ++i) {
      if (i != 0) *p++ = ',';
      p = write_json_string(p, topics[i]);
    }
    *p++ = ']';
  }
  *p++ = '}';
  *p = kLegacyDelimiter;
  return size;
}

size_t legacy_error_size(ErrorCode code, std::string_view topic) noexcept {
  const auto value = static_cast<int64_t>(code);
  return legacy_event_size(kLegacyErrorTopic, error_object_size(value, topic));
}

Result<size_t, EncodeError> encode_legacy_error(std::span<uint8_t> out, ErrorCode code,
                                                std::string_view topic) {
  if (!is_valid_utf8(topic)) return fail(EncodeError::kInvalidText);
  if (static_cast<uint64_t>(code) > static_cast<uint64_t>(INT64_MAX)) {
    return fail(EncodeError::kValueOutOfRange);
  }
  const auto value = static_cast<int64_t>(code);
  const size_t size = legacy_error_size(code, topic);
  if (out.size() < size) return fail(EncodeError::kBufferTooSmall);

  std::string inner(error_object_size(value, topic), '\0');
  char* p = inner.data();
  *p++ = '{';
  if (value != 0) {
    p = put(p, kCodeKey.substr(1));
    p = std::to_chars(p, p + 24, value).ptr;
  }
  if (!topic.empty()) {
    if (value != 0) *p++ = ',';
    p = write_json_string(put(put(p, kDataKey), kTopicKey), topic);
    *p++ = '}';
  }
  *p++ = '}';
  assert(p == inner.data() + inner.size());
  return encode_legacy_event(out, kLegacyErrorTopic,
                             {reinterpret_cast<const uint8_t*>(inner.data()), inner.size()});
}

// ---------------------------------------------------------------------------------------------
// Decoding.

namespace {

bool key_is(std::string_view key, std::string_view name) noexcept {
  if (key.size() != name.size()) return false;
  for (size_t i = 0; i < key.size(); ++i) {
    char c = key[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != name[i]) return false;
  }
  return true;
}

// A string field: a string (must be valid UTF-8 after unescaping, which rules out lone
// surrogate escapes) or null (leaves *out unchanged, as Go does).
Result<void, LegacyError> read_string(simdjson::dom::element value, std::string_view* out) {
  if (value.is_null()) return {};
  std::string_view s;
  if (value.get_string().get(s)) return fail(LegacyError::kWrongType);
  if (!is_valid_utf8(s)) return fail(LegacyError::kInvalidJson);
  *out = s;
  return {};
}

}  // namespace

struct LegacyDecoder::State {
  // simdjson never works with less than kMinCapacity (it rounds small documents up to its own
  // minimum, which must not exceed the parser's maximum).
  static constexpr size_t kMinCapacity = 512;

  explicit State(size_t max_line_size) : parser(std::max(max_line_size, kMinCapacity)) {}

  simdjson::dom::parser parser;
  simdjson::dom::document document;
  size_t capacity = 0;  // of parser and document
  std::unique_ptr<char[]> padded;
  size_t padded_capacity = 0;
  std::unique_ptr<uint8_t[]> decoded;
  size_t decoded_capacity = 0;
  std::vector<std::string_view> topics;
  std::string data_json;

  // Parses `json` (at most max_line_size bytes) and returns its root. Scratch memory grows in
  // powers of two, so a stream of slowly growing lines reallocates rarely and a steady stream
  // never does.
  Result<simdjson::dom::element, LegacyError> parse(std::string_view json, size_t max_line_size) {
    if (json.size() > max_line_size) return fail(LegacyError::kTooLarge);
    // simdjson reads up to SIMDJSON_PADDING bytes past the end: parse a padded copy.
    const size_t needed = json.size() + simdjson::SIMDJSON_PADDING;
    if (needed > padded_capacity) {
      padded_capacity = std::bit_ceil(std::max(needed, size_t{512}));
      padded = std::make_unique<char[]>(padded_capacity);
    }
    if (!json.empty()) std::memcpy(padded.get(), json.data(), json.size());
    std::memset(padded.get() + json.size(), 0, simdjson::SIMDJSON_PADDING);
    if (json.size() > capacity || capacity == 0) {
      const size_t grown = std::min(std::bit_ceil(std::max(json.size(), kMinCapacity)),
                                    std::max(max_line_size, kMinCapacity));
      // simdjson counts the root as depth 1 and refuses depth >= its maximum: one more than
      // kMaxJsonDepth lets exactly kMaxJsonDepth levels through.
      if (document.allocate(grown) != simdjson::SUCCESS ||
          parser.allocate(grown, kMaxJsonDepth + 1) != simdjson::SUCCESS) {
        throw std::bad_alloc();
      }
      capacity = grown;
    }
    simdjson::dom::element root;
    if (parser.parse_into_document(document, padded.get(), json.size(), false).get(root)) {
      return fail(LegacyError::kInvalidJson);
    }
    return root;
  }
};

LegacyDecoder::LegacyDecoder(size_t max_line_size)
    : max_line_size_(max_line_size), state_(std::make_unique<State>(max_line_size)) {}
LegacyDecoder::~LegacyDecoder() = default;
LegacyDecoder::LegacyDecoder(LegacyDecoder&&) noexcept = default;
LegacyDecoder& LegacyDecoder::operator=(LegacyDecoder&&) noexcept = default;

Result<LegacyEvent, LegacyError> LegacyDecoder::decode_event(std::string_view line) {
  auto parsed = state_->parse(line, max_line_size_);
  if (!parsed) return fail(parsed.error());
  const simdjson::dom::element root = *parsed;
  LegacyEvent event;
  if (root.is_null()) return event;
  simdjson::dom::object object;
  if (root.get_object().get(object)) return fail(LegacyError::kWrongType);
  std::optional<std::string_view> base64;
  for (simdjson::dom::key_value_pair field : object) {
    if (key_is(field.key, "topic")) {
      if (auto r = read_string(field.value, &event.topic); !r) return fail(r.error());
    } else if (key_is(field.key, "data")) {
      if (field.value.is_null()) {  // Go sets a []byte to nil on null
        base64.reset();
        continue;
      }
      std::string_view text;
      if (field.value.get_string().get(text)) return fail(LegacyError::kWrongType);
      base64 = text;
    }
  }
  if (!base64) return event;
  const std::optional<size_t> size = base64_decoded_size(*base64);
  if (!size || base64->size() > kMaxBase64Input) return fail(LegacyError::kInvalidBase64);
  if (*size == 0) return event;
  // wolfSSL wants room for its estimate (at most 3/4 of the input + 3), plus its NUL.
  const size_t room = base64->size() / 4 * 3 + 4;
  if (room > state_->decoded_capacity) {
    state_->decoded_capacity = std::bit_ceil(std::max(room, size_t{256}));
    state_->decoded = std::make_unique<uint8_t[]>(state_->decoded_capacity);
  }
  auto written = static_cast<word32>(state_->decoded_capacity);
  if (Base64_Decode(reinterpret_cast<const byte*>(base64->data()),
                    static_cast<word32>(base64->size()), state_->decoded.get(), &written) != 0 ||
      written != *size) {
    return fail(LegacyError::kInvalidBase64);
  }
  event.data = {state_->decoded.get(), *size};
  return event;
}

Result<LegacyOffer, LegacyError> LegacyDecoder::decode_offer(std::string_view line) {
  auto parsed = state_->parse(line, max_line_size_);
  if (!parsed) return fail(parsed.error());
  const simdjson::dom::element root = *parsed;
  LegacyOffer offer;
  state_->topics.clear();
  if (root.is_null()) return offer;
  simdjson::dom::object object;
  if (root.get_object().get(object)) return fail(LegacyError::kWrongType);
  for (simdjson::dom::key_value_pair field : object) {
    if (key_is(field.key, "token")) {
      if (auto r = read_string(field.value, &offer.token); !r) return fail(r.error());
    } else if (key_is(field.key, "topics")) {
      state_->topics.clear();  // a repeated "topics" replaces the earlier one; null empties it
      if (field.value.is_null()) continue;
      simdjson::dom::array array;
      if (field.value.get_array().get(array)) return fail(LegacyError::kWrongType);
      for (simdjson::dom::element element : array) {
        std::string_view topic;
        if (auto r = read_string(element, &topic); !r) return fail(r.error());
        state_->topics.push_back(topic);
      }
    }
  }
  offer.topics = state_->topics;
  return offer;
}

Result<LegacyErrorPayload, LegacyError> LegacyDecoder::decode_error_payload(
    std::span<const uint8_t> json) {
  std::string_view text(reinterpret_cast<const char*>(json.data()), json.size());
  auto parsed = state_->parse(text, max_line_size_);
  if (!parsed) return fail(parsed.error());
  const simdjson::dom::element root = *parsed;
  LegacyErrorPayload payload;
  if (root.is_null()) return payload;
  simdjson::dom::object object;
  if (root.get_object().get(object)) return fail(LegacyError::kWrongType);
  std::optional<simdjson::dom::object> data;
  for (simdjson::dom::key_value_pair field : object) {
    if (key_is(field.key, "code")) {
      if (field.value.is_null()) continue;
      if (field.value.get_int64().get(payload.code)) return fail(LegacyError::kWrongType);
    } else if (key_is(field.key, "data")) {
      if (field.value.is_null()) {
        data.reset();
        continue;
      }
      simdjson::dom::object members;
      if (field.value.get_object().get(members)) return fail(LegacyError::kWrongType);
      data = members;
    }
  }
  state_->data_json.clear();
  if (data) {
    state_->data_json = simdjson::minify(*data);
    for (simdjson::dom::key_value_pair member : *data) {
      std::string_view topic;
      if (key_is(member.key, "topic") && !member.value.get_string().get(topic) &&
          is_valid_utf8(topic)) {
        payload.topic = topic;
      }
    }
  }
  payload.data_json = state_->data_json;
  return payload;
}

// ---------------------------------------------------------------------------------------------
// LineReader.

LineReader::LineReader(size_t max_line_size) noexcept : max_line_size_(max_line_size) {}

void LineReader::feed(std::span<const uint8_t> chunk) noexcept {
  assert(chunk_.empty() && "feed() before the previous chunk was used up");
  chunk_ = chunk;
}

Result<std::string_view, LegacyError> LineReader::next() {
  if (failed_) return fail(LegacyError::kTooLarge);
  const auto* data = reinterpret_cast<const char*>(chunk_.data());
  const void* newline =
      chunk_.empty() ? nullptr : std::memchr(data, kLegacyDelimiter, chunk_.size());
  const size_t available =
      newline ? static_cast<size_t>(static_cast<const char*>(newline) - data) : chunk_.size();
  // A line may be up to max_line_size bytes long, not counting its '\n'.
  if (buffered_ + available > max_line_size_) {
    failed_ = true;
    chunk_ = {};
    return fail(LegacyError::kTooLarge);
  }
  if (newline && buffered_ == 0) {  // the whole line is in this chunk
    chunk_ = chunk_.subspan(available + 1);
    return std::string_view(data, available);
  }
  if (buffered_ + available > capacity_) {
    // Geometric growth, capped by the limit (which buffered_ + available respects here).
    const size_t capacity =
        std::min(std::bit_ceil(std::max(buffered_ + available, size_t{256})), max_line_size_);
    auto grown = std::make_unique_for_overwrite<char[]>(capacity);
    if (buffered_ != 0) std::memcpy(grown.get(), buffer_.get(), buffered_);
    buffer_ = std::move(grown);
    capacity_ = capacity;
  }
  if (available != 0) std::memcpy(buffer_.get() + buffered_, data, available);
  buffered_ += available;
  if (!newline) {
    chunk_ = {};
    return fail(LegacyError::kNeedMore);
  }
  chunk_ = chunk_.subspan(available + 1);
  const std::string_view line(buffer_.get(), buffered_);
  buffered_ = 0;  // the view stays valid until the next call
  return line;
}

Result<void, LegacyError> LineReader::finish() const noexcept {
  if (failed_) return fail(LegacyError::kTooLarge);
  if (buffered_ != 0 || !chunk_.empty()) return fail(LegacyError::kTruncated);
  return {};
}

}  // namespace qsse::wire

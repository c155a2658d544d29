// wire/legacy.hpp — the Go library's wire format (ALPN "PROTOCOL_QUIC"), for interoperability
// with github.com/snapp-incubator/qsse clients and servers. Spec: docs/PROTOCOL.md §7.
//
//   client -> server, one unidirectional stream:  {"token":"...","topics":["a","b"]}\n
//   server -> client, one unidirectional stream:  {"topic":"a","data":"<base64>"}\n  (per event)
//   errors: events on topic "error" whose data is base64 of {"code":N,"data":{"topic":"a"}}
//
// Every message is one line of JSON terminated by '\n' (JSON never contains a raw newline, so
// the split is unambiguous). LineReader reassembles lines from stream chunks; LegacyDecoder
// parses them (simdjson, full validation of syntax and UTF-8); the encode_* functions write
// byte-for-byte what Go's encoding/json writes for the same values (struct field order,
// `omitempty`, HTML-safe escaping of <, >, &, U+2028, U+2029), into caller-provided buffers.
//
// Acceptance follows Go's json.Unmarshal into the Go library's structs: fields in any order,
// unknown fields ignored, a field given twice keeps the last value, `null` as the whole document
// leaves everything empty, `null` for "data" or "topics" empties it (Go sets a slice or map to
// nil) and for a string or number leaves it as it was, keys match ASCII case-insensitively
// ("Topic" == "topic").
// Stricter than Go, deliberately: invalid UTF-8 is rejected (Go would substitute U+FFFD; Go never
// emits it), base64 must be canonical padded standard encoding with no embedded newlines (what Go
// emits), and nesting deeper than kMaxJsonDepth is rejected.
//
// Thread safety: encode_* functions are pure. A LegacyDecoder or LineReader is used by one thread
// at a time; the engine keeps one LegacyDecoder per shard (it holds parser scratch memory sized
// for the longest line seen) and one LineReader per stream.
#pragma once

#include <qsse/error.hpp>
#include <qsse/result.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "wire/frame.hpp"

namespace qsse::wire {

inline constexpr char kLegacyDelimiter = '\n';
inline constexpr std::string_view kLegacyErrorTopic = "error";
// Default bound on one line (the Go library has none; we need one).
inline constexpr size_t kDefaultMaxLineSize = 1024 * 1024;
// Deepest JSON nesting accepted, counting the outermost object or array as level 1: 64 nested
// arrays are accepted, 65 refused (only unknown fields can nest at all).
inline constexpr size_t kMaxJsonDepth = 64;

enum class LegacyError : uint8_t {
  kNeedMore,       // LineReader: no complete line yet; feed more
  kTooLarge,       // a line is longer than the configured maximum
  kInvalidJson,    // not JSON: syntax error, invalid UTF-8, trailing garbage, too deep
  kWrongType,      // valid JSON, but a known field (or the document) has the wrong JSON type
  kInvalidBase64,  // "data" is not canonical standard base64
  kTruncated,      // LineReader::finish(): the stream ended inside a line
};

std::string_view to_string(LegacyError error) noexcept;

// The error code to close the connection with: kFrameTooLarge for kTooLarge, otherwise
// kProtocolViolation.
constexpr ErrorCode to_error_code(LegacyError error) noexcept {
  return error == LegacyError::kTooLarge ? ErrorCode::kFrameTooLarge
                                         : ErrorCode::kProtocolViolation;
}

// A client's offer. Views point into the decoder; valid until its next decode_* call.
struct LegacyOffer {
  std::string_view token;
  std::span<const std::string_view> topics;
};

// One event. topic and data point into the decoder; valid until its next decode_* call (the
// data stays valid across one decode_error_payload() call, so that an error event's data can
// be passed to it).
struct LegacyEvent {
  std::string_view topic;
  std::span<const uint8_t> data;
};

// The payload of an event on topic "error": {"code":N,"data":{...}}.
struct LegacyErrorPayload {
  int64_t code = 0;            // the Go library's codes are qsse::ErrorCode 1-5
  std::string_view topic;      // data.topic when it is a string, else empty
  std::string_view data_json;  // data re-serialized (minified), or empty when absent/null
};

// Parses legacy lines. Holds a simdjson parser, a padded copy of the current line and the
// decoded base64 bytes; all grow on demand up to what max_line_size needs and are reused, so
// steady-state decoding allocates nothing (decode_error_payload's data_json may allocate).
class LegacyDecoder {
 public:
  explicit LegacyDecoder(size_t max_line_size = kDefaultMaxLineSize);
  ~LegacyDecoder();
  LegacyDecoder(LegacyDecoder&&) noexcept;
  LegacyDecoder& operator=(LegacyDecoder&&) noexcept;

  // `line` is one message without its '\n' (a trailing '\r' is JSON whitespace and accepted).
  // Errors: kTooLarge, kInvalidJson, kWrongType, kInvalidBase64 (events only).
  // May throw std::bad_alloc when scratch memory grows.
  Result<LegacyEvent, LegacyError> decode_event(std::string_view line);
  Result<LegacyOffer, LegacyError> decode_offer(std::string_view line);
  // `json` is the data of an event on topic "error". Errors: kTooLarge, kInvalidJson,
  // kWrongType. The Go client reports undecodable error payloads as code 5 (kUnknown).
  Result<LegacyErrorPayload, LegacyError> decode_error_payload(std::span<const uint8_t> json);

  size_t max_line_size() const noexcept { return max_line_size_; }

 private:
  struct State;  // simdjson parser and document, scratch buffers (legacy.cpp)
  size_t max_line_size_;
  std::unique_ptr<State> state_;
};

// Splits a stream into '\n'-terminated lines. Same contract as FrameReader: lines wholly inside
// the current chunk are views into it; a line that straddles chunks is copied once into the
// reader's buffer, which never holds more than max_line_size bytes.
class LineReader {
 public:
  explicit LineReader(size_t max_line_size = kDefaultMaxLineSize) noexcept;

  // Precondition: the previous chunk is used up (next() returned kNeedMore or an error).
  void feed(std::span<const uint8_t> chunk) noexcept;
  // The next line, without its '\n'. Errors: kNeedMore; kTooLarge (sticky) when more than
  // max_line_size bytes arrive without a '\n'. May throw std::bad_alloc.
  Result<std::string_view, LegacyError> next();
  // At FIN: kTruncated if a partial line is buffered (Go's reader fails the same way).
  Result<void, LegacyError> finish() const noexcept;
  size_t buffered() const noexcept { return buffered_; }

 private:
  size_t max_line_size_;
  std::span<const uint8_t> chunk_;
  std::unique_ptr<char[]> buffer_;
  size_t capacity_ = 0;
  size_t buffered_ = 0;
  bool failed_ = false;
};

// --- Encoders. Exact sizes; output is what Go's json.Marshal + '\n' produces. ---

// Bytes of `text` as a JSON string literal (quotes included), Go's HTML-safe escaping.
// Precondition: text is valid UTF-8.
size_t json_string_size(std::string_view text) noexcept;
// Writes that literal at `out` (json_string_size(text) bytes) and returns the end pointer.
char* write_json_string(char* out, std::string_view text) noexcept;

// The largest payload an event line carries: 3 GiB - 3 bytes, whose base64 (4 GiB - 4 bytes)
// is the most that fits wolfSSL's 32-bit sizes.
inline constexpr size_t kMaxLegacyData = size_t{UINT32_MAX} / 4 * 3;

// An event line {"topic":..,"data":..}\n; an empty topic or data is omitted, as Go does.
// Like the native EVENT, encode it once and send the same bytes to every legacy subscriber.
// Errors: kInvalidText (topic not UTF-8), kValueOutOfRange (data over kMaxLegacyData),
// kBufferTooSmall.
size_t legacy_event_size(std::string_view topic, size_t data_size) noexcept;
Result<size_t, EncodeError> encode_legacy_event(std::span<uint8_t> out, std::string_view topic,
                                                std::span<const uint8_t> data) noexcept;

// An offer line {"token":..,"topics":[..]}\n; an empty token or topic list is omitted.
// Errors: kInvalidText, kBufferTooSmall.
size_t legacy_offer_size(std::string_view token, std::span<const std::string_view> topics) noexcept;
Result<size_t, EncodeError> encode_legacy_offer(std::span<uint8_t> out, std::string_view token,
                                                std::span<const std::string_view> topics) noexcept;

// An error event: topic "error", data = base64 of {"code":N,"data":{"topic":..}} (the data
// member omitted when topic is empty), exactly as the Go server sends it.
// Errors: kInvalidText, kValueOutOfRange (code > 2^63 - 1), kBufferTooSmall. Errors are rare,
// so this one builds the inner JSON in a temporary string (may throw std::bad_alloc).
size_t legacy_error_size(ErrorCode code, std::string_view topic) noexcept;
Result<size_t, EncodeError> encode_legacy_error(std::span<uint8_t> out, ErrorCode code,
                                                std::string_view topic);

// Bytes of canonical standard base64 (RFC 4648 §4, padded) as Go's encoding/json uses for
// []byte. Precondition: data_size < SIZE_MAX - 1.
constexpr size_t base64_size(size_t data_size) noexcept {
  return (data_size + 2) / 3 * 4;
}

}  // namespace qsse::wire

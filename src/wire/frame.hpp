// wire/frame.hpp — the native qsse/1 frame codec: pure decode and encode, no state.
//
// The format is specified in docs/PROTOCOL.md; this header is its C++ face. In short, every
// frame is
//
//   type (varint) | length (varint) | body (length bytes)
//
// with QUIC varints (wire/varint.hpp, minimal encodings only), strings as varint length + bytes,
// and lists as varint count + elements.
//
// Decoding
//   decode(bytes, max_frame_size) parses the frame at the start of `bytes`. On success the Frame
//   holds views (std::string_view / std::span) into `bytes` and the number of bytes it took;
//   nothing is copied and nothing is allocated. The caller keeps `bytes` alive and unchanged for
//   as long as it uses the Frame. The frame's total size is checked against max_frame_size as
//   soon as its header is readable, before the body has arrived: an oversized frame is refused
//   before anyone buffers it.
//
// Encoding
//   For every frame kind there is `encoded_size(params)` (exact size in bytes) and
//   `encode(out, params)`, which writes into caller-provided memory and returns the number of
//   bytes written. Encoders never allocate, validate their input (so they cannot produce a frame
//   that decode() rejects, except for exceeding a max_frame_size they are not told) and never
//   write past out.size(). EVENT has extra entry points so the
//   engine can encode an event once and hand the same bytes to every subscriber, or write only
//   the header and point an iovec at the caller's payload.
//
// Thread safety: every function here is pure and may be called from any thread.
#pragma once

#include <qsse/error.hpp>
#include <qsse/result.hpp>

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <span>
#include <string_view>
#include <variant>

namespace qsse::wire {

// ---------------------------------------------------------------------------------------------
// Protocol constants (docs/PROTOCOL.md §1, §3).

// The native protocol's ALPN and version; the legacy Go format's ALPN.
inline constexpr std::string_view kAlpn = "qsse/1";
inline constexpr std::string_view kLegacyAlpn = "PROTOCOL_QUIC";
inline constexpr uint64_t kProtocolVersion = 1;

// Every endpoint accepts frames of at least this total size (header + body); a max_frame_size
// below it in HELLO or WELCOME is malformed. A HELLO no larger than this is always accepted.
inline constexpr size_t kMinMaxFrameSize = 16 * 1024;
// The limit an endpoint applies when it has no better idea (before the peer's HELLO/WELCOME).
inline constexpr size_t kDefaultMaxFrameSize = 64 * 1024;
// type varint + length varint: the longest frame header.
inline constexpr size_t kMaxFrameHeaderSize = 16;

// Event lanes (docs/PROTOCOL.md §4.3): the server maps each topic to one of `lane_count`
// server-initiated unidirectional streams. A client grants at least kMaxEventLanes + 2 such
// streams (initial_max_streams_uni) so the server never waits for stream credit.
inline constexpr uint32_t kDefaultEventLanes = 8;
inline constexpr uint32_t kMaxEventLanes = 16;

// The lane a topic's EVENT and GAP frames travel on: FNV-1a (64 bit) of the topic's bytes,
// modulo lane_count. Stable across versions and implementations, so tests and tools can
// predict it. Precondition: 1 <= lane_count <= kMaxEventLanes.
constexpr uint32_t lane_for_topic(std::string_view topic, uint32_t lane_count) noexcept {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (char c : topic) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return static_cast<uint32_t>(hash % lane_count);
}

// Frame type codes. Types not listed here are skipped by receivers (decoded as UnknownFrame).
enum class FrameType : uint64_t {
  kHello = 0x01,        // client -> server, control stream, first frame
  kWelcome = 0x02,      // server -> client, control stream, answer to HELLO
  kError = 0x03,        // server -> client, control stream
  kEvent = 0x04,        // server -> client, event lanes
  kSubscribe = 0x05,    // client -> server, control stream, after WELCOME
  kUnsubscribe = 0x06,  // client -> server, control stream, after WELCOME
  kGoAway = 0x07,       // server -> client, control stream
  kGap = 0x08,          // server -> client, event lanes
};

// "hello", "event", ... ; "unknown" for other values.
std::string_view to_string(FrameType type) noexcept;

// ---------------------------------------------------------------------------------------------
// Errors.

enum class DecodeError : uint8_t {
  // The input ends before the frame does. Not a failure of the input: feed more bytes (see
  // FrameReader). Only when the stream ends here is it an error (a truncated frame).
  kNeedMore,
  // The frame's total size exceeds max_frame_size. Detected from the header alone.
  kTooLarge,
  // A varint uses more bytes than its value needs.
  kNonMinimalVarint,
  // The body does not have the layout of its type: a field runs past the body, bytes remain
  // after the last field, a count is larger than the body could hold, or a field has a value
  // the spec forbids (empty EVENT topic, event id 0, fatal flag not 0/1, GAP with
  // first_id > last_id, max_frame_size below kMinMaxFrameSize).
  kMalformed,
  // A text field (topic, pattern, message) is not well-formed UTF-8.
  kInvalidUtf8,
  // A stream ended in the middle of a frame (FrameReader::finish()).
  kTruncated,
};

// "need_more", "too_large", ... for logs and metric labels.
std::string_view to_string(DecodeError error) noexcept;

// The error code a receiver sends (ERROR frame / CONNECTION_CLOSE) for a decode failure:
// kFrameTooLarge for kTooLarge, kProtocolViolation for everything else.
constexpr ErrorCode to_error_code(DecodeError error) noexcept {
  return error == DecodeError::kTooLarge ? ErrorCode::kFrameTooLarge
                                         : ErrorCode::kProtocolViolation;
}

enum class EncodeError : uint8_t {
  // out.size() is smaller than encoded_size(...) for these parameters. Nothing useful was
  // written; retry with a buffer of encoded_size(...) bytes.
  kBufferTooSmall,
  // A number does not fit a varint (> kVarintMax), or breaks a rule of its field (event id 0,
  // GAP first_id > last_id, max_frame_size below kMinMaxFrameSize).
  kValueOutOfRange,
  // A text field is not well-formed UTF-8, or a topic that must not be empty is.
  kInvalidText,
};

std::string_view to_string(EncodeError error) noexcept;

// ---------------------------------------------------------------------------------------------
// Lists inside decoded frames. They are views over the encoded list, validated by decode(), so
// walking them cannot fail and allocates nothing. They live as long as the decoded input.

// A list of strings: varint count, then count x (varint length + bytes).
class StringList {
 public:
  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = std::string_view;
    using difference_type = std::ptrdiff_t;
    using pointer = const std::string_view*;
    using reference = std::string_view;

    Iterator() = default;
    std::string_view operator*() const noexcept { return current_; }
    Iterator& operator++() noexcept;
    Iterator operator++(int) noexcept {
      Iterator copy = *this;
      ++*this;
      return copy;
    }
    friend bool operator==(const Iterator& a, const Iterator& b) noexcept {
      return a.remaining_ == b.remaining_;
    }

   private:
    friend class StringList;
    Iterator(const uint8_t* next, size_t remaining) noexcept;
    const uint8_t* next_ = nullptr;  // the element after current_
    size_t remaining_ = 0;           // elements left, including current_
    std::string_view current_;
  };

  StringList() = default;
  size_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }
  Iterator begin() const noexcept { return Iterator(elements_.data(), count_); }
  Iterator end() const noexcept { return Iterator(); }
  // The encoded elements (after the count), for callers that forward the list unchanged.
  std::span<const uint8_t> encoded_elements() const noexcept { return elements_; }

 private:
  friend struct Decoder;
  size_t count_ = 0;
  std::span<const uint8_t> elements_;
};

// One resume position: "I have seen every event on `topic` up to and including `last_id`".
// last_id 0 means "I have seen none; send what history you have".
struct ResumePosition {
  std::string_view topic;
  uint64_t last_id = 0;
  friend bool operator==(const ResumePosition&, const ResumePosition&) = default;
};

// A list of resume positions: varint count, then count x (string topic, varint last_id).
class ResumeList {
 public:
  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = ResumePosition;
    using difference_type = std::ptrdiff_t;
    using pointer = const ResumePosition*;
    using reference = const ResumePosition&;

    Iterator() = default;
    const ResumePosition& operator*() const noexcept { return current_; }
    const ResumePosition* operator->() const noexcept { return &current_; }
    Iterator& operator++() noexcept;
    Iterator operator++(int) noexcept {
      Iterator copy = *this;
      ++*this;
      return copy;
    }
    friend bool operator==(const Iterator& a, const Iterator& b) noexcept {
      return a.remaining_ == b.remaining_;
    }

   private:
    friend class ResumeList;
    Iterator(const uint8_t* next, size_t remaining) noexcept;
    const uint8_t* next_ = nullptr;
    size_t remaining_ = 0;
    ResumePosition current_;
  };

  ResumeList() = default;
  size_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }
  Iterator begin() const noexcept { return Iterator(elements_.data(), count_); }
  Iterator end() const noexcept { return Iterator(); }
  std::span<const uint8_t> encoded_elements() const noexcept { return elements_; }

 private:
  friend struct Decoder;
  size_t count_ = 0;
  std::span<const uint8_t> elements_;
};

// ---------------------------------------------------------------------------------------------
// Frames. The *Frame structs are what decode() yields (views into the input). Those without
// lists double as encoder parameters; HELLO, SUBSCRIBE and UNSUBSCRIBE take *Params structs
// whose lists are spans of the caller's values.

// HELLO: the client's first frame on the control stream.
struct HelloFrame {
  uint64_t version = kProtocolVersion;  // protocol version the client speaks
  uint64_t max_frame_size = 0;          // largest frame the client accepts (>= kMin...)
  std::string_view token;               // opaque credential (may be empty, any bytes)
  StringList patterns;                  // topic patterns to subscribe to (docs/TOPICS.md)
  uint64_t resume_epoch = 0;            // server epoch of `resume` ids; 0: no resume
  ResumeList resume;                    // last seen id per topic
};
struct HelloParams {
  uint64_t version = kProtocolVersion;
  uint64_t max_frame_size = kDefaultMaxFrameSize;
  std::string_view token;
  std::span<const std::string_view> patterns;
  uint64_t resume_epoch = 0;
  std::span<const ResumePosition> resume;
};

// WELCOME: the server accepts the connection and states its limits.
struct WelcomeFrame {
  uint64_t version = kProtocolVersion;             // the version the server selected
  uint64_t server_epoch = 0;                       // identifies this server instance's event ids
  uint64_t max_frame_size = kDefaultMaxFrameSize;  // largest frame the server accepts
  uint64_t history_window = 0;  // events kept per topic for resume (0: no resume)
  uint64_t max_patterns = 0;    // patterns one connection may hold (0: no limit)
  friend bool operator==(const WelcomeFrame&, const WelcomeFrame&) = default;
};

// ERROR: something went wrong, for the connection (topic empty) or for one topic/pattern.
struct ErrorFrame {
  ErrorCode code = ErrorCode::kUnknown;
  bool fatal = false;        // the server closes the connection after sending it
  std::string_view topic;    // the topic/pattern concerned, or empty
  std::string_view message;  // human-readable detail, may be empty
  friend bool operator==(const ErrorFrame&, const ErrorFrame&) = default;
};

// EVENT: one published event. data is everything after the id (no inner length).
struct EventFrame {
  std::string_view topic;         // never empty
  uint64_t id = 0;                // >= 1, increasing per topic within one server epoch
  std::span<const uint8_t> data;  // opaque payload, may be empty
};

// SUBSCRIBE / UNSUBSCRIBE: change the subscription without reconnecting.
struct SubscribeFrame {
  StringList patterns;
  ResumeList resume;
};
struct SubscribeParams {
  std::span<const std::string_view> patterns;
  std::span<const ResumePosition> resume;
};
struct UnsubscribeFrame {
  StringList patterns;
};
struct UnsubscribeParams {
  std::span<const std::string_view> patterns;
};

// GOAWAY: the server is draining; reconnect (possibly elsewhere) after retry_after_ms.
struct GoAwayFrame {
  ErrorCode code = ErrorCode::kNoError;
  uint64_t retry_after_ms = 0;
  std::string_view message;
  friend bool operator==(const GoAwayFrame&, const GoAwayFrame&) = default;
};

// GAP: events first_id..last_id (inclusive) of `topic` will never arrive on this connection.
struct GapFrame {
  std::string_view topic;  // never empty
  uint64_t first_id = 0;   // >= 1
  uint64_t last_id = 0;    // >= first_id
  ErrorCode reason = ErrorCode::kSlowConsumer;
  friend bool operator==(const GapFrame&, const GapFrame&) = default;
};

// A frame of a type this version does not know. Receivers ignore it (forward compatibility);
// its size still counts against max_frame_size.
struct UnknownFrame {
  uint64_t type = 0;
  std::span<const uint8_t> body;
};

struct Frame {
  uint64_t type = 0;  // the raw type code (FrameType for known types)
  size_t size = 0;    // bytes the frame occupies in the input, header included
  // The whole encoded frame (header and body) in the input; size == encoded.size(). Lets a
  // receiver forward or store a frame unchanged.
  std::span<const uint8_t> encoded;
  std::variant<HelloFrame, WelcomeFrame, ErrorFrame, EventFrame, SubscribeFrame, UnsubscribeFrame,
               GoAwayFrame, GapFrame, UnknownFrame>
      body;

  // The body as T, or nullptr if the frame is another kind.
  template <class T>
  const T* get_if() const noexcept {
    return std::get_if<T>(&body);
  }
};

// ---------------------------------------------------------------------------------------------
// Decoding.

struct FrameHeader {
  uint64_t type = 0;
  uint64_t body_size = 0;
  size_t header_size = 0;  // bytes of the two varints
  size_t frame_size() const noexcept { return header_size + static_cast<size_t>(body_size); }
};

// Reads the header of the frame at the start of `in` and checks its total size against
// `max_frame_size`. Does not require the body to be present.
// Errors: kNeedMore (header incomplete), kNonMinimalVarint, kTooLarge.
Result<FrameHeader, DecodeError> decode_header(std::span<const uint8_t> in,
                                               size_t max_frame_size) noexcept;

// Decodes the frame at the start of `in`; trailing bytes (further frames) are left alone.
// Errors, in order of detection: kNeedMore (header incomplete), kNonMinimalVarint (header),
// kTooLarge, kNeedMore (body incomplete), then for known types kMalformed, kNonMinimalVarint or
// kInvalidUtf8 from the body. Unknown types succeed as UnknownFrame whatever their body holds.
Result<Frame, DecodeError> decode(std::span<const uint8_t> in,
                                  size_t max_frame_size = kDefaultMaxFrameSize) noexcept;

// ---------------------------------------------------------------------------------------------
// Encoding. encoded_size(p) is exact for valid parameters; encode(out, p) returns the bytes
// written (== encoded_size(p)) or an EncodeError, in this order: kValueOutOfRange /
// kInvalidText for bad parameters, then kBufferTooSmall.
// Encoders do not know the peer's max_frame_size: compare encoded_size() with it yourself.

size_t encoded_size(const HelloParams& hello) noexcept;
size_t encoded_size(const WelcomeFrame& welcome) noexcept;
size_t encoded_size(const ErrorFrame& error) noexcept;
size_t encoded_size(const EventFrame& event) noexcept;
size_t encoded_size(const SubscribeParams& subscribe) noexcept;
size_t encoded_size(const UnsubscribeParams& unsubscribe) noexcept;
size_t encoded_size(const GoAwayFrame& go_away) noexcept;
size_t encoded_size(const GapFrame& gap) noexcept;

Result<size_t, EncodeError> encode(std::span<uint8_t> out, const HelloParams& hello) noexcept;
Result<size_t, EncodeError> encode(std::span<uint8_t> out, const WelcomeFrame& welcome) noexcept;
Result<size_t, EncodeError> encode(std::span<uint8_t> out, const ErrorFrame& error) noexcept;
Result<size_t, EncodeError> encode(std::span<uint8_t> out, const EventFrame& event) noexcept;
Result<size_t, EncodeError> encode(std::span<uint8_t> out,
                                   const SubscribeParams& subscribe) noexcept;
Result<size_t, EncodeError> encode(std::span<uint8_t> out,
                                   const UnsubscribeParams& unsubscribe) noexcept;
Result<size_t, EncodeError> encode(std::span<uint8_t> out, const GoAwayFrame& go_away) noexcept;
Result<size_t, EncodeError> encode(std::span<uint8_t> out, const GapFrame& gap) noexcept;

// --- EVENT, the hot path. ---
// Publishing encodes each event once: size it with event_size(), allocate one immutable buffer,
// encode_event() into it, and queue the same bytes to every subscriber (they are identical for
// all of them: nothing per-connection is in an EVENT frame). When the payload already lives in
// a buffer of its own, encode_event_header() writes everything but the payload, and the frame is
// the two pieces back to back (e.g. two iovecs).

// Size of the whole EVENT frame / of everything before the payload.
size_t event_size(size_t topic_size, uint64_t id, size_t data_size) noexcept;
size_t event_header_size(size_t topic_size, uint64_t id, size_t data_size) noexcept;

// Writes the whole frame. Errors: kInvalidText (empty topic / bad UTF-8), kValueOutOfRange
// (id 0 or > kVarintMax), kBufferTooSmall.
Result<size_t, EncodeError> encode_event(std::span<uint8_t> out, std::string_view topic,
                                         uint64_t id, std::span<const uint8_t> data) noexcept;
// Writes the frame up to (not including) the payload of data_size bytes; same errors.
Result<size_t, EncodeError> encode_event_header(std::span<uint8_t> out, std::string_view topic,
                                                uint64_t id, size_t data_size) noexcept;

}  // namespace qsse::wire

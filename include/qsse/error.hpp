// qsse/error.hpp — the protocol error codes, shared by the native and the legacy wire format.
//
// One number space is used everywhere an error crosses the wire:
//   * the `code` field of a native ERROR or GAP frame and of a GOAWAY frame;
//   * the QUIC application error code of CONNECTION_CLOSE (e.g. 1 when authentication fails);
//   * the `code` member of a legacy error event (`{"code":N,"data":{...}}` on topic "error").
//
// Codes 1-5 are the Go library's (github.com/snapp-incubator/qsse) and keep its numbers, so a
// Go client's error handler sees the values it knows. Codes from 16 up are qsse's own; 6-15 are
// reserved so that the Go numbering can never collide with ours. docs/PROTOCOL.md §6 holds the
// same table with the exact circumstances in which each code is sent.
//
// A peer may receive a code it does not know (a newer version added one): it must treat it like
// kUnknown, keeping the number for logs. Hence ErrorCode is an open enum: any uint64_t value
// may be stored in it, and to_string() has an answer for all of them.
//
// Thread safety: plain values and pure functions; call from any thread.
#pragma once

#include <cstdint>
#include <string_view>

namespace qsse {

enum class ErrorCode : uint64_t {
  // Not an error: a graceful CONNECTION_CLOSE or a GOAWAY for planned maintenance.
  kNoError = 0,

  // --- The Go library's codes (same numbers, same meaning). ---
  // Authentication failed (connection-level: the connection is closed with this code), or the
  // client is not authorized for one topic (topic-level ERROR naming the topic).
  kNotAuthorized = 1,
  // The requested topic/pattern does not exist on this server or is not valid (topic-level).
  kTopicNotAvailable = 2,
  // A stream could not be opened (e.g. the peer's stream limit is exhausted).
  kFailedToCreateStream = 3,
  // The client could not send its offer/HELLO (reported locally by clients; kept for parity).
  kFailedToSendOffer = 4,
  // Anything else; also what a receiver maps unknown codes to.
  kUnknown = 5,

  // --- qsse's own codes (6-15 reserved). ---
  // The peer broke the protocol: malformed frame, non-minimal varint, invalid UTF-8 in a text
  // field, a frame on the wrong stream or in the wrong state, HELLO twice, bad JSON in legacy
  // mode. Always fatal.
  kProtocolViolation = 16,
  // A frame (or legacy line) is longer than the receiver's announced maximum. Always fatal.
  kFrameTooLarge = 17,
  // The subscriber did not keep up; events were dropped (GAP) or the connection is closed,
  // depending on the server's slow-consumer policy.
  kSlowConsumer = 18,
  // A configured limit was hit: too many patterns, too many connections, too many resume
  // positions. Topic-level (the one request is refused) or fatal (connection-level limits).
  kLimitExceeded = 19,
  // HELLO asked for a protocol version the server does not speak. Fatal.
  kUnsupportedVersion = 20,
  // A resume position is older than the server's history window, or from another server epoch:
  // the events in between are lost (sent in a GAP frame, never fatal).
  kHistoryUnavailable = 21,
  // An event was larger than the client's announced max_frame_size and was skipped (GAP).
  kEventTooLarge = 22,
  // The server failed internally (allocation failure, invariant broken). Fatal.
  kInternalError = 23,
  // The server is shutting down (GOAWAY, then CONNECTION_CLOSE with this code).
  kServerShutdown = 24,
};

// The largest code this version defines. Codes above it are valid on the wire (see above).
inline constexpr ErrorCode kLastErrorCode = ErrorCode::kServerShutdown;

// True if `code` is one this version of qsse defines (everything else reads as kUnknown).
constexpr bool is_known(ErrorCode code) noexcept {
  const auto v = static_cast<uint64_t>(code);
  return v <= 5 || (v >= 16 && v <= static_cast<uint64_t>(kLastErrorCode));
}

// A stable snake_case name for logs and metrics labels ("not_authorized", "frame_too_large").
// Unknown values give "unknown_code". The returned view points to static storage.
constexpr std::string_view to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kNoError:
      return "no_error";
    case ErrorCode::kNotAuthorized:
      return "not_authorized";
    case ErrorCode::kTopicNotAvailable:
      return "topic_not_available";
    case ErrorCode::kFailedToCreateStream:
      return "failed_to_create_stream";
    case ErrorCode::kFailedToSendOffer:
      return "failed_to_send_offer";
    case ErrorCode::kUnknown:
      return "unknown";
    case ErrorCode::kProtocolViolation:
      return "protocol_violation";
    case ErrorCode::kFrameTooLarge:
      return "frame_too_large";
    case ErrorCode::kSlowConsumer:
      return "slow_consumer";
    case ErrorCode::kLimitExceeded:
      return "limit_exceeded";
    case ErrorCode::kUnsupportedVersion:
      return "unsupported_version";
    case ErrorCode::kHistoryUnavailable:
      return "history_unavailable";
    case ErrorCode::kEventTooLarge:
      return "event_too_large";
    case ErrorCode::kInternalError:
      return "internal_error";
    case ErrorCode::kServerShutdown:
      return "server_shutdown";
  }
  return "unknown_code";
}

// Codes that always end the connection when sent in an ERROR frame (the `fatal` flag must be
// set for them). Other codes are fatal or not as the sender says.
constexpr bool is_always_fatal(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kProtocolViolation:
    case ErrorCode::kFrameTooLarge:
    case ErrorCode::kUnsupportedVersion:
    case ErrorCode::kInternalError:
      return true;
    default:
      return false;
  }
}

}  // namespace qsse

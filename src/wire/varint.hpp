// wire/varint.hpp — QUIC variable-length integers (RFC 9000 §16), as used by qsse framing.
//
// Encoding: the two most significant bits of the first byte give the length (00 -> 1 byte,
// 01 -> 2, 10 -> 4, 11 -> 8); the remaining 6/14/30/62 bits hold the value in network byte
// order. Values range over [0, 2^62 - 1].
//
// qsse framing accepts only the *minimal* encoding of each value (RFC 9000 allows longer ones
// for QUIC itself; docs/PROTOCOL.md §2.1 says why we don't): read_varint() reports a longer
// encoding as VarintStatus::kNonMinimal. That makes every frame's encoding unique, so
// decode -> encode reproduces the input bytes exactly.
//
// Everything here is header-only, constexpr-friendly, allocation-free and thread-agnostic.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qsse::wire {

// The largest value a varint can hold: 2^62 - 1.
inline constexpr uint64_t kVarintMax = (uint64_t{1} << 62) - 1;
// The longest varint encoding.
inline constexpr size_t kVarintMaxSize = 8;

// Number of bytes the minimal encoding of `value` takes: 1, 2, 4 or 8.
// Precondition: value <= kVarintMax (larger values report 8, but cannot be encoded).
constexpr size_t varint_size(uint64_t value) noexcept {
  if (value < (uint64_t{1} << 6)) return 1;
  if (value < (uint64_t{1} << 14)) return 2;
  if (value < (uint64_t{1} << 30)) return 4;
  return 8;
}

// Length of the varint whose first byte is `first`, from its two-bit prefix.
constexpr size_t varint_length(uint8_t first) noexcept {
  return size_t{1} << (first >> 6);
}

// Writes the minimal encoding of `value` at `out` and returns the pointer past it.
// Preconditions: value <= kVarintMax; `out` has room for varint_size(value) bytes.
inline uint8_t* write_varint(uint8_t* out, uint64_t value) noexcept {
  switch (varint_size(value)) {
    case 1:
      out[0] = static_cast<uint8_t>(value);
      return out + 1;
    case 2:
      out[0] = static_cast<uint8_t>(0x40 | (value >> 8));
      out[1] = static_cast<uint8_t>(value);
      return out + 2;
    case 4:
      out[0] = static_cast<uint8_t>(0x80 | (value >> 24));
      out[1] = static_cast<uint8_t>(value >> 16);
      out[2] = static_cast<uint8_t>(value >> 8);
      out[3] = static_cast<uint8_t>(value);
      return out + 4;
    default:
      out[0] = static_cast<uint8_t>(0xc0 | (value >> 56));
      for (int i = 1; i < 8; ++i) out[i] = static_cast<uint8_t>(value >> (8 * (7 - i)));
      return out + 8;
  }
}

enum class VarintStatus : uint8_t {
  kOk,
  kNeedMore,    // the input ends inside the varint
  kNonMinimal,  // a shorter encoding of the same value exists
};

// Reads one varint from [*pos, end). On kOk stores the value in *value and advances *pos past
// it; otherwise leaves *pos and *value untouched. Never reads outside [*pos, end).
inline VarintStatus read_varint(const uint8_t** pos, const uint8_t* end, uint64_t* value) noexcept {
  const uint8_t* p = *pos;
  if (p == end) return VarintStatus::kNeedMore;
  const size_t len = varint_length(p[0]);
  if (static_cast<size_t>(end - p) < len) return VarintStatus::kNeedMore;
  uint64_t v = p[0] & 0x3f;
  for (size_t i = 1; i < len; ++i) v = (v << 8) | p[i];
  // Minimal means: the value would not fit in the next shorter length.
  if (len > 1 && varint_size(v) != len) return VarintStatus::kNonMinimal;
  *value = v;
  *pos = p + len;
  return VarintStatus::kOk;
}

}  // namespace qsse::wire

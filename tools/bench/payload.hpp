// tools/bench/payload.hpp — the layout of a benchmark event's payload, identical for qsse and
// NATS:
//
//   bytes 0-7   send time, CLOCK_MONOTONIC ns, little-endian (fixed-rate runs: the time the event
//               was due, so that a publisher held up by back-pressure shows as latency)
//   bytes 8-15  sequence: publisher index << 48 | n, where n counts 1, 2, 3, ... the events
//               that publisher published on that topic
//   bytes 16-   filler
//
// qsse subscribers check the per-topic event ids of the EVENT frames; NATS has no ids, so its
// subscribers check the sequence per (topic, publisher) instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace qsse::bench {

inline constexpr size_t kMinPayload = 16;
inline constexpr unsigned kPublisherShift = 48;

inline void write_payload_header(std::span<uint8_t> payload, uint64_t sent_ns, uint64_t sequence) {
  std::memcpy(payload.data(), &sent_ns, 8);
  std::memcpy(payload.data() + 8, &sequence, 8);
}

inline void fill_payload(std::span<uint8_t> payload) {
  for (size_t i = kMinPayload; i < payload.size(); ++i)
    payload[i] = static_cast<uint8_t>('a' + i % 26);
}

// 0 when the payload is too short to carry a timestamp.
inline uint64_t payload_sent_ns(std::span<const uint8_t> payload) {
  uint64_t v = 0;
  if (payload.size() >= 8) std::memcpy(&v, payload.data(), 8);
  return v;
}

inline uint64_t payload_sequence(std::span<const uint8_t> payload) {
  uint64_t v = 0;
  if (payload.size() >= kMinPayload) std::memcpy(&v, payload.data() + 8, 8);
  return v;
}

// "bench.<i>" -> i; UINT32_MAX if the topic is not one of ours.
inline uint32_t parse_topic_index(const char* topic, size_t size) {
  constexpr size_t kPrefix = 6;  // "bench."
  if (size <= kPrefix || size > kPrefix + 9 || std::memcmp(topic, "bench.", kPrefix) != 0)
    return UINT32_MAX;
  uint32_t v = 0;
  for (size_t i = kPrefix; i < size; ++i) {
    if (topic[i] < '0' || topic[i] > '9') return UINT32_MAX;
    v = v * 10 + static_cast<uint32_t>(topic[i] - '0');
  }
  return v;
}

}  // namespace qsse::bench

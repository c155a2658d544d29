// engine/frames.hpp — a control frame encoded into its own shared buffer, ready for
// Connection::send (the wire codec writes into caller memory; the QUIC layer sends BufferRefs).
#pragma once

#include <span>

#include "quic/shared_buffer.hpp"
#include "wire/frame.hpp"

namespace qsse::engine {

// `frame` is any parameter type wire::encoded_size/encode accept. Encoding cannot fail for the
// values the engine builds (valid text, ids in range), and the buffer has exactly the size.
template <class Frame>
quic::BufferRef encode_frame(const Frame& frame) {
  quic::BufferRef buffer = quic::BufferRef::allocate(wire::encoded_size(frame));
  (void)wire::encode(std::span<uint8_t>(buffer.data(), buffer.size()), frame);
  return buffer;
}

}  // namespace qsse::engine

// wire/frame_reader.hpp — reassembles frames from stream data that arrives in arbitrary chunks.
//
// QUIC delivers a stream as a sequence of chunks whose boundaries mean nothing: a chunk may hold
// one byte of a varint, the tail of one frame and the head of the next, or a hundred frames.
// FrameReader turns that into whole frames:
//
//   FrameReader reader(my_max_frame_size);
//   // in ngtcp2's recv_stream_data callback:
//   reader.feed({data, datalen});
//   for (;;) {
//     auto frame = reader.next();
//     if (!frame) {
//       if (frame.error() == wire::DecodeError::kNeedMore) break;   // wait for more data
//       return close_connection(wire::to_error_code(frame.error()));  // sticky from now on
//     }
//     handle(*frame);
//   }
//   if (fin && !reader.finish()) ...  // the stream ended inside a frame
//
// Copying: a frame that lies wholly inside the current chunk is returned as a view into that
// chunk (no copy). Only a frame that straddles chunks is copied, once, into the reader's own
// buffer. The buffer holds at most max_frame_size bytes: the frame size is checked from its
// header (decode_header) before the body is buffered, so a peer cannot make the reader hold
// more. The buffer grows on demand and is kept, so the steady state allocates nothing.
//
// Lifetime of returned frames: views into the chunk stay valid as long as the caller keeps the
// chunk alive; views into the reader's buffer stay valid until the next call to next(),
// feed() or release_memory(). Either way, use the frame before asking for the next one.
//
// Thread safety: one reader per stream, used by one thread at a time (the connection's shard).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "wire/frame.hpp"

namespace qsse::wire {

class FrameReader {
 public:
  // max_frame_size: the largest frame accepted (what this endpoint announced to its peer); it
  // is also the bound on buffered bytes.
  explicit FrameReader(size_t max_frame_size = kDefaultMaxFrameSize) noexcept;

  FrameReader(FrameReader&&) noexcept = default;
  FrameReader& operator=(FrameReader&&) noexcept = default;

  // Makes `chunk` the current input. The bytes are not copied here; they must stay valid until
  // next() has returned kNeedMore (or an error) for it.
  // Precondition: the previous chunk is used up (next() returned kNeedMore or an error).
  void feed(std::span<const uint8_t> chunk) noexcept;

  // The next whole frame from the data fed so far.
  // Errors:
  //   kNeedMore — the current chunk is used up; any partial frame at its end is now buffered.
  //   kTooLarge, kNonMinimalVarint, kMalformed, kInvalidUtf8 — as for decode(). These are
  //     sticky: the stream is unusable and every later call returns the same error.
  // May throw std::bad_alloc when the buffer must grow (to at most max_frame_size bytes).
  Result<Frame, DecodeError> next();

  // To call when the stream's FIN arrives, after next() returned kNeedMore. Succeeds if the
  // stream ended on a frame boundary; kTruncated if a partial frame is buffered; the sticky
  // error if one occurred.
  Result<void, DecodeError> finish() const noexcept;

  // Bytes of a partial frame held in the buffer.
  size_t buffered() const noexcept { return buffered_; }
  // Bytes the buffer currently reserves (for memory accounting).
  size_t capacity() const noexcept { return capacity_; }
  size_t max_frame_size() const noexcept { return max_frame_size_; }

  // Frees the buffer if no partial frame is held (for idle connections).
  void release_memory() noexcept;

 private:
  void reserve(size_t size);
  void consume(size_t n) noexcept { chunk_ = chunk_.subspan(n); }
  Result<Frame, DecodeError> fail_sticky(DecodeError error) noexcept;
  Result<Frame, DecodeError> continue_buffered();

  size_t max_frame_size_;
  std::span<const uint8_t> chunk_;
  std::unique_ptr<uint8_t[]> buffer_;
  size_t capacity_ = 0;
  size_t buffered_ = 0;
  size_t pending_size_ = 0;  // size of the buffered frame once its header is known, else 0
  std::optional<DecodeError> error_;
};

}  // namespace qsse::wire

#include "wire/frame_reader.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace qsse::wire {

FrameReader::FrameReader(size_t max_frame_size) noexcept
    : max_frame_size_(std::max(max_frame_size, kMaxFrameHeaderSize)) {}

void FrameReader::feed(std::span<const uint8_t> chunk) noexcept {
  assert(chunk_.empty() && "feed() before the previous chunk was used up");
  chunk_ = chunk;
}

void FrameReader::reserve(size_t size) {
  if (size <= capacity_) return;
  // Grow geometrically so a stream of ever larger frames costs O(log n) allocations, but never
  // past the frame size limit.
  size_t new_capacity = std::max({size, capacity_ * 2, size_t{256}});
  new_capacity = std::min(new_capacity, max_frame_size_);
  auto grown = std::make_unique_for_overwrite<uint8_t[]>(new_capacity);
  if (buffered_ != 0) std::memcpy(grown.get(), buffer_.get(), buffered_);
  buffer_ = std::move(grown);
  capacity_ = new_capacity;
}

void FrameReader::release_memory() noexcept {
  if (buffered_ != 0) return;
  buffer_.reset();
  capacity_ = 0;
}

Result<Frame, DecodeError> FrameReader::fail_sticky(DecodeError error) noexcept {
  error_ = error;
  chunk_ = {};
  return fail(error);
}

Result<Frame, DecodeError> FrameReader::next() {
  if (error_) return fail(*error_);
  if (buffered_ != 0) return continue_buffered();
  if (chunk_.empty()) return fail(DecodeError::kNeedMore);

  // Fast path: the frame lies wholly in the chunk.
  auto frame = decode(chunk_, max_frame_size_);
  if (frame) {
    consume(frame->size);
    return frame;
  }
  if (frame.error() != DecodeError::kNeedMore) return fail_sticky(frame.error());

  // The chunk ends inside a frame: keep the partial frame. Its size is known if the header is
  // complete (and already checked against the limit); otherwise it is under 16 bytes.
  auto header = decode_header(chunk_, max_frame_size_);
  pending_size_ = header ? header->frame_size() : 0;
  reserve(header ? pending_size_ : kMaxFrameHeaderSize);
  std::memcpy(buffer_.get(), chunk_.data(), chunk_.size());
  buffered_ = chunk_.size();
  consume(chunk_.size());
  return fail(DecodeError::kNeedMore);
}

Result<Frame, DecodeError> FrameReader::continue_buffered() {
  if (pending_size_ == 0) {
    // The header is incomplete: borrow just enough bytes to complete it (capacity >= 16).
    const size_t take = std::min(kMaxFrameHeaderSize - buffered_, chunk_.size());
    if (take != 0) std::memcpy(buffer_.get() + buffered_, chunk_.data(), take);
    auto header = decode_header({buffer_.get(), buffered_ + take}, max_frame_size_);
    if (!header) {
      if (header.error() != DecodeError::kNeedMore) return fail_sticky(header.error());
      // A header is at most 16 bytes, so not finding one means the chunk is used up.
      buffered_ += take;
      consume(take);
      return fail(DecodeError::kNeedMore);
    }
    pending_size_ = header->frame_size();
    // Short frames may end within the bytes borrowed; keep only what belongs to this one.
    const size_t used = std::min(take, pending_size_ - buffered_);
    buffered_ += used;
    consume(used);
    reserve(pending_size_);
  }

  const size_t take = std::min(pending_size_ - buffered_, chunk_.size());
  if (take != 0) std::memcpy(buffer_.get() + buffered_, chunk_.data(), take);
  buffered_ += take;
  consume(take);
  if (buffered_ < pending_size_) return fail(DecodeError::kNeedMore);

  auto frame = decode({buffer_.get(), pending_size_}, max_frame_size_);
  buffered_ = 0;
  pending_size_ = 0;
  if (!frame) return fail_sticky(frame.error());
  return frame;
}

Result<void, DecodeError> FrameReader::finish() const noexcept {
  if (error_) return fail(*error_);
  if (buffered_ != 0 || !chunk_.empty()) return fail(DecodeError::kTruncated);
  return {};
}

}  // namespace qsse::wire

// quic/shared_buffer.hpp — immutable, reference-counted byte buffers for zero-copy sending.
//
// Ownership rule: a SharedBuffer is written once by its creator (before the first copy of its
// BufferRef leaves that thread) and is immutable afterwards. Every holder owns one reference
// through a BufferRef; the bytes are freed when the last BufferRef goes away. The QUIC layer
// keeps a BufferRef for every byte range handed to ngtcp2 until the peer acknowledged it
// (ngtcp2 does not copy stream data), so an event encoded once can sit in the send queues of
// thousands of connections with no copy.
//
// Thread safety: reference counting is atomic, so BufferRefs to one buffer may be copied and
// dropped on different threads. The bytes must not be modified once shared.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <span>
#include <utility>

namespace qsse::quic {

class BufferRef;

// Header and bytes live in one allocation: [SharedBuffer][size bytes].
class SharedBuffer {
 public:
  SharedBuffer(const SharedBuffer&) = delete;
  SharedBuffer& operator=(const SharedBuffer&) = delete;

  uint8_t* data() noexcept { return reinterpret_cast<uint8_t*>(this + 1); }
  const uint8_t* data() const noexcept { return reinterpret_cast<const uint8_t*>(this + 1); }
  size_t size() const noexcept { return size_; }

 private:
  friend class BufferRef;
  explicit SharedBuffer(size_t size) : size_(size) {}

  void retain() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      this->~SharedBuffer();
      std::free(this);
    }
  }

  std::atomic<uint32_t> refs_{1};
  size_t size_;
};

// An owning handle to a SharedBuffer (like an intrusive shared_ptr). Empty when default-built.
class BufferRef {
 public:
  BufferRef() = default;

  // Allocates a buffer of `size` uninitialised bytes with one reference. Throws std::bad_alloc
  // when memory is exhausted (the only failure).
  static BufferRef allocate(size_t size) {
    void* block = std::malloc(sizeof(SharedBuffer) + size);
    if (block == nullptr) throw std::bad_alloc();
    return BufferRef(new (block) SharedBuffer(size));
  }
  // Allocates a buffer holding a copy of `bytes`.
  static BufferRef copy_of(std::span<const uint8_t> bytes) {
    BufferRef ref = allocate(bytes.size());
    if (!bytes.empty()) __builtin_memcpy(ref.data(), bytes.data(), bytes.size());
    return ref;
  }

  BufferRef(const BufferRef& other) noexcept : buffer_(other.buffer_) {
    if (buffer_ != nullptr) buffer_->retain();
  }
  BufferRef(BufferRef&& other) noexcept : buffer_(std::exchange(other.buffer_, nullptr)) {}
  BufferRef& operator=(BufferRef other) noexcept {
    std::swap(buffer_, other.buffer_);
    return *this;
  }
  ~BufferRef() {
    if (buffer_ != nullptr) buffer_->release();
  }

  explicit operator bool() const noexcept { return buffer_ != nullptr; }
  // Writable only by the creator, before the buffer is shared (see the ownership rule above).
  uint8_t* data() noexcept { return buffer_->data(); }
  const uint8_t* data() const noexcept { return buffer_->data(); }
  size_t size() const noexcept { return buffer_ ? buffer_->size() : 0; }
  std::span<const uint8_t> bytes() const noexcept { return {data(), size()}; }

 private:
  explicit BufferRef(SharedBuffer* buffer) : buffer_(buffer) {}
  SharedBuffer* buffer_ = nullptr;
};

}  // namespace qsse::quic

// quic/shared_buffer.hpp — immutable, reference-counted byte buffers for zero-copy sending.
//
// Ownership rule: a SharedBuffer is written once by its creator (before the first copy of its
// BufferRef leaves that thread) and is immutable afterwards. Every holder owns one reference
// through a BufferRef; the bytes are freed when the last BufferRef goes away. The QUIC layer
// keeps a BufferRef for every byte range handed to ngtcp2 until the peer acknowledged it
// (ngtcp2 does not copy stream data), so an event encoded once can sit in the send queues of
// thousands of connections with no copy.
//
// Two kinds of buffer, one handle:
//  * standalone: one allocation [SharedBuffer][bytes], its own reference count;
//  * slice of a slab: a SlabAllocator carves small buffers out of kSlabBytes-aligned slabs, and
//    every reference to any slice counts on the slab. Publishing many small events then costs
//    no allocation per event, and retaining or releasing a slice touches the slab's one header
//    line (hot in the releasing shard's cache) instead of a cold line per event. The price: a
//    slice keeps its whole slab (kSlabBytes) alive. Holders that keep a few buffers for a long
//    time (a per-topic history) should keep copies (BufferRef::copy_of), not slices.
//
// Thread safety: reference counting is atomic, so BufferRefs to one buffer may be copied and
// dropped on different threads. The bytes must not be modified once shared. A SlabAllocator
// belongs to one thread.
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

inline constexpr size_t kSlabBytes = 16 << 10;  // slab size and alignment
inline constexpr size_t kMaxSliceBytes = 2048;   // larger buffers are standalone

// The header in front of a buffer's bytes. For a slab, the header at its start holds the count
// of every slice's references; a slice's own header holds only its size.
class SharedBuffer {
 public:
  SharedBuffer(const SharedBuffer&) = delete;
  SharedBuffer& operator=(const SharedBuffer&) = delete;

  uint8_t* data() noexcept { return reinterpret_cast<uint8_t*>(this + 1); }
  const uint8_t* data() const noexcept { return reinterpret_cast<const uint8_t*>(this + 1); }
  size_t size() const noexcept { return size_; }

 private:
  friend class BufferRef;
  friend class SlabAllocator;
  SharedBuffer(int64_t refs, size_t size) : refs_(refs), size_(size) {}

  void retain() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  // Drops `n` references; frees the allocation (this header starts it) when none are left.
  void release(int64_t n = 1) noexcept {
    if (refs_.fetch_sub(n, std::memory_order_acq_rel) == n) {
      this->~SharedBuffer();
      std::free(this);
    }
  }

  std::atomic<int64_t> refs_;
  size_t size_;
};
static_assert(sizeof(SharedBuffer) == 16);

// An owning handle to a standalone buffer or a slab slice (like an intrusive shared_ptr).
// Empty when default-built.
class BufferRef {
 public:
  BufferRef() = default;

  // Allocates a standalone buffer of `size` uninitialised bytes with one reference. Throws
  // std::bad_alloc when memory is exhausted (the only failure).
  static BufferRef allocate(size_t size) {
    void* block = std::malloc(sizeof(SharedBuffer) + size);
    if (block == nullptr) throw std::bad_alloc();
    return BufferRef(new (block) SharedBuffer(1, size), false);
  }
  // Allocates a standalone buffer holding a copy of `bytes`.
  static BufferRef copy_of(std::span<const uint8_t> bytes) {
    BufferRef ref = allocate(bytes.size());
    if (!bytes.empty()) __builtin_memcpy(ref.data(), bytes.data(), bytes.size());
    return ref;
  }

  BufferRef(const BufferRef& other) noexcept : bits_(other.bits_) {
    if (bits_ != 0) owner()->retain();
  }
  BufferRef(BufferRef&& other) noexcept : bits_(std::exchange(other.bits_, 0)) {}
  BufferRef& operator=(BufferRef other) noexcept {
    std::swap(bits_, other.bits_);
    return *this;
  }
  ~BufferRef() {
    if (bits_ != 0) owner()->release();
  }

  explicit operator bool() const noexcept { return bits_ != 0; }
  // Writable only by the creator, before the buffer is shared (see the ownership rule above).
  uint8_t* data() noexcept { return header()->data(); }
  const uint8_t* data() const noexcept { return header()->data(); }
  size_t size() const noexcept { return bits_ != 0 ? header()->size() : 0; }
  std::span<const uint8_t> bytes() const noexcept { return {data(), size()}; }
  // True for a slice of a slab (it keeps the whole slab alive).
  bool is_slice() const noexcept { return (bits_ & kSliceTag) != 0; }

 private:
  friend class SlabAllocator;
  static constexpr uintptr_t kSliceTag = 1;

  BufferRef(SharedBuffer* header, bool slice)
      : bits_(reinterpret_cast<uintptr_t>(header) | (slice ? kSliceTag : 0)) {}
  SharedBuffer* header() const noexcept {
    return reinterpret_cast<SharedBuffer*>(bits_ & ~kSliceTag);
  }
  // Where the reference count lives: the buffer itself, or the slab a slice was carved from
  // (found from the address alone, so releasing never reads the slice's cold header).
  SharedBuffer* owner() const noexcept {
    return reinterpret_cast<SharedBuffer*>(is_slice() ? bits_ & ~(uintptr_t{kSlabBytes} - 1)
                                                      : bits_);
  }

  uintptr_t bits_ = 0;
};

// Carves buffers for one thread out of kSlabBytes slabs (buffers above kMaxSliceBytes are
// standalone). While a slab is open its count carries a large bias instead of one increment per
// slice, so carving touches no shared line; closing the slab (full, or the allocator destroyed)
// removes the bias minus the slices carved, and the slab is freed when the last reference to
// any of its slices is gone. Not thread-safe: one allocator per thread (e.g. thread_local).
class SlabAllocator {
 public:
  SlabAllocator() = default;
  SlabAllocator(const SlabAllocator&) = delete;
  SlabAllocator& operator=(const SlabAllocator&) = delete;
  ~SlabAllocator() { close(); }

  // `size` uninitialised bytes with one reference. Throws std::bad_alloc like
  // BufferRef::allocate.
  BufferRef allocate(size_t size) {
    if (size > kMaxSliceBytes) return BufferRef::allocate(size);
    const size_t need = (sizeof(SharedBuffer) + size + 15) & ~size_t{15};
    if (slab_ == nullptr || used_ + need > kSlabBytes) open();
    auto* slice = new (reinterpret_cast<uint8_t*>(slab_) + used_) SharedBuffer(0, size);
    used_ += need;
    ++carved_;
    return BufferRef(slice, true);
  }
  // Slabs this allocator has opened so far.
  uint64_t slabs_opened() const { return slabs_opened_; }

 private:
  static constexpr int64_t kOpenBias = int64_t{1} << 48;

  void open() {
    close();
    void* block = std::aligned_alloc(kSlabBytes, kSlabBytes);
    if (block == nullptr) throw std::bad_alloc();
    slab_ = new (block) SharedBuffer(kOpenBias, kSlabBytes - sizeof(SharedBuffer));
    used_ = sizeof(SharedBuffer);
    carved_ = 0;
    ++slabs_opened_;
  }
  void close() {
    if (slab_ == nullptr) return;
    std::exchange(slab_, nullptr)->release(kOpenBias - carved_);
  }

  SharedBuffer* slab_ = nullptr;
  size_t used_ = 0;
  int64_t carved_ = 0;
  uint64_t slabs_opened_ = 0;
};

}  // namespace qsse::quic

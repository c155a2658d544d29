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
//  * slice of a slab: a SlabAllocator carves small buffers out of kSlabBytes-aligned slabs, back
//    to back with no header and no padding, and every reference to any slice counts on the
//    slab. Publishing many small events then costs no allocation per event; retaining or
//    releasing a slice touches the slab's one header line (hot in the releasing shard's cache)
//    instead of a cold line per event; and consecutive slices are contiguous bytes, so a send
//    queue can hold a run of events as one range (Connection::send merges them). A slice does
//    not know its size: its holder does (BufferRef::size() is 0). The price: a slice keeps its
//    whole slab (kSlabBytes) alive. Holders that keep a few buffers for a long time (a
//    per-topic history) should keep copies (BufferRef::copy_of), not slices.
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
inline constexpr size_t kMaxSliceBytes = 2048;  // larger buffers are standalone

// The header in front of a standalone buffer's bytes, and at the start of a slab (whose count
// is that of every reference to any of its slices).
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
    return BufferRef(new (block) SharedBuffer(1, size));
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
  uint8_t* data() noexcept { return is_slice() ? slice_data() : header()->data(); }
  const uint8_t* data() const noexcept { return is_slice() ? slice_data() : header()->data(); }
  // A standalone buffer's size; 0 for a slice (its holder keeps the size) and when empty.
  size_t size() const noexcept { return bits_ != 0 && !is_slice() ? header()->size() : 0; }
  std::span<const uint8_t> bytes() const noexcept { return {data(), size()}; }
  // True for a slice of a slab (it keeps the whole slab alive).
  bool is_slice() const noexcept { return (bits_ & kSliceTag) != 0; }
  // True if both are slices of one slab: then any bytes between them are alive as long as
  // either reference is.
  bool same_slab(const BufferRef& other) const noexcept {
    return is_slice() && other.is_slice() && owner() == other.owner();
  }
  // True if `next`'s bytes from `next_offset` begin exactly where this one's bytes up to `end`
  // stop, in the same slab: one range can cover both (Connection::send merges such ranges).
  bool continues_into(size_t end, const BufferRef& next, size_t next_offset = 0) const noexcept {
    return same_slab(next) && data() + end == next.data() + next_offset;
  }

 private:
  friend class SlabAllocator;
  // User-space addresses never have the top bit set; a slice's address is any byte.
  static constexpr uintptr_t kSliceTag = uintptr_t{1} << 63;

  explicit BufferRef(SharedBuffer* header) : bits_(reinterpret_cast<uintptr_t>(header)) {}
  explicit BufferRef(uint8_t* slice) : bits_(reinterpret_cast<uintptr_t>(slice) | kSliceTag) {}
  SharedBuffer* header() const noexcept { return reinterpret_cast<SharedBuffer*>(bits_); }
  uint8_t* slice_data() const noexcept { return reinterpret_cast<uint8_t*>(bits_ & ~kSliceTag); }
  // Where the reference count lives: the buffer itself, or the slab a slice was carved from
  // (found from the address alone, so releasing never reads the slice's cold header).
  SharedBuffer* owner() const noexcept {
    return reinterpret_cast<SharedBuffer*>(
        is_slice() ? bits_ & ~kSliceTag & ~(uintptr_t{kSlabBytes} - 1) : bits_);
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

  // `size` uninitialised bytes with one reference, right after the previous slice when they
  // fit in the open slab. Throws std::bad_alloc like BufferRef::allocate.
  BufferRef allocate(size_t size) {
    last_size_ = 0;
    if (size > kMaxSliceBytes) return BufferRef::allocate(size);
    if (slab_ == nullptr || used_ + size > kSlabBytes || used_ == kSlabBytes) open();
    uint8_t* slice = reinterpret_cast<uint8_t*>(slab_) + used_;
    used_ += size;
    last_size_ = size;
    ++carved_;
    return BufferRef(slice);
  }
  // A buffer holding a copy of `bytes` (like BufferRef::copy_of, carved like allocate()).
  BufferRef copy_of(std::span<const uint8_t> bytes) {
    BufferRef ref = allocate(bytes.size());
    if (!bytes.empty()) __builtin_memcpy(ref.data(), bytes.data(), bytes.size());
    return ref;
  }
  // The buffer allocate() just returned needs only its first `used` bytes: the rest goes to
  // the next slice (so that consecutive slices stay contiguous). No effect on a standalone one.
  void shrink_last(size_t used) {
    if (used < last_size_) used_ -= last_size_ - used;
    last_size_ = 0;
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
  size_t last_size_ = 0;  // of the latest slice, while it may still shrink
  int64_t carved_ = 0;
  uint64_t slabs_opened_ = 0;
};

}  // namespace qsse::quic

// quic/block_pool.hpp — an allocator that recycles std::deque's fixed-size blocks per thread.
//
// libstdc++'s std::deque stores small elements in 512-byte blocks. A send queue that grows by
// one slice per queued event and shrinks by one per acknowledged range would otherwise call
// malloc and free once per 32 slices, and the heap would hand pages back to the kernel only to
// fault them in again (with 1,000 subscribers on 8 lanes this was a quarter of a shard's time).
// PooledAllocator keeps freed blocks of exactly kPooledBlockBytes on a free list of the thread
// that frees them (at most kMaxPooledBlocks; beyond that, and for any other size, it uses
// operator new/delete). Blocks may be freed on another thread than the one that allocated them.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace qsse::quic {

inline constexpr size_t kPooledBlockBytes = 512;
inline constexpr size_t kMaxPooledBlocks = 8192;  // 4 MiB per thread

class BlockPool {
 public:
  BlockPool() = default;
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;
  ~BlockPool() {
    for (void* block : free_) ::operator delete(block);
  }

  void* take() {
    if (free_.empty()) return ::operator new(kPooledBlockBytes);
    void* block = free_.back();
    free_.pop_back();
    return block;
  }
  void give(void* block) noexcept {
    if (free_.size() < kMaxPooledBlocks) {
      try {
        free_.push_back(block);
        return;
      } catch (...) {  // no memory for the list itself: just free the block
      }
    }
    ::operator delete(block);
  }

  static BlockPool& for_this_thread() {
    thread_local BlockPool pool;
    return pool;
  }

 private:
  std::vector<void*> free_;
};

template <class T>
class PooledAllocator {
 public:
  using value_type = T;

  PooledAllocator() noexcept = default;
  template <class U>
  PooledAllocator(const PooledAllocator<U>&) noexcept {}  // NOLINT: rebinding is implicit

  T* allocate(size_t n) {
    if (n * sizeof(T) == kPooledBlockBytes) {
      return static_cast<T*>(BlockPool::for_this_thread().take());
    }
    return static_cast<T*>(::operator new(n * sizeof(T)));
  }
  void deallocate(T* p, size_t n) noexcept {
    if (n * sizeof(T) == kPooledBlockBytes) {
      BlockPool::for_this_thread().give(p);
    } else {
      ::operator delete(p);
    }
  }

  friend bool operator==(const PooledAllocator&, const PooledAllocator&) { return true; }
};

}  // namespace qsse::quic

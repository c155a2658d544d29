// tools/bench/histogram.hpp — latency histogram with logarithmic buckets (HDR-style).
//
// Values are nanoseconds. Below 128 ns every value has its own bucket; above, each power of two
// is split into 128 equal sub-buckets, so a bucket's width is at most 1/128 (0.78%) of its lower
// bound: every percentile is reported within 1% of the true value. Values above 2^36 ns (~69 s)
// land in the last bucket; the exact maximum is kept separately.
//
// Threads: one writer (the receiving thread) records; any thread may take a snapshot at any
// time. Buckets are relaxed atomics updated with load+store (no locked instruction), which is
// exact with one writer; a concurrent snapshot may be a few events behind, never torn.
// Percentiles come from snapshots (and differences of snapshots, for an interval).
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace qsse::bench {

inline constexpr unsigned kSubBucketBits = 7;
inline constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;  // 128
inline constexpr unsigned kMaxExponent = 36;                            // 2^36 ns ~ 69 s
inline constexpr size_t kBucketCount = kSubBuckets * (kMaxExponent - kSubBucketBits + 2);

// Bucket of a value: its index, and the range [lower, lower + width) it covers.
constexpr size_t bucket_index(uint64_t value) noexcept {
  if (value < kSubBuckets) return static_cast<size_t>(value);
  unsigned exponent = static_cast<unsigned>(std::bit_width(value)) - 1;  // >= 7
  if (exponent > kMaxExponent) return kBucketCount - 1;
  const unsigned shift = exponent - kSubBucketBits;
  return static_cast<size_t>((shift + 1) * kSubBuckets + ((value >> shift) - kSubBuckets));
}
constexpr uint64_t bucket_lower(size_t index) noexcept {
  if (index < kSubBuckets) return index;
  const size_t shift = index / kSubBuckets - 1;
  return (kSubBuckets + index % kSubBuckets) << shift;
}
constexpr uint64_t bucket_width(size_t index) noexcept {
  return index < kSubBuckets ? 1 : uint64_t{1} << (index / kSubBuckets - 1);
}

// Counts of one histogram at one moment, or the difference of two moments (an interval).
class HistogramSnapshot {
 public:
  HistogramSnapshot() : counts_(kBucketCount, 0) {}

  uint64_t count() const { return total_; }
  // The exact largest value recorded (for an interval: the top of the highest bucket hit,
  // capped by the cumulative maximum).
  uint64_t max() const { return max_; }
  // The value at quantile q (0 < q <= 1): the upper edge of the bucket holding the
  // ceil(q * count)-th smallest value, capped by max(). 0 when empty.
  uint64_t percentile(double q) const;

  HistogramSnapshot& operator+=(const HistogramSnapshot& other);
  // Interval: this (later) minus `earlier` of the same histogram(s).
  HistogramSnapshot since(const HistogramSnapshot& earlier) const;

 private:
  friend class LatencyHistogram;
  std::vector<uint64_t> counts_;
  uint64_t total_ = 0;
  uint64_t max_ = 0;
};

class LatencyHistogram {
 public:
  LatencyHistogram() {
    for (auto& c : counts_) c.store(0, std::memory_order_relaxed);
  }
  LatencyHistogram(const LatencyHistogram&) = delete;
  LatencyHistogram& operator=(const LatencyHistogram&) = delete;

  // Writer thread only.
  void record(uint64_t value) noexcept {
    auto& c = counts_[bucket_index(value)];
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (value > max_.load(std::memory_order_relaxed)) max_.store(value, std::memory_order_relaxed);
  }

  // Any thread.
  HistogramSnapshot snapshot() const;

 private:
  std::array<std::atomic<uint64_t>, kBucketCount> counts_;
  std::atomic<uint64_t> max_{0};
};

}  // namespace qsse::bench

#include "histogram.hpp"

#include <algorithm>
#include <cmath>

namespace qsse::bench {

static_assert(bucket_index(127) == 127);
static_assert(bucket_index(128) == 128 && bucket_lower(128) == 128 && bucket_width(128) == 1);
static_assert(bucket_index(256) == 256 && bucket_width(256) == 2);
static_assert(bucket_lower(bucket_index(1'000'000)) <= 1'000'000);
static_assert(bucket_lower(bucket_index(1'000'000)) + bucket_width(bucket_index(1'000'000)) >
              1'000'000);
static_assert(bucket_index(uint64_t{1} << 40) == kBucketCount - 1);

uint64_t HistogramSnapshot::percentile(double q) const {
  if (total_ == 0) return 0;
  const auto rank = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(total_))));
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(bucket_lower(i) + bucket_width(i) - 1, max_);
  }
  return max_;
}

HistogramSnapshot& HistogramSnapshot::operator+=(const HistogramSnapshot& other) {
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
  max_ = std::max(max_, other.max_);
  return *this;
}

HistogramSnapshot HistogramSnapshot::since(const HistogramSnapshot& earlier) const {
  HistogramSnapshot d;
  size_t highest = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    // A concurrent snapshot can make a later bucket read lower than an earlier one never; but
    // guard anyway so an interval can never go negative.
    d.counts_[i] = counts_[i] >= earlier.counts_[i] ? counts_[i] - earlier.counts_[i] : 0;
    d.total_ += d.counts_[i];
    if (d.counts_[i] != 0) highest = i;
  }
  d.max_ = d.total_ == 0 ? 0 : std::min(bucket_lower(highest) + bucket_width(highest) - 1, max_);
  return d;
}

HistogramSnapshot LatencyHistogram::snapshot() const {
  HistogramSnapshot s;
  for (size_t i = 0; i < counts_.size(); ++i) {
    s.counts_[i] = counts_[i].load(std::memory_order_relaxed);
    s.total_ += s.counts_[i];
  }
  s.max_ = max_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace qsse::bench

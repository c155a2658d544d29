// Proves that matching does not allocate: this program replaces the global operator new/delete
// with counting versions (which is why it is a program of its own), builds a populated trie and
// catalog, and counts allocations made while matching.
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>
#include <string>
#include <string_view>

#include <gtest/gtest.h>
#include <qsse/topic.hpp>

#include "pubsub/pattern_trie.hpp"
#include "pubsub/topic_catalog.hpp"

namespace {
std::atomic<std::size_t> g_allocations{0};

void* counted_alloc(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t size) {
  return counted_alloc(size);
}
void* operator new[](std::size_t size) {
  return counted_alloc(size);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}

namespace {

using qsse::pubsub::PatternTrie;
using qsse::pubsub::SubscriberId;

// Allocations made by fn().
template <class Fn>
std::size_t allocations_during(Fn&& fn) {
  const std::size_t before = g_allocations.load(std::memory_order_relaxed);
  fn();
  return g_allocations.load(std::memory_order_relaxed) - before;
}

class MatchAllocation : public ::testing::Test {
 protected:
  void SetUp() override {
    for (SubscriberId s = 0; s < 2000; ++s) {
      const std::string id = std::to_string(s);
      ASSERT_TRUE(trie_.insert("ride." + id + ".location", s).has_value());
      ASSERT_TRUE(trie_.insert("ride." + id + ".*", s).has_value());
      ASSERT_TRUE(catalog_.declare("ride." + id + ".location").has_value());
      ASSERT_TRUE(catalog_.declare("ride." + id + ".status").has_value());
    }
    ASSERT_TRUE(trie_.insert("ride.*.location", 7).has_value());
    ASSERT_TRUE(trie_.insert("*", 9).has_value());
  }

  PatternTrie trie_;
  qsse::pubsub::TopicCatalog catalog_;
};

TEST_F(MatchAllocation, CounterSeesAllocations) {
  // Positive control: the counter works, so a zero below means something.
  EXPECT_GE(allocations_during([&] { (void)trie_.insert("brand.new.pattern", 1); }), 1u);
}

TEST_F(MatchAllocation, MatchDoesNotAllocate) {
  std::size_t calls = 0;
  const std::size_t allocations = allocations_during([&] {
    for (int i = 0; i < 1000; ++i) {
      auto r = trie_.match("ride.42.location", [&](SubscriberId, std::string_view) { ++calls; });
      if (!r) std::abort();
      auto bad = trie_.match("ride..x", [&](SubscriberId, std::string_view) { ++calls; });
      if (bad) std::abort();
    }
  });
  EXPECT_EQ(allocations, 0u);
  EXPECT_EQ(calls, 1000u * 4);  // location, 42.*, *.location, *
}

TEST_F(MatchAllocation, MatchUniqueDoesNotAllocate) {
  std::size_t calls = 0;
  const std::size_t allocations = allocations_during([&] {
    for (int i = 0; i < 1000; ++i) {
      auto r = trie_.match_unique("ride.42.location", [&](SubscriberId) { ++calls; });
      if (!r) std::abort();
    }
  });
  EXPECT_EQ(allocations, 0u);
  EXPECT_EQ(calls, 1000u * 3);  // 42, 7, 9
}

TEST_F(MatchAllocation, ExpandContainsAndValidationDoNotAllocate) {
  std::size_t calls = 0;
  bool all_ok = true;
  const std::size_t allocations = allocations_during([&] {
    for (int i = 0; i < 100; ++i) {
      all_ok &= catalog_.expand("ride.*.status", [&](std::string_view) { ++calls; }).has_value();
      all_ok &= catalog_.contains("ride.42.status");
      all_ok &= trie_.contains("ride.42.*", 42);
      all_ok &= qsse::validate_topic("ride.42.status").has_value();
      all_ok &= qsse::validate_pattern("ride.*.status").has_value();
    }
  });
  EXPECT_EQ(allocations, 0u);
  EXPECT_TRUE(all_ok);
  EXPECT_EQ(calls, 100u * 2000);
}

}  // namespace

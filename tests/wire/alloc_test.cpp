// Proves the steady-state paths allocate nothing: this program replaces the global operator
// new/delete with counting versions (which is why it is a program of its own).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "wire/frame.hpp"
#include "wire/frame_reader.hpp"
#include "wire/legacy.hpp"

// simdjson allocates its parser and document with `new (std::nothrow)`, our code with plain
// new: both are counted (replacement operators are global, shared libraries included).
namespace {
std::atomic<size_t> g_allocations{0};

void* counted_alloc(size_t size) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}
}  // namespace

void* operator new(size_t size) {
  if (void* p = counted_alloc(size)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t size) {
  if (void* p = counted_alloc(size)) return p;
  throw std::bad_alloc();
}
void* operator new(size_t size, const std::nothrow_t&) noexcept {
  return counted_alloc(size);
}
void* operator new[](size_t size, const std::nothrow_t&) noexcept {
  return counted_alloc(size);
}
// GCC pairs `new` at call sites with the free() inlined from these operators and warns
// (-Wmismatched-new-delete); the pairing is right here, since our operator new calls malloc.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, size_t) noexcept {
  std::free(p);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace qsse::wire {
namespace {

using Bytes = std::vector<uint8_t>;

// Runs `work` and returns how many allocations it made.
template <class F>
size_t allocations_in(F&& work) {
  const size_t before = g_allocations.load();
  work();
  return g_allocations.load() - before;
}

TEST(Allocations, TheCounterSeesAllocations) {
  // Guards against a counter that cannot fail.
  static int* volatile sink;  // volatile: the compiler may not elide the new/delete pair
  EXPECT_EQ(allocations_in([] {
              sink = new int(1);
              delete sink;
            }),
            1u);
}

TEST(Allocations, EncodeAndDecodeOfEveryFrameAllocateNothing) {
  const std::string_view patterns[] = {"a.*", "b.c"};
  const ResumePosition resume[] = {{"a.x", 5}};
  const Bytes payload(1024, 7);
  Bytes buffer(4096);
  size_t total = 0, decoded = 0;
  const size_t allocations = allocations_in([&] {
    for (int i = 0; i < 1000; ++i) {
      auto check = [&](Result<size_t, EncodeError> written) {
        if (!written) return;
        total += *written;
        auto frame = decode(std::span<const uint8_t>(buffer.data(), *written));
        if (frame) ++decoded;
        // Walk the lists too.
        if (auto* hello = frame ? frame->get_if<HelloFrame>() : nullptr) {
          for (std::string_view p : hello->patterns) total += p.size();
          for (const ResumePosition& r : hello->resume) total += r.last_id;
        }
      };
      check(encode_event(buffer, "ride.passenger.start", 1 + i, payload));
      check(encode_event_header(buffer, "ride.passenger.start", 1 + i, 0));
      check(encode(buffer, HelloParams{1, 65536, "token", patterns, 3, resume}));
      check(encode(buffer, WelcomeFrame{1, 2, 65536, 100, 10}));
      check(encode(buffer, ErrorFrame{ErrorCode::kNotAuthorized, true, "a.*", "no"}));
      check(encode(buffer, SubscribeParams{patterns, resume}));
      check(encode(buffer, UnsubscribeParams{patterns}));
      check(encode(buffer, GoAwayFrame{ErrorCode::kNoError, 10, "bye"}));
      check(encode(buffer, GapFrame{"a.x", 1, 2, ErrorCode::kSlowConsumer}));
    }
  });
  EXPECT_EQ(allocations, 0u);
  EXPECT_EQ(decoded, 9000u);
  EXPECT_GT(total, 0u);
}

TEST(Allocations, FrameReaderSteadyStateAllocatesNothing) {
  Bytes stream;
  for (uint64_t id = 1; id <= 200; ++id) {
    Bytes frame(event_size(5, id, id * 13 % 900));
    Bytes data(id * 13 % 900, 1);
    ASSERT_TRUE(encode_event(frame, "topic", id, data));
    stream.insert(stream.end(), frame.begin(), frame.end());
  }
  FrameReader reader;
  size_t frames = 0;
  auto pass = [&] {
    for (size_t pos = 0; pos < stream.size();) {
      const size_t n = std::min<size_t>(97, stream.size() - pos);  // frames straddle chunks
      reader.feed({stream.data() + pos, n});
      pos += n;
      while (reader.next()) ++frames;
    }
  };
  pass();  // warm-up: the buffer grows to the largest straddling frame
  EXPECT_EQ(allocations_in(pass), 0u);
  EXPECT_EQ(frames, 400u);
}

TEST(Allocations, LegacyEncodeAndSteadyStateDecodeAllocateNothing) {
  const Bytes payload(64, 'p');
  const std::string_view topics[] = {"a", "b.*"};
  Bytes buffer(4096);
  LegacyDecoder decoder;
  LineReader lines;
  auto round = [&] {
    auto event = encode_legacy_event(buffer, "ride.passenger.start", payload);
    if (!event) return;
    // Through the line reader in two chunks, then the decoder.
    lines.feed({buffer.data(), 10});
    (void)lines.next();
    lines.feed({buffer.data() + 10, *event - 10});
    auto line = lines.next();
    if (line) (void)decoder.decode_event(*line);
    auto offer = encode_legacy_offer(buffer, "token", topics);
    if (offer) {
      (void)decoder.decode_offer(
          std::string_view(reinterpret_cast<const char*>(buffer.data()), *offer - 1));
    }
  };
  round();  // warm-up: parser, padded copy, base64 output, line buffer, topic list
  size_t ok = 0;
  EXPECT_EQ(allocations_in([&] {
              for (int i = 0; i < 1000; ++i) {
                round();
                ++ok;
              }
            }),
            0u);
  EXPECT_EQ(ok, 1000u);
  // And the results are real.
  auto event = decoder.decode_event("{\"topic\":\"t\",\"data\":\"" + std::string(88, 'A') + "\"}");
  ASSERT_TRUE(event);
  EXPECT_EQ(event->data.size(), 66u);
}

}  // namespace
}  // namespace qsse::wire

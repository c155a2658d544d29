// QUIC varints (RFC 9000 §16) as qsse framing uses them: minimal encodings only.
#include "wire/varint.hpp"

#include <gtest/gtest.h>

#include <array>
#include <random>
#include <vector>

namespace qsse::wire {
namespace {

struct Boundary {
  uint64_t value;
  size_t size;
};

// The edges of each length class.
constexpr Boundary kBoundaries[] = {
    {0, 1},
    {63, 1},
    {64, 2},
    {16383, 2},
    {16384, 4},
    {(uint64_t{1} << 30) - 1, 4},
    {uint64_t{1} << 30, 8},
    {kVarintMax, 8},
};

uint64_t read_ok(const std::vector<uint8_t>& bytes, size_t* consumed = nullptr) {
  const uint8_t* pos = bytes.data();
  uint64_t value = 0;
  EXPECT_EQ(read_varint(&pos, bytes.data() + bytes.size(), &value), VarintStatus::kOk);
  if (consumed) *consumed = static_cast<size_t>(pos - bytes.data());
  return value;
}

std::vector<uint8_t> encode(uint64_t value) {
  std::vector<uint8_t> out(varint_size(value));
  EXPECT_EQ(write_varint(out.data(), value), out.data() + out.size());
  return out;
}

TEST(Varint, SizesAtBoundaries) {
  for (auto [value, size] : kBoundaries) EXPECT_EQ(varint_size(value), size) << value;
}

TEST(Varint, RoundTripsAtBoundaries) {
  for (auto [value, size] : kBoundaries) {
    auto bytes = encode(value);
    ASSERT_EQ(bytes.size(), size);
    EXPECT_EQ(varint_length(bytes[0]), size);
    size_t consumed = 0;
    EXPECT_EQ(read_ok(bytes, &consumed), value);
    EXPECT_EQ(consumed, size);
  }
}

// The examples of RFC 9000 appendix A.1.
TEST(Varint, Rfc9000Examples) {
  EXPECT_EQ(read_ok({0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c}), 151288809941952652u);
  EXPECT_EQ(read_ok({0x9d, 0x7f, 0x3e, 0x7d}), 494878333u);
  EXPECT_EQ(read_ok({0x7b, 0xbd}), 15293u);
  EXPECT_EQ(read_ok({0x25}), 37u);
  EXPECT_EQ(encode(151288809941952652u),
            (std::vector<uint8_t>{0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c}));
  EXPECT_EQ(encode(494878333u), (std::vector<uint8_t>{0x9d, 0x7f, 0x3e, 0x7d}));
  EXPECT_EQ(encode(15293u), (std::vector<uint8_t>{0x7b, 0xbd}));
}

// RFC 9000 A.1 also shows 37 encoded on two bytes (0x40 0x25): valid QUIC, refused by qsse.
TEST(Varint, NonMinimalEncodingsAreRefused) {
  const std::vector<std::vector<uint8_t>> cases = {
      {0x40, 0x25},                                      // 37 on 2 bytes
      {0x40, 0x00},                                      // 0 on 2 bytes
      {0x40, 0x3f},                                      // 63 on 2 bytes
      {0x80, 0x00, 0x3f, 0xff},                          // 16383 on 4 bytes
      {0x80, 0x00, 0x00, 0x00},                          // 0 on 4 bytes
      {0xc0, 0x00, 0x00, 0x00, 0x3f, 0xff, 0xff, 0xff},  // 2^30-1 on 8 bytes
      {0xc0, 0, 0, 0, 0, 0, 0, 0},                       // 0 on 8 bytes
  };
  for (const auto& bytes : cases) {
    const uint8_t* pos = bytes.data();
    uint64_t value = 12345;
    EXPECT_EQ(read_varint(&pos, bytes.data() + bytes.size(), &value), VarintStatus::kNonMinimal);
    EXPECT_EQ(pos, bytes.data()) << "must not advance on failure";
    EXPECT_EQ(value, 12345u) << "must not write on failure";
  }
  // The smallest value of each length is minimal.
  EXPECT_EQ(read_ok({0x40, 0x40}), 64u);
  EXPECT_EQ(read_ok({0x80, 0x00, 0x40, 0x00}), 16384u);
  EXPECT_EQ(read_ok({0xc0, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00}), uint64_t{1} << 30);
}

TEST(Varint, TruncationAtEveryLengthNeedsMore) {
  for (auto [value, size] : kBoundaries) {
    auto bytes = encode(value);
    for (size_t cut = 0; cut < size; ++cut) {
      const uint8_t* pos = bytes.data();
      uint64_t out;
      EXPECT_EQ(read_varint(&pos, bytes.data() + cut, &out), VarintStatus::kNeedMore)
          << value << " cut at " << cut;
      EXPECT_EQ(pos, bytes.data());
    }
  }
}

TEST(Varint, ReadsOnlyItsOwnBytes) {
  std::vector<uint8_t> bytes = encode(16384);
  bytes.push_back(0xff);
  size_t consumed = 0;
  EXPECT_EQ(read_ok(bytes, &consumed), 16384u);
  EXPECT_EQ(consumed, 4u);
}

TEST(Varint, RandomRoundTrip) {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 100000; ++i) {
    // Spread values over all lengths: random bit width, then random bits.
    const int bits = static_cast<int>(rng() % 63);
    const uint64_t value = bits == 0 ? 0 : (rng() & ((uint64_t{1} << bits) - 1));
    auto bytes = encode(value);
    ASSERT_EQ(read_ok(bytes), value);
  }
}

}  // namespace
}  // namespace qsse::wire

// UTF-8 validation, checked exhaustively for short sequences against an independent model.
#include "wire/utf8.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <string>

namespace qsse::wire {
namespace {

// Model: decode one code point the long way (accumulate bits, then check the value against
// the range its length may encode, surrogates and the Unicode maximum).
bool model_valid(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    uint32_t min;
    if (b < 0x80) {
      ++i;
      continue;
    } else if ((b & 0xe0) == 0xc0) {
      len = 2, cp = b & 0x1f, min = 0x80;
    } else if ((b & 0xf0) == 0xe0) {
      len = 3, cp = b & 0x0f, min = 0x800;
    } else if ((b & 0xf8) == 0xf0) {
      len = 4, cp = b & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

TEST(Utf8, KnownCases) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("ride.passenger.start"));
  EXPECT_TRUE(is_valid_utf8(std::string_view("a\0b", 3)));
  EXPECT_TRUE(is_valid_utf8("caf\xc3\xa9"));        // é
  EXPECT_TRUE(is_valid_utf8("\xe2\x82\xac"));       // €
  EXPECT_TRUE(is_valid_utf8("\xf0\x9f\x98\x80"));   // 😀
  EXPECT_TRUE(is_valid_utf8("\xf4\x8f\xbf\xbf"));   // U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xe0\x80\xaf"));      // overlong
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // U+D800
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // U+110000
  EXPECT_FALSE(is_valid_utf8("\xf5\x80\x80\x80"));
  EXPECT_FALSE(is_valid_utf8("\x80"));                  // lone continuation
  EXPECT_FALSE(is_valid_utf8("\xc3"));                  // truncated
  EXPECT_FALSE(is_valid_utf8("abcdefghijklmnop\xff"));  // after the 8-byte fast path
  EXPECT_FALSE(is_valid_utf8("abcdefgh\xe2\x82"));
}

TEST(Utf8, ExhaustiveUpToThreeBytesMatchesModel) {
  std::string s;
  for (int a = 0; a < 256; ++a) {
    s.assign(1, static_cast<char>(a));
    ASSERT_EQ(is_valid_utf8(s), model_valid(s)) << a;
    for (int b = 0; b < 256; ++b) {
      s.assign({static_cast<char>(a), static_cast<char>(b)});
      ASSERT_EQ(is_valid_utf8(s), model_valid(s)) << a << " " << b;
      if (a < 0xe0 || a > 0xf4) continue;  // third byte only matters after 3/4-byte leads
      for (int c = 0; c < 256; ++c) {
        s.assign({static_cast<char>(a), static_cast<char>(b), static_cast<char>(c)});
        ASSERT_EQ(is_valid_utf8(s), model_valid(s)) << a << " " << b << " " << c;
      }
    }
  }
}

TEST(Utf8, RandomFourByteSequencesAndMixedStringsMatchModel) {
  std::mt19937_64 rng(7);
  std::string s;
  for (int i = 0; i < 2000000; ++i) {
    s.assign({static_cast<char>(0xf0 | (rng() % 8)), static_cast<char>(rng()),
              static_cast<char>(rng()), static_cast<char>(rng())});
    ASSERT_EQ(is_valid_utf8(s), model_valid(s));
  }
  // Longer strings, mostly ASCII so the fast path and its hand-over are exercised.
  for (int i = 0; i < 200000; ++i) {
    s.clear();
    const size_t n = rng() % 40;
    for (size_t k = 0; k < n; ++k) {
      const uint64_t r = rng();
      s.push_back(static_cast<char>(r % 16 == 0 ? (r >> 8) : 'a' + (r >> 8) % 26));
    }
    ASSERT_EQ(is_valid_utf8(s), model_valid(s));
  }
}

}  // namespace
}  // namespace qsse::wire

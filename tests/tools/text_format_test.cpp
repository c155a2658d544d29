// tests/tools/text_format_test.cpp — qsse-sub's JSON line format, checked against simdjson
// (a full JSON parser and UTF-8 validator) as the reference.
#include "text_format.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <random>
#include <string>
#include <vector>

namespace qsse::cli {
namespace {

std::span<const uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string decode_base64(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    if (c == '=') break;
    bits = (bits << 6) | static_cast<uint32_t>(value(c));
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xFF));
    }
  }
  return out;
}

struct Parsed {
  std::string topic;
  bool has_data = false;
  std::string data;
  bool has_base64 = false;
  std::string base64;
  size_t fields = 0;
};

Parsed parse_line(const std::string& line) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  EXPECT_EQ(parser.parse(line).get(doc), simdjson::SUCCESS) << line;
  Parsed parsed;
  simdjson::dom::object object;
  EXPECT_EQ(doc.get(object), simdjson::SUCCESS) << line;
  for (auto field : object) {
    ++parsed.fields;
    std::string_view value;
    EXPECT_EQ(field.value.get(value), simdjson::SUCCESS) << line;
    if (field.key == "topic") parsed.topic = value;
    if (field.key == "data") parsed.has_data = true, parsed.data = value;
    if (field.key == "data_base64") parsed.has_base64 = true, parsed.base64 = value;
  }
  return parsed;
}

TEST(TextFormat, Base64MatchesRfc4648Vectors) {
  const std::pair<std::string, std::string> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    std::string out;
    append_base64(out, bytes_of(plain));
    EXPECT_EQ(out, encoded) << plain;
  }
}

TEST(TextFormat, Utf8ValidationKnownCases) {
  EXPECT_TRUE(is_valid_utf8(bytes_of("")));
  EXPECT_TRUE(is_valid_utf8(bytes_of("plain ascii \x7f")));
  EXPECT_TRUE(is_valid_utf8(bytes_of("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80")));  // é € 😀
  EXPECT_TRUE(is_valid_utf8(bytes_of("\xf4\x8f\xbf\xbf")));                      // U+10FFFF
  EXPECT_FALSE(is_valid_utf8(bytes_of("\xff")));
  EXPECT_FALSE(is_valid_utf8(bytes_of("\xc0\xaf")));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8(bytes_of("\xe0\x80\xaf")));      // overlong
  EXPECT_FALSE(is_valid_utf8(bytes_of("\xed\xa0\x80")));      // surrogate U+D800
  EXPECT_FALSE(is_valid_utf8(bytes_of("\xf4\x90\x80\x80")));  // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8(bytes_of("\xe2\x82")));          // truncated
  EXPECT_FALSE(is_valid_utf8(bytes_of("\x80")));              // lone continuation
}

// Differential: random byte strings, biased towards UTF-8 lead and continuation bytes.
TEST(TextFormat, Utf8ValidationAgreesWithSimdjson) {
  std::mt19937 rng(12345);
  const uint8_t interesting[] = {0x00, 0x41, 0x7f, 0x80, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xed,
                                 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0x9f, 0xa0, 0x8f, 0x90};
  for (int round = 0; round < 200'000; ++round) {
    std::string s(rng() % 8, '\0');
    for (char& c : s) {
      c = static_cast<char>(rng() % 2 ? interesting[rng() % sizeof(interesting)] : rng() % 256);
    }
    ASSERT_EQ(is_valid_utf8(bytes_of(s)), simdjson::validate_utf8(s)) << testing::PrintToString(s);
  }
}

// Every byte string, valid UTF-8 or not, comes back exactly after a JSON parse.
TEST(TextFormat, EventJsonRoundTripsThroughAJsonParser) {
  std::mt19937 rng(777);
  const std::string samples[] = {"",
                                 "hello",
                                 "quote \" backslash \\ slash /",
                                 "tab\tnewline\nreturn\rbell\x07nul",
                                 std::string("nul\0inside", 10),
                                 "\x1f\x7f",
                                 "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
                                 "{\"seq\":1,\"ts_us\":2}",
                                 "\xff\xfe",
                                 "ok then \xc0\xaf"};
  std::vector<std::string> inputs(std::begin(samples), std::end(samples));
  for (int i = 0; i < 2'000; ++i) {
    std::string s(rng() % 40, '\0');
    for (char& c : s) c = static_cast<char>(rng() % (i % 2 ? 128 : 256));
    inputs.push_back(std::move(s));
  }
  for (const std::string& data : inputs) {
    std::string line;
    append_event_json(line, "ride.1.location", bytes_of(data));
    EXPECT_EQ(line.find('\n'), std::string::npos);  // one line per event
    const Parsed parsed = parse_line(line);
    EXPECT_EQ(parsed.topic, "ride.1.location");
    EXPECT_EQ(parsed.fields, 2u);
    if (simdjson::validate_utf8(data)) {
      ASSERT_TRUE(parsed.has_data) << line;
      EXPECT_EQ(parsed.data, data) << line;
    } else {
      ASSERT_TRUE(parsed.has_base64) << line;
      EXPECT_EQ(decode_base64(parsed.base64), data) << line;
    }
  }
}

TEST(TextFormat, ControlCharactersUseShortEscapesWhereJsonHasThem) {
  std::string out;
  append_json_string(out, std::string_view("\"\\\b\f\n\r\t\x01\x1f", 9));
  EXPECT_EQ(out, R"("\"\\\b\f\n\r\t\u0001\u001f")");
}

}  // namespace
}  // namespace qsse::cli

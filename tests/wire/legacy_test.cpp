// The legacy Go wire format: byte-exact output of Go's encoding/json, acceptance of everything
// Go emits, typed rejection of garbage, line reassembly.
#include "wire/legacy.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <random>
#include <string>
#include <vector>

namespace qsse::wire {
namespace {

using namespace std::string_literals;

std::span<const uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
std::string as_string(std::span<const uint8_t> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

std::string event_line(std::string_view topic, std::string_view data) {
  std::string out(legacy_event_size(topic, data.size()), '?');
  auto r = encode_legacy_event({reinterpret_cast<uint8_t*>(out.data()), out.size()}, topic,
                               as_bytes(data));
  EXPECT_TRUE(r);
  if (r) {
    EXPECT_EQ(*r, out.size());
  }
  return out;
}

std::string offer_line(std::string_view token, std::vector<std::string_view> topics) {
  std::string out(legacy_offer_size(token, topics), '?');
  auto r = encode_legacy_offer({reinterpret_cast<uint8_t*>(out.data()), out.size()}, token, topics);
  EXPECT_TRUE(r);
  return out;
}

std::string error_line(ErrorCode code, std::string_view topic) {
  std::string out(legacy_error_size(code, topic), '?');
  auto r = encode_legacy_error({reinterpret_cast<uint8_t*>(out.data()), out.size()}, code, topic);
  EXPECT_TRUE(r);
  if (r) {
    EXPECT_EQ(*r, out.size());
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Output: exactly what the Go library writes (json.Marshal of its structs, then '\n').

TEST(LegacyEncode, EventMatchesGo) {
  EXPECT_EQ(event_line("ride.passenger.start", "hello"),
            "{\"topic\":\"ride.passenger.start\",\"data\":\"aGVsbG8=\"}\n");
  // omitempty: no data member for an empty payload, no topic member for an empty topic.
  EXPECT_EQ(event_line("x", ""), "{\"topic\":\"x\"}\n");
  EXPECT_EQ(event_line("", "a"), "{\"data\":\"YQ==\"}\n");
  EXPECT_EQ(event_line("", ""), "{}\n");
  std::string all(256, '\0');
  for (int i = 0; i < 256; ++i) all[i] = static_cast<char>(i);
  EXPECT_EQ(
      event_line("t", all),
      "{\"topic\":\"t\",\"data\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKiss"
      "LS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWpr"
      "bG1ub3BxcnN0dXZ3eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmq"
      "q6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj5OXm5+jp"
      "6uvs7e7v8PHy8/T19vf4+fr7/P3+/w==\"}\n");
}

TEST(LegacyEncode, EscapingMatchesGo) {
  // HTML-safe escapes, short escapes, \u00XX for other controls (lowercase hex), DEL and
  // non-ASCII verbatim, U+2028/U+2029 escaped.
  EXPECT_EQ(event_line("a<b>&c", ""), "{\"topic\":\"a\\u003cb\\u003e\\u0026c\"}\n");
  EXPECT_EQ(event_line("q\"b\\s/", ""), "{\"topic\":\"q\\\"b\\\\s/\"}\n");
  EXPECT_EQ(event_line("\b\f\n\r\t", ""), "{\"topic\":\"\\b\\f\\n\\r\\t\"}\n");
  EXPECT_EQ(event_line("\x01\x1f\x7f"s, ""), "{\"topic\":\"\\u0001\\u001f\x7f\"}\n");
  EXPECT_EQ(event_line("\0"s, ""), "{\"topic\":\"\\u0000\"}\n");
  EXPECT_EQ(event_line("caf\xc3\xa9 \xf0\x9f\x98\x80", ""),
            "{\"topic\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}\n");
  EXPECT_EQ(event_line("\xe2\x80\xa8|\xe2\x80\xa9|\xe2\x80\xa7", ""),
            "{\"topic\":\"\\u2028|\\u2029|\xe2\x80\xa7\"}\n");
  EXPECT_EQ(json_string_size("a<\xe2\x80\xa8"), 2 + 1 + 6 + 6);
}

TEST(LegacyEncode, OfferMatchesGo) {
  EXPECT_EQ(offer_line("abc", {"a", "b.*"}), "{\"token\":\"abc\",\"topics\":[\"a\",\"b.*\"]}\n");
  EXPECT_EQ(offer_line("", {"a"}), "{\"topics\":[\"a\"]}\n");
  EXPECT_EQ(offer_line("t", {}), "{\"token\":\"t\"}\n");
  EXPECT_EQ(offer_line("", {}), "{}\n");
  EXPECT_EQ(offer_line("", {"", ""}), "{\"topics\":[\"\",\"\"]}\n");
}

TEST(LegacyEncode, ErrorMatchesGo) {
  // Go: SendError(NewErr(CodeTopicNotAvailable, map[string]any{"topic": "x"})).
  EXPECT_EQ(error_line(ErrorCode::kTopicNotAvailable, "x"),
            "{\"topic\":\"error\",\"data\":\"eyJjb2RlIjoyLCJkYXRhIjp7InRvcGljIjoieCJ9fQ==\"}\n");
  EXPECT_EQ(
      error_line(ErrorCode::kNotAuthorized, "a<b"),
      "{\"topic\":\"error\",\"data\":\"eyJjb2RlIjoxLCJkYXRhIjp7InRvcGljIjoiYVx1MDAzY2IifX0=\"}"
      "\n");
  EXPECT_EQ(error_line(ErrorCode::kUnknown, ""),
            "{\"topic\":\"error\",\"data\":\"eyJjb2RlIjo1fQ==\"}\n");
}

TEST(LegacyEncode, Errors) {
  uint8_t buffer[64];
  EXPECT_EQ(encode_legacy_event(buffer, "\xff", {}).error(), EncodeError::kInvalidText);
  const std::string_view bad_topics[] = {"ok", "\xc0\xaf"};
  EXPECT_EQ(encode_legacy_offer(buffer, "", bad_topics).error(), EncodeError::kInvalidText);
  EXPECT_EQ(encode_legacy_offer(buffer, "\xed\xa0\x80", {}).error(), EncodeError::kInvalidText);
  EXPECT_EQ(encode_legacy_error(buffer, ErrorCode::kUnknown, "\xff").error(),
            EncodeError::kInvalidText);
  EXPECT_EQ(encode_legacy_error(buffer, static_cast<ErrorCode>(UINT64_MAX), "").error(),
            EncodeError::kValueOutOfRange);
  // Every buffer shorter than needed is refused, and nothing is written past it.
  const std::string full = event_line("topic<>", "payload bytes");
  for (size_t size = 0; size < full.size(); ++size) {
    std::vector<uint8_t> out(size + 4, 0xee);
    auto r = encode_legacy_event(std::span<uint8_t>(out.data(), size), "topic<>",
                                 as_bytes("payload bytes"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), EncodeError::kBufferTooSmall);
    for (size_t g = size; g < out.size(); ++g) ASSERT_EQ(out[g], 0xee);
  }
  const std::string err = error_line(ErrorCode::kTopicNotAvailable, "abc");
  for (size_t size = 0; size < err.size(); ++size) {
    std::vector<uint8_t> out(size);
    EXPECT_EQ(encode_legacy_error(out, ErrorCode::kTopicNotAvailable, "abc").error(),
              EncodeError::kBufferTooSmall);
  }
}

// wolfSSL's base64 sizes are 32-bit: 3 GiB - 3 bytes encode to 4 GiB - 4, 3 GiB - 2 bytes to
// 4 GiB, which does not fit. Larger data is refused before a byte of it is read.
TEST(LegacyEncode, DataWhoseBase64DoesNotFit32BitsIsRefused) {
  constexpr size_t kLargest = (size_t{3} << 30) - 3;
  EXPECT_EQ(kMaxLegacyData, kLargest);
  EXPECT_EQ(base64_size(kLargest), size_t{UINT32_MAX} - 3);
  EXPECT_EQ(base64_size(kLargest + 1), size_t{1} << 32);
  // Address space only (PROT_NONE, never backed by memory): the test crashes if it is read.
  const size_t reserved_size = kLargest + 4;
  void* reserved =
      mmap(nullptr, reserved_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT_NE(reserved, MAP_FAILED);
  const auto* data = static_cast<const uint8_t*>(reserved);
  uint8_t out[64];
  for (size_t size = kLargest + 1; size <= reserved_size; ++size) {
    auto r = encode_legacy_event(out, "t", {data, size});
    ASSERT_FALSE(r) << size;
    EXPECT_EQ(r.error(), EncodeError::kValueOutOfRange)
        << size << " bytes gave " << to_string(r.error());
  }
  // The largest that fits is not refused for its size, only for the small buffer.
  auto r = encode_legacy_event(out, "t", {data, kLargest});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), EncodeError::kBufferTooSmall) << to_string(r.error());
  munmap(reserved, reserved_size);
}

// ---------------------------------------------------------------------------------------------
// Input: everything Go emits or accepts for these structs.

struct DecodedEvent {
  std::string topic, data;
};

DecodedEvent decode_event_ok(LegacyDecoder& decoder, std::string_view line) {
  auto r = decoder.decode_event(line);
  EXPECT_TRUE(r) << line << ": " << (r ? "" : to_string(r.error()));
  if (!r) return {};
  return {std::string(r->topic), as_string(r->data)};
}

TEST(LegacyDecode, EventsAsGoWritesThem) {
  LegacyDecoder d;
  auto e = decode_event_ok(d, "{\"topic\":\"ride.passenger.start\",\"data\":\"aGVsbG8=\"}");
  EXPECT_EQ(e.topic, "ride.passenger.start");
  EXPECT_EQ(e.data, "hello");
  e = decode_event_ok(d, "{\"topic\":\"a\\u003cb\\u003e\\u0026c\\u2028\"}");
  EXPECT_EQ(e.topic, "a<b>&c\xe2\x80\xa8");
  EXPECT_EQ(e.data, "");
  e = decode_event_ok(d, "{\"topic\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0000\\u00e9\"}");
  EXPECT_EQ(e.topic, "\"\\/\b\f\n\r\t\0\xc3\xa9"s);
  e = decode_event_ok(d, "{\"topic\":\"\\ud83d\\ude00\"}");  // surrogate pair
  EXPECT_EQ(e.topic, "\xf0\x9f\x98\x80");
  e = decode_event_ok(d, "{\"topic\":\"x\",\"data\":\"\"}");
  EXPECT_EQ(e.data, "");
}

TEST(LegacyDecode, FieldOrderNullsMissingUnknownDuplicatesCase) {
  LegacyDecoder d;
  auto e = decode_event_ok(d, "{\"data\":\"YQ==\",\"topic\":\"t\"}");
  EXPECT_EQ(e.topic, "t");
  EXPECT_EQ(e.data, "a");
  e = decode_event_ok(d, " {\r\n\t\"topic\" : null , \"data\" : null } \r");
  EXPECT_EQ(e.topic, "");
  EXPECT_EQ(e.data, "");
  e = decode_event_ok(d, "{}");
  EXPECT_EQ(e.topic, "");
  e = decode_event_ok(d, "null");  // Go: Unmarshal("null", &event) succeeds, event stays zero
  EXPECT_EQ(e.topic, "");
  e = decode_event_ok(d, "{\"id\":7,\"extra\":{\"a\":[1,2,{\"b\":null}]},\"topic\":\"t\"}");
  EXPECT_EQ(e.topic, "t");
  e = decode_event_ok(d, "{\"topic\":\"first\",\"topic\":\"second\"}");
  EXPECT_EQ(e.topic, "second");
  e = decode_event_ok(d, "{\"Topic\":\"t\",\"DATA\":\"YWI=\"}");  // Go matches case-insensitively
  EXPECT_EQ(e.topic, "t");
  EXPECT_EQ(e.data, "ab");
  e = decode_event_ok(d, "{\"topic\":\"t\",\"topic\":null}");  // null leaves the earlier value
  EXPECT_EQ(e.topic, "t");
}

// Go's json.Unmarshal sets a slice to nil on null, so a later null empties an earlier "data"
// ([]byte) or "topics" ([]string), where it leaves an earlier string alone.
TEST(LegacyDecode, NullEmptiesAnEarlierDataOrTopics) {
  LegacyDecoder d;
  auto e = decode_event_ok(d, "{\"topic\":\"x\",\"data\":\"aGk=\",\"data\":null}");
  EXPECT_EQ(e.topic, "x");
  EXPECT_EQ(e.data, "");
  e = decode_event_ok(d, "{\"data\":\"aGk=\",\"data\":null,\"data\":\"YQ==\"}");
  EXPECT_EQ(e.data, "a");

  auto o = d.decode_offer("{\"topics\":[\"a\"],\"topics\":null}");
  ASSERT_TRUE(o);
  EXPECT_TRUE(o->topics.empty()) << o->topics.size() << " topics, the first " << o->topics[0];
  o = d.decode_offer(
      "{\"token\":\"t\",\"topics\":[\"a\",\"b\"],\"topics\":null,\"topics\":[\"c\"]}");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->token, "t");
  ASSERT_EQ(o->topics.size(), 1u);
  EXPECT_EQ(o->topics[0], "c");
}

TEST(LegacyDecode, Base64) {
  LegacyDecoder d;
  std::string all(256, '\0');
  for (int i = 0; i < 256; ++i) all[i] = static_cast<char>(i);
  for (size_t n = 0; n <= all.size(); ++n) {
    const std::string line = event_line("t", all.substr(0, n));
    auto e = decode_event_ok(d, std::string_view(line).substr(0, line.size() - 1));
    ASSERT_EQ(e.data, all.substr(0, n)) << n;
  }
  // Go's StdEncoding accepts non-zero trailing bits; so do we.
  EXPECT_EQ(decode_event_ok(d, "{\"data\":\"YR==\"}").data, "a");
  // Escaped base64 characters are unescaped by JSON first.
  EXPECT_EQ(decode_event_ok(d, "{\"data\":\"\\u0059Q==\"}").data, "a");
  for (const char* bad : {"YQ", "YQ=", "Y===", "YQ=a", "YQ==YQ==", "a b=", "YQ==\\n", "aGVsbG8",
                          "aGVs bG8=", "aGV$bG8=", "====", "A===", "-_==", "\\u0000QQ="}) {
    const std::string line = "{\"data\":\""s + bad + "\"}";
    auto r = d.decode_event(line);
    ASSERT_FALSE(r) << line;
    EXPECT_EQ(r.error(), LegacyError::kInvalidBase64) << line;
  }
}

TEST(LegacyDecode, GarbageIsRejectedWithTypedErrors) {
  LegacyDecoder d(1024);
  const std::vector<std::pair<std::string, LegacyError>> cases = {
      {"", LegacyError::kInvalidJson},
      {"{", LegacyError::kInvalidJson},
      {"not json", LegacyError::kInvalidJson},
      {"{\"topic\":\"a\"} x", LegacyError::kInvalidJson},
      {"{\"topic\":\"a\"}{}", LegacyError::kInvalidJson},
      {"{\"topic\":\"a\",}", LegacyError::kInvalidJson},
      {"{'topic':'a'}", LegacyError::kInvalidJson},
      {"{\"topic\":\"a\x01\"}", LegacyError::kInvalidJson},    // raw control character
      {"{\"topic\":\"\xff\"}", LegacyError::kInvalidJson},     // invalid UTF-8
      {"{\"topic\":\"\\ud800\"}", LegacyError::kInvalidJson},  // lone surrogate
      {"{\"topic\":\"\\x41\"}", LegacyError::kInvalidJson},    // not a JSON escape
      {"{\"topic\":tru}", LegacyError::kInvalidJson},
      {std::string(200, '[') + std::string(200, ']'), LegacyError::kInvalidJson},  // too deep
      {"{\"topic\":5}", LegacyError::kWrongType},
      {"{\"topic\":[\"a\"]}", LegacyError::kWrongType},
      {"{\"data\":5}", LegacyError::kWrongType},
      {"{\"data\":{}}", LegacyError::kWrongType},
      {"[]", LegacyError::kWrongType},
      {"\"string\"", LegacyError::kWrongType},
      {"42", LegacyError::kWrongType},
      {std::string(2000, ' '), LegacyError::kTooLarge},
  };
  for (const auto& [line, error] : cases) {
    auto r = d.decode_event(line);
    ASSERT_FALSE(r) << line;
    EXPECT_EQ(r.error(), error) << line << " gave " << to_string(r.error());
  }
  // Nesting within the limit is fine in an ignored member.
  EXPECT_TRUE(d.decode_event("{\"x\":" + std::string(60, '[') + std::string(60, ']') + "}"));
}

// Nesting is counted with the root as level 1: 64 levels are accepted, 65 refused.
TEST(LegacyDecode, NestingLimitIsExactly64Levels) {
  static_assert(kMaxJsonDepth == 64, "docs/PROTOCOL.md section 7 promises 64 levels");
  auto nested = [](size_t levels) {
    return std::string(levels, '[') + "1" + std::string(levels, ']');
  };
  auto error_of = [](Result<LegacyEvent, LegacyError> r) {
    return r ? "accepted"s : std::string(to_string(r.error()));
  };
  LegacyDecoder d;
  // 64 arrays around 1 parse (and are refused only for not being an object); 65 do not parse.
  EXPECT_EQ(error_of(d.decode_event(nested(64))), "wrong_type");
  EXPECT_EQ(error_of(d.decode_event(nested(65))), "invalid_json");
  // The same in an ignored member, where the event object is the first level.
  EXPECT_EQ(error_of(d.decode_event("{\"x\":" + nested(63) + "}")), "accepted");
  EXPECT_EQ(error_of(d.decode_event("{\"x\":" + nested(64) + "}")), "invalid_json");
}

TEST(LegacyDecode, TinyLineLimit) {
  LegacyDecoder d(16);
  auto e = d.decode_event("{\"topic\":\"abc\"}");  // exactly 15 bytes
  ASSERT_TRUE(e);
  EXPECT_EQ(e->topic, "abc");
  EXPECT_TRUE(d.decode_event("{\"topic\":\"abcd\"}"));                                 // 16
  EXPECT_EQ(d.decode_event("{\"topic\":\"abcde\"}").error(), LegacyError::kTooLarge);  // 17
}

TEST(LegacyDecode, Offers) {
  LegacyDecoder d;
  auto o = d.decode_offer("{\"token\":\"abc\",\"topics\":[\"a\",\"b.*\"]}");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->token, "abc");
  ASSERT_EQ(o->topics.size(), 2u);
  EXPECT_EQ(o->topics[0], "a");
  EXPECT_EQ(o->topics[1], "b.*");
  o = d.decode_offer("{\"topics\":null,\"Token\":\"\\u003ctok\\u003e\"}");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->token, "<tok>");
  EXPECT_TRUE(o->topics.empty());
  o = d.decode_offer("{\"topics\":[\"a\",null,\"c\"]}");  // Go: null element -> ""
  ASSERT_TRUE(o);
  ASSERT_EQ(o->topics.size(), 3u);
  EXPECT_EQ(o->topics[1], "");
  o = d.decode_offer("{\"topics\":[\"a\"],\"topics\":[\"b\",\"c\"]}");  // last one wins
  ASSERT_TRUE(o);
  ASSERT_EQ(o->topics.size(), 2u);
  EXPECT_EQ(o->topics[0], "b");
  EXPECT_EQ(d.decode_offer("{\"topics\":\"a\"}").error(), LegacyError::kWrongType);
  EXPECT_EQ(d.decode_offer("{\"topics\":[1]}").error(), LegacyError::kWrongType);
  EXPECT_EQ(d.decode_offer("{\"token\":{}}").error(), LegacyError::kWrongType);
  EXPECT_EQ(d.decode_offer("{\"token\":\"a\"").error(), LegacyError::kInvalidJson);
  // Round trip through our encoder.
  const std::string line = offer_line("t\"o<k", {"x.y", "\xe2\x80\xa8", ""});
  o = d.decode_offer(std::string_view(line).substr(0, line.size() - 1));
  ASSERT_TRUE(o);
  EXPECT_EQ(o->token, "t\"o<k");
  ASSERT_EQ(o->topics.size(), 3u);
  EXPECT_EQ(o->topics[1], "\xe2\x80\xa8");
}

TEST(LegacyDecode, ErrorPayloads) {
  LegacyDecoder d;
  const std::string line = error_line(ErrorCode::kTopicNotAvailable, "ride.*");
  auto event = d.decode_event(std::string_view(line).substr(0, line.size() - 1));
  ASSERT_TRUE(event);
  EXPECT_EQ(event->topic, kLegacyErrorTopic);
  auto payload = d.decode_error_payload(event->data);
  ASSERT_TRUE(payload);
  EXPECT_EQ(payload->code, 2);
  EXPECT_EQ(payload->topic, "ride.*");
  EXPECT_EQ(payload->data_json, "{\"topic\":\"ride.*\"}");

  payload = d.decode_error_payload(as_bytes("{\"data\":{\"reason\":[1,2]},\"code\":1}"));
  ASSERT_TRUE(payload);
  EXPECT_EQ(payload->code, 1);
  EXPECT_EQ(payload->topic, "");
  EXPECT_EQ(payload->data_json, "{\"reason\":[1,2]}");
  payload = d.decode_error_payload(as_bytes("{\"code\":null,\"data\":null}"));
  ASSERT_TRUE(payload);
  EXPECT_EQ(payload->code, 0);
  EXPECT_EQ(payload->data_json, "");
  EXPECT_EQ(d.decode_error_payload(as_bytes("{\"code\":\"2\"}")).error(), LegacyError::kWrongType);
  EXPECT_EQ(d.decode_error_payload(as_bytes("{\"code\":2.5}")).error(), LegacyError::kWrongType);
  EXPECT_EQ(d.decode_error_payload(as_bytes("{\"data\":[]}")).error(), LegacyError::kWrongType);
  EXPECT_EQ(d.decode_error_payload(as_bytes("{\"code\":2")).error(), LegacyError::kInvalidJson);
}

TEST(LegacyDecode, RandomTopicsAndPayloadsRoundTrip) {
  // Differential: our encoder's output, parsed by simdjson, gives back the input.
  std::mt19937_64 rng(11);
  const std::vector<std::string> pieces = {"a",
                                           "Z",
                                           "<",
                                           ">",
                                           "&",
                                           "\"",
                                           "\\",
                                           "/",
                                           "\n",
                                           "\x01",
                                           "\x7f",
                                           "\xc3\xa9",
                                           "\xe2\x80\xa8",
                                           "\xe2\x80\xa9",
                                           "\xf0\x9f\x98\x80",
                                           "\0"s,
                                           "\t",
                                           "."};
  LegacyDecoder d;
  for (int round = 0; round < 20000; ++round) {
    std::string topic, data;
    for (size_t i = 0, n = rng() % 12; i < n; ++i) topic += pieces[rng() % pieces.size()];
    data.resize(rng() % 100);
    for (char& c : data) c = static_cast<char>(rng());
    const std::string line = event_line(topic, data);
    ASSERT_EQ(line.back(), '\n');
    ASSERT_EQ(line.find('\n'), line.size() - 1) << "a raw newline inside the JSON";
    auto e = decode_event_ok(d, std::string_view(line).substr(0, line.size() - 1));
    ASSERT_EQ(e.topic, topic);
    ASSERT_EQ(e.data, data);
  }
}

// ---------------------------------------------------------------------------------------------
// LineReader.

std::vector<std::string> read_lines(const std::string& stream, const std::vector<size_t>& cuts) {
  LineReader reader(1000);
  std::vector<std::string> lines;
  size_t start = 0;
  auto drain = [&] {
    for (;;) {
      auto line = reader.next();
      if (!line) {
        EXPECT_EQ(line.error(), LegacyError::kNeedMore);
        return;
      }
      lines.emplace_back(*line);
    }
  };
  for (size_t cut : cuts) {
    reader.feed(as_bytes(std::string_view(stream).substr(start, cut - start)));
    drain();
    start = cut;
  }
  reader.feed(as_bytes(std::string_view(stream).substr(start)));
  drain();
  EXPECT_TRUE(reader.finish());
  return lines;
}

TEST(LegacyLineReader, SameLinesWhateverTheChunking) {
  const std::vector<std::string> expected = {"{\"topic\":\"a\"}", "", "{\"x\":1}\r",
                                             std::string(300, 'y'), "z"};
  std::string stream;
  for (const auto& l : expected) stream += l + "\n";
  EXPECT_EQ(read_lines(stream, {}), expected);
  for (size_t cut = 1; cut < stream.size(); ++cut) {
    ASSERT_EQ(read_lines(stream, {cut}), expected) << cut;
  }
  std::vector<size_t> every;
  for (size_t i = 1; i < stream.size(); ++i) every.push_back(i);
  EXPECT_EQ(read_lines(stream, every), expected);
}

TEST(LegacyLineReader, ViewsIntoTheChunkWhenWhole) {
  LineReader reader;
  const std::string stream = "abc\ndef\n";
  reader.feed(as_bytes(stream));
  auto line = reader.next();
  ASSERT_TRUE(line);
  EXPECT_EQ(line->data(), stream.data());
  line = reader.next();
  ASSERT_TRUE(line);
  EXPECT_EQ(line->data(), stream.data() + 4);
  EXPECT_EQ(reader.next().error(), LegacyError::kNeedMore);
}

TEST(LegacyLineReader, LimitsAndTruncation) {
  {
    LineReader reader(10);
    reader.feed(as_bytes("0123456789\n"));  // exactly the limit
    auto line = reader.next();
    ASSERT_TRUE(line);
    EXPECT_EQ(*line, "0123456789");
    reader.feed(as_bytes("01234567890"));  // one over, no newline yet
    EXPECT_EQ(reader.next().error(), LegacyError::kTooLarge);
    EXPECT_EQ(reader.next().error(), LegacyError::kTooLarge);  // sticky
    EXPECT_EQ(reader.finish().error(), LegacyError::kTooLarge);
  }
  {
    LineReader reader(10);
    reader.feed(as_bytes("01234"));
    EXPECT_EQ(reader.next().error(), LegacyError::kNeedMore);
    reader.feed(as_bytes("567890\n"));  // split over chunks, 11 bytes in total
    EXPECT_EQ(reader.next().error(), LegacyError::kTooLarge);
  }
  {
    LineReader reader;
    reader.feed(as_bytes("{\"topic\""));
    EXPECT_EQ(reader.next().error(), LegacyError::kNeedMore);
    EXPECT_EQ(reader.buffered(), 8u);
    EXPECT_EQ(reader.finish().error(), LegacyError::kTruncated);
  }
}

}  // namespace
}  // namespace qsse::wire

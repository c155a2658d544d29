// The native frame codec: golden vectors from docs/PROTOCOL.md, round trips, every error path.
#include "wire/frame.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "wire/varint.hpp"

namespace qsse::wire {
namespace {

using Bytes = std::vector<uint8_t>;

std::span<const uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
std::string_view as_text(std::span<const uint8_t> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Encodes with the library, checking that encoded_size() is exact.
template <class Params>
Bytes encode_frame(const Params& params) {
  Bytes out(encoded_size(params));
  auto written = encode(out, params);
  EXPECT_TRUE(written.has_value()) << (written ? "" : to_string(written.error()));
  if (written) {
    EXPECT_EQ(*written, out.size());
  }
  return out;
}

// Decoded frames are views into their input: tests that decode a temporary keep it here.
const Bytes& keep(Bytes bytes) {
  static std::deque<Bytes> kept;
  return kept.emplace_back(std::move(bytes));
}

Frame decode_ok(const Bytes& bytes, size_t max = kDefaultMaxFrameSize) {
  auto frame = decode(bytes, max);
  EXPECT_TRUE(frame.has_value()) << (frame ? "" : to_string(frame.error()));
  if (!frame) return Frame{};
  EXPECT_EQ(frame->size, bytes.size());
  return *frame;
}

DecodeError decode_error(const Bytes& bytes, size_t max = kDefaultMaxFrameSize) {
  auto frame = decode(bytes, max);
  EXPECT_FALSE(frame.has_value()) << "decoded a frame of type " << frame->type;
  return frame ? DecodeError::kNeedMore : frame.error();
}

// Builds raw frames by hand, for inputs the encoders refuse to produce.
struct Raw {
  Bytes body;
  Raw& varint(uint64_t v) {
    uint8_t tmp[8];
    body.insert(body.end(), tmp, write_varint(tmp, v));
    return *this;
  }
  Raw& bytes(std::initializer_list<uint8_t> b) {
    body.insert(body.end(), b);
    return *this;
  }
  Raw& string(std::string_view s) {
    varint(s.size());
    body.insert(body.end(), s.begin(), s.end());
    return *this;
  }
  Bytes frame(uint64_t type) const {
    Raw out;
    out.varint(type).varint(body.size());
    out.body.insert(out.body.end(), body.begin(), body.end());
    return out.body;
  }
};

// ---------------------------------------------------------------------------------------------
// Golden vectors: the exact bytes docs/PROTOCOL.md §5 lists. They pin the wire format.

TEST(FrameGolden, Event) {
  const Bytes expected = {0x04, 0x07, 0x03, 'a', '.', 'b', 0x01, 'h', 'i'};
  EXPECT_EQ(encode_frame(EventFrame{"a.b", 1, as_bytes("hi")}), expected);
  Frame f = decode_ok(expected);
  ASSERT_NE(f.get_if<EventFrame>(), nullptr);
  EXPECT_EQ(f.get_if<EventFrame>()->topic, "a.b");
  EXPECT_EQ(f.get_if<EventFrame>()->id, 1u);
  EXPECT_EQ(as_text(f.get_if<EventFrame>()->data), "hi");
}

TEST(FrameGolden, Hello) {
  const std::string_view patterns[] = {"a.*"};
  const Bytes expected = {0x01, 0x0e, 0x01, 0x80, 0x01, 0x00, 0x00, 0x01,
                          't',  0x01, 0x03, 'a',  '.',  '*',  0x00, 0x00};
  EXPECT_EQ(encode_frame(HelloParams{1, 65536, "t", patterns, 0, {}}), expected);
}

TEST(FrameGolden, Welcome) {
  const Bytes expected = {0x02, 0x09, 0x01, 0x07, 0x80, 0x01, 0x00, 0x00, 0x43, 0xe8, 0x00};
  EXPECT_EQ(encode_frame(WelcomeFrame{1, 7, 65536, 1000, 0}), expected);
}

TEST(FrameGolden, Error) {
  const Bytes expected = {0x03, 0x05, 0x02, 0x00, 0x01, 'x', 0x00};
  EXPECT_EQ(encode_frame(ErrorFrame{ErrorCode::kTopicNotAvailable, false, "x", ""}), expected);
}

TEST(FrameGolden, SubscribeUnsubscribe) {
  const std::string_view patterns[] = {"a"};
  const ResumePosition resume[] = {{"a", 300}};
  EXPECT_EQ(encode_frame(SubscribeParams{patterns, resume}),
            (Bytes{0x05, 0x08, 0x01, 0x01, 'a', 0x01, 0x01, 'a', 0x41, 0x2c}));
  EXPECT_EQ(encode_frame(UnsubscribeParams{patterns}), (Bytes{0x06, 0x03, 0x01, 0x01, 'a'}));
}

TEST(FrameGolden, GoAwayAndGap) {
  EXPECT_EQ(encode_frame(GoAwayFrame{ErrorCode::kServerShutdown, 1000, ""}),
            (Bytes{0x07, 0x04, 0x18, 0x43, 0xe8, 0x00}));
  EXPECT_EQ(encode_frame(GapFrame{"x", 5, 9, ErrorCode::kSlowConsumer}),
            (Bytes{0x08, 0x05, 0x01, 'x', 0x05, 0x09, 0x12}));
}

// ---------------------------------------------------------------------------------------------
// Round trips of every frame kind.

TEST(FrameRoundTrip, Hello) {
  const std::string_view patterns[] = {"ride.passenger.*", "chat.*.room", "", "\xc3\xa9t\xc3\xa9"};
  const ResumePosition resume[] = {{"ride.passenger.start", 0}, {"x", kVarintMax}};
  const HelloParams params{1,        kMinMaxFrameSize, std::string_view("\0tok\xff", 5),
                           patterns, 0xdeadbeef,       resume};
  Bytes bytes = encode_frame(params);
  Frame f = decode_ok(bytes);
  EXPECT_EQ(f.type, static_cast<uint64_t>(FrameType::kHello));
  const HelloFrame* hello = f.get_if<HelloFrame>();
  ASSERT_NE(hello, nullptr);
  EXPECT_EQ(hello->version, 1u);
  EXPECT_EQ(hello->max_frame_size, kMinMaxFrameSize);
  EXPECT_EQ(hello->token, params.token);
  EXPECT_EQ(hello->resume_epoch, 0xdeadbeefu);
  ASSERT_EQ(hello->patterns.size(), 4u);
  EXPECT_TRUE(std::equal(hello->patterns.begin(), hello->patterns.end(), std::begin(patterns)));
  ASSERT_EQ(hello->resume.size(), 2u);
  EXPECT_TRUE(std::equal(hello->resume.begin(), hello->resume.end(), std::begin(resume)));
}

TEST(FrameRoundTrip, HelloWithEmptyLists) {
  Frame f = decode_ok(keep(encode_frame(HelloParams{})));
  const HelloFrame* hello = f.get_if<HelloFrame>();
  ASSERT_NE(hello, nullptr);
  EXPECT_TRUE(hello->patterns.empty());
  EXPECT_EQ(hello->patterns.begin(), hello->patterns.end());
  EXPECT_TRUE(hello->resume.empty());
  EXPECT_EQ(hello->max_frame_size, kDefaultMaxFrameSize);
}

TEST(FrameRoundTrip, ManyPatterns) {
  std::vector<std::string> storage;
  for (int i = 0; i < 1000; ++i) storage.push_back("topic." + std::to_string(i) + ".*");
  std::vector<std::string_view> patterns(storage.begin(), storage.end());
  Frame f = decode_ok(keep(encode_frame(SubscribeParams{patterns, {}})));
  const SubscribeFrame* sub = f.get_if<SubscribeFrame>();
  ASSERT_NE(sub, nullptr);
  ASSERT_EQ(sub->patterns.size(), 1000u);
  size_t i = 0;
  for (std::string_view p : sub->patterns) EXPECT_EQ(p, patterns[i++]);
  EXPECT_EQ(i, 1000u);
}

TEST(FrameRoundTrip, Welcome) {
  const WelcomeFrame w{1, kVarintMax, kVarintMax, 123456, 64};
  Frame f = decode_ok(keep(encode_frame(w)));
  ASSERT_NE(f.get_if<WelcomeFrame>(), nullptr);
  EXPECT_EQ(*f.get_if<WelcomeFrame>(), w);
}

TEST(FrameRoundTrip, Error) {
  for (bool fatal : {false, true}) {
    const ErrorFrame e{ErrorCode::kNotAuthorized, fatal, "ride.*", "token expired \xe2\x9c\x97"};
    Frame f = decode_ok(keep(encode_frame(e)));
    ASSERT_NE(f.get_if<ErrorFrame>(), nullptr);
    EXPECT_EQ(*f.get_if<ErrorFrame>(), e);
  }
  // Codes this version does not know travel unchanged.
  const ErrorFrame future{static_cast<ErrorCode>(1000000), true, "", ""};
  EXPECT_EQ(*decode_ok(keep(encode_frame(future))).get_if<ErrorFrame>(), future);
}

TEST(FrameRoundTrip, EventSizes) {
  for (size_t size : {size_t{0}, size_t{1}, size_t{63}, size_t{64}, size_t{16383}, size_t{16384},
                      size_t{60000}}) {
    for (uint64_t id : {uint64_t{1}, uint64_t{64}, uint64_t{1} << 30, kVarintMax}) {
      Bytes data(size);
      for (size_t i = 0; i < size; ++i) data[i] = static_cast<uint8_t>(i * 7);
      Bytes bytes = encode_frame(EventFrame{"t", id, data});
      EXPECT_EQ(bytes.size(), event_size(1, id, size));
      Frame f = decode_ok(bytes);
      const EventFrame* e = f.get_if<EventFrame>();
      ASSERT_NE(e, nullptr);
      EXPECT_EQ(e->id, id);
      EXPECT_TRUE(std::equal(e->data.begin(), e->data.end(), data.begin(), data.end()));
      // Zero copy: the payload view points into the input.
      if (size) {
        EXPECT_EQ(e->data.data(), bytes.data() + bytes.size() - size);
      }
    }
  }
}

TEST(FrameRoundTrip, SubscribeUnsubscribeGoAwayGap) {
  const std::string_view patterns[] = {"a.*", "b"};
  const ResumePosition resume[] = {{"a.x", 17}};
  Frame s = decode_ok(keep(encode_frame(SubscribeParams{patterns, resume})));
  ASSERT_NE(s.get_if<SubscribeFrame>(), nullptr);
  EXPECT_EQ(s.get_if<SubscribeFrame>()->patterns.size(), 2u);
  EXPECT_EQ(*s.get_if<SubscribeFrame>()->resume.begin(), resume[0]);

  Frame u = decode_ok(keep(encode_frame(UnsubscribeParams{patterns})));
  ASSERT_NE(u.get_if<UnsubscribeFrame>(), nullptr);
  EXPECT_EQ(*std::next(u.get_if<UnsubscribeFrame>()->patterns.begin()), "b");

  const GoAwayFrame g{ErrorCode::kNoError, 250, "maintenance"};
  EXPECT_EQ(*decode_ok(keep(encode_frame(g))).get_if<GoAwayFrame>(), g);

  const GapFrame gap{"a.x", 1, kVarintMax, ErrorCode::kHistoryUnavailable};
  EXPECT_EQ(*decode_ok(keep(encode_frame(gap))).get_if<GapFrame>(), gap);
  const GapFrame single{"a.x", 9, 9, ErrorCode::kEventTooLarge};
  EXPECT_EQ(*decode_ok(keep(encode_frame(single))).get_if<GapFrame>(), single);
}

TEST(FrameRoundTrip, EventHeaderPlusPayloadEqualsWholeFrame) {
  const Bytes data(1000, 0xab);
  Bytes whole = encode_frame(EventFrame{"prices.eur", 77, data});
  Bytes header(event_header_size(10, 77, data.size()));
  auto written = encode_event_header(header, "prices.eur", 77, data.size());
  ASSERT_TRUE(written);
  EXPECT_EQ(*written, header.size());
  header.insert(header.end(), data.begin(), data.end());
  EXPECT_EQ(header, whole);
}

TEST(FrameRoundTrip, ConsecutiveFramesDecodeOneAtATime) {
  Bytes stream;
  for (uint64_t id = 1; id <= 3; ++id) {
    Bytes one = encode_frame(EventFrame{"t", id, as_bytes("payload")});
    stream.insert(stream.end(), one.begin(), one.end());
  }
  std::span<const uint8_t> rest(stream);
  for (uint64_t id = 1; id <= 3; ++id) {
    auto f = decode(rest);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->get_if<EventFrame>()->id, id);
    EXPECT_EQ(f->encoded.data(), rest.data());
    EXPECT_EQ(f->encoded.size(), f->size);
    rest = rest.subspan(f->size);
  }
  EXPECT_TRUE(rest.empty());
  EXPECT_EQ(decode(rest).error(), DecodeError::kNeedMore);
}

// ---------------------------------------------------------------------------------------------
// Error paths.

// One encoded sample of each known frame kind.
std::vector<Bytes> samples() {
  static const std::string_view patterns[] = {"a.*", "b.c"};
  static const ResumePosition resume[] = {{"a.x", 5}, {"b.c", 300}};
  return {
      encode_frame(HelloParams{1, 70000, "secret", patterns, 99, resume}),
      encode_frame(WelcomeFrame{1, 12345678, 70000, 1000, 16}),
      encode_frame(ErrorFrame{ErrorCode::kNotAuthorized, true, "a.*", "no"}),
      encode_frame(EventFrame{"a.x", 300, as_bytes("data")}),
      encode_frame(SubscribeParams{patterns, resume}),
      encode_frame(UnsubscribeParams{patterns}),
      encode_frame(GoAwayFrame{ErrorCode::kServerShutdown, 5000, "bye"}),
      encode_frame(GapFrame{"a.x", 3, 70, ErrorCode::kSlowConsumer}),
  };
}

TEST(FrameErrors, EveryTruncationNeedsMore) {
  for (const Bytes& bytes : samples()) {
    for (size_t cut = 0; cut < bytes.size(); ++cut) {
      Bytes prefix(bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(cut));
      EXPECT_EQ(decode_error(prefix), DecodeError::kNeedMore)
          << "type " << int{bytes[0]} << " cut " << cut;
    }
  }
}

// The length field shrunk to cut the body short: the body's own fields then overrun it.
TEST(FrameErrors, EveryShortenedBodyIsMalformed) {
  for (const Bytes& bytes : samples()) {
    auto header = decode_header(bytes, kDefaultMaxFrameSize);
    ASSERT_TRUE(header);
    const Bytes body(bytes.begin() + static_cast<ptrdiff_t>(header->header_size), bytes.end());
    const bool is_event = header->type == static_cast<uint64_t>(FrameType::kEvent);
    // An EVENT's data is the rest of the body: cutting inside it still decodes.
    const size_t data_start = is_event ? body.size() - 4 : body.size();
    for (size_t cut = 0; cut < body.size(); ++cut) {
      Raw raw;
      raw.body.assign(body.begin(), body.begin() + static_cast<ptrdiff_t>(cut));
      Bytes shortened = raw.frame(header->type);
      if (cut >= data_start) {
        EXPECT_EQ(decode_ok(shortened).get_if<EventFrame>()->data.size(), cut - data_start);
      } else {
        EXPECT_EQ(decode_error(shortened), DecodeError::kMalformed)
            << "type " << header->type << " cut " << cut;
      }
    }
  }
}

TEST(FrameErrors, TrailingBytesInBodyAreMalformed) {
  for (const Bytes& bytes : samples()) {
    auto header = decode_header(bytes, kDefaultMaxFrameSize);
    ASSERT_TRUE(header);
    if (header->type == static_cast<uint64_t>(FrameType::kEvent)) continue;
    Raw raw;
    raw.body.assign(bytes.begin() + static_cast<ptrdiff_t>(header->header_size), bytes.end());
    raw.body.push_back(0);
    EXPECT_EQ(decode_error(raw.frame(header->type)), DecodeError::kMalformed) << header->type;
  }
}

TEST(FrameErrors, TooLargeIsDetectedFromTheHeaderAlone) {
  // Only type and length present; the body never arrives.
  Raw header_only;
  header_only.varint(0x04).varint(100000);
  EXPECT_EQ(decode_error(header_only.body, 65536), DecodeError::kTooLarge);
  EXPECT_EQ(decode_header(header_only.body, 65536).error(), DecodeError::kTooLarge);
  // Largest possible length: the size arithmetic does not overflow.
  Raw huge;
  huge.varint(0x04).varint(kVarintMax);
  EXPECT_EQ(decode_error(huge.body, 65536), DecodeError::kTooLarge);
  EXPECT_EQ(decode_error(huge.body, kVarintMax + 8), DecodeError::kTooLarge);
  EXPECT_EQ(decode_error(huge.body, kVarintMax + 9), DecodeError::kNeedMore);
  EXPECT_EQ(decode_error(huge.body, SIZE_MAX), DecodeError::kNeedMore);
  // Unknown types are bounded too.
  Raw unknown;
  unknown.varint(0x3f).varint(70000);
  EXPECT_EQ(decode_error(unknown.body, 65536), DecodeError::kTooLarge);
}

TEST(FrameErrors, MaxFrameSizeIsInclusiveAndCountsTheHeader) {
  const Bytes data(100, 1);
  Bytes bytes = encode_frame(EventFrame{"t", 1, data});
  decode_ok(bytes, bytes.size());
  EXPECT_EQ(decode_error(bytes, bytes.size() - 1), DecodeError::kTooLarge);
  // Before the body is complete, a within-limit frame needs more, an over-limit one is refused.
  Bytes partial(bytes.begin(), bytes.begin() + 4);
  EXPECT_EQ(decode_error(partial, bytes.size()), DecodeError::kNeedMore);
  EXPECT_EQ(decode_error(partial, bytes.size() - 1), DecodeError::kTooLarge);
}

TEST(FrameErrors, NonMinimalVarintsInHeader) {
  EXPECT_EQ(decode_error({0x40, 0x04, 0x03, 0x01, 't', 0x01}), DecodeError::kNonMinimalVarint);
  EXPECT_EQ(decode_error({0x04, 0x40, 0x03, 0x01, 't', 0x01}), DecodeError::kNonMinimalVarint);
  // Detected as soon as the varint is complete, before the rest of the frame.
  EXPECT_EQ(decode_error({0x40, 0x04}), DecodeError::kNonMinimalVarint);
}

TEST(FrameErrors, NonMinimalVarintsInBodies) {
  // EVENT: topic length, id.
  EXPECT_EQ(decode_error(Raw().bytes({0x40, 0x01}).bytes({'t'}).varint(1).frame(0x04)),
            DecodeError::kNonMinimalVarint);
  EXPECT_EQ(decode_error(Raw().string("t").bytes({0x40, 0x01}).frame(0x04)),
            DecodeError::kNonMinimalVarint);
  // HELLO: version, pattern count.
  EXPECT_EQ(decode_error(Raw()
                             .bytes({0x40, 0x01})
                             .varint(65536)
                             .string("")
                             .varint(0)
                             .varint(0)
                             .varint(0)
                             .frame(0x01)),
            DecodeError::kNonMinimalVarint);
  EXPECT_EQ(decode_error(Raw()
                             .varint(1)
                             .varint(65536)
                             .string("")
                             .bytes({0x40, 0x00})
                             .varint(0)
                             .varint(0)
                             .frame(0x01)),
            DecodeError::kNonMinimalVarint);
  // ERROR code, GAP last id, WELCOME epoch, resume id.
  EXPECT_EQ(decode_error(Raw().bytes({0x40, 0x02}).varint(0).string("").string("").frame(0x03)),
            DecodeError::kNonMinimalVarint);
  EXPECT_EQ(decode_error(Raw().string("t").varint(1).bytes({0x80, 0, 0, 2}).varint(18).frame(0x08)),
            DecodeError::kNonMinimalVarint);
  EXPECT_EQ(decode_error(
                Raw().varint(1).bytes({0x40, 0x07}).varint(65536).varint(0).varint(0).frame(0x02)),
            DecodeError::kNonMinimalVarint);
  EXPECT_EQ(decode_error(Raw().varint(0).varint(1).string("a").bytes({0x40, 0x05}).frame(0x05)),
            DecodeError::kNonMinimalVarint);
}

TEST(FrameErrors, InvalidUtf8InEveryTextField) {
  const std::string bad = "a\xc0\xaf";  // overlong '/'
  const std::vector<Bytes> cases = {
      Raw().string(bad).varint(1).frame(0x04),                       // EVENT topic
      Raw().varint(2).varint(0).string(bad).string("").frame(0x03),  // ERROR topic
      Raw().varint(2).varint(0).string("").string(bad).frame(0x03),  // message
      Raw().varint(0).varint(0).string(bad).frame(0x07),             // GOAWAY
      Raw().string(bad).varint(1).varint(2).varint(18).frame(0x08),  // GAP topic
      Raw().varint(1).varint(65536).string("").varint(1).string(bad).varint(0).varint(0).frame(
          0x01),  // HELLO pattern
      Raw()
          .varint(1)
          .varint(65536)
          .string("")
          .varint(0)
          .varint(1)
          .varint(1)
          .string(bad)
          .varint(3)
          .frame(0x01),                                      // resume topic
      Raw().varint(1).string(bad).varint(0).frame(0x05),     // SUBSCRIBE
      Raw().varint(2).string("ok").string(bad).frame(0x06),  // UNSUBSCRIBE
  };
  for (const Bytes& bytes : cases) EXPECT_EQ(decode_error(bytes), DecodeError::kInvalidUtf8);
  // The token is opaque: any bytes.
  decode_ok(Raw().varint(1).varint(65536).string(bad).varint(0).varint(0).varint(0).frame(0x01));
  // So is event data.
  decode_ok(Raw().string("t").varint(1).bytes({0xff, 0xfe}).frame(0x04));
}

TEST(FrameErrors, FieldRules) {
  EXPECT_EQ(decode_error(Raw().string("").varint(1).frame(0x04)), DecodeError::kMalformed);
  EXPECT_EQ(decode_error(Raw().string("t").varint(0).frame(0x04)), DecodeError::kMalformed);
  EXPECT_EQ(decode_error(Raw().varint(2).varint(2).string("").string("").frame(0x03)),
            DecodeError::kMalformed);  // fatal flag must be 0 or 1
  EXPECT_EQ(decode_error(Raw().string("t").varint(0).varint(0).varint(18).frame(0x08)),
            DecodeError::kMalformed);  // first id 0
  EXPECT_EQ(decode_error(Raw().string("t").varint(5).varint(4).varint(18).frame(0x08)),
            DecodeError::kMalformed);  // first > last
  EXPECT_EQ(decode_error(Raw().string("").varint(1).varint(1).varint(18).frame(0x08)),
            DecodeError::kMalformed);  // empty topic
  EXPECT_EQ(decode_error(Raw()
                             .varint(1)
                             .varint(kMinMaxFrameSize - 1)
                             .string("")
                             .varint(0)
                             .varint(0)
                             .varint(0)
                             .frame(0x01)),
            DecodeError::kMalformed);
  EXPECT_EQ(decode_error(Raw().varint(1).varint(1).varint(1000).varint(0).varint(0).frame(0x02)),
            DecodeError::kMalformed);
  // A count larger than the body could hold is refused before any element is read.
  EXPECT_EQ(decode_error(Raw().varint(kVarintMax).string("a").frame(0x06)),
            DecodeError::kMalformed);
  EXPECT_EQ(decode_error(Raw().varint(3).string("a").string("b").frame(0x06)),
            DecodeError::kMalformed);
  // Resume entries with an empty topic are malformed.
  EXPECT_EQ(decode_error(Raw().varint(0).varint(1).string("").varint(1).frame(0x05)),
            DecodeError::kMalformed);
}

TEST(FrameUnknown, UnknownTypesAreSkippedByLength) {
  Bytes stream = Raw().bytes({1, 2, 3, 4, 5}).frame(0x09);
  const Bytes reserved = Raw().frame(0x00);  // type 0 is unassigned too, empty body
  const Bytes large = Raw().bytes({0xff}).frame(kVarintMax);
  const Bytes event = encode_frame(EventFrame{"t", 1, as_bytes("x")});
  for (const Bytes* b : {&reserved, &large, &event})
    stream.insert(stream.end(), b->begin(), b->end());

  std::span<const uint8_t> rest(stream);
  std::vector<uint64_t> types;
  while (!rest.empty()) {
    auto f = decode(rest);
    ASSERT_TRUE(f);
    types.push_back(f->type);
    if (const UnknownFrame* u = f->get_if<UnknownFrame>()) {
      EXPECT_EQ(u->type, f->type);
    }
    rest = rest.subspan(f->size);
  }
  EXPECT_EQ(types, (std::vector<uint64_t>{0x09, 0x00, kVarintMax, 0x04}));
  auto first = decode(stream);
  ASSERT_TRUE(first);
  ASSERT_NE(first->get_if<UnknownFrame>(), nullptr);
  EXPECT_EQ(first->get_if<UnknownFrame>()->body.size(), 5u);
  EXPECT_EQ(to_string(static_cast<FrameType>(0x09)), "unknown");
}

// ---------------------------------------------------------------------------------------------
// Encoder errors.

TEST(FrameEncode, BufferTooSmallAtEverySizeAndNoWritePastTheEnd) {
  const std::string_view patterns[] = {"a.*"};
  const ResumePosition resume[] = {{"a.b", 9}};
  const std::vector<std::function<Result<size_t, EncodeError>(std::span<uint8_t>)>> encoders = {
      [&](auto out) {
        return encode(out, HelloParams{1, 65536, "tok", patterns, 1, resume});
      },
      [&](auto out) {
        return encode(out, WelcomeFrame{1, 2, 65536, 4, 5});
      },
      [&](auto out) {
        return encode(out, ErrorFrame{ErrorCode::kUnknown, true, "t", "m"});
      },
      [&](auto out) {
        return encode(out, EventFrame{"t", 1, as_bytes("data")});
      },
      [&](auto out) { return encode_event_header(out, "t", 1, 4); },
      [&](auto out) {
        return encode(out, SubscribeParams{patterns, resume});
      },
      [&](auto out) { return encode(out, UnsubscribeParams{patterns}); },
      [&](auto out) {
        return encode(out, GoAwayFrame{ErrorCode::kNoError, 1, "m"});
      },
      [&](auto out) {
        return encode(out, GapFrame{"t", 1, 2, ErrorCode::kSlowConsumer});
      },
  };
  for (size_t i = 0; i < encoders.size(); ++i) {
    Bytes big(256, 0xee);
    auto full = encoders[i](big);
    ASSERT_TRUE(full) << i;
    for (size_t size = 0; size < *full; ++size) {
      Bytes buffer(size + 8, 0xee);  // 8 guard bytes after the span
      auto r = encoders[i](std::span<uint8_t>(buffer.data(), size));
      ASSERT_FALSE(r) << i;
      EXPECT_EQ(r.error(), EncodeError::kBufferTooSmall);
      for (size_t g = size; g < buffer.size(); ++g) ASSERT_EQ(buffer[g], 0xee) << i;
    }
  }
}

TEST(FrameEncode, RefusesValuesAVarintCannotHold) {
  Bytes out(256);
  const uint64_t too_big = kVarintMax + 1;
  EXPECT_EQ(encode(out, EventFrame{"t", too_big, {}}).error(), EncodeError::kValueOutOfRange);
  EXPECT_EQ(encode(out, EventFrame{"t", 0, {}}).error(), EncodeError::kValueOutOfRange);
  EXPECT_EQ(encode(out, WelcomeFrame{too_big, 0, 65536, 0, 0}).error(),
            EncodeError::kValueOutOfRange);
  EXPECT_EQ(encode(out, WelcomeFrame{1, 0, 100, 0, 0}).error(), EncodeError::kValueOutOfRange);
  EXPECT_EQ(encode(out, HelloParams{1, 100, "", {}, 0, {}}).error(), EncodeError::kValueOutOfRange);
  EXPECT_EQ(encode(out, ErrorFrame{static_cast<ErrorCode>(too_big), false, "", ""}).error(),
            EncodeError::kValueOutOfRange);
  EXPECT_EQ(encode(out, GoAwayFrame{ErrorCode::kNoError, too_big, ""}).error(),
            EncodeError::kValueOutOfRange);
  EXPECT_EQ(encode(out, GapFrame{"t", 2, 1, ErrorCode::kSlowConsumer}).error(),
            EncodeError::kValueOutOfRange);
  EXPECT_EQ(encode(out, GapFrame{"t", 0, 1, ErrorCode::kSlowConsumer}).error(),
            EncodeError::kValueOutOfRange);
  const ResumePosition resume[] = {{"t", too_big}};
  EXPECT_EQ(encode(out, SubscribeParams{{}, resume}).error(), EncodeError::kValueOutOfRange);
  EXPECT_EQ(encode_event_header(out, "t", 1, SIZE_MAX).error(), EncodeError::kValueOutOfRange);
}

TEST(FrameEncode, RefusesInvalidText) {
  Bytes out(256);
  const std::string_view bad = "\xff";
  const std::string_view bad_list[] = {"ok", bad};
  const ResumePosition bad_resume[] = {{bad, 1}};
  const ResumePosition empty_resume[] = {{"", 1}};
  EXPECT_EQ(encode(out, EventFrame{bad, 1, {}}).error(), EncodeError::kInvalidText);
  EXPECT_EQ(encode(out, EventFrame{"", 1, {}}).error(), EncodeError::kInvalidText);
  EXPECT_EQ(encode(out, ErrorFrame{ErrorCode::kUnknown, false, bad, ""}).error(),
            EncodeError::kInvalidText);
  EXPECT_EQ(encode(out, ErrorFrame{ErrorCode::kUnknown, false, "", bad}).error(),
            EncodeError::kInvalidText);
  EXPECT_EQ(encode(out, GoAwayFrame{ErrorCode::kNoError, 0, bad}).error(),
            EncodeError::kInvalidText);
  EXPECT_EQ(encode(out, GapFrame{"", 1, 1, ErrorCode::kSlowConsumer}).error(),
            EncodeError::kInvalidText);
  EXPECT_EQ(encode(out, UnsubscribeParams{bad_list}).error(), EncodeError::kInvalidText);
  EXPECT_EQ(encode(out, SubscribeParams{{}, bad_resume}).error(), EncodeError::kInvalidText);
  EXPECT_EQ(encode(out, SubscribeParams{{}, empty_resume}).error(), EncodeError::kInvalidText);
  EXPECT_EQ(encode(out, HelloParams{1, 65536, "", bad_list, 0, {}}).error(),
            EncodeError::kInvalidText);
  // Tokens are opaque.
  EXPECT_TRUE(encode(out, HelloParams{1, 65536, bad, {}, 0, {}}));
}

// ---------------------------------------------------------------------------------------------
// Differential: random valid frames survive encode -> decode -> encode byte for byte.

TEST(FrameRandom, RandomFramesRoundTripExactly) {
  std::mt19937_64 rng(1234);
  auto number = [&] {
    const int bits = static_cast<int>(rng() % 63);
    return bits == 0 ? uint64_t{0} : rng() & ((uint64_t{1} << bits) - 1);
  };
  auto text = [&](bool nonempty) {
    std::string s(rng() % 20 + (nonempty ? 1 : 0), 'x');
    for (char& c : s) c = static_cast<char>('a' + rng() % 26);
    return s;
  };
  for (int round = 0; round < 5000; ++round) {
    std::vector<std::string> strings;
    for (int i = 0; i < 8; ++i) strings.push_back(text(true));
    std::vector<std::string_view> patterns(strings.begin(), strings.begin() + rng() % 5);
    std::vector<ResumePosition> resume;
    for (size_t i = 0, n = rng() % 4; i < n; ++i) resume.push_back({strings[4 + i], number()});
    Bytes data(rng() % 300);
    for (auto& b : data) b = static_cast<uint8_t>(rng());

    Bytes bytes;
    switch (rng() % 8) {
      case 0:
        bytes = encode_frame(HelloParams{number(), kMinMaxFrameSize + number() % 100000, strings[0],
                                         patterns, number(), resume});
        break;
      case 1:
        bytes = encode_frame(
            WelcomeFrame{number(), number(), kMinMaxFrameSize + number(), number(), number()});
        break;
      case 2:
        bytes = encode_frame(
            ErrorFrame{static_cast<ErrorCode>(number()), rng() % 2 == 0, strings[1], strings[2]});
        break;
      case 3:
        bytes = encode_frame(EventFrame{strings[0], number() + 1, data});
        break;
      case 4:
        bytes = encode_frame(SubscribeParams{patterns, resume});
        break;
      case 5:
        bytes = encode_frame(UnsubscribeParams{patterns});
        break;
      case 6:
        bytes = encode_frame(GoAwayFrame{static_cast<ErrorCode>(number()), number(), strings[3]});
        break;
      default: {
        const uint64_t first = number() + 1;
        bytes = encode_frame(
            GapFrame{strings[0], first, first + number() % 1000, static_cast<ErrorCode>(number())});
      }
    }
    Frame f = decode_ok(bytes, SIZE_MAX);
    // Re-encode what was decoded.
    Bytes again;
    std::visit(
        [&](const auto& body) {
          using T = std::decay_t<decltype(body)>;
          if constexpr (std::is_same_v<T, HelloFrame>) {
            std::vector<std::string_view> p(body.patterns.begin(), body.patterns.end());
            std::vector<ResumePosition> r(body.resume.begin(), body.resume.end());
            again = encode_frame(HelloParams{body.version, body.max_frame_size, body.token, p,
                                             body.resume_epoch, r});
          } else if constexpr (std::is_same_v<T, SubscribeFrame>) {
            std::vector<std::string_view> p(body.patterns.begin(), body.patterns.end());
            std::vector<ResumePosition> r(body.resume.begin(), body.resume.end());
            again = encode_frame(SubscribeParams{p, r});
          } else if constexpr (std::is_same_v<T, UnsubscribeFrame>) {
            std::vector<std::string_view> p(body.patterns.begin(), body.patterns.end());
            again = encode_frame(UnsubscribeParams{p});
          } else if constexpr (!std::is_same_v<T, UnknownFrame>) {
            again = encode_frame(body);
          }
        },
        f.body);
    ASSERT_EQ(again, bytes) << "round " << round;
  }
}

// ---------------------------------------------------------------------------------------------
// Lanes and names.

TEST(FrameLanes, LaneIsFnv1aModuloLaneCount) {
  // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c (published test vector).
  EXPECT_EQ(lane_for_topic("a", 16), 0xaf63dc4c8601ec8cULL % 16);
  EXPECT_EQ(lane_for_topic("", 7), 0xcbf29ce484222325ULL % 7);
  EXPECT_EQ(lane_for_topic("anything", 1), 0u);
  // Topics spread over all lanes.
  std::vector<int> counts(kDefaultEventLanes);
  for (int i = 0; i < 8000; ++i) {
    counts[lane_for_topic("topic." + std::to_string(i), kDefaultEventLanes)]++;
  }
  for (int c : counts) EXPECT_GT(c, 800);
}

TEST(FrameNames, ErrorNames) {
  EXPECT_EQ(to_string(DecodeError::kTooLarge), "too_large");
  EXPECT_EQ(to_string(EncodeError::kBufferTooSmall), "buffer_too_small");
  EXPECT_EQ(to_string(FrameType::kGoAway), "goaway");
  EXPECT_EQ(to_error_code(DecodeError::kTooLarge), ErrorCode::kFrameTooLarge);
  EXPECT_EQ(to_error_code(DecodeError::kInvalidUtf8), ErrorCode::kProtocolViolation);
  EXPECT_EQ(qsse::to_string(ErrorCode::kNotAuthorized), "not_authorized");
  EXPECT_EQ(qsse::to_string(static_cast<ErrorCode>(77)), "unknown_code");
  EXPECT_TRUE(is_known(ErrorCode::kUnknown));
  EXPECT_FALSE(is_known(static_cast<ErrorCode>(6)));
  EXPECT_TRUE(is_known(ErrorCode::kServerShutdown));
  EXPECT_FALSE(is_known(static_cast<ErrorCode>(25)));
  // Go's numbering is kept.
  EXPECT_EQ(static_cast<int>(ErrorCode::kNotAuthorized), 1);
  EXPECT_EQ(static_cast<int>(ErrorCode::kTopicNotAvailable), 2);
  EXPECT_EQ(static_cast<int>(ErrorCode::kFailedToCreateStream), 3);
  EXPECT_EQ(static_cast<int>(ErrorCode::kFailedToSendOffer), 4);
  EXPECT_EQ(static_cast<int>(ErrorCode::kUnknown), 5);
}

}  // namespace
}  // namespace qsse::wire

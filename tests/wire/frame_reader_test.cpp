// FrameReader: the same frames, whatever the chunking; bounded buffering; copies only when a
// frame straddles chunks.
#include "wire/frame_reader.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "wire/varint.hpp"

namespace qsse::wire {
namespace {

using Bytes = std::vector<uint8_t>;

// What a test compares: frame type and its bytes (frames are views, so copy them out).
struct Seen {
  uint64_t type;
  Bytes bytes;
  bool operator==(const Seen&) const = default;
};

Bytes encode_event(std::string_view topic, uint64_t id, size_t data_size) {
  Bytes data(data_size);
  for (size_t i = 0; i < data_size; ++i) data[i] = static_cast<uint8_t>(id + i);
  Bytes out(event_size(topic.size(), id, data_size));
  EXPECT_TRUE(wire::encode_event(out, topic, id, data));
  return out;
}

// A stream of assorted frames with varints of every length class.
Bytes sample_stream(std::vector<Bytes>* frames = nullptr) {
  std::vector<Bytes> parts;
  parts.push_back(encode_event("a", 1, 0));
  parts.push_back(encode_event("ride.passenger.start", 63, 10));
  parts.push_back(encode_event("b", 16384, 100));                // 2-byte length, 4-byte id
  parts.push_back(encode_event("c", uint64_t{1} << 40, 20000));  // 4-byte length
  const std::string_view patterns[] = {"x.*"};
  Bytes hello(encoded_size(HelloParams{1, 65536, "tok", patterns, 0, {}}));
  EXPECT_TRUE(encode(hello, HelloParams{1, 65536, "tok", patterns, 0, {}}));
  parts.push_back(hello);
  parts.push_back({0x21, 0x02, 0xaa, 0xbb});  // unknown type 0x21, skipped by length
  for (int i = 0; i < 20; ++i) parts.push_back(encode_event("small", 1000 + i, i));
  Bytes stream;
  for (const Bytes& p : parts) stream.insert(stream.end(), p.begin(), p.end());
  if (frames) *frames = parts;
  return stream;
}

std::vector<Seen> expected_frames(const std::vector<Bytes>& parts) {
  std::vector<Seen> out;
  for (const Bytes& p : parts) {
    auto f = decode(p, 1 << 20);
    EXPECT_TRUE(f);
    out.push_back({f->type, p});
  }
  return out;
}

// Feeds `stream` cut at `cuts` (sorted offsets) and collects the frames.
std::vector<Seen> read_chunked(const Bytes& stream, const std::vector<size_t>& cuts,
                               size_t max = 1 << 20) {
  FrameReader reader(max);
  std::vector<Seen> seen;
  size_t start = 0;
  auto drain = [&] {
    for (;;) {
      auto f = reader.next();
      if (!f) {
        EXPECT_EQ(f.error(), DecodeError::kNeedMore);
        return;
      }
      EXPECT_LE(f->size, max);
      EXPECT_EQ(f->encoded.size(), f->size);
      seen.push_back({f->type, Bytes(f->encoded.begin(), f->encoded.end())});
    }
  };
  for (size_t cut : cuts) {
    reader.feed({stream.data() + start, cut - start});
    drain();
    start = cut;
  }
  reader.feed({stream.data() + start, stream.size() - start});
  drain();
  EXPECT_TRUE(reader.finish());
  EXPECT_EQ(reader.buffered(), 0u);
  return seen;
}

TEST(FrameReader, WholeStreamInOneChunk) {
  std::vector<Bytes> parts;
  Bytes stream = sample_stream(&parts);
  EXPECT_EQ(read_chunked(stream, {}), expected_frames(parts));
}

TEST(FrameReader, OneByteAtATime) {
  std::vector<Bytes> parts;
  Bytes stream = sample_stream(&parts);
  std::vector<size_t> cuts;
  for (size_t i = 1; i < stream.size(); ++i) cuts.push_back(i);
  EXPECT_EQ(read_chunked(stream, cuts), expected_frames(parts));
}

TEST(FrameReader, SplitAtEveryOffset) {
  std::vector<Bytes> parts;
  Bytes stream = sample_stream(&parts);
  const auto expected = expected_frames(parts);
  for (size_t cut = 1; cut < stream.size(); ++cut) {
    ASSERT_EQ(read_chunked(stream, {cut}), expected) << "cut at " << cut;
  }
}

TEST(FrameReader, RandomChunking) {
  std::vector<Bytes> parts;
  Bytes stream = sample_stream(&parts);
  const auto expected = expected_frames(parts);
  std::mt19937_64 rng(99);
  for (int round = 0; round < 300; ++round) {
    std::vector<size_t> cuts;
    size_t pos = 0;
    for (;;) {
      pos += 1 + rng() % (round % 2 ? 40 : 3000);
      if (pos >= stream.size()) break;
      cuts.push_back(pos);
    }
    ASSERT_EQ(read_chunked(stream, cuts), expected) << "round " << round;
  }
}

TEST(FrameReader, WholeFramesAreViewsIntoTheChunkAndStraddlingOnesAreCopied) {
  Bytes first = encode_event("t", 1, 50);
  Bytes second = encode_event("t", 2, 50);
  Bytes stream = first;
  stream.insert(stream.end(), second.begin(), second.end());
  FrameReader reader;
  const size_t cut = first.size() + 10;  // inside the second frame
  reader.feed({stream.data(), cut});
  auto f1 = reader.next();
  ASSERT_TRUE(f1);
  const auto data1 = f1->get_if<EventFrame>()->data;
  EXPECT_GE(data1.data(), stream.data());
  EXPECT_LT(data1.data(), stream.data() + stream.size());
  EXPECT_EQ(reader.capacity(), 0u) << "nothing copied yet";
  EXPECT_EQ(reader.next().error(), DecodeError::kNeedMore);
  EXPECT_EQ(reader.buffered(), 10u);
  reader.feed({stream.data() + cut, stream.size() - cut});
  auto f2 = reader.next();
  ASSERT_TRUE(f2);
  const auto data2 = f2->get_if<EventFrame>()->data;
  EXPECT_FALSE(data2.data() >= stream.data() && data2.data() < stream.data() + stream.size())
      << "a straddling frame is returned from the reader's own buffer";
  EXPECT_EQ(f2->get_if<EventFrame>()->id, 2u);
  EXPECT_EQ(reader.next().error(), DecodeError::kNeedMore);
  EXPECT_TRUE(reader.finish());
}

TEST(FrameReader, OversizedFrameIsRefusedBeforeItsBodyIsBuffered) {
  FrameReader reader(1000);
  Bytes header = {0x04};
  uint8_t len[8];
  header.insert(header.end(), len, write_varint(len, 5000));
  reader.feed(header);
  EXPECT_EQ(reader.next().error(), DecodeError::kTooLarge);
  EXPECT_EQ(reader.buffered(), 0u);
  EXPECT_LE(reader.capacity(), 1000u);
  // Sticky: nothing more is accepted.
  Bytes good = encode_event("t", 1, 1);
  reader.feed(good);
  EXPECT_EQ(reader.next().error(), DecodeError::kTooLarge);
  EXPECT_EQ(reader.finish().error(), DecodeError::kTooLarge);
}

TEST(FrameReader, OversizedFrameSplitInsideItsLengthIsRefused) {
  FrameReader reader(1000);
  const Bytes header = {0x04, 0x80, 0x00, 0xc3, 0x50};  // length 50000, a 4-byte varint
  for (size_t i = 0; i < header.size(); ++i) {
    reader.feed({&header[i], 1});
    auto r = reader.next();
    if (i + 1 == header.size()) {
      EXPECT_EQ(r.error(), DecodeError::kTooLarge);
    } else {
      EXPECT_EQ(r.error(), DecodeError::kNeedMore);
    }
  }
}

TEST(FrameReader, BufferNeverExceedsTheLimit) {
  const size_t max = 4096;
  FrameReader reader(max);
  std::mt19937_64 rng(5);
  Bytes stream;
  for (uint64_t id = 1; id < 200; ++id) {
    Bytes f = encode_event("t", id, rng() % (max - 16));
    stream.insert(stream.end(), f.begin(), f.end());
  }
  size_t pos = 0, frames = 0;
  while (pos < stream.size()) {
    const size_t n = std::min<size_t>(1 + rng() % 5000, stream.size() - pos);
    reader.feed({stream.data() + pos, n});
    pos += n;
    for (;;) {
      auto f = reader.next();
      ASSERT_LE(reader.capacity(), max);
      if (!f) {
        ASSERT_EQ(f.error(), DecodeError::kNeedMore);
        break;
      }
      ++frames;
    }
  }
  EXPECT_EQ(frames, 199u);
}

TEST(FrameReader, MalformedFrameIsStickyAndFinishReportsTruncation) {
  {
    FrameReader reader;
    const Bytes bad = {0x04, 0x02, 0x00, 0x01};  // EVENT with an empty topic
    reader.feed(bad);
    EXPECT_EQ(reader.next().error(), DecodeError::kMalformed);
    EXPECT_EQ(reader.next().error(), DecodeError::kMalformed);
  }
  {
    // The same, split so that it goes through the buffer.
    FrameReader reader;
    const Bytes bad = {0x04, 0x02, 0x00, 0x01};
    reader.feed({bad.data(), 1});
    EXPECT_EQ(reader.next().error(), DecodeError::kNeedMore);
    reader.feed({bad.data() + 1, 3});
    EXPECT_EQ(reader.next().error(), DecodeError::kMalformed);
  }
  {
    FrameReader reader;
    Bytes f = encode_event("t", 1, 10);
    reader.feed({f.data(), f.size() - 1});
    EXPECT_EQ(reader.next().error(), DecodeError::kNeedMore);
    EXPECT_EQ(reader.finish().error(), DecodeError::kTruncated);
  }
  {
    FrameReader reader;
    const Bytes partial_header = {0x04};
    reader.feed(partial_header);
    EXPECT_EQ(reader.next().error(), DecodeError::kNeedMore);
    EXPECT_EQ(reader.finish().error(), DecodeError::kTruncated);
  }
  {
    FrameReader reader;
    EXPECT_EQ(reader.next().error(), DecodeError::kNeedMore);
    EXPECT_TRUE(reader.finish());
  }
}

TEST(FrameReader, NonMinimalHeaderAcrossChunksIsRefused) {
  FrameReader reader;
  const Bytes bytes = {0x40, 0x04, 0x02, 0x01, 't', 0x01};  // type 4 on two bytes
  reader.feed({bytes.data(), 1});
  EXPECT_EQ(reader.next().error(), DecodeError::kNeedMore);
  reader.feed({bytes.data() + 1, bytes.size() - 1});
  EXPECT_EQ(reader.next().error(), DecodeError::kNonMinimalVarint);
}

TEST(FrameReader, ReleaseMemoryKeepsPartialFrames) {
  FrameReader reader;
  Bytes f = encode_event("t", 1, 1000);
  reader.feed({f.data(), 500});
  EXPECT_EQ(reader.next().error(), DecodeError::kNeedMore);
  reader.release_memory();  // a partial frame is held: nothing is freed
  EXPECT_GE(reader.capacity(), f.size());
  reader.feed({f.data() + 500, f.size() - 500});
  auto frame = reader.next();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->get_if<EventFrame>()->data.size(), 1000u);
  EXPECT_EQ(reader.next().error(), DecodeError::kNeedMore);
  reader.release_memory();
  EXPECT_EQ(reader.capacity(), 0u);
}

}  // namespace
}  // namespace qsse::wire

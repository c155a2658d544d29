// Differential check of FrameReader against whole-buffer decoding: the same bytes, cut into
// chunks at fuzzer-chosen boundaries, must yield exactly the same frames and end in the same
// state. Aborts on any mismatch.
//
// Input layout: byte 0 = n, the number of chunk-length bytes that follow (each a chunk length
// of 1..256, used cyclically); byte 1 picks the frame size limit; the rest is the stream.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "wire/frame_reader.hpp"

namespace {

using namespace qsse::wire;

struct Outcome {
  std::vector<std::vector<uint8_t>> frames;  // encoded bytes of each frame, in order
  std::vector<uint64_t> types;
  DecodeError end = DecodeError::kNeedMore;  // how decoding stopped
  bool clean_end = false;                    // stopped exactly at the end of the input
};

// Checks that every view of a decoded frame lies inside its encoded bytes.
void check_views(const Frame& frame) {
  const uint8_t* lo = frame.encoded.data();
  const uint8_t* hi = lo + frame.encoded.size();
  auto inside = [&](const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    if (n != 0 && (b < lo || b + n > hi)) std::abort();
  };
  if (const auto* e = frame.get_if<EventFrame>()) {
    inside(e->topic.data(), e->topic.size());
    inside(e->data.data(), e->data.size());
  } else if (const auto* h = frame.get_if<HelloFrame>()) {
    inside(h->token.data(), h->token.size());
    for (std::string_view p : h->patterns) inside(p.data(), p.size());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t n_lengths = data[0] % 32;
  if (size < 2 + n_lengths) return 0;
  const uint8_t* lengths = data + 2;
  const size_t max_frame_size = data[1] < 128 ? kDefaultMaxFrameSize : size_t{data[1]} * 4;
  const std::span<const uint8_t> stream(data + 2 + n_lengths, size - 2 - n_lengths);

  // Reference: decode the whole buffer frame by frame.
  Outcome whole;
  std::span<const uint8_t> rest = stream;
  for (;;) {
    if (rest.empty()) {
      whole.clean_end = true;
      break;
    }
    auto frame = decode(rest, max_frame_size);
    if (!frame) {
      whole.end = frame.error();
      break;
    }
    whole.frames.emplace_back(frame->encoded.begin(), frame->encoded.end());
    whole.types.push_back(frame->type);
    rest = rest.subspan(frame->size);
  }

  // Chunked: each chunk is a separate heap copy, freed once consumed, so ASan catches a
  // reader that keeps pointing into an old chunk.
  Outcome chunked;
  FrameReader reader(max_frame_size);
  size_t pos = 0, k = 0;
  bool failed = false;
  while (pos < stream.size() && !failed) {
    const size_t len = n_lengths ? size_t{lengths[k++ % n_lengths]} + 1 : stream.size();
    const size_t n = std::min(len, stream.size() - pos);
    std::vector<uint8_t> chunk(stream.begin() + pos, stream.begin() + pos + n);
    pos += n;
    reader.feed(chunk);
    for (;;) {
      auto frame = reader.next();
      if (!frame) {
        if (frame.error() != DecodeError::kNeedMore) {
          chunked.end = frame.error();
          failed = true;
        }
        break;
      }
      check_views(*frame);
      chunked.frames.emplace_back(frame->encoded.begin(), frame->encoded.end());
      chunked.types.push_back(frame->type);
    }
    if (reader.buffered() > max_frame_size) std::abort();
  }
  if (!failed) {
    auto finish = reader.finish();
    chunked.clean_end = finish.has_value();
    if (!finish && finish.error() != DecodeError::kTruncated) std::abort();
  }

  if (chunked.frames != whole.frames || chunked.types != whole.types) std::abort();
  if (whole.clean_end != chunked.clean_end) std::abort();
  if (!whole.clean_end) {
    // The whole buffer ends in a partial frame (kNeedMore) exactly when the reader is left
    // holding one; any other error must be the same error.
    if (whole.end == DecodeError::kNeedMore) {
      if (failed) std::abort();
    } else if (!failed || chunked.end != whole.end) {
      std::abort();
    }
  }
  return 0;
}

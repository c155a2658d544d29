// Feeds arbitrary bytes to the native frame decoder, frame after frame, until it reports an
// error, touching every field it returns (so ASan sees any view that points outside the input).
// The first byte picks the frame size limit, so the too-large path is reached with small inputs.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "wire/frame.hpp"

namespace {

using namespace qsse::wire;

volatile uint64_t g_sink;

void touch(std::span<const uint8_t> bytes) {
  uint64_t sum = 0;
  for (uint8_t b : bytes) sum += b;
  g_sink = g_sink + sum;
}
void touch(std::string_view text) {
  touch(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

void touch(const Frame& frame) {
  std::visit(
      [](const auto& body) {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, HelloFrame>) {
          touch(body.token);
          for (std::string_view p : body.patterns) touch(p);
          for (const ResumePosition& r : body.resume) touch(r.topic);
        } else if constexpr (std::is_same_v<T, SubscribeFrame>) {
          for (std::string_view p : body.patterns) touch(p);
          for (const ResumePosition& r : body.resume) touch(r.topic);
        } else if constexpr (std::is_same_v<T, UnsubscribeFrame>) {
          for (std::string_view p : body.patterns) touch(p);
        } else if constexpr (std::is_same_v<T, ErrorFrame>) {
          touch(body.topic);
          touch(body.message);
        } else if constexpr (std::is_same_v<T, EventFrame>) {
          touch(body.topic);
          touch(body.data);
        } else if constexpr (std::is_same_v<T, GoAwayFrame>) {
          touch(body.message);
        } else if constexpr (std::is_same_v<T, GapFrame>) {
          touch(body.topic);
        } else if constexpr (std::is_same_v<T, UnknownFrame>) {
          touch(body.body);
        }
      },
      frame.body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t max_frame_size = data[0] < 128 ? kDefaultMaxFrameSize : size_t{data[0]} * 4;
  std::span<const uint8_t> rest(data + 1, size - 1);
  while (!rest.empty()) {
    auto frame = decode(rest, max_frame_size);
    if (!frame) break;
    if (frame->size == 0 || frame->size > rest.size() || frame->size > max_frame_size ||
        frame->encoded.data() != rest.data() || frame->encoded.size() != frame->size) {
      std::abort();
    }
    touch(*frame);
    rest = rest.subspan(frame->size);
  }
  return 0;
}

// decode -> encode -> decode must be stable: every frame the decoder accepts re-encodes to the
// very same bytes (encodings are canonical: minimal varints, no trailing bytes) and decodes to
// the same values. Aborts on any mismatch.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "wire/frame.hpp"

namespace {

using namespace qsse::wire;

template <class List>
auto to_vector(const List& list) {
  return std::vector<std::decay_t<decltype(*list.begin())>>(list.begin(), list.end());
}

template <class Params>
std::vector<uint8_t> encode_or_abort(const Params& params) {
  std::vector<uint8_t> out(encoded_size(params));
  auto written = encode(out, params);
  if (!written || *written != out.size()) std::abort();
  return out;
}

// The re-encoding of a decoded frame, or nothing for unknown types.
std::vector<uint8_t> reencode(const Frame& frame) {
  return std::visit(
      [](const auto& body) -> std::vector<uint8_t> {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, HelloFrame>) {
          auto patterns = to_vector(body.patterns);
          auto resume = to_vector(body.resume);
          if (patterns.size() != body.patterns.size()) std::abort();
          return encode_or_abort(HelloParams{body.version, body.max_frame_size, body.token,
                                             patterns, body.resume_epoch, resume});
        } else if constexpr (std::is_same_v<T, SubscribeFrame>) {
          auto patterns = to_vector(body.patterns);
          auto resume = to_vector(body.resume);
          return encode_or_abort(SubscribeParams{patterns, resume});
        } else if constexpr (std::is_same_v<T, UnsubscribeFrame>) {
          auto patterns = to_vector(body.patterns);
          return encode_or_abort(UnsubscribeParams{patterns});
        } else if constexpr (std::is_same_v<T, EventFrame>) {
          // Also check the split encoder agrees with the whole-frame one.
          std::vector<uint8_t> whole = encode_or_abort(body);
          std::vector<uint8_t> head(
              event_header_size(body.topic.size(), body.id, body.data.size()));
          auto n = encode_event_header(head, body.topic, body.id, body.data.size());
          if (!n || *n != head.size() || head.size() + body.data.size() != whole.size() ||
              std::memcmp(head.data(), whole.data(), head.size()) != 0) {
            std::abort();
          }
          return whole;
        } else if constexpr (std::is_same_v<T, UnknownFrame>) {
          return {};
        } else {
          return encode_or_abort(body);
        }
      },
      frame.body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> rest(data, size);
  while (!rest.empty()) {
    auto frame = decode(rest, SIZE_MAX);
    if (!frame) break;
    rest = rest.subspan(frame->size);
    if (frame->get_if<UnknownFrame>()) continue;
    const std::vector<uint8_t> again = reencode(*frame);
    if (again.size() != frame->encoded.size() ||
        std::memcmp(again.data(), frame->encoded.data(), again.size()) != 0) {
      std::abort();
    }
    auto second = decode(again, SIZE_MAX);
    if (!second || second->size != again.size() || second->type != frame->type) std::abort();
    if (reencode(*second) != again) std::abort();
  }
  return 0;
}

// Drives the legacy (Go JSON) codec with arbitrary bytes: the line reader at fuzzer-chosen chunk
// boundaries, then each line as an event, an offer and an error payload. Whatever decodes must
// re-encode with our encoder and decode again to the same values. Aborts on any mismatch.
//
// Input layout: byte 0 = chunk length for the line reader (1..256); the rest is the stream.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "wire/legacy.hpp"
#include "wire/utf8.hpp"

namespace {

using namespace qsse::wire;

constexpr size_t kMaxLine = 64 * 1024;

std::span<const uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

void check_event(LegacyDecoder& decoder, std::string_view line) {
  auto event = decoder.decode_event(line);
  if (!event) return;
  if (!is_valid_utf8(event->topic)) std::abort();
  const std::string topic(event->topic);
  const std::vector<uint8_t> data(event->data.begin(), event->data.end());
  std::vector<uint8_t> out(legacy_event_size(topic, data.size()));
  auto written = encode_legacy_event(out, topic, data);
  if (!written || *written != out.size() || out.back() != '\n') std::abort();
  if (std::memchr(out.data(), '\n', out.size() - 1) != nullptr) std::abort();
  auto again = decoder.decode_event(
      std::string_view(reinterpret_cast<const char*>(out.data()), out.size() - 1));
  if (!again || again->topic != topic ||
      !std::equal(again->data.begin(), again->data.end(), data.begin(), data.end())) {
    std::abort();
  }
  if (topic == kLegacyErrorTopic) (void)decoder.decode_error_payload(again->data);
}

void check_offer(LegacyDecoder& decoder, std::string_view line) {
  auto offer = decoder.decode_offer(line);
  if (!offer) return;
  const std::string token(offer->token);
  std::vector<std::string> storage(offer->topics.begin(), offer->topics.end());
  std::vector<std::string_view> topics(storage.begin(), storage.end());
  std::vector<uint8_t> out(legacy_offer_size(token, topics));
  auto written = encode_legacy_offer(out, token, topics);
  if (!written || *written != out.size()) std::abort();
  auto again = decoder.decode_offer(
      std::string_view(reinterpret_cast<const char*>(out.data()), out.size() - 1));
  if (!again || again->token != token || again->topics.size() != topics.size()) std::abort();
  for (size_t i = 0; i < topics.size(); ++i) {
    if (again->topics[i] != topics[i]) std::abort();
  }
}

void check_error(LegacyDecoder& decoder, std::string_view line) {
  auto payload = decoder.decode_error_payload(as_bytes(line));
  if (!payload) return;
  if (payload->code < 0) return;  // our encoder takes ErrorCode (unsigned)
  const std::string topic(payload->topic);
  const auto code = static_cast<qsse::ErrorCode>(payload->code);
  std::vector<uint8_t> out(legacy_error_size(code, topic));
  auto written = encode_legacy_error(out, code, topic);
  if (!written || *written != out.size()) std::abort();
  auto event = decoder.decode_event(
      std::string_view(reinterpret_cast<const char*>(out.data()), out.size() - 1));
  if (!event || event->topic != kLegacyErrorTopic) std::abort();
  auto again = decoder.decode_error_payload(event->data);
  if (!again || again->code != payload->code || again->topic != topic) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static LegacyDecoder decoder(kMaxLine);  // reused, as the engine reuses one per shard
  const size_t chunk_length = size_t{data[0]} + 1;
  const std::span<const uint8_t> stream(data + 1, size - 1);

  LineReader reader(kMaxLine);
  for (size_t pos = 0; pos < stream.size();) {
    const size_t n = std::min(chunk_length, stream.size() - pos);
    std::vector<uint8_t> chunk(stream.begin() + pos, stream.begin() + pos + n);
    pos += n;
    reader.feed(chunk);
    for (;;) {
      auto line = reader.next();
      if (!line) break;
      if (line->find('\n') != std::string_view::npos) std::abort();
      const std::string copy(*line);  // the view dies with the chunk
      check_event(decoder, copy);
      check_offer(decoder, copy);
      check_error(decoder, copy);
    }
  }
  // Whatever follows the last newline is a line too, for the decoders' sake.
  std::string_view tail(reinterpret_cast<const char*>(stream.data()), stream.size());
  if (const size_t nl = tail.rfind('\n'); nl != std::string_view::npos) tail = tail.substr(nl + 1);
  check_event(decoder, tail);
  check_offer(decoder, tail);
  check_error(decoder, tail);
  return 0;
}

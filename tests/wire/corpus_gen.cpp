// Writes the seed corpora of the wire fuzz targets (fuzz/corpus/<target>/), from the encoders
// themselves, so the seeds always match the current format:
//   build-wire/tests/wire/wire_corpus_gen fuzz/corpus
// Not a test; built alongside them so it cannot rot.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "wire/frame.hpp"
#include "wire/legacy.hpp"
#include "wire/varint.hpp"

namespace {

using namespace qsse::wire;
using Bytes = std::vector<uint8_t>;

template <class Params>
Bytes frame(const Params& params) {
  Bytes out(encoded_size(params));
  if (!encode(out, params)) std::abort();
  return out;
}

Bytes raw(uint64_t type, const Bytes& body) {
  Bytes out(16);
  uint8_t* p = write_varint(out.data(), type);
  p = write_varint(p, body.size());
  out.resize(static_cast<size_t>(p - out.data()));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes text(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

void write(const std::filesystem::path& dir, const std::string& name, const Bytes& bytes) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

// One valid frame of each kind, and a few invalid ones.
std::vector<std::pair<std::string, Bytes>> native_frames() {
  const std::string_view patterns[] = {"ride.passenger.*", "chat.*.room"};
  const ResumePosition resume[] = {{"ride.passenger.start", 41}, {"chat.a.room", 70000}};
  const Bytes payload(100, 'p');
  return {
      {"hello", frame(HelloParams{1, 65536, "token-abc", patterns, 7, resume})},
      {"hello_empty", frame(HelloParams{})},
      {"welcome", frame(WelcomeFrame{1, 0x1234567890, 1 << 20, 1000, 64})},
      {"error", frame(ErrorFrame{qsse::ErrorCode::kTopicNotAvailable, false, "x.y", "no such"})},
      {"error_fatal", frame(ErrorFrame{qsse::ErrorCode::kNotAuthorized, true, "", "denied"})},
      {"event_small", frame(EventFrame{"a", 1, {payload.data(), 1}})},
      {"event", frame(EventFrame{"ride.passenger.start", 16384, payload})},
      {"event_big_id", frame(EventFrame{"t", kVarintMax, {}})},
      {"subscribe", frame(SubscribeParams{patterns, resume})},
      {"unsubscribe", frame(UnsubscribeParams{patterns})},
      {"goaway", frame(GoAwayFrame{qsse::ErrorCode::kServerShutdown, 5000, "draining"})},
      {"gap", frame(GapFrame{"a.b", 10, 20, qsse::ErrorCode::kSlowConsumer})},
      {"unknown_type", raw(0x21, {1, 2, 3})},
      {"bad_utf8_topic", raw(0x04, {0x02, 0xc0, 0xaf, 0x01})},
      {"non_minimal_type", {0x40, 0x04, 0x03, 0x01, 't', 0x01}},
      {"too_large", {0x04, 0x80, 0x10, 0x00, 0x00}},
      {"truncated", {0x04, 0x10, 0x05, 'a'}},
  };
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s FUZZ_CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path root = argv[1];
  const auto frames = native_frames();
  Bytes stream;
  for (const auto& [name, bytes] : frames) {
    if (name == "too_large" || name == "truncated" || name.starts_with("bad") ||
        name.starts_with("non")) {
      continue;
    }
    stream.insert(stream.end(), bytes.begin(), bytes.end());
  }

  for (const auto& [name, bytes] : frames) {
    write(root / "wire_decode", name, concat({{0x00}, bytes}));
    write(root / "wire_roundtrip", name, bytes);
  }
  write(root / "wire_decode", "stream", concat({{0x00}, stream}));
  write(root / "wire_decode", "stream_small_limit", concat({{0xc0}, stream}));
  write(root / "wire_roundtrip", "stream", stream);

  // wire_stream: n chunk lengths, the limit selector, the lengths, then the stream.
  write(root / "wire_stream", "one_byte_chunks", concat({{1, 0x00, 0}, stream}));
  write(root / "wire_stream", "mixed_chunks", concat({{4, 0x00, 2, 17, 0, 200}, stream}));
  write(root / "wire_stream", "small_limit", concat({{2, 0xc0, 5, 60}, stream}));
  write(root / "wire_stream", "whole", concat({{0, 0x00}, stream}));
  write(root / "wire_stream", "trailing_partial",
        concat({{1, 0x00, 3}, stream, {0x04, 0x20, 0x01}}));

  // legacy_json: the chunk length byte, then lines.
  const Bytes payload = text("{\"ride\":42,\"state\":\"started\"}");
  std::vector<std::pair<std::string, Bytes>> lines;
  auto add_event = [&](const std::string& name, std::string_view topic, const Bytes& data) {
    Bytes out(legacy_event_size(topic, data.size()));
    if (!encode_legacy_event(out, topic, data)) std::abort();
    lines.emplace_back(name, out);
  };
  add_event("event", "ride.passenger.start", payload);
  add_event("event_escapes", "a<b>&c\"\\\n\xe2\x80\xa8\xc3\xa9", payload);
  add_event("event_empty", "x", {});
  {
    const std::string_view topics[] = {"ride.*", "chat.room"};
    Bytes out(legacy_offer_size("secret", topics));
    if (!encode_legacy_offer(out, "secret", topics)) std::abort();
    lines.emplace_back("offer", out);
  }
  {
    Bytes out(legacy_error_size(qsse::ErrorCode::kTopicNotAvailable, "ride.*"));
    if (!encode_legacy_error(out, qsse::ErrorCode::kTopicNotAvailable, "ride.*")) std::abort();
    lines.emplace_back("error_event", out);
  }
  lines.emplace_back("error_payload",
                     text("{\"code\":2,\"data\":{\"topic\":\"x\",\"n\":[1,2.5,null]}}\n"));
  lines.emplace_back("reordered_nulls",
                     text("{\"data\":null,\"Topic\":\"t\",\"extra\":{\"a\":[]}}\r\n"));
  lines.emplace_back("unicode_escapes",
                     text("{\"topic\":\"\\u003c\\ud83d\\ude00\\u0000\",\"data\":\"YQ==\"}\n"));
  lines.emplace_back("garbage", text("{\"topic\":\"a\",}\n{\"data\":\"YQ\"}\nnull\n[]\n"));
  Bytes all;
  for (const auto& [name, bytes] : lines) {
    write(root / "legacy_json", name, concat({{0xff}, bytes}));
    all.insert(all.end(), bytes.begin(), bytes.end());
  }
  write(root / "legacy_json", "all_small_chunks", concat({{6}, all}));
  std::printf("corpora written under %s\n", root.c_str());
  return 0;
}

// Microbenchmarks of the wire module: native EVENT encode/decode by payload size, stream
// reassembly at several chunk sizes, and the legacy JSON codec.
//   build/bench/wire_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "wire/frame.hpp"
#include "wire/frame_reader.hpp"
#include "wire/legacy.hpp"

namespace {

using namespace qsse::wire;
using Bytes = std::vector<uint8_t>;

constexpr std::string_view kTopic = "ride.passenger.start";

Bytes payload(size_t size) {
  Bytes data(size);
  for (size_t i = 0; i < size; ++i) data[i] = static_cast<uint8_t>(i * 31 + 7);
  return data;
}

Bytes encoded_event(size_t payload_size, uint64_t id = 123456) {
  const Bytes data = payload(payload_size);
  Bytes out(event_size(kTopic.size(), id, data.size()));
  if (!encode_event(out, kTopic, id, data)) std::abort();
  return out;
}

void sizes(benchmark::internal::Benchmark* b) {
  for (int size : {16, 64, 1024, 16384}) b->Arg(size);
}

void BM_EventEncode(benchmark::State& state) {
  const Bytes data = payload(static_cast<size_t>(state.range(0)));
  Bytes out(event_size(kTopic.size(), uint64_t{1} << 40, data.size()));
  uint64_t id = 1;
  for (auto _ : state) {
    auto written = encode_event(out, kTopic, id++, data);
    benchmark::DoNotOptimize(written);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(out.size()));
}
BENCHMARK(BM_EventEncode)->Apply(sizes);

// Header only: what the engine writes when the payload stays in its own buffer (iovec).
void BM_EventEncodeHeader(benchmark::State& state) {
  Bytes out(64);
  uint64_t id = 1;
  for (auto _ : state) {
    auto written = encode_event_header(out, kTopic, id++, static_cast<size_t>(state.range(0)));
    benchmark::DoNotOptimize(written);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EventEncodeHeader)->Arg(64);

void BM_EventDecode(benchmark::State& state) {
  const Bytes frame = encoded_event(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(frame.data());
    auto decoded = decode(frame, 1 << 20);
    benchmark::DoNotOptimize(decoded);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(frame.size()));
}
BENCHMARK(BM_EventDecode)->Apply(sizes);

// A stream of 64-byte-payload events fed to a FrameReader in chunks of range(0) bytes
// (1200 is about one QUIC packet's worth of stream data).
void BM_FrameReaderChunked(benchmark::State& state) {
  Bytes stream;
  size_t frames = 0;
  while (stream.size() < 256 * 1024) {
    const Bytes one = encoded_event(64, frames + 1);
    stream.insert(stream.end(), one.begin(), one.end());
    ++frames;
  }
  const auto chunk = static_cast<size_t>(state.range(0));
  FrameReader reader;
  for (auto _ : state) {
    size_t seen = 0;
    for (size_t pos = 0; pos < stream.size(); pos += chunk) {
      reader.feed({stream.data() + pos, std::min(chunk, stream.size() - pos)});
      while (auto frame = reader.next()) {
        benchmark::DoNotOptimize(frame);
        ++seen;
      }
    }
    if (seen != frames) state.SkipWithError("lost frames");
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(frames));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(stream.size()));
}
BENCHMARK(BM_FrameReaderChunked)->Arg(16)->Arg(1200)->Arg(16384);

void BM_LegacyEventEncode(benchmark::State& state) {
  const Bytes data = payload(static_cast<size_t>(state.range(0)));
  Bytes out(legacy_event_size(kTopic, data.size()));
  for (auto _ : state) {
    auto written = encode_legacy_event(out, kTopic, data);
    benchmark::DoNotOptimize(written);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(out.size()));
}
BENCHMARK(BM_LegacyEventEncode)->Apply(sizes);

void BM_LegacyEventDecode(benchmark::State& state) {
  const Bytes data = payload(static_cast<size_t>(state.range(0)));
  Bytes line(legacy_event_size(kTopic, data.size()));
  if (!encode_legacy_event(line, kTopic, data)) std::abort();
  const std::string_view text(reinterpret_cast<const char*>(line.data()), line.size() - 1);
  LegacyDecoder decoder;
  for (auto _ : state) {
    auto event = decoder.decode_event(text);
    benchmark::DoNotOptimize(event);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(line.size()));
}
BENCHMARK(BM_LegacyEventDecode)->Apply(sizes);

void BM_LegacyOfferDecode(benchmark::State& state) {
  const std::string_view topics[] = {"ride.passenger.*", "ride.driver.location", "chat.room.42"};
  Bytes line(legacy_offer_size("eyJhbGciOiJIUzI1NiJ9.e30.signature", topics));
  if (!encode_legacy_offer(line, "eyJhbGciOiJIUzI1NiJ9.e30.signature", topics)) std::abort();
  const std::string_view text(reinterpret_cast<const char*>(line.data()), line.size() - 1);
  LegacyDecoder decoder;
  for (auto _ : state) {
    auto offer = decoder.decode_offer(text);
    benchmark::DoNotOptimize(offer);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(line.size()));
}
BENCHMARK(BM_LegacyOfferDecode);

}  // namespace

BENCHMARK_MAIN();

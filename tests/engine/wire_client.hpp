// tests/engine/wire_client.hpp — a qsse/1 client that sends exactly the frames a test gives it,
// over a real QUIC connection on loopback, and records the EVENT and GAP frames the server sends
// back: for requests the Client library never makes (resume positions it made up, the same
// resume list again and again, a frame limit it then ignores).
#pragma once

#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "engine/frames.hpp"
#include "engine/shard.hpp"
#include "quic/tls.hpp"
#include "wire/frame_reader.hpp"

namespace qsse::engine::testing {

class WireClient final : public ShardApp {
 public:
  struct Received {
    bool gap = false;
    std::string topic;
    uint64_t first = 0;                      // EVENT: its id; GAP: first missed id
    uint64_t last = 0;                       // EVENT: its id; GAP: last missed id
    ErrorCode reason = ErrorCode::kNoError;  // GAP only
    size_t data_size = 0;                    // EVENT only
  };

  // Connects to `server`, trusting `ca_pem`, and sends HELLO(patterns, max_frame_size) on the
  // control stream once the handshake completes.
  WireClient(const std::string& server, const std::string& ca_pem,
             std::vector<std::string> patterns,
             uint64_t max_frame_size = wire::kDefaultMaxFrameSize)
      : patterns_(std::move(patterns)), max_frame_size_(max_frame_size) {
    quic::ClientTlsOptions tls;
    tls.ca_pem = ca_pem;
    tls_ = *quic::TlsContext::client(tls);
    ShardConfig config;
    config.udp.bind = *io::Address::parse("127.0.0.1:0");
    config.backend = io::Backend::kPortable;
    config.thread_name = "wire-client";
    auto shard = Shard::create(config, nullptr, this);
    if (!shard) return;
    shard_ = shard->get();
    group_.add(std::move(*shard));
    const io::Address remote = *io::Address::parse(server);
    shard_->post([this, remote](Shard& s) {
      auto conn = s.connect(remote, tls_);
      if (conn) conn_ = *conn;
    });
    if (auto started = group_.start(); !started) {
      ADD_FAILURE() << started.error();
    }
  }
  ~WireClient() override { group_.stop(); }

  // Thread-safe: sends SUBSCRIBE(patterns, resume) on the control stream.
  void subscribe(std::vector<std::string> patterns,
                 std::vector<std::pair<std::string, uint64_t>> resume) {
    shard_->post([this, patterns = std::move(patterns), resume = std::move(resume)](Shard& s) {
      std::vector<std::string_view> views(patterns.begin(), patterns.end());
      std::vector<wire::ResumePosition> positions;
      for (const auto& [topic, id] : resume) positions.push_back({topic, id});
      send_control(s, encode_frame(wire::SubscribeParams{views, positions}));
    });
  }

  bool welcomed() {
    std::lock_guard lock(mutex_);
    return welcomed_;
  }
  std::vector<Received> received() {
    std::lock_guard lock(mutex_);
    return received_;
  }
  // ERROR frames received (the server answers a SUBSCRIBE of an unknown topic with one, after
  // it has processed the whole frame).
  size_t errors() {
    std::lock_guard lock(mutex_);
    return errors_;
  }

  // ---- ShardApp (shard thread) ----
  void on_handshake_completed(quic::Connection& c) override {
    auto stream = c.open_bidi_stream();
    if (!stream) return;
    control_ = *stream;
    std::vector<std::string_view> views(patterns_.begin(), patterns_.end());
    wire::HelloParams hello;
    hello.max_frame_size = max_frame_size_;
    hello.patterns = views;
    send_control(*shard_, encode_frame(hello));
  }
  bool on_stream_data(quic::Connection&, int64_t stream, std::span<const uint8_t> data,
                      bool) override {
    // Frames up to the server's limit are decoded, whatever this client announced: a frame
    // above the announced limit shows up as a received EVENT, and the test sees it.
    auto [it, added] = readers_.try_emplace(stream, size_t{1} << 20);
    it->second.feed(data);
    for (;;) {
      auto frame = it->second.next();
      if (!frame) return true;  // kNeedMore, or an error the test sees as missing frames
      std::lock_guard lock(mutex_);
      if (frame->get_if<wire::WelcomeFrame>() != nullptr) welcomed_ = true;
      if (frame->get_if<wire::ErrorFrame>() != nullptr) ++errors_;
      if (const auto* event = frame->get_if<wire::EventFrame>()) {
        received_.push_back({false, std::string(event->topic), event->id, event->id,
                             ErrorCode::kNoError, event->data.size()});
      } else if (const auto* gap = frame->get_if<wire::GapFrame>()) {
        received_.push_back(
            {true, std::string(gap->topic), gap->first_id, gap->last_id, gap->reason, 0});
      }
    }
  }

 private:
  void send_control(Shard& s, const quic::BufferRef& frame) {
    if (conn_ == nullptr || control_ < 0) return;
    (void)conn_->send(control_, frame);
    s.mark_dirty(*conn_);
  }

  std::vector<std::string> patterns_;
  uint64_t max_frame_size_;
  std::shared_ptr<quic::TlsContext> tls_;
  ShardGroup group_;
  Shard* shard_ = nullptr;
  quic::Connection* conn_ = nullptr;  // shard thread
  int64_t control_ = -1;              // shard thread
  std::map<int64_t, wire::FrameReader> readers_;
  std::mutex mutex_;
  bool welcomed_ = false;
  size_t errors_ = 0;
  std::vector<Received> received_;
};

}  // namespace qsse::engine::testing

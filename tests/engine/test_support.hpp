// tests/engine/test_support.hpp — helpers for end-to-end tests of Server and Client.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <qsse/client.hpp>
#include <qsse/server.hpp>

namespace qsse::testing {

// Polls `done` until it holds or `seconds` pass (no blind sleeps in assertions).
template <class F>
bool eventually(F&& done, double seconds = 10) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// Records what a client receives, thread-safely.
struct Recorder {
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> events;  // (topic, data) in arrival order
  std::vector<ClientError> errors;
  std::vector<std::pair<std::string, std::string>> messages;  // message-handler calls

  EventHandler event_handler(std::string tag = {}) {
    return [this, tag](std::string_view topic, std::span<const uint8_t> data) {
      std::lock_guard lock(mutex);
      events.emplace_back(tag + std::string(topic),
                          std::string(reinterpret_cast<const char*>(data.data()), data.size()));
    };
  }
  ErrorHandler error_handler() {
    return [this](const ClientError& e) {
      std::lock_guard lock(mutex);
      errors.push_back(e);
    };
  }
  MessageHandler message_handler() {
    return [this](std::string_view topic, std::span<const uint8_t> data) {
      std::lock_guard lock(mutex);
      messages.emplace_back(std::string(topic),
                            std::string(reinterpret_cast<const char*>(data.data()), data.size()));
    };
  }
  size_t event_count() {
    std::lock_guard lock(mutex);
    return events.size();
  }
  size_t error_count() {
    std::lock_guard lock(mutex);
    return errors.size();
  }
  bool has_error(int code, const std::string& topic) {
    std::lock_guard lock(mutex);
    for (const auto& e : errors) {
      if (e.code == code && e.topic == topic) return true;
    }
    return false;
  }
};

// A handler that blocks until released: the client stops reading, its receive window fills,
// and the server's queue for it grows.
struct Gate {
  std::mutex m;
  std::condition_variable cv;
  bool open = false;
  void wait() {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return open; });
  }
  void release() {
    {
      std::lock_guard lock(m);
      open = true;
    }
    cv.notify_all();
  }
};

inline ServerConfig test_server_config() {
  ServerConfig config;
  config.shards = 2;
  config.io_backend = IoBackend::kAuto;
  return config;
}

inline ClientConfig client_config_for(const Server& server, Protocol protocol = Protocol::kNative) {
  ClientConfig config;
  config.tls.ca_pem = server.certificate_pem();
  config.protocol = protocol;
  config.io_backend = IoBackend::kPortable;
  return config;
}

}  // namespace qsse::testing

// qsse/client.hpp — a qsse client: connect, subscribe to topic patterns, handle events.
//
//   qsse::ClientConfig config;
//   config.tls.ca_pem = server_certificate;
//   auto client = qsse::Client::create("127.0.0.1:4242", {"ride.*"}, config);
//   (*client)->set_event_handler("ride.*", [](std::string_view topic, auto data) { ... });
//
// create() returns once connected and subscribed (following the reconnect policy if the first
// dial fails), or with the reason it could not: unreachable, TLS failure, not authorized (the
// server closed with code 1). After that the client runs on its own thread: it keeps the
// connection alive, reconnects after a drop (if the policy allows) with the last event id of
// each topic, so a qsse/1 server resumes without gaps, and calls the handlers.
//
// Dispatch (as the Go library): an error (ERROR frame, legacy "error" topic event) goes to the
// error handler; an event goes to every handler whose pattern matches its topic, in the order
// the handlers were set; an event no handler matches goes to the message handler. Handlers run
// on the client's thread, one at a time: a slow handler delays the next events (and, once
// flow-control credit runs out, the server's sending) but never loses any.
//
// Thread safety: every method may be called from any thread, including from inside a handler.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <qsse/config.hpp>
#include <qsse/error.hpp>
#include <qsse/result.hpp>

namespace qsse {

struct ClientError {
  int code = 0;         // ErrorCode numbering (1 not authorized, 2 topic not available, ...)
  std::string topic;    // the topic or pattern concerned, empty for connection-level errors
  std::string message;  // detail (native: ERROR message; legacy: the error's data as JSON)
};

using EventHandler = std::function<void(std::string_view topic, std::span<const uint8_t> data)>;
using MessageHandler = EventHandler;
using ErrorHandler = std::function<void(const ClientError& error)>;

struct ClientStats {
  uint64_t events = 0;
  uint64_t gaps = 0;  // events the server reported as missed (GAP frames)
  uint64_t reconnects = 0;
  bool connected = false;
};

// Handlers installed before the client connects, so nothing that arrives right after the
// handshake (a refused topic's error, the first events) reaches a default handler.
struct ClientHandlers {
  std::vector<std::pair<std::string, EventHandler>> events;  // pattern -> handler
  MessageHandler on_message;
  ErrorHandler on_error;
};

class Client {
 public:
  [[nodiscard]] static Result<std::unique_ptr<Client>, std::string> create(
      std::string_view address, const std::vector<std::string>& topics,
      const ClientConfig& config = {}, ClientHandlers handlers = {});
  ~Client();  // close(). Not from inside one of its handlers (that aborts): close() it there.
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Handlers (see the header comment). Setting a handler for a pattern that already has one
  // replaces it; an empty function removes it.
  void set_event_handler(std::string_view pattern, EventHandler handler);
  void set_error_handler(ErrorHandler handler);
  void set_message_handler(MessageHandler handler);

  // Native protocol only: change the subscription without reconnecting. Refusals arrive at the
  // error handler. Errors: invalid pattern, legacy protocol, closed client.
  [[nodiscard]] Result<void, std::string> subscribe(const std::vector<std::string>& patterns);
  [[nodiscard]] Result<void, std::string> unsubscribe(const std::vector<std::string>& patterns);

  // Closes the connection (code 0) and stops the client thread. Idempotent. From inside a
  // handler it returns at once; the thread stops after the handler returns.
  void close();
  ClientStats stats() const;
  // The protocol the connection negotiated.
  Protocol protocol() const;

  struct Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace qsse

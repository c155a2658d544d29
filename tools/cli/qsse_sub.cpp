// qsse-sub — subscribe to topic patterns on a qsse server and print the events.
//
//   qsse-sub --connect 127.0.0.1:4242 --topic 'ride.*.location' --ca /tmp/qsse.pem --count 10
//
// stdout: one line per event. `--format text`: TOPIC<TAB>DATA (data as received; an event whose
// data holds a newline spans several lines). `--format jsonl`: {"topic":...,"data":...}, with
// "data_base64" instead of "data" when the data is not valid UTF-8. Event ids are not printed:
// the public Client API does not hand them to handlers.
// stderr: `connected to ADDR (PROTOCOL)` once subscribed, then errors with their code names.
//
// Exit status: 0 after --count events (without --count: when --timeout ends the run, or on
// SIGINT/SIGTERM);
// 1 when it cannot connect (unreachable, TLS failure, not authorized), when the connection is
// lost, or when stopped before --count events; 2 when --timeout expires first; CLI11's codes
// for bad arguments.
#include <qsse/client.hpp>
#include <qsse/error.hpp>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cli_support.hpp"
#include "text_format.hpp"

namespace {

using qsse::cli::Clock;

constexpr int kExitFailure = 1;
constexpr int kExitTimeout = 2;
// How often the main thread checks that the connection is still up when nothing wakes it.
constexpr auto kLivenessCheck = std::chrono::milliseconds(200);

struct Options {
  std::string connect;
  std::vector<std::string> topics;
  std::string token;
  std::string ca_file;
  bool insecure = false;
  uint64_t count = 0;  // 0: until stopped
  bool legacy = false;
  std::string format = "text";
  double timeout_seconds = 0;  // 0: none
};

// Prints events and errors from the client's thread and wakes the main thread when the count is
// reached or the connection reports an error.
class Printer {
 public:
  Printer(const Options& options, const qsse::cli::Wakeup& wakeup)
      : jsonl_(options.format == "jsonl"), count_(options.count), wakeup_(wakeup) {}

  void on_event(std::string_view topic, std::span<const uint8_t> data) {
    if (count_ != 0 && printed_.load(std::memory_order_relaxed) >= count_) return;
    line_.clear();
    if (jsonl_) {
      qsse::cli::append_event_json(line_, topic, data);
    } else {
      line_.append(topic);
      line_.push_back('\t');
      line_.append(reinterpret_cast<const char*>(data.data()), data.size());
    }
    line_.push_back('\n');
    std::fwrite(line_.data(), 1, line_.size(), stdout);
    std::fflush(stdout);  // line by line: readers (a pipe into sed, a test) see events live
    if (printed_.fetch_add(1, std::memory_order_relaxed) + 1 == count_) wakeup_.notify();
  }

  void on_error(const qsse::ClientError& error) {
    const auto name = qsse::to_string(static_cast<qsse::ErrorCode>(error.code));
    std::string where = error.topic.empty() ? std::string() : " on '" + error.topic + "'";
    std::fprintf(stderr, "qsse-sub: error %d (%.*s)%s: %s\n", error.code,
                 static_cast<int>(name.size()), name.data(), where.c_str(), error.message.c_str());
    if (error.topic.empty()) wakeup_.notify();  // connection-level: the main thread checks it
  }

  uint64_t printed() const { return printed_.load(std::memory_order_relaxed); }
  bool done() const { return count_ != 0 && printed() >= count_; }

 private:
  const bool jsonl_;
  const uint64_t count_;
  const qsse::cli::Wakeup& wakeup_;
  std::string line_;  // client thread only
  std::atomic<uint64_t> printed_{0};
};

int run(const Options& options) {
  qsse::cli::SignalWatch signals;  // before the client's thread starts
  qsse::cli::Wakeup wakeup;
  const auto start = Clock::now();
  const bool has_deadline = options.timeout_seconds > 0;
  const auto deadline = has_deadline
                            ? start + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(options.timeout_seconds))
                            : Clock::time_point::max();

  qsse::ClientConfig config;
  config.token = options.token;
  config.tls.ca_file = options.ca_file;
  config.tls.insecure_skip_verify = options.insecure;
  config.protocol = options.legacy ? qsse::Protocol::kLegacy : qsse::Protocol::kNative;
  if (has_deadline) {
    const auto bound = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    config.connect_timeout =
        std::clamp(bound, std::chrono::milliseconds(1), config.connect_timeout);
  }

  Printer printer(options, wakeup);
  qsse::ClientHandlers handlers;
  handlers.on_message = [&printer](std::string_view topic, std::span<const uint8_t> data) {
    printer.on_event(topic, data);
  };
  handlers.on_error = [&printer](const qsse::ClientError& error) { printer.on_error(error); };

  auto created = qsse::Client::create(options.connect, options.topics, config, std::move(handlers));
  if (!created) {
    std::fprintf(stderr, "qsse-sub: %s\n", created.error().c_str());
    if (options.ca_file.empty() && !options.insecure &&
        created.error().find("not authorized") == std::string::npos) {
      std::fprintf(stderr,
                   "qsse-sub: hint: a server with a self-signed certificate needs --ca FILE "
                   "(qsse-server --write-cert FILE writes it) or --insecure\n");
    }
    return kExitFailure;
  }
  std::unique_ptr<qsse::Client> client = std::move(*created);
  std::fprintf(stderr, "connected to %s (%s)\n", options.connect.c_str(),
               client->protocol() == qsse::Protocol::kNative ? "qsse/1" : "legacy");

  int exit_status = 0;
  int signal = 0;
  for (;;) {
    if (printer.done()) break;
    if (!client->stats().connected) {
      std::fprintf(stderr, "qsse-sub: connection lost after %" PRIu64 " event(s)\n",
                   printer.printed());
      exit_status = kExitFailure;
      break;
    }
    const auto wake_at = std::min(deadline, Clock::now() + kLivenessCheck);
    const qsse::cli::Woken woken = qsse::cli::wait_until(signals, &wakeup, wake_at, &signal);
    if (woken == qsse::cli::Woken::kSignal) {
      if (options.count != 0 && !printer.done()) {
        std::fprintf(stderr, "qsse-sub: stopped by %s after %" PRIu64 " of %" PRIu64 " events\n",
                     strsignal(signal), printer.printed(), options.count);
        exit_status = kExitFailure;
      }
      break;
    }
    if (woken == qsse::cli::Woken::kDeadline && Clock::now() >= deadline && !printer.done()) {
      if (options.count == 0) break;  // no count: --timeout is how long to listen
      std::fprintf(stderr, "qsse-sub: timeout after %g s: %" PRIu64 " of %" PRIu64 " events\n",
                   options.timeout_seconds, printer.printed(), options.count);
      exit_status = kExitTimeout;
      break;
    }
  }
  client->close();
  return exit_status;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"qsse-sub: subscribe to topics of a qsse server and print the events"};
  app.add_option("--connect", options.connect, "Server address, HOST:PORT")
      ->type_name("ADDR")
      ->required();
  app.add_option("--topic", options.topics, "A topic or pattern such as ride.*.location (repeat)")
      ->type_name("PATTERN")
      ->required()
      ->allow_extra_args(false);
  app.add_option("--token", options.token, "Token to present to the server")->type_name("TOKEN");
  auto* ca = app.add_option("--ca", options.ca_file, "Trust this certificate (PEM file)")
                 ->type_name("FILE")
                 ->check(CLI::ExistingFile);
  auto* insecure =
      app.add_flag("--insecure", options.insecure, "Do not verify the server's certificate");
  ca->excludes(insecure);
  app.add_option("--count", options.count, "Exit 0 after this many events (0: run until stopped)")
      ->type_name("N");
  app.add_flag("--legacy", options.legacy, "Speak the Go library's protocol (PROTOCOL_QUIC)");
  app.add_option("--format", options.format, "Output format")
      ->type_name("text|jsonl")
      ->check(CLI::IsMember({"text", "jsonl"}));
  app.add_option("--timeout", options.timeout_seconds,
                 "Give up (exit 2) if --count events have not arrived within SECONDS; without "
                 "--count, listen for SECONDS and exit 0")
      ->type_name("SECONDS")
      ->check(CLI::NonNegativeNumber);
  app.footer(
      "Exit status: 0 after --count events, 1 on connection or authentication failure or a lost "
      "connection, 2 on --timeout.");
  return qsse::cli::parse_and_run(app, argc, argv, "qsse-sub", [&] { return run(options); });
}

// qsse-server — serve topics over QUIC, publishing lines from stdin and/or synthetic events.
//
//   qsse-server --listen 127.0.0.1:4242 --topic ride.1.location --topic chat.room
//               --generate 1000 --write-cert /tmp/qsse.pem --metrics 127.0.0.1:9100
//
// Output (stderr): `listening on ADDR` once everything is ready (the certificate file written,
// the metrics endpoint up), then one status line per second, then a summary at shutdown.
// SIGINT or SIGTERM shuts down gracefully (GOAWAY, drain, close). Exit status: 0 after a
// graceful shutdown, 1 if the server cannot start, CLI11's codes for bad arguments.
#include <qsse/metrics.hpp>
#include <qsse/server.hpp>
#include <qsse/topic.hpp>

#include <poll.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli_support.hpp"

namespace {

using qsse::cli::Clock;

constexpr size_t kMaxStdinLine = 1u << 20;  // longer lines are reported and skipped
constexpr auto kStatusInterval = std::chrono::seconds(1);
constexpr auto kShutdownDrain = std::chrono::milliseconds(500);

struct Options {
  std::string listen;
  std::vector<std::string> topics;
  std::string token;
  std::string cert_file;
  std::string key_file;
  std::string write_cert;
  std::string metrics;
  bool from_stdin = false;
  double generate_rate = 0;
  size_t shards = 0;
  size_t inbox_capacity = 0;  // 0: the library's default
  int realtime_priority = 0;  // SCHED_FIFO priority of the shard threads (0: ordinary)
};

// Compares without an early exit, so the time taken does not tell how much of a token matched.
bool same_token(std::string_view a, std::string_view b) {
  unsigned char difference = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    difference |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return difference == 0;
}

// Publishes, retrying while the server reports back-pressure (waits grow from 50 us to 1 ms).
// Every refused attempt is counted by the server (ServerStats::back_pressure). Returns the last
// result: kBackPressure only if `stop` was raised before the event got through.
qsse::PublishResult publish_with_retry(qsse::Server& server, std::string_view topic,
                                       std::string_view data, const std::atomic<bool>& stop) {
  auto wait = std::chrono::microseconds(50);
  for (;;) {
    qsse::PublishResult result = server.publish(topic, data);
    if (result.status != qsse::PublishStatus::kBackPressure || stop.load()) return result;
    std::this_thread::sleep_for(wait);
    wait = std::min(wait * 2, std::chrono::microseconds(1000));
  }
}

// Reads `TOPIC DATA` lines from stdin on its own thread and publishes them. TOPIC may be a
// pattern (it expands over the declared topics). Bad lines are reported with their number.
class StdinPublisher {
 public:
  explicit StdinPublisher(qsse::Server& server) : server_(server) {
    thread_ = std::thread([this] { run(); });
  }
  ~StdinPublisher() {
    stop_ = true;
    thread_.join();
  }
  StdinPublisher(const StdinPublisher&) = delete;
  StdinPublisher& operator=(const StdinPublisher&) = delete;

 private:
  void run() {
    std::string pending;
    bool skipping = false;  // inside a line longer than kMaxStdinLine
    char chunk[64 * 1024];
    while (!stop_) {
      pollfd fd{STDIN_FILENO, POLLIN, 0};
      const int ready = poll(&fd, 1, 100);  // wake regularly to notice stop_
      if (ready < 0 && errno != EINTR) break;
      if (ready <= 0) continue;
      const ssize_t n = read(STDIN_FILENO, chunk, sizeof(chunk));
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        if (!pending.empty() && !skipping) handle_line(pending);
        std::fprintf(stderr,
                     "qsse-server: stdin: end of input after %" PRIu64 " line(s): %" PRIu64
                     " published, %" PRIu64 " bad; still serving until SIGINT/SIGTERM\n",
                     line_number_, published_, bad_);
        return;
      }
      std::string_view input(chunk, static_cast<size_t>(n));
      while (!input.empty() && !stop_) {
        const size_t newline = input.find('\n');
        const std::string_view piece = input.substr(0, newline);
        if (!skipping) pending.append(piece);
        if (pending.size() > kMaxStdinLine && !skipping) {
          skipping = true;
          pending.clear();
        }
        if (newline == std::string_view::npos) break;
        input.remove_prefix(newline + 1);
        if (skipping) {
          ++line_number_;
          ++bad_;
          std::fprintf(stderr,
                       "qsse-server: stdin line %" PRIu64 ": longer than %zu bytes, skipped\n",
                       line_number_, kMaxStdinLine);
          skipping = false;
        } else {
          handle_line(pending);
        }
        pending.clear();
      }
    }
    if (abandoned_ > 0) {
      std::fprintf(stderr,
                   "qsse-server: stdin: %" PRIu64 " event(s) not published: shutting down\n",
                   abandoned_);
    }
  }

  void handle_line(std::string_view line) {
    ++line_number_;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) return;  // blank lines separate nothing; ignore them
    const size_t space = line.find(' ');
    if (space == std::string_view::npos || space == 0) {
      ++bad_;
      std::fprintf(stderr, "qsse-server: stdin line %" PRIu64 ": expected 'TOPIC DATA'\n",
                   line_number_);
      return;
    }
    const std::string topic(line.substr(0, space));
    const qsse::PublishResult result =
        publish_with_retry(server_, topic, line.substr(space + 1), stop_);
    if (result.ok()) {
      ++published_;
    } else if (result.status == qsse::PublishStatus::kBackPressure) {
      ++abandoned_;  // stop_ was raised while the server was refusing
    } else {
      ++bad_;
      std::fprintf(stderr, "qsse-server: stdin line %" PRIu64 ": topic '%s': %s\n", line_number_,
                   topic.c_str(), std::string(qsse::to_string(result.status)).c_str());
    }
  }

  qsse::Server& server_;
  std::atomic<bool> stop_{false};
  uint64_t line_number_ = 0;
  uint64_t published_ = 0;
  uint64_t bad_ = 0;
  uint64_t abandoned_ = 0;
  std::thread thread_;
};

// Publishes `rate` synthetic events per second, round-robin over the topics. The payload is
// {"seq":N,"ts_us":MICROSECONDS_SINCE_EPOCH}. Back-pressure delays the schedule (and is counted
// by the server); an event is never skipped.
class Generator {
 public:
  Generator(qsse::Server& server, std::vector<std::string> topics, double rate)
      : server_(server), topics_(std::move(topics)), rate_(rate) {
    thread_ = std::thread([this] { run(); });
  }
  ~Generator() {
    stop_ = true;
    thread_.join();
  }
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;

 private:
  void run() {
    const auto start = Clock::now();
    uint64_t sent = 0;
    char payload[96];
    while (!stop_) {
      // Events due by now, according to the schedule.
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      const auto due = static_cast<uint64_t>(elapsed * rate_);
      while (sent < due && !stop_) {
        const uint64_t seq = sent + 1;
        const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
        const int length =
            std::snprintf(payload, sizeof(payload), "{\"seq\":%" PRIu64 ",\"ts_us\":%lld}", seq,
                          static_cast<long long>(now_us));
        const std::string& topic = topics_[sent % topics_.size()];
        const qsse::PublishResult result = publish_with_retry(
            server_, topic, std::string_view(payload, static_cast<size_t>(length)), stop_);
        if (!result.ok()) {
          if (result.status != qsse::PublishStatus::kBackPressure) {
            std::fprintf(stderr, "qsse-server: generator: topic '%s': %s; generator stopped\n",
                         topic.c_str(), std::string(qsse::to_string(result.status)).c_str());
          }
          return;
        }
        sent = seq;
      }
      // Sleep until the next event is due.
      const auto next = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>((sent + 1) / rate_));
      const auto cap = Clock::now() + std::chrono::milliseconds(100);  // notice stop_ in time
      std::this_thread::sleep_until(std::min(next, cap));
    }
  }

  qsse::Server& server_;
  std::vector<std::string> topics_;
  double rate_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// One status line per interval: rates over the interval, totals since the start.
class StatusPrinter {
 public:
  StatusPrinter() : start_(Clock::now()), last_time_(start_) {}

  void print(const qsse::ServerStats& now) {
    const auto time = Clock::now();
    const double seconds = std::chrono::duration<double>(time - last_time_).count();
    const double published = rate(now.events_published, last_.events_published, seconds);
    const double delivered = rate(now.events_delivered, last_.events_delivered, seconds);
    std::fprintf(stderr,
                 "status connections=%" PRIu64
                 " published/s=%.0f delivered/s=%.0f published=%" PRIu64 " delivered=%" PRIu64
                 " dropped=%" PRIu64 " back_pressure=%" PRIu64 "\n",
                 now.connections, published, delivered, now.events_published, now.events_delivered,
                 now.events_dropped, now.back_pressure);
    last_ = now;
    last_time_ = time;
  }

  void summary(const qsse::ServerStats& now) const {
    const double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    std::fprintf(stderr,
                 "qsse-server: shut down after %.1f s: published=%" PRIu64 " delivered=%" PRIu64
                 " dropped=%" PRIu64 " back_pressure=%" PRIu64 " handshakes=%" PRIu64
                 " auth_failures=%" PRIu64 "\n",
                 seconds, now.events_published, now.events_delivered, now.events_dropped,
                 now.back_pressure, now.handshakes_ok, now.auth_failures);
  }

 private:
  static double rate(uint64_t now, uint64_t before, double seconds) {
    return seconds > 0 && now >= before ? static_cast<double>(now - before) / seconds : 0.0;
  }

  Clock::time_point start_;
  Clock::time_point last_time_;
  qsse::ServerStats last_;
};

std::string metrics_url_host(const std::string& address) {
  const std::string host = address.substr(0, address.rfind(':'));
  return host.empty() ? "0.0.0.0" : host;
}

int run(const Options& options) {
  qsse::cli::SignalWatch signals;  // before any thread starts: they inherit the blocked mask

  for (const std::string& topic : options.topics) {
    if (auto valid = qsse::validate_topic(topic); !valid) {
      std::fprintf(stderr, "qsse-server: --topic '%s': %s\n", topic.c_str(),
                   std::string(qsse::topic_error_name(valid.error())).c_str());
      return 1;
    }
  }

  qsse::ServerConfig config;
  config.shards = options.shards;
  if (options.inbox_capacity != 0) config.inbox_capacity = options.inbox_capacity;
  config.realtime_priority = options.realtime_priority;
  config.tls.certificate_file = options.cert_file;
  config.tls.private_key_file = options.key_file;
  if (!options.token.empty()) {  // in force from the first connection on
    config.authenticator = [token = options.token](std::string_view presented) {
      return same_token(presented, token);
    };
  }
  auto created = qsse::Server::create(options.listen, options.topics, config);
  if (!created) {
    std::fprintf(stderr, "qsse-server: %s\n", created.error().c_str());
    return 1;
  }
  std::unique_ptr<qsse::Server> server = std::move(*created);

  if (!options.write_cert.empty()) {
    if (std::string error =
            qsse::cli::write_file_atomically(options.write_cert, server->certificate_pem());
        !error.empty()) {
      std::fprintf(stderr, "qsse-server: --write-cert: %s\n", error.c_str());
      return 1;
    }
  }

  std::optional<qsse::metrics::MetricsHttpServer> metrics_http;
  if (!options.metrics.empty()) {
    auto started =
        qsse::metrics::MetricsHttpServer::start(server->metrics_registry(), options.metrics);
    if (!started) {
      std::fprintf(stderr, "qsse-server: --metrics: %s\n", started.error().message.c_str());
      return 1;
    }
    metrics_http.emplace(std::move(*started));
    std::fprintf(stderr, "metrics on http://%s:%u/metrics\n",
                 metrics_url_host(options.metrics).c_str(), metrics_http->port());
  }

  std::fprintf(stderr, "listening on %s\n", server->address().c_str());

  std::optional<StdinPublisher> stdin_publisher;
  if (options.from_stdin) stdin_publisher.emplace(*server);
  std::optional<Generator> generator;
  if (options.generate_rate > 0) {
    generator.emplace(*server, options.topics, options.generate_rate);
  }

  StatusPrinter status;
  auto next_status = Clock::now() + kStatusInterval;
  int signal = 0;
  for (;;) {
    if (qsse::cli::wait_until(signals, nullptr, next_status, &signal) ==
        qsse::cli::Woken::kSignal) {
      break;
    }
    const qsse::ServerStats stats = server->stats();
    status.print(stats);
    next_status += kStatusInterval;
    if (next_status < Clock::now()) next_status = Clock::now() + kStatusInterval;
  }

  std::fprintf(stderr, "qsse-server: %s: shutting down\n", strsignal(signal));
  generator.reset();
  stdin_publisher.reset();
  server->shutdown(kShutdownDrain);
  const qsse::ServerStats stats = server->stats();
  if (metrics_http) metrics_http->stop();
  status.summary(stats);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"qsse-server: serve topics as server-sent events over QUIC"};
  app.add_option("--listen", options.listen, "Address to listen on, IP:PORT (port 0: any free one)")
      ->type_name("ADDR")
      ->required();
  app.add_option("--topic", options.topics, "A topic to declare (repeat for more)")
      ->type_name("TOPIC")
      ->required()
      ->allow_extra_args(false);
  app.add_option("--token", options.token, "Accept only clients presenting this token")
      ->type_name("TOKEN");
  auto* cert = app.add_option("--cert", options.cert_file, "Certificate (PEM file)")
                   ->type_name("FILE")
                   ->check(CLI::ExistingFile);
  auto* key = app.add_option("--key", options.key_file, "Private key (PEM file)")
                  ->type_name("FILE")
                  ->check(CLI::ExistingFile);
  cert->needs(key);
  key->needs(cert);
  app.add_option("--write-cert", options.write_cert,
                 "Write the server's certificate here (the generated self-signed one without "
                 "--cert), for subscribers' --ca")
      ->type_name("FILE");
  app.add_option("--metrics", options.metrics,
                 "Serve Prometheus metrics at http://ADDR/metrics (IPV4:PORT or :PORT)")
      ->type_name("ADDR");
  app.add_flag("--stdin", options.from_stdin,
               "Publish each stdin line 'TOPIC DATA' (TOPIC may be a pattern)");
  app.add_option("--generate", options.generate_rate,
                 "Publish RATE synthetic events per second, spread over the topics")
      ->type_name("RATE")
      ->check(CLI::PositiveNumber);
  app.add_option("--shards", options.shards, "Shard threads (default: one per core)")
      ->type_name("N")
      ->check(CLI::Range(1, 255));
  app.add_option("--inbox-capacity", options.inbox_capacity,
                 "Events queued per shard before publishing meets back-pressure (default 65536)")
      ->type_name("N")
      ->check(CLI::PositiveNumber);
  app.add_option("--realtime-priority", options.realtime_priority,
                 "Run the shard threads under SCHED_FIFO at this priority, 1-99, ahead of "
                 "ordinary threads (needs root or CAP_SYS_NICE; default: ordinary scheduling)")
      ->type_name("PRIO")
      ->check(CLI::Range(1, 99));
  app.footer(
      "Prints 'listening on ADDR' when ready and a status line per second on stderr; SIGINT or "
      "SIGTERM shuts down gracefully. Exit status: 0 after shutdown, 1 if it cannot start.");
  return qsse::cli::parse_and_run(app, argc, argv, "qsse-server", [&] { return run(options); });
}

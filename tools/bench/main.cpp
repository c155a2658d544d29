// qsse-bench: runs a publish/subscribe scenario on loopback and prints a table; optionally the
// same scenario against NATS, side by side, and the standard matrix of issue #7.
#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <ctime>

#include "driver.hpp"
#include "engine/shard.hpp"
#include "matrix.hpp"
#include "payload.hpp"
#include "probe.hpp"
#include "report.hpp"

namespace qsse::bench {
void close_nats_library();
}

namespace {

using namespace qsse::bench;

constexpr const char* kFooter = R"(
What is measured
  delivered events/s   events received by all subscribers together in the window, per second
  published events/s   events the server accepted in the window, per second
  latency              receive time minus the payload's send time (CLOCK_MONOTONIC, same host);
                       a log-bucket histogram (<1% error): p50/p90/p99/p99.9/max, never a mean.
                       With a fixed --rate the send time is when the event was due, so a
                       publisher held back by back-pressure shows as latency.
  lost, out of order   per subscriber per topic: qsse EVENT ids must be 1, 2, 3, ...; NATS has no
                       ids, so the payload's per-publisher sequence is checked instead. Counted
                       over the whole run, including warm-up and the final drain; qsse GAP
                       frames (slow-consumer drops) count as lost.
  undelivered          published but not received when the drain ended (it waits until all
                       arrived, nothing arrived for 1 s, or 10 s passed): an overloaded run
                       leaves a backlog. --check wants 0.
  CPU                  per-thread CPU clocks: server (in-process qsse shards, or the nats-server
                       process), subscribers (the load client's threads), publishers (the rest of
                       this process)
  wire bytes           L4 payload at the subscribers' sockets: UDP datagrams (qsse) or TCP bytes
                       (TCP_INFO, NATS). The in-process server's own socket counters are not
                       reachable through qsse::Server; loopback makes both ends equal.
  peak RSS             VmHWM, reset when the run starts

Payload: bytes 0-7 send time (ns), bytes 8-15 publisher index << 48 | per-topic sequence, rest
filler; --payload must be at least 16.

The NATS comparison (--compare nats)
  nats-server is started on a free 127.0.0.1 port (max_pending 256 MiB, so the server does not cut
  off a subscriber that is a full window behind) and stopped by PID afterwards. Subscribers use
  the NATS C client with its external event-loop interface: C epoll threads each drive K/C
  connections and take messages from a synchronous subscription right after each read (no
  thread per connection). Publishers: one connection each (with --rate N the library sends each
  message at once, SendAsap; with --rate max it batches).
  Core NATS has no end-to-end back-pressure and drops messages for slow subscribers, so its
  publishers are held to a window: before publishing, a publisher takes credit equal to
  (window - L) / P, where L is the largest number of published-but-not-received messages of any
  subscriber (published counts per topic and received counts per subscriber are atomics in this
  process); when there is no credit it waits (20 us, doubling up to 1 ms) and looks again
  (counted as window waits). Each publish raises any subscriber's backlog by at most one, so no
  subscriber is ever more than the window (default 65,536) behind. The window applies to fixed
  rates too. Any NATS drops still show as sequence gaps (lost) and as the subscriptions' dropped
  count.
  --qsse-window holds qsse's publishers to the same window and raises the in-process server's
  slow_consumer_bytes to 256 MiB (NATS's max_pending here), so that both systems run under the
  same flow control. Default: qsse only honours its own back-pressure
  (PublishStatus::kBackPressure) by yielding and retrying, with the engine's default config.

Examples
  qsse-bench --subscribers 100 --payload 64 --rate max --duration 10 --compare nats
  qsse-bench --subscribers 1000 --topics 100 --wildcard --rate 10000 --plot run.png
  qsse-bench --matrix --compare nats          (the standard matrix; writes bench/results/)
)";

void on_signal(int) {
  g_interrupted = true;
  signal(SIGINT, SIG_DFL);  // a second ^C ends the process at once
  signal(SIGTERM, SIG_DFL);
}

std::string utc_now() {
  char text[32];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  Scenario s;
  std::string rate = "max";
  std::string compare;
  std::string json_path, plot_path;
  bool check = false;
  MatrixOptions matrix;

  CLI::App app{
      "qsse-bench: publish/subscribe load on loopback against an in-process qsse server (or "
      "--connect), optionally side by side with NATS (--compare nats)."};
  app.footer(kFooter);
  app.get_formatter()->column_width(34);
  app.add_option("--subscribers,-k", s.subscribers, "K subscriber connections")
      ->check(CLI::Range(1, 200'000))
      ->capture_default_str();
  app.add_option("--client-threads,-c", s.client_threads,
                 "C threads driving the subscribers (qsse client shards, NATS epoll loops)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--topics,-n", s.topics,
                 "N topics bench.0..bench.<N-1>; subscriber i takes topic i mod N")
      ->check(CLI::Range(1, 100'000))
      ->capture_default_str();
  app.add_flag("--wildcard", s.wildcard, "every subscriber subscribes to bench.* (all topics)");
  app.add_option("--publishers,-p", s.publishers,
                 "P publisher threads; each cycles over all topics")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--rate", rate, "total events/s published, or 'max' (as fast as accepted)")
      ->capture_default_str();
  app.add_option("--payload", s.payload, "bytes per event (>= 16)")
      ->check(CLI::Range(size_t{kMinPayload}, size_t{60'000}))
      ->capture_default_str();
  app.add_option("--duration,-d", s.duration, "measured seconds")
      ->check(CLI::Range(0.5, 3600.0))
      ->capture_default_str();
  app.add_option("--warmup", s.warmup, "seconds published before measuring")
      ->check(CLI::Range(0.0, 600.0))
      ->capture_default_str();
  app.add_option("--window", s.window,
                 "max events a publisher may be ahead of the slowest subscriber (NATS; 0: off)")
      ->capture_default_str();
  app.add_flag("--qsse-window", s.qsse_window,
               "apply --window to qsse's publishers too (and give the server NATS's 256 MiB "
               "per-subscriber allowance, unless --slow-consumer-bytes)");
  app.add_option("--slow-consumer-bytes", s.slow_consumer_bytes,
                 "in-process qsse server: queued + unacknowledged bytes per subscriber before "
                 "the --policy applies; default: the engine's, or 256 MiB with --qsse-window");
  app.add_option("--policy", s.policy,
                 "in-process qsse server's slow-consumer policy: drop (GAP), close, or "
                 "backpressure (publish() is refused while a subscriber is over its bound)")
      ->check(CLI::IsMember({"drop", "close", "backpressure"}))
      ->capture_default_str();
  app.add_option("--shards", s.shards, "in-process qsse server shards")
      ->check(CLI::Range(1, 255))
      ->capture_default_str();
  app.add_option("--io", s.io_backend, "qsse I/O backend: auto, io_uring, portable")
      ->check(CLI::IsMember({"auto", "io_uring", "portable"}))
      ->capture_default_str();
  app.add_option("--connect", s.connect,
                 "subscribe to a running qsse server (host:port) instead; nothing is published. "
                 "The server must declare bench.0..bench.<N-1>; loss/reordering are checked from "
                 "the first id each subscriber sees; latency needs the payload layout below");
  app.add_option("--ca", s.ca_file, "--connect: CA certificate (PEM) to verify the server");
  app.add_flag("--insecure", s.insecure, "--connect: do not verify the server's certificate");
  app.add_option("--server-pid", s.server_pid, "--connect: read CPU and RSS of this process");
  app.add_option("--compare", compare, "also run the scenario against: nats")
      ->check(CLI::IsMember({"nats"}));
  app.add_option("--nats-server", s.nats_server, "nats-server binary (default: PATH, /usr/sbin)");
  app.add_option("--json", json_path, "write every figure to this JSON file");
  app.add_option("--plot", plot_path, "draw throughput and latency over time (PNG, gnuplot)");
  app.add_flag("--check", check,
               "exit 1 unless every run delivered events with zero loss, zero reordering and "
               "no errors");
  app.add_option("--realtime-priority", s.realtime_priority,
                 "run every thread under SCHED_FIFO at this priority (1-99; 0: ordinary "
                 "scheduling): qsse's shards (ServerConfig::realtime_priority), the subscriber "
                 "and publisher threads, and with --compare nats the nats-server process and "
                 "the NATS client's threads. For latency runs; with --matrix it applies to the "
                 "fixed-rate points only (at max rate the threads would take every core)")
      ->check(CLI::Range(0, 99));
  app.add_flag("--quiet,-q", s.quiet, "no progress lines");
  app.add_flag("--matrix", matrix.full, "run the standard matrix (issue #7) and write a report");
  app.add_flag("--matrix-quick", matrix.quick, "a short matrix (fewer points, 2 s each)");
  app.add_option("--matrix-reps", matrix.repetitions, "repetitions per matrix point")
      ->check(CLI::Range(1, 20));
  app.add_option("--matrix-duration", matrix.duration, "seconds per matrix point")
      ->check(CLI::Range(0.5, 600.0));
  app.add_option("--results-dir", matrix.results_dir,
                 "where the matrix report goes (default: <source>/bench/results)");
  CLI11_PARSE(app, argc, argv);

  struct sigaction action {};
  action.sa_handler = on_signal;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (rate == "max") {
    s.rate = 0;
  } else {
    char* end = nullptr;
    s.rate = std::strtoull(rate.c_str(), &end, 10);
    if (end == rate.c_str() || *end != '\0' || s.rate == 0) {
      std::fprintf(stderr, "qsse-bench: --rate must be 'max' or a positive number\n");
      return 2;
    }
  }
  if (!s.connect.empty() && !compare.empty()) {
    std::fprintf(stderr, "qsse-bench: --compare needs the in-process server (no --connect)\n");
    return 2;
  }
  if (!s.wildcard && s.subscribers < s.topics) {
    std::fprintf(stderr,
                 "qsse-bench: fewer subscribers than topics: some topics would have no "
                 "subscriber (use --wildcard or more subscribers)\n");
    return 2;
  }

  RunContext context;
  for (int i = 0; i < argc; ++i) context.command += (i ? " " : "") + std::string(argv[i]);
  context.commit = capture({"git", "-C", QSSE_SOURCE_ROOT, "rev-parse", "--short", "HEAD"});
  if (context.commit.empty()) context.commit = "unknown";
  context.date = utc_now();
  context.machine = machine_facts();

  if (matrix.full || matrix.quick) {
    if (matrix.results_dir.empty())
      matrix.results_dir = std::string(QSSE_SOURCE_ROOT) + "/bench/results";
    matrix.compare_nats = compare == "nats";
    return run_matrix(matrix, s, context);
  }

  if (s.realtime_priority != 0) {
    // Threads inherit their creator's policy (so do nats-server and its threads, across fork and
    // exec): set on this thread before any other starts, it covers the whole run.
    if (auto set = qsse::engine::set_realtime_priority(pthread_self(), s.realtime_priority); !set) {
      std::fprintf(stderr, "qsse-bench: --realtime-priority: %s\n", set.error().c_str());
      return 2;
    }
  }

  std::vector<RunResult> runs;
  {
    auto target = make_qsse_target();
    runs.push_back(run_scenario(*target, s));
  }
  if (compare == "nats" && !g_interrupted) {
    auto target = make_nats_target();
    runs.push_back(run_scenario(*target, s));
    target.reset();
    close_nats_library();
  }
  print_table(s, runs, stdout);
  std::fflush(stdout);

  bool ok = true;
  if (!json_path.empty()) ok = write_json(json_path, s, context, runs) && ok;
  if (!plot_path.empty()) ok = write_plot(plot_path, s, runs) && ok;
  for (const auto& r : runs) {
    if (!r.ok) ok = false;
    if (check && (r.delivered == 0 || r.lost != 0 || r.reordered != 0 || r.undelivered != 0 ||
                  r.errors != 0)) {
      std::fprintf(stderr,
                   "qsse-bench: check failed for %s: delivered %llu, lost %llu, out of order "
                   "%llu, undelivered %llu, errors %llu\n",
                   r.system.c_str(), static_cast<unsigned long long>(r.delivered),
                   static_cast<unsigned long long>(r.lost),
                   static_cast<unsigned long long>(r.reordered),
                   static_cast<unsigned long long>(r.undelivered),
                   static_cast<unsigned long long>(r.errors));
      ok = false;
    }
  }
  return ok ? 0 : 1;
}

#include "matrix.hpp"

#include <simdjson.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "driver.hpp"

namespace qsse::bench {
namespace {

// "qsse native" runs: the per-subscriber bound under SlowConsumerPolicy::kBackPressure, sized
// for latency (the engine default, 8 MiB, lets 1,000 subscribers queue 8 GiB between them).
constexpr size_t kNativeSlowConsumerBytes = 1 << 20;

struct Point {
  size_t payload;
  size_t subscribers;
  size_t topics;
  bool wildcard;
  uint64_t rate;  // 0: max
  std::string subscribers_text() const {
    std::string t = std::to_string(subscribers);
    if (topics > 1)
      t += " over " + std::to_string(topics) + " topics" + (wildcard ? " (bench.*)" : "");
    return t;
  }
};

// The figures of one run of one system, as read back from a child's JSON.
struct Figures {
  bool ok = false;
  std::string error;
  double delivered_per_s = 0, published_per_s = 0;
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
  double lost = 0, reordered = 0, undelivered = 0, errors = 0, retries = 0, window_waits = 0;
  double cpu_server = 0, cpu_subscribers = 0, cpu_publishers = 0, seconds = 0;
  double peak_rss = 0, server_peak_rss = 0, wire_per_event = 0;
};

struct PointResult {
  Point point;
  std::vector<std::string> commands;
  std::map<std::string, std::vector<Figures>> runs;  // system -> one per repetition
};

double number(simdjson::dom::element e) {
  double d = 0;
  if (e.get_double().get(d) == simdjson::SUCCESS) return d;
  uint64_t u = 0;
  if (e.get_uint64().get(u) == simdjson::SUCCESS) return static_cast<double>(u);
  return 0;
}

bool read_figures(const std::string& path, std::map<std::string, Figures>& out,
                  std::string& error) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (auto e = parser.load(path).get(doc); e != simdjson::SUCCESS) {
    error = std::string("cannot read ") + path + ": " + simdjson::error_message(e);
    return false;
  }
  simdjson::dom::array runs;
  if (doc["runs"].get_array().get(runs) != simdjson::SUCCESS) {
    error = "no runs in " + path;
    return false;
  }
  for (simdjson::dom::element run : runs) {
    Figures f;
    std::string_view system, err;
    if (run["system"].get_string().get(system) != simdjson::SUCCESS) continue;
    if (run["ok"].get_bool().get(f.ok) != simdjson::SUCCESS) f.ok = false;
    if (run["error"].get_string().get(err) != simdjson::SUCCESS) err = "unreadable result";
    f.error = std::string(err);
    f.delivered_per_s = number(run["delivered_per_s"]);
    f.published_per_s = number(run["published_per_s"]);
    f.p50 = number(run["latency_ns"]["p50"]);
    f.p90 = number(run["latency_ns"]["p90"]);
    f.p99 = number(run["latency_ns"]["p99"]);
    f.p999 = number(run["latency_ns"]["p999"]);
    f.max = number(run["latency_ns"]["max"]);
    f.lost = number(run["lost"]);
    f.undelivered = number(run["undelivered"]);
    f.reordered = number(run["reordered"]);
    f.errors = number(run["errors"]);
    f.retries = number(run["publish_retries"]);
    f.window_waits = number(run["window_waits"]);
    f.cpu_server = number(run["cpu_seconds"]["server"]);
    f.cpu_subscribers = number(run["cpu_seconds"]["subscribers"]);
    f.cpu_publishers = number(run["cpu_seconds"]["publishers"]);
    f.seconds = number(run["seconds"]);
    f.peak_rss = number(run["peak_rss"]);
    f.server_peak_rss = number(run["server_peak_rss"]);
    const double delivered = number(run["delivered"]);
    f.wire_per_event = delivered > 0 ? number(run["wire_rx_bytes"]) / delivered : 0;
    out[std::string(system)] = f;
  }
  return true;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Median over the successful repetitions of one metric; NaN-free (0 when none succeeded).
template <class F>
double med(const std::vector<Figures>& runs, F field) {
  std::vector<double> v;
  for (const auto& r : runs) {
    if (r.ok) v.push_back(field(r));
  }
  return median(v);
}
template <class F>
double total(const std::vector<Figures>& runs, F field) {
  double t = 0;
  for (const auto& r : runs) t += field(r);
  return t;
}
size_t ok_count(const std::vector<Figures>& runs) {
  return static_cast<size_t>(std::count_if(runs.begin(), runs.end(), [](auto& r) { return r.ok; }));
}

std::string fmt(const char* format, double v) {
  char text[64];
  std::snprintf(text, sizeof(text), format, v);
  return text;
}
std::string us(double ns) {
  return duration_text(static_cast<uint64_t>(ns));
}

const std::vector<Figures>* find(const PointResult& p, const std::string& system) {
  auto it = p.runs.find(system);
  return it == p.runs.end() ? nullptr : &it->second;
}

void write_charts(const std::string& dir, const std::string& stem,
                  const std::vector<PointResult>& results, bool nats,
                  std::vector<std::string>& images) {
  // Throughput at max rate, and p50/p99 at the fixed rate: one cluster of bars per point.
  for (int mode = 0; mode < 2; ++mode) {
    const std::string name = stem + (mode == 0 ? "-throughput.png" : "-latency.png");
    const std::string data = dir + "/" + name + ".dat", script = dir + "/" + name + ".gp";
    size_t rows = 0;
    {
      std::ofstream out(data);
      for (const auto& p : results) {
        if ((mode == 0) != (p.point.rate == 0)) continue;
        const auto* q = find(p, "qsse");
        const auto* n = find(p, "nats");
        std::string label = std::to_string(p.point.payload);
        label += "B K=";
        label += std::to_string(p.point.subscribers);
        if (p.point.topics > 1) {
          label += '/';
          label += std::to_string(p.point.topics);
          label += "t*";
        }
        out << '"' << label << '"';
        if (mode == 0) {
          out << ' ' << (q ? med(*q, [](auto& r) { return r.delivered_per_s; }) : 0) << ' '
              << (n ? med(*n, [](auto& r) { return r.delivered_per_s; }) : 0);
        } else {
          out << ' ' << (q ? med(*q, [](auto& r) { return r.p50; }) / 1e3 : 0) << ' '
              << (q ? med(*q, [](auto& r) { return r.p99; }) / 1e3 : 0) << ' '
              << (n ? med(*n, [](auto& r) { return r.p50; }) / 1e3 : 0) << ' '
              << (n ? med(*n, [](auto& r) { return r.p99; }) / 1e3 : 0);
        }
        out << "\n";
        ++rows;
      }
    }
    if (rows == 0) {
      std::remove(data.c_str());
      continue;
    }
    {
      std::ofstream gp(script);
      gp << "set terminal pngcairo size 1100,600 font ',10'\nset output '" << dir << "/" << name
         << "'\n"
         << "set style data histograms\nset style histogram clustered gap 1\n"
         << "set style fill solid 0.8 border -1\nset grid ytics\nset logscale y\n"
         << "set xtics rotate by -30\nset key " << (mode == 0 ? "top right" : "top left") << "\n";
      if (mode == 0) {
        gp << "set title 'delivered events/s at max rate (median)'\nset ylabel 'events/s'\n"
           << "set format y '%.0s%c'\nplot '" << data << "' using 2:xtic(1) title 'qsse'";
        if (nats) gp << ", '' using 3 title 'NATS'";
      } else {
        gp << "set title 'latency at 10,000 events/s published (median of runs)'\n"
           << "set ylabel 'microseconds'\nset format y '%g'\nplot '" << data
           << "' using 2:xtic(1) title 'qsse p50', '' using 3 title 'qsse p99'";
        if (nats) gp << ", '' using 4 title 'NATS p50', '' using 5 title 'NATS p99'";
      }
      gp << "\n";
    }
    if (run_process({"gnuplot", script}, "", 60) == 0) images.push_back(name);
    std::remove(script.c_str());
    std::remove(data.c_str());
  }
}

void write_report(const std::string& path, const std::string& stem, const MatrixOptions& o,
                  const Scenario& base, const RunContext& context,
                  const std::vector<PointResult>& results, size_t planned, int reps,
                  double duration, double warmup, bool finished) {
  std::vector<std::string> images;
  const std::string dir = std::filesystem::path(path).parent_path().string();
  if (finished) write_charts(dir, stem, results, o.compare_nats, images);
  std::ofstream md(path);
  md << "# qsse-bench " << (o.quick ? "quick matrix" : "matrix") << " — " << context.date
     << " — commit " << context.commit << "\n\n";
  if (!finished) {
    md << "**Incomplete: " << results.size() << " of " << planned
       << " points so far (the report is rewritten after every point).**\n\n";
  }
  md << "## Machine\n\n"
     << "- " << context.machine.cpus << " CPUs: " << context.machine.cpu_model << "\n"
     << "- " << context.machine.kernel << ", " << bytes_text(context.machine.memory_bytes)
     << " RAM\n"
     << "- everything on this machine over loopback: server, subscribers and publishers share "
        "the CPUs (other work on the machine adds noise, so compare the two systems within a "
        "row: they ran side by side, qsse then NATS, in one invocation)\n\n";
  md << "## How\n\n"
     << "- matrix command: `" << context.command << "`\n"
     << "- " << reps << " repetition(s) per point, " << duration << " s measured after " << warmup
     << " s warm-up; figures are medians over repetitions; lost / out-of-order / errors are "
        "totals over all repetitions\n"
     << "- fixed: " << base.publishers << " publisher thread(s), " << base.client_threads
     << " client thread(s), qsse server " << base.shards << " shard(s) in-process, I/O "
     << base.io_backend << "; window " << base.window << " events\n"
     << "- scheduling: "
     << (base.realtime_priority == 0
             ? std::string("ordinary (SCHED_OTHER) for every point")
             : "the fixed-rate points run every thread of both systems under SCHED_FIFO priority " +
                   std::to_string(base.realtime_priority) +
                   " (`--realtime-priority`); the max-rate points, ordinary scheduling")
     << "\n"
     << "- latency: receive time minus the send time carried in the payload; at a fixed rate the "
        "send time is when the event was due\n"
     << "- see `qsse-bench --help` for what every figure means\n\n";

  const auto integrity = [](const std::vector<Figures>* runs) -> std::string {
    if (runs == nullptr) return "-";
    return fmt("%.0f", total(*runs, [](auto& r) { return r.lost; })) + "/" +
           fmt("%.0f", total(*runs, [](auto& r) { return r.reordered; })) + "/" +
           fmt("%.0f", total(*runs, [](auto& r) { return r.undelivered; })) + "/" +
           fmt("%.0f", total(*runs, [](auto& r) { return r.errors; }));
  };
  const auto delivered = [](const std::vector<Figures>* runs) -> std::string {
    return runs ? si(med(*runs, [](auto& r) { return r.delivered_per_s; })) : "-";
  };
  const auto latencies = [](const std::vector<Figures>* runs, bool p90) -> std::string {
    if (runs == nullptr) return p90 ? "- | - | - | - | -" : "- | - | - | -";
    std::string t = us(med(*runs, [](auto& r) { return r.p50; }));
    if (p90) t += " | " + us(med(*runs, [](auto& r) { return r.p90; }));
    t += " | " + us(med(*runs, [](auto& r) { return r.p99; })) + " | " +
         us(med(*runs, [](auto& r) { return r.p999; })) + " | " +
         us(med(*runs, [](auto& r) { return r.max; }));
    return t;
  };
  const auto runs_ok = [&](const PointResult& p) {
    size_t ok = 0, all = 0;
    for (const auto& [system, runs] : p.runs) {
      ok += ok_count(runs);
      all += runs.size();
    }
    return std::to_string(ok) + "/" + std::to_string(all);
  };
  const auto ratio = [](const std::vector<Figures>* a, const std::vector<Figures>* b, auto field) {
    if (a == nullptr || b == nullptr) return std::string("-");
    const double y = med(*b, field);
    return y > 0 ? fmt("%.2f", med(*a, field) / y) : std::string("-");
  };
  const auto by_delivered = [](const Figures& r) { return r.delivered_per_s; };
  const auto by_p99 = [](const Figures& r) { return r.p99; };

  md << "Systems: **qsse** = in-process qsse server, publishers held to the same window as NATS "
        "(`--qsse-window`, so both run under the same flow control); **NATS** = nats-server, "
        "windowed publishers; **qsse native** = qsse with only its own end-to-end flow control "
        "(`--policy backpressure --slow-consumer-bytes 1048576`: "
        "SlowConsumerPolicy::kBackPressure, "
        "publish() returns kBackPressure while a subscriber has more than 1 MiB queued; the "
        "server's inbox still holds up to 65,536 events). Integrity columns: lost (ids "
        "skipped, incl. GAP) / out of order / undelivered at the end / errors, summed over "
        "repetitions.\n\n";

  md << "## Max rate: delivered events/s\n\n"
     << "| payload | subscribers | qsse | NATS | qsse/NATS | qsse native | qsse integrity | NATS "
        "integrity | qsse native integrity | runs ok |\n"
     << "|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& p : results) {
    if (p.point.rate != 0) continue;
    const auto* q = find(p, "qsse");
    const auto* n = find(p, "nats");
    const auto* native = find(p, "qsse-native");
    md << "| " << p.point.payload << " B | " << p.point.subscribers_text() << " | " << delivered(q)
       << " | " << delivered(n) << " | " << ratio(q, n, by_delivered) << " | " << delivered(native)
       << " | " << integrity(q) << " | " << integrity(n) << " | " << integrity(native) << " | "
       << runs_ok(p) << " |\n";
  }
  md << "\n## Max rate: latency (queueing: the window lets a subscriber be 65,536 events "
        "behind)\n\n"
     << "| payload | subscribers | qsse p50 | qsse p99 | qsse p99.9 | qsse max | NATS p50 | NATS "
        "p99 | NATS p99.9 | NATS max |\n"
     << "|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& p : results) {
    if (p.point.rate != 0) continue;
    md << "| " << p.point.payload << " B | " << p.point.subscribers_text() << " | "
       << latencies(find(p, "qsse"), false) << " | " << latencies(find(p, "nats"), false) << " |\n";
  }
  md << "\n## 10,000 events/s published: latency\n\n"
     << "| payload | subscribers | qsse delivered/s | NATS delivered/s | qsse p50 | qsse p90 | "
        "qsse p99 | qsse p99.9 | qsse max | NATS p50 | NATS p90 | NATS p99 | NATS p99.9 | NATS "
        "max | p99 qsse/NATS |\n"
     << "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& p : results) {
    if (p.point.rate == 0) continue;
    const auto* q = find(p, "qsse");
    const auto* n = find(p, "nats");
    md << "| " << p.point.payload << " B | " << p.point.subscribers_text() << " | " << delivered(q)
       << " | " << delivered(n) << " | " << latencies(q, true) << " | " << latencies(n, true)
       << " | " << ratio(q, n, by_p99) << " |\n";
  }
  md << "\n## 10,000 events/s published: integrity, and qsse with native back-pressure\n\n"
     << "| payload | subscribers | qsse integrity | NATS integrity | qsse native delivered/s | "
        "qsse native p50 | qsse native p99 | qsse native p99.9 | qsse native max | qsse native "
        "integrity | runs ok |\n"
     << "|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& p : results) {
    if (p.point.rate == 0) continue;
    const auto* native = find(p, "qsse-native");
    md << "| " << p.point.payload << " B | " << p.point.subscribers_text() << " | "
       << integrity(find(p, "qsse")) << " | " << integrity(find(p, "nats")) << " | "
       << delivered(native) << " | " << latencies(native, false) << " | " << integrity(native)
       << " | " << runs_ok(p) << " |\n";
  }
  md << "\n";

  md << "## CPU, memory, wire (medians)\n\n"
     << "CPU as a share of one core over the window. qsse RSS is the whole bench process "
        "(in-process server + load client); NATS RSS is the nats-server process.\n\n"
     << "| mode | payload | subscribers | qsse server CPU | qsse subscribers CPU | qsse publishers "
        "CPU | NATS server CPU | NATS subscribers CPU | NATS publishers CPU | qsse RSS | NATS "
        "server RSS | qsse wire B/event | NATS wire B/event | qsse publish retries | NATS window "
        "waits |\n"
     << "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& p : results) {
    const auto* q = find(p, "qsse");
    const auto* n = find(p, "nats");
    const auto cpu = [](const std::vector<Figures>* runs, int which) -> std::string {
      if (runs == nullptr) return "-";
      return fmt("%.0f%%", 100 * med(*runs, [which](auto& r) {
                             const double c = which == 0   ? r.cpu_server
                                              : which == 1 ? r.cpu_subscribers
                                                           : r.cpu_publishers;
                             return r.seconds > 0 ? c / r.seconds : 0;
                           }));
    };
    md << "| " << (p.point.rate == 0 ? "max" : "10k/s") << " | " << p.point.payload << " B | "
       << p.point.subscribers_text() << " | " << cpu(q, 0) << " | " << cpu(q, 1) << " | "
       << cpu(q, 2) << " | " << cpu(n, 0) << " | " << cpu(n, 1) << " | " << cpu(n, 2) << " | "
       << (q ? bytes_text(static_cast<uint64_t>(med(*q, [](auto& r) { return r.peak_rss; }))) : "-")
       << " | "
       << (n ? bytes_text(static_cast<uint64_t>(med(*n, [](auto& r) { return r.server_peak_rss; })))
             : "-")
       << " | " << (q ? fmt("%.1f", med(*q, [](auto& r) { return r.wire_per_event; })) : "-")
       << " | " << (n ? fmt("%.1f", med(*n, [](auto& r) { return r.wire_per_event; })) : "-")
       << " | " << (q ? fmt("%.0f", med(*q, [](auto& r) { return r.retries; })) : "-") << " | "
       << (n ? fmt("%.0f", med(*n, [](auto& r) { return r.window_waits; })) : "-") << " |\n";
  }
  md << "\n";

  if (!images.empty()) {
    md << "## Charts\n\n";
    for (const auto& image : images) md << "![" << image << "](" << image << ")\n\n";
  }

  std::string failures;
  for (const auto& p : results) {
    for (const auto& [system, runs] : p.runs) {
      for (size_t i = 0; i < runs.size(); ++i) {
        if (!runs[i].ok) {
          failures += "- " + system + ", " + std::to_string(p.point.payload) +
                      " B, K=" + p.point.subscribers_text() + ", rate " +
                      (p.point.rate ? std::to_string(p.point.rate) : "max") + ", repetition " +
                      std::to_string(i + 1) + ": " + runs[i].error + "\n";
        }
      }
    }
  }
  if (!failures.empty()) md << "## Failed runs\n\n" << failures << "\n";

  md << "## Commands of every point\n\n```\n";
  for (const auto& p : results) {
    for (const auto& c : p.commands) md << c << "\n";
  }
  md << "```\n";
}

}  // namespace

int run_matrix(const MatrixOptions& o, const Scenario& base, const RunContext& context) {
  const int reps = o.repetitions > 0 ? o.repetitions : (o.quick ? 1 : 3);
  const double duration = o.duration > 0 ? o.duration : (o.quick ? 2.0 : 10.0);
  const double warmup = o.quick ? 0.5 : 1.0;
  std::vector<Point> points;
  const std::vector<std::tuple<size_t, size_t, bool>> shapes =
      o.quick ? std::vector<std::tuple<size_t, size_t, bool>>{{1, 1, false},
                                                              {100, 1, false},
                                                              {100, 10, true}}
              : std::vector<std::tuple<size_t, size_t, bool>>{{1, 1, false},
                                                              {10, 1, false},
                                                              {100, 1, false},
                                                              {1000, 1, false},
                                                              {1000, 100, true}};
  for (uint64_t rate : {uint64_t{0}, uint64_t{10'000}}) {
    for (size_t payload : {size_t{64}, size_t{1024}}) {
      for (const auto& [k, topics, wildcard] : shapes)
        points.push_back({payload, k, topics, wildcard, rate});
    }
  }

  std::error_code ec;
  std::filesystem::create_directories(o.results_dir, ec);
  const std::string stem =
      context.date.substr(0, 10) + "-" + context.commit + (o.quick ? "-quick" : "");
  const std::string report = o.results_dir + "/" + stem + ".md";
  char tmp_template[] = "/tmp/qsse-bench-matrix-XXXXXX";
  if (mkdtemp(tmp_template) == nullptr) {
    std::fprintf(stderr, "qsse-bench: mkdtemp failed\n");
    return 1;
  }
  const std::string tmp = tmp_template;
  const std::string exe = std::filesystem::read_symlink("/proc/self/exe", ec).string();

  std::fprintf(stderr, "qsse-bench matrix: %zu points x %d repetition(s), %.0f s each%s -> %s\n",
               points.size(), reps, duration, o.compare_nats ? " (+ NATS)" : "", report.c_str());
  std::vector<PointResult> results;
  int status = 0;
  for (size_t i = 0; i < points.size() && !g_interrupted; ++i) {
    const Point& pt = points[i];
    PointResult pr;
    pr.point = pt;
    for (int rep = 0; rep < reps && !g_interrupted; ++rep) {
      // Invocation 1: qsse windowed and NATS side by side; invocation 2: qsse native.
      for (int invocation = 0; invocation < 2 && !g_interrupted; ++invocation) {
        const bool native = invocation == 1;
        std::vector<std::string> args = {"qsse-bench",
                                         "--subscribers",
                                         std::to_string(pt.subscribers),
                                         "--topics",
                                         std::to_string(pt.topics),
                                         "--payload",
                                         std::to_string(pt.payload),
                                         "--rate",
                                         pt.rate ? std::to_string(pt.rate) : "max",
                                         "--duration",
                                         fmt("%g", duration),
                                         "--warmup",
                                         fmt("%g", warmup),
                                         "--publishers",
                                         std::to_string(base.publishers),
                                         "--client-threads",
                                         std::to_string(base.client_threads),
                                         "--shards",
                                         std::to_string(base.shards),
                                         "--io",
                                         base.io_backend};
        if (pt.wildcard) args.push_back("--wildcard");
        if (pt.rate != 0 && base.realtime_priority != 0)
          args.insert(args.end(), {"--realtime-priority", std::to_string(base.realtime_priority)});
        if (native) {
          args.insert(args.end(), {"--policy", "backpressure", "--slow-consumer-bytes",
                                   std::to_string(kNativeSlowConsumerBytes)});
        } else {
          args.insert(args.end(), {"--window", std::to_string(base.window), "--qsse-window"});
          if (o.compare_nats) args.insert(args.end(), {"--compare", "nats"});
          if (!base.nats_server.empty())
            args.insert(args.end(), {"--nats-server", base.nats_server});
        }
        std::string command;
        for (const auto& a : args) command += (command.empty() ? "" : " ") + a;
        if (rep == 0) pr.commands.push_back(command);
        const std::string json = tmp + "/run.json", log = tmp + "/run.log";
        std::vector<std::string> argv = args;
        argv[0] = exe;
        argv.insert(argv.end(), {"--quiet", "--json", json});
        std::remove(json.c_str());
        const double timeout = 2 * (warmup + duration + 60) + 30;
        std::fprintf(stderr, "[%zu/%zu rep %d] %s\n", i + 1, points.size(), rep + 1,
                     command.c_str());
        const int rc = run_process(argv, log, timeout, true);
        std::map<std::string, Figures> figures;
        std::string error;
        if (!read_figures(json, figures, error)) {
          std::ifstream in(log);
          std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
          if (text.size() > 400) text = text.substr(text.size() - 400);
          error += " (exit status " + std::to_string(rc) + "; log tail: " + text + ")";
          std::fprintf(stderr, "  failed: %s\n", error.c_str());
          Figures failed;
          failed.error = error;
          pr.runs[native ? "qsse-native" : "qsse"].push_back(failed);
          if (o.compare_nats && !native) pr.runs["nats"].push_back(failed);
          status = 1;
          continue;
        }
        for (auto& [system, f] : figures) {
          const std::string name = native ? system + "-native" : system;
          std::fprintf(stderr,
                       "  %-11s %8s delivered/s  p50 %9s  p99 %9s  lost %.0f  ooo %.0f  "
                       "undelivered %.0f%s%s\n",
                       name.c_str(), si(f.delivered_per_s).c_str(), us(f.p50).c_str(),
                       us(f.p99).c_str(), f.lost, f.reordered, f.undelivered,
                       f.ok ? "" : "  FAILED: ", f.ok ? "" : f.error.c_str());
          if (!f.ok) status = 1;
          pr.runs[name].push_back(f);
        }
      }
    }
    results.push_back(std::move(pr));
    write_report(report, stem, o, base, context, results, points.size(), reps, duration, warmup,
                 false);
  }
  write_report(report, stem, o, base, context, results, points.size(), reps, duration, warmup,
               !g_interrupted && results.size() == points.size());
  std::filesystem::remove_all(tmp, ec);
  std::fprintf(stderr, "qsse-bench matrix: report %s\n", report.c_str());
  return g_interrupted ? 130 : status;
}

}  // namespace qsse::bench

#include "report.hpp"

#include "../cli/text_format.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <thread>

extern char** environ;

namespace qsse::bench {

std::string si(double value) {
  char text[32];
  if (value >= 1e9) {
    std::snprintf(text, sizeof(text), "%.2fG", value / 1e9);
  } else if (value >= 1e6) {
    std::snprintf(text, sizeof(text), "%.2fM", value / 1e6);
  } else if (value >= 1e3) {
    std::snprintf(text, sizeof(text), "%.1fk", value / 1e3);
  } else {
    std::snprintf(text, sizeof(text), "%.0f", value);
  }
  return text;
}

std::string duration_text(uint64_t ns) {
  char text[32];
  const auto v = static_cast<double>(ns);
  if (ns < 1'000) {
    std::snprintf(text, sizeof(text), "%" PRIu64 "ns", ns);
  } else if (ns < 1'000'000) {
    std::snprintf(text, sizeof(text), "%.1fus", v / 1e3);
  } else if (ns < 1'000'000'000) {
    std::snprintf(text, sizeof(text), "%.2fms", v / 1e6);
  } else {
    std::snprintf(text, sizeof(text), "%.2fs", v / 1e9);
  }
  return text;
}

std::string bytes_text(uint64_t bytes) {
  char text[32];
  const auto v = static_cast<double>(bytes);
  if (bytes >= (1ull << 30)) {
    std::snprintf(text, sizeof(text), "%.2f GiB", v / (1ull << 30));
  } else if (bytes >= (1ull << 20)) {
    std::snprintf(text, sizeof(text), "%.1f MiB", v / (1ull << 20));
  } else if (bytes >= 1024) {
    std::snprintf(text, sizeof(text), "%.1f KiB", v / 1024);
  } else {
    std::snprintf(text, sizeof(text), "%" PRIu64 " B", bytes);
  }
  return text;
}

std::string describe(const Scenario& s) {
  if (!s.connect.empty()) {
    return "K=" + std::to_string(s.subscribers) + " subscribed to " + s.connect + " (" +
           std::to_string(s.topics) + (s.topics == 1 ? " topic" : " topics") +
           (s.wildcard ? ", bench.*" : "") + "), C=" + std::to_string(s.client_threads) +
           ", nothing published by qsse-bench";
  }
  std::string text = "K=" + std::to_string(s.subscribers) + " on " + std::to_string(s.topics) +
                     (s.topics == 1 ? " topic" : " topics") + (s.wildcard ? " (bench.*)" : "") +
                     ", " + std::to_string(s.payload) + " B, rate " + s.rate_text() +
                     ", P=" + std::to_string(s.publishers) +
                     ", C=" + std::to_string(s.client_threads);
  if (s.connect.empty()) text += ", qsse shards=" + std::to_string(s.shards);
  if (s.realtime_priority != 0) text += ", SCHED_FIFO " + std::to_string(s.realtime_priority);
  return text;
}

namespace {

struct Row {
  std::string label;
  std::function<std::string(const RunResult&)> text;
  std::function<double(const RunResult&)> value;  // for the ratio; null: no ratio
};

std::string count(uint64_t v) {
  return std::to_string(v);
}
std::string percent(double cpu, double seconds) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.0f%%", seconds > 0 ? 100.0 * cpu / seconds : 0.0);
  return text;
}

}  // namespace

void print_table(const Scenario& s, const std::vector<RunResult>& runs, std::FILE* out) {
  const std::vector<Row> rows = {
      {"delivered events/s", [](const RunResult& r) { return si(r.delivered_per_s); },
       [](const RunResult& r) { return r.delivered_per_s; }},
      {"published events/s", [](const RunResult& r) { return si(r.published_per_s); },
       [](const RunResult& r) { return r.published_per_s; }},
      {"latency p50", [](const RunResult& r) { return duration_text(r.p50); },
       [](const RunResult& r) { return static_cast<double>(r.p50); }},
      {"latency p90", [](const RunResult& r) { return duration_text(r.p90); },
       [](const RunResult& r) { return static_cast<double>(r.p90); }},
      {"latency p99", [](const RunResult& r) { return duration_text(r.p99); },
       [](const RunResult& r) { return static_cast<double>(r.p99); }},
      {"latency p99.9", [](const RunResult& r) { return duration_text(r.p999); },
       [](const RunResult& r) { return static_cast<double>(r.p999); }},
      {"latency max", [](const RunResult& r) { return duration_text(r.max); },
       [](const RunResult& r) { return static_cast<double>(r.max); }},
      {"latency samples", [](const RunResult& r) { return count(r.latency_count); }, nullptr},
      {"events without send time", [](const RunResult& r) { return count(r.untimed); }, nullptr},
      {"lost (ids skipped)", [](const RunResult& r) { return count(r.lost); }, nullptr},
      {"  announced/dropped", [](const RunResult& r) { return count(r.server_gaps); }, nullptr},
      {"out of order", [](const RunResult& r) { return count(r.reordered); }, nullptr},
      {"undelivered at the end", [](const RunResult& r) { return count(r.undelivered); }, nullptr},
      {"received / expected",
       [](const RunResult& r) { return count(r.received_total) + "/" + count(r.expected_total); },
       nullptr},
      {"errors", [](const RunResult& r) { return count(r.errors); }, nullptr},
      {"publish retries", [](const RunResult& r) { return count(r.publish_retries); }, nullptr},
      {"window waits", [](const RunResult& r) { return count(r.window_waits); }, nullptr},
      {"CPU server", [](const RunResult& r) { return percent(r.cpu.server, r.seconds); },
       [](const RunResult& r) { return r.cpu.server; }},
      {"CPU subscribers", [](const RunResult& r) { return percent(r.cpu.subscribers, r.seconds); },
       [](const RunResult& r) { return r.cpu.subscribers; }},
      {"CPU publishers", [](const RunResult& r) { return percent(r.cpu.publishers, r.seconds); },
       [](const RunResult& r) { return r.cpu.publishers; }},
      {"server CPU us/event",
       [](const RunResult& r) {
         char t[32];
         std::snprintf(t, sizeof(t), "%.3f",
                       r.delivered > 0 ? 1e6 * r.cpu.server / static_cast<double>(r.delivered) : 0);
         return std::string(t);
       },
       [](const RunResult& r) {
         return r.delivered > 0 ? r.cpu.server / static_cast<double>(r.delivered) : 0;
       }},
      {"peak RSS (this process)", [](const RunResult& r) { return bytes_text(r.peak_rss); },
       [](const RunResult& r) { return static_cast<double>(r.peak_rss); }},
      {"peak RSS (server process)",
       [](const RunResult& r) { return r.server_peak_rss ? bytes_text(r.server_peak_rss) : "-"; },
       nullptr},
      {"  per subscriber",
       [&s](const RunResult& r) {
         return r.server_peak_rss
                    ? bytes_text(r.server_peak_rss / std::max<size_t>(1, s.subscribers))
                    : "-";
       },
       nullptr},
      {"wire bytes in (subscribers)",
       [](const RunResult& r) { return bytes_text(r.wire_rx_bytes); },
       [](const RunResult& r) { return static_cast<double>(r.wire_rx_bytes); }},
      {"wire bytes out (subscribers)",
       [](const RunResult& r) { return bytes_text(r.wire_tx_bytes); },
       [](const RunResult& r) { return static_cast<double>(r.wire_tx_bytes); }},
      {"wire bytes in / event",
       [](const RunResult& r) {
         char t[32];
         std::snprintf(t, sizeof(t), "%.1f",
                       r.delivered ? static_cast<double>(r.wire_rx_bytes) / r.delivered : 0.0);
         return std::string(t);
       },
       [](const RunResult& r) {
         return r.delivered ? static_cast<double>(r.wire_rx_bytes) / r.delivered : 0.0;
       }},
  };
  std::fprintf(out, "\n%s, %.1f s measured after %.1f s warm-up\n", describe(s).c_str(),
               runs.empty() ? 0.0 : runs.front().seconds, s.warmup);
  std::fprintf(out, "%-30s", "");
  for (const auto& r : runs) std::fprintf(out, "%14s", r.system.c_str());
  const bool ratio = runs.size() == 2 && runs[0].ok && runs[1].ok;
  if (ratio) std::fprintf(out, "%14s", (runs[0].system + "/" + runs[1].system).c_str());
  std::fprintf(out, "\n");
  for (const auto& row : rows) {
    std::fprintf(out, "%-30s", row.label.c_str());
    for (const auto& r : runs) std::fprintf(out, "%14s", r.ok ? row.text(r).c_str() : "-");
    if (ratio && row.value) {
      const double b = row.value(runs[1]);
      if (b != 0) std::fprintf(out, "%14.2f", row.value(runs[0]) / b);
    }
    std::fprintf(out, "\n");
  }
  for (const auto& r : runs) {
    if (!r.error.empty()) std::fprintf(out, "%s: FAILED: %s\n", r.system.c_str(), r.error.c_str());
    if (!r.notes.empty()) std::fprintf(out, "%s: %s\n", r.system.c_str(), r.notes.c_str());
  }
}

namespace {

// A minimal JSON writer: objects and arrays nest, commas are placed automatically.
class Json {
 public:
  explicit Json(std::FILE* out) : out_(out) {}
  void open(const char* key, char bracket) {
    comma();
    if (key) std::fprintf(out_, "\"%s\": ", key);
    std::fprintf(out_, "%c", bracket);
    first_ = true;
  }
  void close(char bracket) {
    std::fprintf(out_, "%c", bracket);
    first_ = false;
  }
  void value(const char* key, const std::string& v) {
    comma();
    std::string quoted;
    cli::append_json_string(quoted, v);
    std::fprintf(out_, "\"%s\": %s", key, quoted.c_str());
  }
  void value(const char* key, double v) {
    comma();
    std::fprintf(out_, "\"%s\": %.9g", key, v);
  }
  void value(const char* key, uint64_t v) {
    comma();
    std::fprintf(out_, "\"%s\": %" PRIu64, key, v);
  }
  void value(const char* key, bool v) {
    comma();
    std::fprintf(out_, "\"%s\": %s", key, v ? "true" : "false");
  }

 private:
  void comma() {
    if (!first_) std::fprintf(out_, ",\n");
    first_ = false;
  }
  std::FILE* out_;
  bool first_ = true;
};

}  // namespace

bool write_json(const std::string& path, const Scenario& s, const RunContext& context,
                const std::vector<RunResult>& runs) {
  std::FILE* out = std::fopen(path.c_str(), "w");
  if (out == nullptr) {
    std::fprintf(stderr, "qsse-bench: cannot write %s: %s\n", path.c_str(), std::strerror(errno));
    return false;
  }
  Json j(out);
  j.open(nullptr, '{');
  j.value("tool", std::string("qsse-bench"));
  j.value("command", context.command);
  j.value("commit", context.commit);
  j.value("date", context.date);
  j.open("machine", '{');
  j.value("cpus", uint64_t{context.machine.cpus});
  j.value("kernel", context.machine.kernel);
  j.value("cpu_model", context.machine.cpu_model);
  j.value("memory_bytes", context.machine.memory_bytes);
  j.close('}');
  j.open("scenario", '{');
  j.value("description", describe(s));
  j.value("subscribers", uint64_t{s.subscribers});
  j.value("client_threads", uint64_t{s.client_threads});
  j.value("topics", uint64_t{s.topics});
  j.value("wildcard", s.wildcard);
  j.value("publishers", uint64_t{s.publishers});
  j.value("rate", s.rate_text());
  j.value("payload", uint64_t{s.payload});
  j.value("duration", s.duration);
  j.value("warmup", s.warmup);
  j.value("window", s.window);
  j.value("qsse_window", s.qsse_window);
  j.value("shards", uint64_t{s.shards});
  j.value("slow_consumer_bytes", uint64_t{s.slow_consumer_bytes});
  j.value("policy", s.policy);
  j.value("io_backend", s.io_backend);
  j.value("realtime_priority", uint64_t(s.realtime_priority));
  j.value("connect", s.connect);
  j.close('}');
  j.open("runs", '[');
  for (const auto& r : runs) {
    j.open(nullptr, '{');
    j.value("system", r.system);
    j.value("ok", r.ok);
    j.value("error", r.error);
    j.value("notes", r.notes);
    j.value("seconds", r.seconds);
    j.value("published", r.published);
    j.value("delivered", r.delivered);
    j.value("published_per_s", r.published_per_s);
    j.value("delivered_per_s", r.delivered_per_s);
    j.value("publish_retries", r.publish_retries);
    j.value("window_waits", r.window_waits);
    j.open("latency_ns", '{');
    j.value("count", r.latency_count);
    j.value("untimed", r.untimed);
    j.value("p50", r.p50);
    j.value("p90", r.p90);
    j.value("p99", r.p99);
    j.value("p999", r.p999);
    j.value("max", r.max);
    j.close('}');
    j.value("expected_total", r.expected_total);
    j.value("received_total", r.received_total);
    j.value("lost", r.lost);
    j.value("undelivered", r.undelivered);
    j.value("server_gaps", r.server_gaps);
    j.value("reordered", r.reordered);
    j.value("errors", r.errors);
    j.open("cpu_seconds", '{');
    j.value("server", r.cpu.server);
    j.value("subscribers", r.cpu.subscribers);
    j.value("publishers", r.cpu.publishers);
    j.value("process", r.process_cpu);
    j.close('}');
    j.value("peak_rss", r.peak_rss);
    j.value("server_peak_rss", r.server_peak_rss);
    j.value("wire_rx_bytes", r.wire_rx_bytes);
    j.value("wire_tx_bytes", r.wire_tx_bytes);
    j.value("wire_rx_datagrams", r.wire_rx_datagrams);
    j.open("timeline", '[');
    for (const auto& sample : r.timeline) {
      j.open(nullptr, '{');
      j.value("t", sample.t);
      j.value("published_per_s", sample.published_per_s);
      j.value("delivered_per_s", sample.delivered_per_s);
      j.value("p50", sample.p50);
      j.value("p90", sample.p90);
      j.value("p99", sample.p99);
      j.value("p999", sample.p999);
      j.value("max", sample.max);
      j.close('}');
    }
    j.close(']');
    j.close('}');
  }
  j.close(']');
  if (runs.size() == 2 && runs[0].ok && runs[1].ok && runs[1].delivered_per_s > 0) {
    j.value("delivered_ratio", runs[0].delivered_per_s / runs[1].delivered_per_s);
  }
  j.close('}');
  std::fprintf(out, "\n");
  const bool ok = std::fclose(out) == 0;
  if (!ok) std::fprintf(stderr, "qsse-bench: error writing %s\n", path.c_str());
  return ok;
}

bool write_plot(const std::string& path, const Scenario& s, const std::vector<RunResult>& runs) {
  const std::string data = path + ".dat", script = path + ".gp";
  {
    std::ofstream out(data);
    for (const auto& r : runs) {
      out << "# " << r.system << "\n# t published delivered p50 p90 p99 p999 max (us)\n";
      for (const auto& x : r.timeline) {
        if (x.t < 0.5) continue;  // the warm-up second
        out << x.t << ' ' << x.published_per_s << ' ' << x.delivered_per_s << ' ' << x.p50 / 1e3
            << ' ' << x.p90 / 1e3 << ' ' << x.p99 / 1e3 << ' ' << x.p999 / 1e3 << ' ' << x.max / 1e3
            << "\n";
      }
      out << "\n\n";
    }
  }
  {
    std::ofstream gp(script);
    gp << "set terminal pngcairo size 1100,900 font ',10'\n"
       << "set output '" << path << "'\n"
       << "set multiplot layout 2,1 title '" << describe(s) << "'\n"
       << "set grid\nset key outside right\nset xlabel 'seconds'\n"
       << "set title 'throughput (per second)'\nset ylabel 'events/s'\nset format y '%.1s%c'\n"
       << "plot ";
    for (size_t i = 0; i < runs.size(); ++i) {
      if (i) gp << ", ";
      gp << "'" << data << "' index " << i << " using 1:3 with linespoints lw 2 title '"
         << runs[i].system << " delivered', '' index " << i << " using 1:2 with lines dt 2 title '"
         << runs[i].system << " published'";
    }
    gp << "\nset title 'latency percentiles (per second)'\nset ylabel 'microseconds'\n"
       << "set logscale y\nset format y '%g'\nplot ";
    const char* names[] = {"p50", "p90", "p99", "p99.9", "max"};
    for (size_t i = 0; i < runs.size(); ++i) {
      for (int c = 0; c < 5; ++c) {
        if (i || c) gp << ", ";
        gp << "'" << data << "' index " << i << " using 1:" << 4 + c << " with lines lw 2 dt "
           << i + 1 << " lc " << c + 1 << " title '" << runs[i].system << " " << names[c] << "'";
      }
    }
    gp << "\nunset multiplot\n";
  }
  const int status = run_process({"gnuplot", script}, "", 60);
  std::remove(script.c_str());
  std::remove(data.c_str());
  if (status != 0) {
    std::fprintf(stderr, "qsse-bench: gnuplot failed (status %d) for %s\n", status, path.c_str());
    return false;
  }
  return true;
}

int run_process(const std::vector<std::string>& argv, const std::string& output_path,
                double timeout_s, bool merge_stderr) {
  std::vector<std::string> args = argv;
  std::vector<char*> raw;
  for (auto& a : args) raw.push_back(a.data());
  raw.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!output_path.empty()) {
    posix_spawn_file_actions_addopen(&actions, 1, output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    if (merge_stderr) posix_spawn_file_actions_adddup2(&actions, 1, 2);
  }
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, raw[0], &actions, nullptr, raw.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  const uint64_t deadline = now_ns() + static_cast<uint64_t>(timeout_s * 1e9);
  int status = 0;
  for (;;) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) return -1;
    if (now_ns() > deadline) {
      kill(pid, SIGTERM);
      std::this_thread::sleep_for(std::chrono::seconds(3));
      if (waitpid(pid, &status, WNOHANG) != pid) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
      }
      return -2;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

std::string capture(const std::vector<std::string>& argv) {
  char path[] = "/tmp/qsse-bench-capture-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return {};
  close(fd);
  std::string text;
  if (run_process(argv, path, 10) == 0) {
    std::ifstream in(path);
    text.assign((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  std::remove(path);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace qsse::bench

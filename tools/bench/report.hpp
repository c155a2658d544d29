// tools/bench/report.hpp — how qsse-bench shows what it measured: numbers for people, the
// results table, the JSON file, gnuplot charts, and running child processes (gnuplot, git,
// the matrix's own runs) with a time bound.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "probe.hpp"
#include "scenario.hpp"

namespace qsse::bench {

// 1234567 -> "1.23M"; 999 -> "999".
std::string si(double value);
// ns -> "950ns", "95.2us", "1.20ms", "1.50s".
std::string duration_text(uint64_t ns);
std::string bytes_text(uint64_t bytes);

// The results table (one column per run, a ratio column when there are exactly two runs).
void print_table(const Scenario& scenario, const std::vector<RunResult>& runs, std::FILE* out);

struct RunContext {
  std::string command;  // the command line, as typed
  std::string commit;   // short commit of the source tree, or "unknown"
  std::string date;     // UTC, ISO 8601
  MachineFacts machine;
};

// Everything measured, as JSON. Errors: false (and a message on stderr).
bool write_json(const std::string& path, const Scenario& scenario, const RunContext& context,
                const std::vector<RunResult>& runs);

// Throughput and latency percentiles over time, one line per system. Needs gnuplot.
bool write_plot(const std::string& path, const Scenario& scenario,
                const std::vector<RunResult>& runs);

// Runs argv[0] (searched in PATH) with arguments, stdout (and stderr too with merge_stderr) to
// `output_path` (empty: inherited), killed after `timeout_s`. Returns the exit status (-1: could
// not start, -2: killed on timeout, 128+N: killed by signal N).
int run_process(const std::vector<std::string>& argv, const std::string& output_path,
                double timeout_s, bool merge_stderr = false);
// stdout of a short command (git), trimmed; empty on failure.
std::string capture(const std::vector<std::string>& argv);

std::string describe(const Scenario& scenario);  // "K=10 on 1 topic, 64 B, rate max, P=1"

}  // namespace qsse::bench

// tools/bench/matrix.hpp — the standard matrix of issue #7: payload 64 B and 1 KiB; K = 1, 10,
// 100, 1,000 subscribers on one topic, and K = 1,000 over 100 topics with wildcard
// subscriptions; max rate, and 10,000 events/s for latency; 10 s per point, 3 repetitions,
// medians. Each run is a child qsse-bench process (its own RSS, its own failure), with NATS
// side by side when asked. Writes bench/results/<date>-<commit>.md (rewritten after every
// point, so an interrupted matrix still leaves a report) and two charts next to it.
#pragma once

#include <string>

#include "report.hpp"
#include "scenario.hpp"

namespace qsse::bench {

struct MatrixOptions {
  bool full = false;
  bool quick = false;       // fewer points, 2 s each, 1 repetition
  int repetitions = 0;      // 0: 3 (full) or 1 (quick)
  double duration = 0;      // 0: 10 s (full) or 2 s (quick)
  std::string results_dir;  // where the report goes
  bool compare_nats = false;
};

// `base` supplies everything the matrix does not vary (publishers, client threads, shards, I/O
// backend, window). Returns the process exit status.
int run_matrix(const MatrixOptions& options, const Scenario& base, const RunContext& context);

}  // namespace qsse::bench

// qsse/metrics.hpp — counters, gauges and histograms, Prometheus text exposition, and a small
// HTTP endpoint that serves them.
//
// Shape
// -----
//   Registry                    owns every metric family; one per server (or per process).
//     CounterFamily / GaugeFamily / HistogramFamily
//                               a name, help text, label names (and buckets, for histograms).
//       Counter / Gauge / Histogram
//                               one child per combination of label values: the thing you update.
//
//   qsse::metrics::Registry registry;                       // names prefixed "qsse_qsse_"
//   auto& published = registry.counter("events_published_total", "Events published", {"topic"});
//   qsse::metrics::Counter& ride = published.with({"ride.1.location"});  // look up once, cache
//   ride.inc();                                              // hot path: one relaxed atomic add
//   std::string text = registry.prometheus_text();           // any thread, any time
//
// Names
// -----
// The exposed name of a family is `<namespace>_<subsystem>_<name>` from RegistryOptions
// (defaults "qsse" and "qsse", as the Go library; empty parts are skipped with their `_`).
// Full metric names must match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* and
// must not start with "__" (reserved by Prometheus); a histogram may not use the label "le".
// Label values are arbitrary UTF-8: `\`, `"` and newline are escaped in the output, and bytes
// that are not valid UTF-8 are replaced by U+FFFD when the child is created (so two values that
// differ only in invalid bytes name the same child).
//
// Errors
// ------
// Registering a family with a bad name, a bad or duplicate label name, bad buckets, or a name
// that collides with another family (including a histogram's `_bucket`/`_sum`/`_count` series)
// throws std::invalid_argument with a message saying what to fix: that is start-up misuse.
// Registering exactly the same family again (same type, help, labels, buckets, cells) returns the
// existing one. `with()` throws std::invalid_argument when the number of values differs from the
// number of label names. Updates (inc/add/set/observe) never fail and never throw.
//
// Threads, lifetime, cost
// -----------------------
// * Every Registry, family and child function may be called from any thread concurrently with
//   every other one (MetricsHttpServer: see its comment).
// * Families and children are never destroyed or moved before their Registry: a reference
//   returned by counter()/with()/get() stays valid for the registry's whole lifetime. Cache it.
// * Registration, with() and get() take a mutex and may allocate: call them at start-up or when a
//   topic appears, not per event.
// * Updates take no lock, do not allocate and do no lookup: a child is an array of cache-line
//   sized cells of relaxed atomics. Scrapes read the same atomics (relaxed), so a scrape that
//   runs during updates sees each value at some recent point; a histogram's `_sum` may lag its
//   `_count` by observations in flight, while `_count` always equals the `+Inf` bucket.
//
// Contention (several shard threads updating one counter)
// -------------------------------------------------------
// Every cell sits on its own 64-byte cache line, so different metrics never share a line. One
// counter updated by several threads still bounces its line between cores on every update:
// bench/metrics_bench.cpp measured ~5 ns per inc() alone, ~13-16 ns per inc() per thread with two
// threads on one cell, and a histogram's observe() ~11 ns alone vs ~30-60 ns shared. Two
// remedies, pick per use:
//   1. Cells: register the family with `Cells{n}` (e.g. n = number of shards) and update with
//      `inc(Shard{k})` / `add(Shard{k}, x)` / `observe(Shard{k}, v)`. n is rounded up to a power
//      of two N and shard k writes only cell k % N, so shards with distinct k % N never touch
//      each other's line (two threads at ~5 ns each, in parallel); a scrape sums the cells.
//      Cost: N cache lines per child instead of one.
//   2. Batching: a shard counts in a plain local variable during its duty cycle and calls
//      `add(n)` once per cycle. No extra memory; the value is published once per cycle.
// Threads that share a cell stay correct (every update is an atomic read-modify-write); cells
// only remove the contention.
//
// HTTP
// ----
// MetricsHttpServer (below) serves `GET /metrics` from a Registry using civetweb.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <qsse/result.hpp>

namespace qsse::metrics {

// Size and alignment of one cell. Every child's storage starts on a boundary of this size and
// every cell of a multi-cell child occupies whole lines of it.
inline constexpr std::size_t kCellBytes = 64;

// Most cells a family may ask for (Cells{n} with n above this is rejected at registration).
inline constexpr std::size_t kMaxCells = 1024;

// The cell a hot-path update goes to: cell `index % cells` of the child (see "Contention").
// Pass the shard id (or any small per-thread number). Explicit, so that `inc(Shard{3})` can never
// be confused with `add(3)`.
struct Shard {
  std::size_t index = 0;
};

// How many cells each child of a family has (default one; see "Contention"). Rounded up to a
// power of two; 1..kMaxCells.
struct Cells {
  std::size_t count = 1;
};

// The metric types, as they appear after `# TYPE`.
enum class MetricType : std::uint8_t { kCounter, kGauge, kHistogram };

namespace detail {

// A fixed number of cells, each `words_per_cell` zeroed atomic 64-bit words, each cell starting
// on a kCellBytes boundary. Never resized, never moved: its words' addresses are stable.
class CellArray {
 public:
  CellArray(std::size_t cells, std::size_t words_per_cell);
  ~CellArray();
  CellArray(const CellArray&) = delete;
  CellArray& operator=(const CellArray&) = delete;

  std::atomic<std::uint64_t>& word(std::size_t cell, std::size_t index) const noexcept {
    return words_[cell * stride_ + index];
  }
  std::size_t cells() const noexcept { return cells_; }

 private:
  std::atomic<std::uint64_t>* words_;
  std::size_t cells_;
  std::size_t stride_;  // words per cell, rounded up to whole cache lines
};

class FamilyCore;  // the type-independent part of a family (src/metrics/registry.cpp)

}  // namespace detail

// A monotonically increasing 64-bit count (wraps at 2^64). Obtain from CounterFamily; never
// constructed by users. All members are noexcept, lock-free and allocation-free.
class Counter {
 public:
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // Adds to cell 0 (shared by every caller that does not name a shard).
  void inc() noexcept { add(1); }
  void add(std::uint64_t amount) noexcept {
    cells_.word(0, 0).fetch_add(amount, std::memory_order_relaxed);
  }

  // Adds to this shard's cell (index % cells): contention-free when each shard has its own cell.
  void inc(Shard shard) noexcept { add(shard, 1); }
  void add(Shard shard, std::uint64_t amount) noexcept {
    cells_.word(shard.index & mask_, 0).fetch_add(amount, std::memory_order_relaxed);
  }

  // The sum of all cells (relaxed reads; exact once updaters have stopped and been joined).
  std::uint64_t value() const noexcept;

 private:
  friend class detail::FamilyCore;
  explicit Counter(std::size_t cells);

  detail::CellArray cells_;
  std::size_t mask_;
};

// A value that goes up and down (connections, queue depth). One cache line, one cell: gauges are
// written on state changes, not per event. set() is last-writer-wins; add()/sub() are atomic
// read-modify-writes (a short compare-exchange loop), so concurrent adds never lose an update.
class alignas(kCellBytes) Gauge {
 public:
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void set(double value) noexcept { value_.store(value, std::memory_order_relaxed); }
  void add(double amount) noexcept { value_.fetch_add(amount, std::memory_order_relaxed); }
  void sub(double amount) noexcept { value_.fetch_sub(amount, std::memory_order_relaxed); }
  void inc() noexcept { add(1.0); }
  void dec() noexcept { sub(1.0); }

  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  friend class detail::FamilyCore;
  Gauge() = default;

  std::atomic<double> value_{0.0};
};

// Counts observations into fixed buckets (upper bounds inclusive, Prometheus `le` semantics:
// a value v lands in the first bucket whose bound is >= v; above the last bound, NaN included,
// it lands only in +Inf) and keeps their sum. Cells as for Counter.
class Histogram {
 public:
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void observe(double value) noexcept { observe(Shard{0}, value); }
  void observe(Shard shard, double value) noexcept {
    const std::size_t cell = shard.index & mask_;
    cells_.word(cell, bucket_index(value)).fetch_add(1, std::memory_order_relaxed);
    std::atomic<std::uint64_t>& sum = cells_.word(cell, bounds_.size() + 1);
    std::uint64_t old_bits = sum.load(std::memory_order_relaxed);
    while (!sum.compare_exchange_weak(
        old_bits, std::bit_cast<std::uint64_t>(std::bit_cast<double>(old_bits) + value),
        std::memory_order_relaxed)) {
    }
  }

  // A consistent-enough copy for tests and exposition: `cumulative[i]` counts observations
  // <= upper_bounds()[i]; the last element is the +Inf bucket and equals `count`.
  struct Snapshot {
    std::vector<std::uint64_t> cumulative;
    std::uint64_t count = 0;
    double sum = 0.0;
  };
  Snapshot snapshot() const;

  // The finite upper bounds, strictly increasing (the +Inf bucket is implicit).
  std::span<const double> upper_bounds() const noexcept { return bounds_; }

 private:
  friend class detail::FamilyCore;
  Histogram(std::span<const double> bounds, std::size_t cells);

  // Index of the bucket for `value`: bounds_.size() means +Inf.
  std::size_t bucket_index(double value) const noexcept {
    if (value != value) return bounds_.size();  // NaN
    return static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) -
                                    bounds_.begin());
  }

  std::span<const double> bounds_;  // owned by the family, which outlives this child
  detail::CellArray cells_;         // per cell: bounds_.size() + 1 bucket counts, then the sum
  std::size_t mask_;
};

// A family of children of one type sharing a name, help and label names. Owned by the Registry;
// obtain it from Registry::counter()/gauge()/histogram().
template <class Metric>
class Family {
 public:
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;
  ~Family();

  // The child for these label values (in label-name order), created on first use. The reference
  // stays valid for the registry's lifetime; the same values always give the same child.
  // Locks the family; may allocate. Throws std::invalid_argument if the number of values is not
  // the number of label names.
  Metric& with(std::initializer_list<std::string_view> label_values);
  Metric& with(std::span<const std::string_view> label_values);
  Metric& with(std::span<const std::string> label_values);

  // The single child of a family declared without labels (created at registration). Throws
  // std::invalid_argument if the family has labels.
  Metric& get();

  // The exposed name (with the registry's prefix), the help text and the label names.
  const std::string& name() const noexcept;
  const std::string& help() const noexcept;
  const std::vector<std::string>& label_names() const noexcept;

 private:
  friend class Registry;
  explicit Family(std::unique_ptr<detail::FamilyCore> core);

  std::unique_ptr<detail::FamilyCore> core_;
};

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// Prometheus client libraries' default buckets (seconds): .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10.
std::vector<double> default_buckets();
// `count` bounds start, start + width, ... Throws std::invalid_argument unless count >= 1 and
// width > 0 (and both finite).
std::vector<double> linear_buckets(double start, double width, std::size_t count);
// `count` bounds start, start * factor, ... Throws std::invalid_argument unless count >= 1,
// start > 0 and factor > 1 (all finite).
std::vector<double> exponential_buckets(double start, double factor, std::size_t count);

// Name checks used at registration (exposed for callers that build names from input).
bool is_valid_metric_name(std::string_view name) noexcept;  // [a-zA-Z_:][a-zA-Z0-9_:]*
bool is_valid_label_name(std::string_view name) noexcept;   // [a-zA-Z_][a-zA-Z0-9_]*, no "__"

struct RegistryOptions {
  // Prefix parts: the exposed name is namespace_subsystem_name with empty parts skipped.
  std::string metric_namespace = "qsse";
  std::string subsystem = "qsse";
};

// Owns all families. Not copyable or movable (children are referenced from elsewhere).
class Registry {
 public:
  // Throws std::invalid_argument if a non-empty prefix part is not a valid metric-name part.
  explicit Registry(RegistryOptions options = {});
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Register (or find, if identical) a family. `name` is without the prefix. See "Errors" above
  // for what throws. With no label names the single child exists at once (exposed as 0).
  CounterFamily& counter(std::string_view name, std::string_view help,
                         std::vector<std::string> label_names = {}, Cells cells = {});
  GaugeFamily& gauge(std::string_view name, std::string_view help,
                     std::vector<std::string> label_names = {});
  // `upper_bounds`: finite, strictly increasing; a trailing +Inf is accepted and dropped; may be
  // empty (then only +Inf). Otherwise std::invalid_argument.
  HistogramFamily& histogram(std::string_view name, std::string_view help,
                             std::vector<double> upper_bounds,
                             std::vector<std::string> label_names = {}, Cells cells = {});

  // Prometheus text exposition format 0.0.4: for each family with at least one child, in
  // byte order of its name, `# HELP`, `# TYPE`, then its samples with children in byte order of
  // their label values. Histograms: cumulative `_bucket{...,le="..."}` lines ending with
  // le="+Inf", then `_sum` and `_count`. Safe concurrently with updates and registration.
  std::string prometheus_text() const;
  // The same, appended to `out` (reuse one buffer across scrapes).
  void write_prometheus_text(std::string& out) const;

  // `name` with this registry's prefix.
  std::string full_name(std::string_view name) const;
  const RegistryOptions& options() const noexcept { return options_; }

 private:
  struct State;
  RegistryOptions options_;
  std::unique_ptr<State> state_;
};

// ---------------------------------------------------------------------------------------------
// HTTP endpoint

// Why MetricsHttpServer::start failed.
enum class HttpServerError : std::uint8_t {
  kMalformedAddress = 1,  // not "IPV4:PORT" or ":PORT" with PORT in 0..65535
  kAddressInUse,          // something else listens there (EADDRINUSE)
  kListenFailed,          // any other failure to start (e.g. address not local: EADDRNOTAVAIL)
};

struct HttpServerFailure {
  HttpServerError code;
  std::string message;  // human-readable, names the address and the cause
};

struct HttpServerOptions {
  // civetweb worker threads: concurrent scrapes served at once (>= 1).
  int worker_threads = 2;
  // Time allowed to read a request and write the response.
  int request_timeout_ms = 10000;
};

// Serves a Registry over HTTP/1.1 with civetweb:
//   GET  /metrics   200, `Content-Type: text/plain; version=0.0.4; charset=utf-8`, the text
//   HEAD /metrics   the same headers, no body
//   other methods on /metrics: 405 with `Allow: GET, HEAD`; any other path: 404.
// Connections are closed after each response (no keep-alive), so idle clients cannot hold the
// worker threads.
//
// Threads and lifetime: start() binds and returns once the socket listens; requests run on
// civetweb's threads and read the registry, which must outlive the server. stop() (and the
// destructor) closes the listener and waits for in-flight requests (milliseconds, not civetweb's
// 2 s accept timeout: stop() wakes the accept thread itself); it must not be called from a
// request. start() may be called from any thread; one server object's port()/running()/stop()
// are not synchronized with each other: use them from the owning thread. Movable (the running
// server is not relocated); a moved-from object is stopped.
class MetricsHttpServer {
 public:
  // `listen_address`: "127.0.0.1:9100", "0.0.0.0:9100", or ":9100" (all IPv4 interfaces); port
  // 0 picks a free port (see port()). IPv6 is not offered: Debian's civetweb is built without it.
  // Errors: kMalformedAddress, kAddressInUse, kListenFailed. Throws std::invalid_argument for
  // options out of range (misuse).
  [[nodiscard]] static Result<MetricsHttpServer, HttpServerFailure> start(
      const Registry& registry, std::string_view listen_address,
      const HttpServerOptions& options = {});

  MetricsHttpServer(MetricsHttpServer&& other) noexcept;
  MetricsHttpServer& operator=(MetricsHttpServer&& other) noexcept;
  ~MetricsHttpServer();

  // The bound port (the chosen one when started with port 0); 0 once stopped.
  std::uint16_t port() const noexcept;
  bool running() const noexcept;
  // Idempotent.
  void stop() noexcept;

 private:
  struct Impl;
  explicit MetricsHttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace qsse::metrics

// Registry, families and children; Prometheus text exposition.
//
// Locking: Registry::State::mutex guards the family map (registration, scrape); each
// FamilyCore::mutex guards that family's child map (with(), scrape). A scrape holds the registry
// lock and then each family's lock in turn; nothing takes them in the other order. Updates take
// neither: children are heap objects that never move, reached through cached references.
#include <bit>
#include <cmath>
#include <map>
#include <mutex>
#include <new>
#include <stdexcept>
#include <utility>
#include <variant>

#include <qsse/metrics.hpp>

#include "metrics/text_format.hpp"

namespace qsse::metrics {

static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<double>::is_always_lock_free);

namespace {

constexpr std::size_t kWordsPerCell = kCellBytes / sizeof(std::atomic<std::uint64_t>);

[[noreturn]] void misuse(const std::string& what) {
  throw std::invalid_argument("qsse::metrics: " + what);
}

std::string quoted(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

const char* type_name(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

namespace detail {

CellArray::CellArray(std::size_t cells, std::size_t words_per_cell)
    : cells_(cells), stride_((words_per_cell + kWordsPerCell - 1) / kWordsPerCell * kWordsPerCell) {
  const std::size_t count = cells_ * stride_;
  void* raw =
      ::operator new (count * sizeof(std::atomic<std::uint64_t>), std::align_val_t{kCellBytes});
  words_ = static_cast<std::atomic<std::uint64_t>*>(raw);
  for (std::size_t i = 0; i < count; ++i) new (words_ + i) std::atomic<std::uint64_t>(0);
}

CellArray::~CellArray() {
  // std::atomic<uint64_t> is trivially destructible: no destructor calls needed.
  ::operator delete (static_cast<void*>(words_), std::align_val_t{kCellBytes});
}

// Everything about a family that does not depend on the child type, plus its children.
class FamilyCore {
 public:
  using Child =
      std::variant<std::unique_ptr<Counter>, std::unique_ptr<Gauge>, std::unique_ptr<Histogram>>;

  FamilyCore(MetricType type, std::string name, std::string help,
             std::vector<std::string> label_names, std::vector<double> bounds, std::size_t cells)
      : type_(type),
        name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        bounds_(std::move(bounds)),
        cells_(cells) {
    for (const double bound : bounds_) {
      std::string le;
      text::append_double(le, bound);
      le_values_.push_back(std::move(le));
    }
    le_values_.emplace_back("+Inf");
  }

  MetricType type() const noexcept { return type_; }
  const std::string& name() const noexcept { return name_; }
  const std::string& help() const noexcept { return help_; }
  const std::vector<std::string>& label_names() const noexcept { return label_names_; }

  bool same_definition(MetricType type, std::string_view help,
                       const std::vector<std::string>& label_names,
                       const std::vector<double>& bounds, std::size_t cells) const {
    return type == type_ && help == help_ && label_names == label_names_ && bounds == bounds_ &&
           cells == cells_;
  }

  template <class Metric>
  Metric& child(std::vector<std::string_view> values) {
    if (values.size() != label_names_.size()) {
      std::string names;
      for (const auto& label : label_names_) names += (names.empty() ? "" : ", ") + label;
      misuse(name_ + " has " + std::to_string(label_names_.size()) + " label(s) (" + names +
             ") but " + std::to_string(values.size()) + " value(s) were given");
    }
    std::vector<std::string> key;
    key.reserve(values.size());
    for (const auto value : values) key.push_back(text::sanitize_utf8(value));

    const std::lock_guard lock(mutex_);
    auto it = children_.find(key);
    if (it == children_.end()) it = children_.emplace(std::move(key), make<Metric>()).first;
    return *std::get<std::unique_ptr<Metric>>(it->second);
  }

  void write(std::string& out) const {
    const std::lock_guard lock(mutex_);
    if (children_.empty()) return;
    out += "# HELP ";
    out += name_;
    out += ' ';
    text::append_help(out, help_);
    out += "\n# TYPE ";
    out += name_;
    out += ' ';
    out += type_name(type_);
    out += '\n';
    for (const auto& [values, child] : children_) {
      switch (type_) {
        case MetricType::kCounter:
          write_sample(out, "", values, {}, {});
          text::append_uint(out, std::get<std::unique_ptr<Counter>>(child)->value());
          out += '\n';
          break;
        case MetricType::kGauge:
          write_sample(out, "", values, {}, {});
          text::append_double(out, std::get<std::unique_ptr<Gauge>>(child)->value());
          out += '\n';
          break;
        case MetricType::kHistogram:
          write_histogram(out, values, *std::get<std::unique_ptr<Histogram>>(child));
          break;
      }
    }
  }

 private:
  template <class Metric>
  Child make() const {
    if constexpr (std::is_same_v<Metric, Counter>) {
      return std::unique_ptr<Counter>(new Counter(cells_));
    } else if constexpr (std::is_same_v<Metric, Gauge>) {
      return std::unique_ptr<Gauge>(new Gauge());
    } else {
      return std::unique_ptr<Histogram>(new Histogram(bounds_, cells_));
    }
  }

  // `name_suffix{label="value",...,extra="value"} ` (braces only when there are labels).
  void write_sample(std::string& out, std::string_view suffix,
                    const std::vector<std::string>& values, std::string_view extra_name,
                    std::string_view extra_value) const {
    out += name_;
    out += suffix;
    if (!values.empty() || !extra_name.empty()) {
      out += '{';
      for (std::size_t i = 0; i < values.size(); ++i) {
        if (i != 0) out += ',';
        out += label_names_[i];
        out += "=\"";
        text::append_label_value(out, values[i]);
        out += '"';
      }
      if (!extra_name.empty()) {
        if (!values.empty()) out += ',';
        out += extra_name;
        out += "=\"";
        out += extra_value;  // an `le` bound: digits, '.', 'e', '+', '-', "Inf"; nothing to escape
        out += '"';
      }
      out += '}';
    }
    out += ' ';
  }

  void write_histogram(std::string& out, const std::vector<std::string>& values,
                       const Histogram& histogram) const {
    const Histogram::Snapshot snapshot = histogram.snapshot();
    for (std::size_t i = 0; i < snapshot.cumulative.size(); ++i) {
      write_sample(out, "_bucket", values, "le", le_values_[i]);
      text::append_uint(out, snapshot.cumulative[i]);
      out += '\n';
    }
    write_sample(out, "_sum", values, {}, {});
    text::append_double(out, snapshot.sum);
    out += '\n';
    write_sample(out, "_count", values, {}, {});
    text::append_uint(out, snapshot.count);
    out += '\n';
  }

  const MetricType type_;
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;  // histograms' children point into this
  const std::size_t cells_;
  std::vector<std::string> le_values_;  // spelled bounds, then "+Inf"

  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, Child> children_;  // sorted: deterministic exposition
};

}  // namespace detail

// --- children -------------------------------------------------------------------------------

Counter::Counter(std::size_t cells) : cells_(cells, 1), mask_(cells - 1) {}

std::uint64_t Counter::value() const noexcept {
  std::uint64_t sum = 0;
  for (std::size_t cell = 0; cell < cells_.cells(); ++cell) {
    sum += cells_.word(cell, 0).load(std::memory_order_relaxed);
  }
  return sum;
}

Histogram::Histogram(std::span<const double> bounds, std::size_t cells)
    : bounds_(bounds), cells_(cells, bounds.size() + 2), mask_(cells - 1) {}

Histogram::Snapshot Histogram::snapshot() const {
  const std::size_t buckets = bounds_.size() + 1;
  Snapshot snapshot;
  snapshot.cumulative.assign(buckets, 0);
  for (std::size_t cell = 0; cell < cells_.cells(); ++cell) {
    for (std::size_t i = 0; i < buckets; ++i) {
      snapshot.cumulative[i] += cells_.word(cell, i).load(std::memory_order_relaxed);
    }
    snapshot.sum +=
        std::bit_cast<double>(cells_.word(cell, buckets).load(std::memory_order_relaxed));
  }
  for (std::size_t i = 1; i < buckets; ++i) snapshot.cumulative[i] += snapshot.cumulative[i - 1];
  snapshot.count = snapshot.cumulative.back();
  return snapshot;
}

// --- families -------------------------------------------------------------------------------

template <class Metric>
Family<Metric>::Family(std::unique_ptr<detail::FamilyCore> core) : core_(std::move(core)) {}

template <class Metric>
Family<Metric>::~Family() = default;

template <class Metric>
Metric& Family<Metric>::with(std::initializer_list<std::string_view> label_values) {
  return core_->child<Metric>(std::vector<std::string_view>(label_values));
}

template <class Metric>
Metric& Family<Metric>::with(std::span<const std::string_view> label_values) {
  return core_->child<Metric>(
      std::vector<std::string_view>(label_values.begin(), label_values.end()));
}

template <class Metric>
Metric& Family<Metric>::with(std::span<const std::string> label_values) {
  return core_->child<Metric>(
      std::vector<std::string_view>(label_values.begin(), label_values.end()));
}

template <class Metric>
Metric& Family<Metric>::get() {
  if (!core_->label_names().empty()) {
    misuse(core_->name() + " has labels: use with(label values), not get()");
  }
  return core_->child<Metric>({});
}

template <class Metric>
const std::string& Family<Metric>::name() const noexcept {
  return core_->name();
}

template <class Metric>
const std::string& Family<Metric>::help() const noexcept {
  return core_->help();
}

template <class Metric>
const std::vector<std::string>& Family<Metric>::label_names() const noexcept {
  return core_->label_names();
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// --- buckets --------------------------------------------------------------------------------

std::vector<double> default_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::vector<double> linear_buckets(double start, double width, std::size_t count) {
  if (count < 1 || !std::isfinite(start) || !std::isfinite(width) || !(width > 0)) {
    misuse("linear_buckets needs count >= 1, a finite start and a finite width > 0");
  }
  std::vector<double> bounds;
  for (std::size_t i = 0; i < count; ++i) bounds.push_back(start + width * static_cast<double>(i));
  return bounds;
}

std::vector<double> exponential_buckets(double start, double factor, std::size_t count) {
  if (count < 1 || !std::isfinite(start) || !(start > 0) || !std::isfinite(factor) ||
      !(factor > 1)) {
    misuse("exponential_buckets needs count >= 1, a finite start > 0 and a finite factor > 1");
  }
  std::vector<double> bounds;
  double bound = start;
  for (std::size_t i = 0; i < count; ++i, bound *= factor) bounds.push_back(bound);
  return bounds;
}

// --- registry -------------------------------------------------------------------------------

struct Registry::State {
  using Entry = std::variant<std::unique_ptr<CounterFamily>, std::unique_ptr<GaugeFamily>,
                             std::unique_ptr<HistogramFamily>>;

  mutable std::mutex mutex;
  std::map<std::string, Entry> families;  // by exposed name: deterministic exposition order
  // Every name a family uses (its own and, for histograms, its _bucket/_sum/_count series), to
  // the family that uses it. A new family may take none of them.
  std::map<std::string, std::string> taken_names;

  template <class Metric>
  Family<Metric>& add(MetricType type, std::string name, std::string_view help_in,
                      std::vector<std::string> label_names, std::vector<double> bounds,
                      Cells cells);
};

namespace {

void check_prefix_part(std::string_view what, const std::string& part) {
  if (!part.empty() && !is_valid_metric_name(part)) {
    misuse(std::string(what) + " " + quoted(part) +
           " is not a valid metric name part: use [a-zA-Z_:][a-zA-Z0-9_:]*");
  }
}

void check_labels(const std::string& metric, MetricType type,
                  const std::vector<std::string>& label_names) {
  for (std::size_t i = 0; i < label_names.size(); ++i) {
    const std::string& label = label_names[i];
    if (!is_valid_label_name(label)) {
      misuse("label name " + quoted(label) + " of " + metric +
             " is invalid: use [a-zA-Z_][a-zA-Z0-9_]* not starting with \"__\"");
    }
    if (type == MetricType::kHistogram && label == "le") {
      misuse("histogram " + metric + " may not have a label named \"le\" (used for buckets)");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (label_names[j] == label) misuse("label name " + quoted(label) + " repeated in " + metric);
    }
  }
}

std::vector<double> check_bounds(const std::string& metric, std::vector<double> bounds) {
  if (!bounds.empty() && bounds.back() == std::numeric_limits<double>::infinity()) {
    bounds.pop_back();  // +Inf is always there; accept it spelled out
  }
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) {
      misuse("bucket bounds of " + metric + " must be finite (+Inf only as the last one)");
    }
    if (i != 0 && !(bounds[i - 1] < bounds[i])) {
      misuse("bucket bounds of " + metric + " must be strictly increasing");
    }
  }
  return bounds;
}

}  // namespace

template <class Metric>
Family<Metric>& Registry::State::add(MetricType type, std::string name, std::string_view help_in,
                                     std::vector<std::string> label_names,
                                     std::vector<double> bounds, Cells cells) {
  if (!is_valid_metric_name(name)) {
    misuse("metric name " + quoted(name) + " is invalid: use [a-zA-Z_:][a-zA-Z0-9_:]*");
  }
  check_labels(name, type, label_names);
  if (type == MetricType::kHistogram) bounds = check_bounds(name, std::move(bounds));
  if (cells.count < 1 || cells.count > kMaxCells) {
    misuse("cells for " + name + " must be 1.." + std::to_string(kMaxCells));
  }
  const std::size_t cell_count = std::bit_ceil(cells.count);
  std::string help = text::sanitize_utf8(help_in);

  std::vector<std::string> names{name};
  if (type == MetricType::kHistogram) {
    for (const char* suffix : {"_bucket", "_sum", "_count"}) names.push_back(name + suffix);
  }

  const std::lock_guard lock(mutex);
  if (const auto it = families.find(name); it != families.end()) {
    const auto* existing = std::get_if<std::unique_ptr<Family<Metric>>>(&it->second);
    if (existing != nullptr &&
        (*existing)->core_->same_definition(type, help, label_names, bounds, cell_count)) {
      return **existing;
    }
    misuse(name + " is already registered with a different type, help, labels, buckets or cells");
  }
  for (const auto& taken : names) {
    if (const auto it = taken_names.find(taken); it != taken_names.end()) {
      misuse(name + " collides with the series " + taken + " of " + it->second);
    }
  }

  auto core = std::make_unique<detail::FamilyCore>(
      type, name, std::move(help), std::move(label_names), std::move(bounds), cell_count);
  auto family = std::unique_ptr<Family<Metric>>(new Family<Metric>(std::move(core)));
  Family<Metric>& result = *family;
  if (result.label_names().empty()) result.get();  // the single child is exposed from the start
  for (auto& taken : names) taken_names.emplace(std::move(taken), name);
  families.emplace(std::move(name), std::move(family));
  return result;
}

Registry::Registry(RegistryOptions options)
    : options_(std::move(options)), state_(std::make_unique<State>()) {
  check_prefix_part("namespace", options_.metric_namespace);
  check_prefix_part("subsystem", options_.subsystem);
}

Registry::~Registry() = default;

std::string Registry::full_name(std::string_view name) const {
  std::string full;
  for (const std::string_view part :
       {std::string_view(options_.metric_namespace), std::string_view(options_.subsystem), name}) {
    if (part.empty()) continue;
    if (!full.empty()) full += '_';
    full += part;
  }
  return full;
}

CounterFamily& Registry::counter(std::string_view name, std::string_view help,
                                 std::vector<std::string> label_names, Cells cells) {
  if (name.empty()) misuse("metric name must not be empty");
  return state_->add<Counter>(MetricType::kCounter, full_name(name), help, std::move(label_names),
                              {}, cells);
}

GaugeFamily& Registry::gauge(std::string_view name, std::string_view help,
                             std::vector<std::string> label_names) {
  if (name.empty()) misuse("metric name must not be empty");
  return state_->add<Gauge>(MetricType::kGauge, full_name(name), help, std::move(label_names), {},
                            Cells{});
}

HistogramFamily& Registry::histogram(std::string_view name, std::string_view help,
                                     std::vector<double> upper_bounds,
                                     std::vector<std::string> label_names, Cells cells) {
  if (name.empty()) misuse("metric name must not be empty");
  return state_->add<Histogram>(MetricType::kHistogram, full_name(name), help,
                                std::move(label_names), std::move(upper_bounds), cells);
}

std::string Registry::prometheus_text() const {
  std::string out;
  write_prometheus_text(out);
  return out;
}

void Registry::write_prometheus_text(std::string& out) const {
  const std::lock_guard lock(state_->mutex);
  for (const auto& [name, entry] : state_->families) {
    std::visit([&](const auto& family) { family->core_->write(out); }, entry);
  }
}

}  // namespace qsse::metrics

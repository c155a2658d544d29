// Registry: naming, validation, child handles and the exact exposition text of every type.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <qsse/metrics.hpp>

namespace qsse::metrics {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// EXPECT_THROW plus a check that the message names what to fix.
template <class F>
void expect_misuse(F&& f, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "expected std::invalid_argument mentioning: " << fragment;
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
        << "message: " << e.what() << "\nexpected to contain: " << fragment;
  }
}

TEST(Registry, EmptyRegistryExposesNothing) {
  Registry registry;
  EXPECT_EQ(registry.prometheus_text(), "");
}

TEST(Registry, NamesArePrefixedWithNamespaceAndSubsystemSkippingEmptyParts) {
  EXPECT_EQ(Registry().full_name("x"), "qsse_qsse_x");
  EXPECT_EQ(Registry({.metric_namespace = "app", .subsystem = "sse"}).full_name("x"), "app_sse_x");
  EXPECT_EQ(Registry({.metric_namespace = "", .subsystem = "sse"}).full_name("x"), "sse_x");
  EXPECT_EQ(Registry({.metric_namespace = "app", .subsystem = ""}).full_name("x"), "app_x");
  EXPECT_EQ(Registry({.metric_namespace = "", .subsystem = ""}).full_name("x"), "x");

  Registry registry({.metric_namespace = "app", .subsystem = ""});
  EXPECT_EQ(registry.counter("events_total", "Events").name(), "app_events_total");
}

TEST(Registry, CounterExposition) {
  Registry registry;
  auto& published = registry.counter("events_published_total", "Events published", {"topic"});
  published.with({"ride.1.location"}).add(3);
  published.with({"chat.room"}).inc();
  Counter& plain = registry.counter("handshakes_total", "Handshakes").get();
  plain.add(7);

  EXPECT_EQ(registry.prometheus_text(),
            "# HELP qsse_qsse_events_published_total Events published\n"
            "# TYPE qsse_qsse_events_published_total counter\n"
            "qsse_qsse_events_published_total{topic=\"chat.room\"} 1\n"
            "qsse_qsse_events_published_total{topic=\"ride.1.location\"} 3\n"
            "# HELP qsse_qsse_handshakes_total Handshakes\n"
            "# TYPE qsse_qsse_handshakes_total counter\n"
            "qsse_qsse_handshakes_total 7\n");
}

TEST(Registry, GaugeExposition) {
  Registry registry({.metric_namespace = "", .subsystem = ""});
  Gauge& connections = registry.gauge("connections", "Open connections").get();
  connections.inc();
  connections.inc();
  connections.dec();
  connections.add(2.5);
  auto& depth = registry.gauge("queue_depth", "Queued bytes", {"shard", "kind"});
  depth.with({"1", "inbox"}).set(-4);
  depth.with({"0", "send"}).set(std::numeric_limits<double>::infinity());
  depth.with({"0", "inbox"}).set(0.125);
  depth.with({"0", "inbox"}).sub(0.125);

  EXPECT_EQ(connections.value(), 3.5);
  EXPECT_EQ(registry.prometheus_text(),
            "# HELP connections Open connections\n"
            "# TYPE connections gauge\n"
            "connections 3.5\n"
            "# HELP queue_depth Queued bytes\n"
            "# TYPE queue_depth gauge\n"
            "queue_depth{shard=\"0\",kind=\"inbox\"} 0\n"
            "queue_depth{shard=\"0\",kind=\"send\"} +Inf\n"
            "queue_depth{shard=\"1\",kind=\"inbox\"} -4\n");
}

TEST(Registry, HistogramExposition) {
  Registry registry({.metric_namespace = "", .subsystem = ""});
  auto& latency =
      registry.histogram("latency_seconds", "Delivery latency", {0.01, 0.1, 1}, {"topic"});
  Histogram& ride = latency.with({"ride"});
  ride.observe(0.0078125);  // powers of two: the sum is exact
  ride.observe(0.0625);
  ride.observe(0.5);
  ride.observe(4);
  latency.with({"chat"});  // created, never observed
  registry.histogram("sizes", "Sizes", {}).get().observe(3);

  EXPECT_EQ(registry.prometheus_text(),
            "# HELP latency_seconds Delivery latency\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{topic=\"chat\",le=\"0.01\"} 0\n"
            "latency_seconds_bucket{topic=\"chat\",le=\"0.1\"} 0\n"
            "latency_seconds_bucket{topic=\"chat\",le=\"1\"} 0\n"
            "latency_seconds_bucket{topic=\"chat\",le=\"+Inf\"} 0\n"
            "latency_seconds_sum{topic=\"chat\"} 0\n"
            "latency_seconds_count{topic=\"chat\"} 0\n"
            "latency_seconds_bucket{topic=\"ride\",le=\"0.01\"} 1\n"
            "latency_seconds_bucket{topic=\"ride\",le=\"0.1\"} 2\n"
            "latency_seconds_bucket{topic=\"ride\",le=\"1\"} 3\n"
            "latency_seconds_bucket{topic=\"ride\",le=\"+Inf\"} 4\n"
            "latency_seconds_sum{topic=\"ride\"} 4.5703125\n"
            "latency_seconds_count{topic=\"ride\"} 4\n"
            "# HELP sizes Sizes\n"
            "# TYPE sizes histogram\n"
            "sizes_bucket{le=\"+Inf\"} 1\n"
            "sizes_sum 3\n"
            "sizes_count 1\n");
}

TEST(Registry, HistogramBucketBoundariesAreInclusiveUpperBounds) {
  Registry registry;
  Histogram& h = registry.histogram("h", "h", {1, 2, 4}).get();
  for (const double v : {-kInf, -1.0, 0.0, 1.0}) h.observe(v);                  // le 1: 4
  for (const double v : {std::nextafter(1.0, 2.0), 2.0}) h.observe(v);          // le 2: +2
  for (const double v : {3.999, 4.0}) h.observe(v);                             // le 4: +2
  for (const double v : {std::nextafter(4.0, 5.0), 1e300, kInf}) h.observe(v);  // +Inf only
  const Histogram::Snapshot s = h.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<std::uint64_t>{4, 6, 8, 11}));
  EXPECT_EQ(s.count, 11u);

  Histogram& nan = registry.histogram("nan", "nan", {1}).get();
  nan.observe(std::nan(""));
  const Histogram::Snapshot n = nan.snapshot();
  EXPECT_EQ(n.cumulative, (std::vector<std::uint64_t>{0, 1}));
  EXPECT_TRUE(std::isnan(n.sum));
}

TEST(Registry, LinearAndExponentialBuckets) {
  EXPECT_EQ(linear_buckets(1, 2, 3), (std::vector<double>{1, 3, 5}));
  EXPECT_EQ(exponential_buckets(1, 10, 4), (std::vector<double>{1, 10, 100, 1000}));
  EXPECT_EQ(default_buckets().size(), 11u);
  EXPECT_THROW(linear_buckets(0, 0, 3), std::invalid_argument);
  EXPECT_THROW(linear_buckets(0, 1, 0), std::invalid_argument);
  EXPECT_THROW(exponential_buckets(0, 2, 3), std::invalid_argument);
  EXPECT_THROW(exponential_buckets(1, 1, 3), std::invalid_argument);
  EXPECT_THROW(exponential_buckets(1, std::nan(""), 3), std::invalid_argument);
}

TEST(Registry, HistogramBoundsAreValidated) {
  Registry registry;
  expect_misuse([&] { registry.histogram("a", "a", {1, 1}); }, "strictly increasing");
  expect_misuse([&] { registry.histogram("b", "b", {2, 1}); }, "strictly increasing");
  expect_misuse([&] { registry.histogram("c", "c", {1, std::nan("")}); }, "finite");
  expect_misuse([&] { registry.histogram("d", "d", {-kInf, 1}); }, "finite");
  expect_misuse([&] { registry.histogram("e", "e", {kInf, kInf}); }, "finite");
  // A trailing +Inf is the implicit bucket spelled out: accepted and not duplicated.
  Histogram& h = registry.histogram("f", "f", {1, kInf}).get();
  EXPECT_EQ(h.upper_bounds().size(), 1u);
  EXPECT_EQ(h.snapshot().cumulative.size(), 2u);
}

TEST(Registry, LabelValuesAreEscapedInOutput) {
  Registry registry({.metric_namespace = "", .subsystem = ""});
  auto& family = registry.counter("c", "Help with \\ and\nnewline and \"quotes\"", {"v"});
  family.with({"back\\slash"}).inc();
  family.with({"quo\"te"}).inc();
  family.with({"new\nline"}).inc();
  family.with({"\xFF"}).inc();  // not UTF-8: replaced

  EXPECT_EQ(registry.prometheus_text(),
            "# HELP c Help with \\\\ and\\nnewline and \"quotes\"\n"
            "# TYPE c counter\n"
            "c{v=\"back\\\\slash\"} 1\n"
            "c{v=\"new\\nline\"} 1\n"
            "c{v=\"quo\\\"te\"} 1\n"
            "c{v=\"\xEF\xBF\xBD\"} 1\n");
}

TEST(Registry, BadNamesAreRejectedAtRegistration) {
  Registry registry;
  expect_misuse([&] { registry.counter("", "h"); }, "must not be empty");
  expect_misuse([&] { registry.counter("bad-name", "h"); }, "\"qsse_qsse_bad-name\" is invalid");
  expect_misuse([&] { registry.gauge("with space", "h"); }, "is invalid");
  expect_misuse([&] { registry.counter("x", "h", {"2topic"}); }, "label name \"2topic\"");
  expect_misuse([&] { registry.counter("x", "h", {"__reserved"}); }, "not starting with \"__\"");
  expect_misuse([&] { registry.counter("x", "h", {"to-pic"}); }, "is invalid");
  expect_misuse([&] { registry.counter("x", "h", {"topic", "topic"}); }, "repeated");
  expect_misuse([&] { registry.histogram("h", "h", {1}, {"le"}); }, "\"le\"");
  expect_misuse([&] { registry.counter("x", "h", {}, Cells{0}); }, "cells");
  expect_misuse([&] { registry.counter("x", "h", {}, Cells{kMaxCells + 1}); }, "cells");
  // Unprefixed registries validate the name alone; a leading digit is then invalid.
  Registry bare({.metric_namespace = "", .subsystem = ""});
  expect_misuse([&] { bare.counter("1x", "h"); }, "\"1x\" is invalid");
  // Prefix parts are checked when the registry is made.
  expect_misuse([] { Registry bad({.metric_namespace = "my-app"}); }, "namespace \"my-app\"");
  expect_misuse([] { Registry bad({.subsystem = "a b"}); }, "subsystem \"a b\"");
  // None of the failed registrations left anything behind.
  EXPECT_EQ(registry.prometheus_text(), "");
}

TEST(Registry, SameDefinitionReturnsTheSameFamilyAndDifferentOneIsRejected) {
  Registry registry;
  auto& first = registry.counter("events_total", "Events", {"topic"});
  auto& again = registry.counter("events_total", "Events", {"topic"});
  EXPECT_EQ(&first, &again);
  expect_misuse([&] { registry.counter("events_total", "Other help", {"topic"}); },
                "already registered");
  expect_misuse([&] { registry.counter("events_total", "Events", {"kind"}); },
                "already registered");
  expect_misuse([&] { registry.counter("events_total", "Events", {"topic"}, Cells{4}); },
                "already registered");
  expect_misuse([&] { registry.gauge("events_total", "Events", {"topic"}); }, "already registered");
}

TEST(Registry, HistogramSeriesNamesCannotCollide) {
  Registry registry;
  registry.histogram("latency", "h", {1});
  expect_misuse([&] { registry.counter("latency_count", "c"); }, "qsse_qsse_latency_count");
  expect_misuse([&] { registry.gauge("latency_sum", "g"); }, "collides");
  registry.counter("size_bucket", "c");
  expect_misuse([&] { registry.histogram("size", "h", {1}); }, "collides");
}

TEST(Registry, ChildHandlesAreStableAndSharedByEqualLabelValues) {
  Registry registry;
  auto& family = registry.counter("c", "c", {"a", "b"});
  Counter& first = family.with({"x", "y"});
  first.inc();
  // Many more children: the first handle must not move.
  for (int i = 0; i < 1000; ++i) family.with({std::to_string(i), "z"}).inc();
  EXPECT_EQ(&family.with({"x", "y"}), &first);
  const std::vector<std::string> owned{"x", "y"};
  EXPECT_EQ(&family.with(owned), &first);
  const std::vector<std::string_view> views{"x", "y"};
  EXPECT_EQ(&family.with(views), &first);
  EXPECT_NE(&family.with({"y", "x"}), &first);
  EXPECT_EQ(first.value(), 1u);
  EXPECT_EQ(family.label_names(), (std::vector<std::string>{"a", "b"}));
}

TEST(Registry, WrongNumberOfLabelValuesIsMisuse) {
  Registry registry;
  auto& family = registry.counter("c", "c", {"topic", "code"});
  expect_misuse([&] { family.with({"only-one"}); }, "has 2 label(s) (topic, code) but 1 value(s)");
  expect_misuse([&] { family.get(); }, "has labels");
  auto& plain = registry.gauge("g", "g");
  expect_misuse([&] { plain.with({"extra"}); }, "has 0 label(s)");
  EXPECT_EQ(&plain.get(), &plain.with({}));
}

TEST(Registry, CellsAreSummedAndShardIndicesWrap) {
  Registry registry({.metric_namespace = "", .subsystem = ""});
  Counter& c = registry.counter("c", "c", {}, Cells{3}).get();  // rounded up to 4 cells
  c.inc();
  for (std::size_t shard = 0; shard < 10; ++shard) c.add(Shard{shard}, shard);
  c.inc(Shard{1000});
  EXPECT_EQ(c.value(), 1u + 45u + 1u);

  Histogram& h = registry.histogram("h", "h", {1}, {}, Cells{2}).get();
  h.observe(Shard{0}, 0.5);
  h.observe(Shard{1}, 2);
  h.observe(Shard{7}, 0.25);
  h.observe(4);
  const Histogram::Snapshot s = h.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<std::uint64_t>{2, 4}));
  EXPECT_EQ(s.sum, 6.75);

  EXPECT_EQ(registry.prometheus_text(),
            "# HELP c c\n# TYPE c counter\nc 47\n"
            "# HELP h h\n# TYPE h histogram\n"
            "h_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 4\nh_sum 6.75\nh_count 4\n");
}

TEST(Registry, FamiliesWithLabelsButNoChildrenAreOmitted) {
  Registry registry({.metric_namespace = "", .subsystem = ""});
  registry.counter("unused", "u", {"topic"});
  registry.gauge("used", "u");
  EXPECT_EQ(registry.prometheus_text(), "# HELP used u\n# TYPE used gauge\nused 0\n");
}

TEST(Registry, WritePrometheusTextAppends) {
  Registry registry({.metric_namespace = "", .subsystem = ""});
  registry.counter("c", "c").get().inc();
  std::string out = "prefix\n";
  registry.write_prometheus_text(out);
  EXPECT_EQ(out, "prefix\n# HELP c c\n# TYPE c counter\nc 1\n");
}

}  // namespace
}  // namespace qsse::metrics

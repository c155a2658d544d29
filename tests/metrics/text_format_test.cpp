// Escaping, number spelling, UTF-8 repair and the name rules of the text format.
#include "metrics/text_format.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include <qsse/metrics.hpp>

namespace qsse::metrics {
namespace {

std::string label_value(std::string_view value) {
  std::string out;
  text::append_label_value(out, value);
  return out;
}

std::string help(std::string_view value) {
  std::string out;
  text::append_help(out, value);
  return out;
}

std::string number(double value) {
  std::string out;
  text::append_double(out, value);
  return out;
}

TEST(TextFormat, LabelValueEscapesBackslashQuoteAndNewline) {
  EXPECT_EQ(label_value("plain.topic-1"), "plain.topic-1");
  EXPECT_EQ(label_value("a\\b"), "a\\\\b");
  EXPECT_EQ(label_value("say \"hi\""), "say \\\"hi\\\"");
  EXPECT_EQ(label_value("two\nlines"), "two\\nlines");
  EXPECT_EQ(label_value("\\\"\n"), "\\\\\\\"\\n");
  // Tabs, carriage returns and UTF-8 pass through untouched.
  EXPECT_EQ(label_value("a\tb\rc\xC3\xA9"), "a\tb\rc\xC3\xA9");
}

TEST(TextFormat, HelpEscapesBackslashAndNewlineButNotQuotes) {
  EXPECT_EQ(help("Events \"published\""), "Events \"published\"");
  EXPECT_EQ(help("C:\\path\nnext"), "C:\\\\path\\nnext");
}

TEST(TextFormat, NumbersAreShortestRoundTripAndSpecialValuesArePrometheusSpelled) {
  EXPECT_EQ(number(0), "0");
  EXPECT_EQ(number(1), "1");
  EXPECT_EQ(number(-2.5), "-2.5");
  EXPECT_EQ(number(0.005), "0.005");
  EXPECT_EQ(number(0.1), "0.1");
  EXPECT_EQ(number(1e-9), "1e-09");
  EXPECT_EQ(number(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(number(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(number(std::nan("")), "NaN");
  const double third = 1.0 / 3.0;
  EXPECT_EQ(std::stod(number(third)), third);

  std::string out;
  text::append_uint(out, 18446744073709551615ull);
  EXPECT_EQ(out, "18446744073709551615");
}

TEST(TextFormat, SanitizeUtf8KeepsValidTextAndReplacesInvalidBytes) {
  const std::string valid = "ride \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x9A\x97";
  EXPECT_EQ(text::sanitize_utf8(valid), valid);
  const std::string replacement = "\xEF\xBF\xBD";
  EXPECT_EQ(text::sanitize_utf8("a\xFF"
                                "b"),
            "a" + replacement + "b");
  EXPECT_EQ(text::sanitize_utf8("\xC0\xAF"), replacement + replacement);  // overlong '/'
  EXPECT_EQ(text::sanitize_utf8("\xED\xA0\x80"), replacement + replacement + replacement);
  EXPECT_EQ(text::sanitize_utf8("\xF4\x90\x80\x80").size(), 4 * replacement.size());  // >10FFFF
  EXPECT_EQ(text::sanitize_utf8("end\xE2\x82"), "end" + replacement + replacement);   // truncated
}

TEST(TextFormat, MetricNameRules) {
  for (const char* good : {"a", "_", ":", "qsse_qsse_events_total", "job:rate5m", "A9_:z"}) {
    EXPECT_TRUE(is_valid_metric_name(good)) << good;
  }
  for (const char* bad : {"", "9a", "a-b", "a b", "a.b", "é", "a\n"}) {
    EXPECT_FALSE(is_valid_metric_name(bad)) << bad;
  }
}

TEST(TextFormat, LabelNameRules) {
  for (const char* good : {"topic", "_x", "code2", "A_b", "_"}) {
    EXPECT_TRUE(is_valid_label_name(good)) << good;
  }
  for (const char* bad : {"", "2code", "a:b", "a-b", "__name__", "__x", "to pic"}) {
    EXPECT_FALSE(is_valid_label_name(bad)) << bad;
  }
}

}  // namespace
}  // namespace qsse::metrics

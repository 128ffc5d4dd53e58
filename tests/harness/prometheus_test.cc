// tests (any user): the harness's Prometheus parser accepts what a scraper takes and refuses the
// rest, so a metrics test that passes means a real scraper would read the file.
#include "tests/harness/prometheus.h"

#include <gtest/gtest.h>

namespace backupd::testing {
namespace {

TEST(ParseExpositionTest, AcceptsValidTextAndUnescapesLabels) {
  Result<Exposition> x = ParseExposition(
      "# HELP a_total Things\\n counted.\n"
      "# TYPE a_total counter\n"
      "a_total{k=\"q\\\"b\\\\s\\nn\",z=\"\"} 1.5e3 1700000000000\n"
      "# a plain comment\n"
      "# TYPE g gauge\n"
      "g -Inf\n");
  ASSERT_TRUE(x.ok()) << x.status().ToString();
  EXPECT_EQ(x->Value("a_total", {{"k", "q\"b\\s\nn"}, {"z", ""}}), 1500);
  EXPECT_TRUE(x->Has("g"));
  EXPECT_FALSE(x->Has("a_total"));
  EXPECT_EQ(x->types.at("a_total"), "counter");
  EXPECT_EQ(x->helps.count("a_total"), 1u);
}

TEST(ParseExpositionTest, RejectsWhatAScraperWould) {
  const char* bad[] = {
      "foo 1\n",                                          // no TYPE
      "# TYPE foo counter\nfoo 1",                        // no final newline
      "# TYPE 1foo counter\n1foo 1\n",                    // bad name
      "# TYPE foo counter\nfoo abc\n",                    // bad value
      "# TYPE foo counter\nfoo\n",                        // no value
      "# TYPE foo counter\nfoo 1 2 3\n",                  // trailing fields
      "# TYPE foo counter\nfoo 1 soon\n",                 // bad timestamp
      "# TYPE foo counter\nfoo{a=\"x\\q\"} 1\n",          // bad escape
      "# TYPE foo counter\nfoo{a=x} 1\n",                 // unquoted
      "# TYPE foo counter\nfoo{a=\"x\" 1\n",              // unclosed label set
      "# TYPE foo counter\nfoo{a=\"1\",a=\"2\"} 1\n",     // duplicate label
      "# TYPE foo counter\nfoo{__x=\"1\"} 1\n",           // reserved label name
      "# TYPE foo counter\n# TYPE foo counter\nfoo 1\n",  // two TYPE lines
      "# TYPE foo counter\nfoo 1\n# TYPE foo gauge\n",    // TYPE after samples
      "# HELP foo a\n# HELP foo b\n",                     // two HELP lines
      "# HELP foo bad \\q\n",                             // bad escape in HELP
      "# TYPE foo counter\nfoo 1\nfoo 2\n",               // duplicate sample
      "# TYPE foo countr\nfoo 1\n",                       // unknown type
  };
  for (const char* text : bad) EXPECT_FALSE(ParseExposition(text).ok()) << text;
}

TEST(ParsePrometheusTest, KeysSamplesAsTheTextWritesThem) {
  Result<std::map<std::string, double>> m =
      ParsePrometheus("# TYPE a_b counter\na_b{op=\"x\",s=\"1\"} 3\n# TYPE c gauge\nc 4\n");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(*m, (std::map<std::string, double>{{"a_b{op=\"x\",s=\"1\"}", 3}, {"c", 4}}));
}

TEST(ParsePrometheusTest, NamesTheLineAScraperWouldRefuse) {
  Result<std::map<std::string, double>> m = ParsePrometheus("# TYPE a counter\na 1\na three\n");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("line 3 'a three'"), std::string::npos)
      << m.status().ToString();
}

}  // namespace
}  // namespace backupd::testing

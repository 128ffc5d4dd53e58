#!/usr/bin/env python3
# structure test (build time, unprivileged): every test docs/SECURITY.md names as the proof of a
# claim exists in tests/, so a renamed or deleted test cannot leave a claim standing unproven.
"""Checks the `Suite.Name` test names in docs/SECURITY.md against the tests under tests/.

A name may end in `/*` or carry a `Prefix/` (parameterised tests) and `{a,b}` alternatives; each
is matched on its suite and test names as written in TEST/TEST_F/TEST_P. Exit 1 lists the names
that match no test. `--self-test` checks the matcher on made-up input.
"""

import pathlib
import re
import sys

DEFINED = re.compile(r"^\s*TEST(?:_F|_P)?\(\s*(\w+)\s*,\s*(\w+)\s*\)", re.M)
# A backticked Suite.Name, as the document writes claims' tests; `Suite.*` names a whole suite.
NAMED = re.compile(r"`(?:\w+/)?([A-Z]\w*Test)\.(\w+|\*)(?:/[^`]*)?`")


def defined_tests(root):
    tests = set()
    for path in (root / "tests").rglob("*.cc"):
        tests.update(DEFINED.findall(path.read_text(errors="replace")))
    return tests


def missing(doc, tests):
    suites = {suite for suite, _ in tests}
    out = []
    for suite, name in NAMED.findall(doc):
        if name == "*" and suite in suites:
            continue
        if (suite, name) not in tests:
            out.append(f"{suite}.{name}")
    return sorted(set(out))


def self_test():
    tests = {("FooTest", "Works"), ("BarTest", "AlsoWorks")}
    doc = "`FooTest.Works`, `Each/BarTest.AlsoWorks/*`, `FooTest.*`, `FooTest.Gone`, `BazTest.*`"
    got = missing(doc, tests)
    assert got == ["BazTest.*", "FooTest.Gone"], got
    assert DEFINED.findall("TEST_P(BarTest, AlsoWorks) {") == [("BarTest", "AlsoWorks")]
    print("self-test ok")
    return 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    root = pathlib.Path(argv[1])
    doc = (root / "docs" / "SECURITY.md").read_text()
    gone = missing(doc, defined_tests(root))
    for name in gone:
        print(f"docs/SECURITY.md names {name}, which no test in tests/ defines")
    if not NAMED.findall(doc):
        print("docs/SECURITY.md names no test at all: the pattern no longer matches its style")
        return 1
    return 1 if gone else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

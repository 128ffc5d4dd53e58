#!/usr/bin/env bash
# The whole test suite from a fresh Debian 12 checkout: installs what it needs (as root), checks
# formatting, builds with warnings as errors, runs ctest, fuzzes every parser for a bounded time
# (Clang), runs ctest again in an ASan+UBSan build, then the README's commands, the Debian
# package test and the two-node test on a real GlusterFS volume.
set -euo pipefail
cd "$(dirname "$0")/.."

# The package test installs and purges backupd system-wide and refuses where it is installed:
# say so now, with the fix, not after minutes of building.
package_test=0
if [ -x tests/package/run.sh ] && [ "$(id -u)" = 0 ]; then
  tests/package/run.sh --preflight
  package_test=1
fi

packages=(cmake g++ make libboost-program-options-dev libboost-log-dev libssl-dev libseccomp-dev libgtest-dev
  libgmock-dev python3 clang-format procps
  openssl  # the TLS tests make their certificates with it
  clang libclang-rt-14-dev llvm  # the fuzz targets: libFuzzer, ASan, UBSan, llvm-symbolizer
  iproute2  # the README test
  mandoc  # the manual pages' lint test
  debhelper dpkg-dev fakeroot lintian po-debconf strace logrotate)  # the package test
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "== installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

echo "== clang-format"
mapfile -t sources < <(git ls-files '*.cc' '*.h' 2>/dev/null || find . -name '*.cc' -o -name '*.h')
clang-format --dry-run --Werror "${sources[@]}"

echo "== build"
cmake -S . -B build-test -DBACKUPD_WERROR=ON -DBACKUPD_TEST_HOOKS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-test -j2

echo "== ctest"
ctest --test-dir build-test --output-on-failure -j2 --timeout 300

echo "== fuzz (Clang, libFuzzer with ASan+UBSan)"
bash tests/fuzz/run.sh build-fuzz 8

# The same suite, the real daemon included, with every process instrumented.
echo "== sanitizers (GCC, ASan+UBSan)"
# -O1 -g1: ASan's own advice for speed with usable reports, and the build half as long as -O2 -g.
cmake -S . -B build-sanitize -DBACKUPD_WERROR=ON -DBACKUPD_TEST_HOOKS=ON -DBACKUPD_SANITIZE=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" >/dev/null
cmake --build build-sanitize -j2
ctest --test-dir build-sanitize --output-on-failure -j2 --timeout 300

if [ "$(id -u)" = 0 ]; then
  echo "== README"
  bash tests/readme/run.sh
  echo "== bench (smoke: every path once, small sizes; fails on wrong bytes, never on speed)"
  bench/run.py --smoke --build build-test
fi

if [ "$package_test" = 1 ]; then
  echo "== package"
  tests/package/run.sh
fi

if [ "$(id -u)" = 0 ]; then
  echo "== nodes (two daemons on one GlusterFS volume)"
  tests/nodes/run.sh build-test
fi

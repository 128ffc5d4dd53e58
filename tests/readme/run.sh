#!/usr/bin/env bash
# The README's first-hour commands, run as written (as root, from the checkout): command 1 builds
# and starts the server, then the C++ quick start and the Python scenario run against it. Blocks
# are found by their `<!-- readme-test: NAME -->` marker. Command 2 (the test suite itself) and the
# package block (tests/package) are not run here.
#
# Everything runs in private network and mount namespaces: port 1337, /tmp (command 1's pid and
# status files, the quick start's /tmp/hello.txt) and ./storage are the test's own, so a backupd
# someone runs on this machine neither disturbs the test nor gets disturbed. The build dir `build`
# is the real one and is reused.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

if [ "$(id -u)" != 0 ]; then
  echo "tests/readme/run.sh: needs root (the README's commands are run as root)" >&2
  exit 2
fi
if [ -z "${README_TEST_IN_NS:-}" ]; then
  exec env README_TEST_IN_NS=1 unshare --net --mount bash "$0" "$@"
fi

passed=0
failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1${2:+: $2}"; failed=$((failed + 1)); }

ip link set lo up
mount -t tmpfs -o mode=1777 tmpfs /tmp
case "$repo/" in
  /tmp/*)
    # The checkout itself is in /tmp (CI may clone there): the fresh /tmp must still hold it at its
    # own path. The shell's working directory is still the original folder, so bind that.
    mkdir -p "$repo"
    mount --no-canonicalize --bind /proc/self/cwd "$repo"
    cd "$repo"
    ;;
esac
work=/tmp/readme-test
mkdir "$work"

# Offline, apt-get update only warns and apt-get install succeeds when every package is installed
# already (tests/run_all.sh installs a superset first). No retries: apt would back off for seconds
# on each unreachable mirror; the lock timeout waits out someone else's apt run.
# No upgrades either: an installed package with a newer version in apt's lists would otherwise be
# upgraded, which needs the network this namespace does not have (APT::Get::Upgrade is
# --no-upgrade).
printf '%s\n' 'Acquire::Retries "0";' 'DPkg::Lock::Timeout "300";' 'APT::Get::Upgrade "false";' \
  >"$work/apt.conf"
export APT_CONFIG="$work/apt.conf"

# The dev config's storage is ./storage; the test gets an empty one that vanishes with it, owned
# by the worker user as the daemon's preflight requires.
made_users=
[ -e dev-users ] || made_users=1
made_storage=
if [ ! -e storage ]; then
  mkdir storage
  made_storage=1
fi
mount -t tmpfs -o "mode=0700,uid=$(id -u nobody),gid=$(getent group nogroup | cut -d: -f3)" \
  tmpfs storage

# The block after the marker line `<!-- readme-test: NAME -->`, without its fences.
block() {
  awk -v marker="<!-- readme-test: $1 -->" '
    $0 == marker { found = 1; next }
    found == 1 && /^```/ { found = 2; next }
    found == 2 && /^```/ { exit }
    found == 2 { print }
  ' README.md
}

# Polls `cmd...` until it succeeds or `seconds` pass.
wait_for() {
  local seconds=$1
  shift
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}
listening() { [ -n "$(ss -Hltn 'sport = :1337')" ]; }
alive() { kill -0 "$1" 2>/dev/null; }
dead() { ! kill -0 "$1" 2>/dev/null; }
serving_or_gone() { listening || dead "$server_pid"; }

server_pid=
cleanup() {
  if [ -n "$server_pid" ] && alive "$server_pid"; then
    # setsid made the command's shell a group leader: this reaches the daemon and its workers.
    kill -KILL -- "-$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  cd "$repo"
  umount storage 2>/dev/null || true
  if [ -n "$made_storage" ]; then rmdir storage || true; fi
  if [ -n "$made_users" ]; then rm -f dev-users; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM  # so that cleanup runs when the test is interrupted

for name in server quick-start python v2; do
  if [ -z "$(block "$name")" ]; then
    fail "README block '$name'" "no fenced block after <!-- readme-test: $name -->"
  fi
done
if [ "$failed" -gt 0 ]; then
  echo "$passed passed, $failed failed"
  exit 1
fi

# Command 1 builds (incrementally when build/ exists) and then runs backupd in the foreground.
block server >"$work/server.sh"
setsid bash -e "$work/server.sh" >"$work/server.log" 2>&1 &
server_pid=$!
if wait_for 900 serving_or_gone && listening; then
  pass "command 1 builds and serves on 127.0.0.1:1337"
else
  fail "command 1 builds and serves on 127.0.0.1:1337" "log follows"
  tail -n 40 "$work/server.log" >&2
  echo "$passed passed, $failed failed"
  exit 1
fi

# Run like a pasted block that must not fail anywhere, from the checkout as the README says.
run_block() {
  local name=$1
  block "$name" >"$work/$name.sh"
  (cd "$repo" && bash -e -o pipefail "$work/$name.sh") >"$work/$name.out" 2>"$work/$name.err"
}

if run_block quick-start; then
  # backup and delete print nothing on success: what remains is list's line and the restored bytes.
  if printf 'tmp/hello.txt\nhello\n' | cmp -s - "$work/quick-start.out"; then
    pass "quick start: list shows tmp/hello.txt, restore gives back its bytes"
  else
    fail "quick start: output" "$(od -c "$work/quick-start.out" | head -n 5)"
  fi
else
  fail "quick start exits 0" "$(cat "$work/quick-start.err")"
fi

if run_block python; then
  if [ "$(tail -n 1 "$work/python.out")" = "all steps ok" ] &&
    ! grep -q FAILED "$work/python.out"; then
    pass "python scenario: all steps ok"
  else
    fail "python scenario" "$(cat "$work/python.out")"
  fi
else
  fail "python block exits 0" "$(cat "$work/python.out" "$work/python.err")"
fi

# The v2 block registers user 7 in ./dev-users and writes ~/.backupd-7.secret and
# ~/.config/backupd: a HOME of the test's own.
export HOME=$work/home
mkdir -p "$HOME"
if run_block v2; then
  hello_sha256=5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03
  # backup's summary line, list's line, the restored bytes.
  if grep -Eq "^scanned 1, sent 1, unchanged 0, failed 0, bytes sent 6, [0-9]+\.[0-9]{2} s\$" \
    <(sed -n 1p "$work/v2.out") &&
    grep -Eq "^6 [0-9T:Z-]+ $hello_sha256 tmp/hello.txt\$" <(sed -n 2p "$work/v2.out") &&
    [ "$(tail -n +3 "$work/v2.out")" = hello ]; then
    pass "v2: user add, login, list --long with the SHA-256, restore through client.conf"
  else
    fail "v2: output" "$(cat "$work/v2.out")"
  fi
else
  fail "v2 block exits 0" "$(cat "$work/v2.out" "$work/v2.err")"
fi

# What the examples stored and wrote, they removed again: no file under storage, nothing in /tmp
# but the test's folder and the running daemon's pid and status files.
left=$(find storage -type f)
if [ -z "$left" ]; then
  pass "examples leave no stored file"
else
  fail "examples leave no stored file" "$left"
fi
checkout=()
case "$repo/" in
  /tmp/*)
    top=${repo#/tmp/}
    checkout=(! -name "${top%%/*}")
    ;;
esac
left=$(find /tmp -mindepth 1 -maxdepth 1 ! -name readme-test ! -name 'backupd-dev.*' "${checkout[@]}")
if [ -z "$left" ]; then
  pass "examples leave nothing in /tmp"
else
  fail "examples leave nothing in /tmp" "$left"
fi

# Stopping the server (the README's Ctrl-C is SIGINT, handled the same): graceful, exit 0, pid
# file removed.
daemon_pid=$(cat /tmp/backupd-dev.pid)
kill -TERM "$daemon_pid"
status=0
if wait_for 30 dead "$daemon_pid"; then
  wait "$server_pid" || status=$?
  server_pid=
  if [ "$status" = 0 ] && [ ! -e /tmp/backupd-dev.pid ]; then
    pass "SIGTERM stops the server: exit 0, pid file removed"
  else
    fail "SIGTERM stops the server" "exit $status; $(tail -n 5 "$work/server.log")"
  fi
else
  fail "SIGTERM stops the server within 30 s"
fi

if [ "$failed" -gt 0 ]; then
  echo "--- server log (last lines)" >&2
  tail -n 20 "$work/server.log" >&2
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

# Sourced by the root shell tests (tests/nodes/run.sh, tests/package/run.sh): their shared way of
# recording a step (ok, not_ok, check), of waiting for one (eventually) and of picking a port
# (free_port). The sourcing script prints "$passed passed, $failed failed" itself, when and where
# its cleanup allows.
# shellcheck shell=bash

passed=0
failed=0

ok() {
  passed=$((passed + 1))
  echo "ok   - $1"
}
not_ok() {
  failed=$((failed + 1))
  echo "FAIL - $1"
}
# check DESCRIPTION COMMAND...: runs COMMAND (output kept for a failure) and records the result.
check() {
  local what=$1 out
  shift
  if out=$("$@" 2>&1); then
    ok "$what"
  else
    not_ok "$what"
    [ -n "$out" ] && printf '%s\n' "$out" | tail -n 20 | sed 's/^/       | /'
  fi
}
# eventually SECONDS COMMAND...: polls COMMAND until it succeeds or the deadline passes.
eventually() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}
# free_port: a port nobody listens on now (a daemon binds it moments later).
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    [ -z "$(ss -Htln "sport = :$p")" ] && echo "$p" && return
  done
}

#!/bin/bash
# Two-node test (root): two backupd daemons from the build tree share one real GlusterFS volume,
# as docs/SCALING.md sets it up. Installs glusterfs-server, glusterfs-client and haproxy if
# missing, maps the brick host name to 127.0.0.2 in /etc/hosts (gluster refuses localhost and
# 127.0.0.1 by name), starts glusterd, makes a one-brick volume under /var/tmp, mounts it twice
# with FUSE (one mount per node), and checks with the C++ backup-client:
#   - what the volume does with its default options: a restore through B right after a backup
#     through A, counted, not judged (the issue saw the previous content 19 times in 20);
#   - with the read-after-write options off: write through A, read through B at once, 100 times,
#     every byte exact;
#   - 16 concurrent uploads of the same names through both nodes: each name ends with one whole
#     version one of the clients sent, the other 15 in its history (keep_versions = 64), and no
#     temp file or upload record is left behind;
#   - backupd -t names each of those options while on, and none once they are off;
#   - HAProxy (docs/SCALING.md's config, round robin) in front: backups and restores through it;
#   - the per-user lock of scrub and pruning (a flock on <uid>/.backupd-lock) holds across the
#     two mounts: a scrub through B waits while it is held through A.
# Everything is undone by the EXIT trap, failure or not: daemons stopped, mounts gone, volume
# stopped and deleted, glusterd stopped (if this script started it), /etc/hosts restored.
#
#   tests/nodes/run.sh [BUILD_DIR]   (default: build-test; KEEP_WORK=1 keeps the scratch folder)
#
# Where glusterd cannot start (no FUSE, no loopback alias), it prints "SKIP: why" and exits 0,
# unless CI is set: on CI it must run, so there it fails. Prints "N passed, M failed" last.

# Functions are called indirectly, through check.
# shellcheck disable=SC2317
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/lib.sh
. "$repo/tests/lib.sh"
build=$(cd "${1:-$repo/build-test}" && pwd) || exit 2
backupd=$build/bin/backupd
client_bin=$build/bin/backup-client
brick_host="backupd-brick"
hosts_mark="# backupd-nodes-test-$$"
volume=backupd-nodes-$$
work=/var/tmp/backupd-nodes-$$
user_id=4545
# The options whose caches serve a reader on one mount what another mount just replaced.
raw_options=(performance.quick-read performance.io-cache performance.stat-prefetch
  performance.read-ahead performance.open-behind)
started_glusterd=0
volume_made=0
node_pids=()
proxy_pid=

skip() {
  if [ -n "${CI:-}" ]; then
    not_ok "glusterd runs here (CI must run this test): $1"
    exit 1
  fi
  echo "SKIP: $1"
  exit 0
}
g() { timeout 60 gluster --mode=script "$@"; }

stop_nodes() {
  local pid
  for pid in "${node_pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${node_pids[@]}"; do
    eventually 40 sh -c "! kill -0 $pid" || kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  node_pids=()
}
unmount_all() {
  local m
  for m in "$work/mnt-a" "$work/mnt-b"; do
    mountpoint -q "$m" && { umount "$m" || umount -l "$m"; }
  done
}
cleanup() {
  [ -n "$proxy_pid" ] && kill -TERM "$proxy_pid" 2>/dev/null
  stop_nodes
  unmount_all
  if [ "$volume_made" = 1 ]; then
    g volume stop "$volume" force >/dev/null 2>&1
    g volume delete "$volume" >/dev/null 2>&1
  fi
  if [ "$started_glusterd" = 1 ]; then
    [ -f "$work/glusterd.pid" ] && kill -TERM "$(cat "$work/glusterd.pid")" 2>/dev/null
  fi
  sed -i "/ $hosts_mark\$/d" /etc/hosts
  if [ "${KEEP_WORK:-0}" = 1 ]; then
    echo "# kept $work"
  else
    rm -rf "$work"
  fi
  echo "$passed passed, $failed failed"
}

[ "$(id -u)" = 0 ] || {
  echo "tests/nodes/run.sh: run as root (it starts glusterd and mounts)" >&2
  exit 2
}
for f in "$backupd" "$client_bin"; do
  [ -x "$f" ] || {
    echo "tests/nodes/run.sh: no $f: build first" >&2
    exit 2
  }
done
missing=()
command -v glusterd >/dev/null || missing+=(glusterfs-server)
command -v mount.glusterfs >/dev/null || missing+=(glusterfs-client)
command -v haproxy >/dev/null || missing+=(haproxy)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "== installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
    skip "${missing[*]} cannot be installed"
fi

trap cleanup EXIT
mkdir -p "$work/brick" "$work/mnt-a" "$work/mnt-b" "$work/data" "$work/out"
echo "127.0.0.2 $brick_host $hosts_mark" >>/etc/hosts
if ! g volume info >/dev/null 2>&1; then
  glusterd -p "$work/glusterd.pid" || skip "glusterd does not start"
  started_glusterd=1
fi
eventually 30 g volume info || skip "glusterd does not answer"
g volume create "$volume" "$brick_host:$work/brick" force >/dev/null || skip "volume create fails"
volume_made=1
g volume start "$volume" >/dev/null || skip "volume start fails"

mount_both() {
  mount -t glusterfs -o entry-timeout=0,attribute-timeout=0 "$brick_host:/$volume" "$work/mnt-a" &&
    mount -t glusterfs -o entry-timeout=0,attribute-timeout=0 "$brick_host:/$volume" "$work/mnt-b"
}
mount_both || skip "mount -t glusterfs fails"

# One storage folder on the volume, seen through both mounts, owned by the workers' user.
mkdir -p "$work/mnt-a/storage"
chown nobody:nogroup "$work/mnt-a/storage"
chmod 700 "$work/mnt-a/storage"
printf 'users_file = %s\npid_file = %s\n' "$work/users" "$work/user-add.pid" >"$work/user-add.conf"
"$backupd" user add "$user_id" -c "$work/user-add.conf" >"$work/user-add.out" || exit 1
(umask 077 && awk 'END { print $NF }' "$work/user-add.out" >"$work/secret")

# write_config NODE: node NODE's own config (its mount, port, log, node_name; the users file is
# shared).
write_config() {
  cat >"$work/$1.conf" <<EOF
listen = 127.0.0.1:0
storage = $work/mnt-$1/storage
user = nobody
group = nogroup
log = $work/$1.log
pid_file = $work/$1.pid
status_socket = $work/$1.status
users_file = $work/users
legacy_v1 = off
node_name = node-$1
keep_versions = 64
EOF
}
port_of() { sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/$1.log" | head -n 1; }
has_port() { [ -n "$(port_of "$1")" ]; }
start_nodes() {
  local n
  for n in a b; do
    : >"$work/$n.log"
    "$backupd" -f -c "$work/$n.conf" >>"$work/$n.stderr" 2>&1 &
    node_pids+=($!)
  done
  for n in a b; do eventually 30 has_port "$n" || return 1; done
  port_a=$(port_of a)
  port_b=$(port_of b)
}
# client NODE ARGS...: backup-client, v2 with the shared user's secret, through node NODE.
client() {
  local port=$port_a
  [ "$1" = b ] && port=$port_b
  timeout 60 "$client_bin" --server "127.0.0.1:$port" --user "$user_id" \
    --secret-file "$work/secret" "${@:2}"
}
# raw_round I: backs up a new content of "raw.bin" through A and restores it through B at once;
# fails when B serves anything but the bytes A just acknowledged.
raw_round() {
  head -c $((4096 + $1 * 37)) /dev/urandom >"$work/data/raw.bin"
  client a backup --name raw.bin "$work/data/raw.bin" >/dev/null &&
    client b restore raw.bin -o - >"$work/out/raw.bin" 2>"$work/out/raw.err" &&
    cmp -s "$work/data/raw.bin" "$work/out/raw.bin"
}

write_config a
write_config b

echo "# the volume's default options"
# Not through check: the daemons must be children of this shell, not of a command substitution.
if start_nodes; then ok "both nodes start on the volume's two mounts"; else not_ok "both nodes start"; exit 1; fi
stale=0
for i in $(seq 1 20); do raw_round "$i" || stale=$((stale + 1)); done
echo "# with the default options, $stale of 20 reads through B right after a write through A were not the new content"
# backupd -t's warnings about the storage, one a line.
check_t() { "$backupd" -t -c "$work/$1.conf" 2>&1 | tee "$work/t-$1.out" | grep "warning: storage is on GlusterFS"; }
# gluster's own word on option $1 of the volume: on, off, ...
option_value() { g volume get "$volume" "$1" | awk -v o="$1" '$1 == o { print $2 }'; }
t_names_the_options_on() {
  local out o named=0
  out=$(check_t a)
  for o in "${raw_options[@]}"; do
    if [ "$(option_value "$o")" = off ]; then
      grep -q "$o" <<<"$out" && { echo "names $o, which is off: $out"; return 1; }
    else
      grep -q "$o = on" <<<"$out" || { echo "does not name $o:"; cat "$work/t-a.out"; return 1; }
      named=$((named + 1))
    fi
  done
  echo "$named options on by default, each named"
  [ "$named" -gt 0 ]
}
check "backupd -t recognises GlusterFS and names each caching option that is on" t_names_the_options_on
stop_nodes
unmount_all

echo "# read-after-write options off, remounted"
for o in "${raw_options[@]}"; do check "gluster volume set $o off" g volume set "$volume" "$o" off; done
check "both mounts again" mount_both
t_is_quiet() {
  mountpoint -q "$work/mnt-b" && [ -d "$work/mnt-b/storage" ] &&
    "$backupd" -t -c "$work/b.conf" >/dev/null 2>&1 && ! check_t b
}
check "backupd -t on the volume with the options off warns about nothing" t_is_quiet
if start_nodes; then ok "both nodes start again"; else not_ok "both nodes start again"; exit 1; fi

hundred_rounds() {
  local i bad=0
  for i in $(seq 1 100); do raw_round "$i" || bad=$((bad + 1)); done
  [ "$bad" = 0 ] || echo "$bad of 100 reads were not the content just written"
  [ "$bad" = 0 ]
}
check "write through A, read through B at once, 100 times: all byte-exact" hundred_rounds

# Measured, not judged: 64 MiB backed up through A and restored through B.
head -c $((64 << 20)) /dev/urandom >"$work/data/big.bin"
t0=$(date +%s%N)
client a backup --name big.bin "$work/data/big.bin" >/dev/null
t1=$(date +%s%N)
client b restore big.bin -o - >"$work/out/big.bin"
t2=$(date +%s%N)
big_same() { cmp "$work/data/big.bin" "$work/out/big.bin"; }
check "64 MiB backed up through A comes back whole through B" big_same
echo "# 64 MiB: backup through A $(((t1 - t0) / 1000000)) ms, restore through B $(((t2 - t1) / 1000000)) ms"
rm -f "$work/data/big.bin" "$work/out/big.bin"

names=(same-0.bin same-1.bin dir/same-2.bin dir/same-3.bin)
# racer K: client K uploads its own version of every name through node a (K even) or b (K odd),
# with --full: the race is of uploads, so no run first lists what is stored (a v2 list walked
# while other nodes rename names in can be cut off; the client would ask again, which only slows
# the race).
racer() {
  local k=$1 node=a n
  [ $((k % 2)) = 1 ] && node=b
  for n in "${names[@]}"; do
    mkdir -p "$work/race/$k/$(dirname "$n")"
    { printf 'client %s name %s\n' "$k" "$n" && head -c $((65536 + k * 4099)) /dev/urandom; } \
      >"$work/race/$k/$n"
  done
  (cd "$work/race/$k" && client "$node" backup --full "${names[@]}" >/dev/null)
}
race() {
  local k pids=() rc=0
  for k in $(seq 0 15); do
    racer "$k" &
    pids+=($!)
  done
  for k in "${pids[@]}"; do wait "$k" || rc=1; done
  return $rc
}
# sent_by_a_client NAME FILE: FILE is byte for byte what one of the 16 racing clients sent as NAME.
sent_by_a_client() {
  local k
  for k in $(seq 0 15); do cmp -s "$2" "$work/race/$k/$1" && return 0; done
  return 1
}
# Each name, restored through either node, is byte for byte one client's version.
one_whole_version() {
  local n node
  for n in "${names[@]}"; do
    for node in a b; do
      client "$node" restore "$n" -o - >"$work/out/got" || return 1
      sent_by_a_client "$n" "$work/out/got" || {
        echo "$n through $node is no client's version"
        return 1
      }
    done
  done
}
no_leftovers() {
  local left
  left=$(find "$work/mnt-b/storage/$user_id" -name '.backupd-tmp-*' -o -name '.backupd-uploads')
  [ -z "$left" ] || {
    echo "left behind: $left"
    return 1
  }
}
check "16 concurrent uploads of the same names through both nodes all succeed" race
check "each name ends with one whole version one client sent, through both nodes" one_whole_version
check "no temp file or upload record is left behind" no_leftovers
# With history kept (keep_versions = 64), no upload of the race is lost: each name has 16
# versions, one per client, whichever node took it, and each is one client's bytes.
all_in_history() {
  local n v count
  for n in "${names[@]}"; do
    count=$(client b list --versions "$n" | wc -l)
    [ "$count" = 16 ] || {
      echo "$n has $count versions, not 16"
      return 1
    }
    for v in $(client a list --versions "$n" | cut -d' ' -f1); do
      client a restore "$n" --version "$v" -o - >"$work/out/got" || return 1
      sent_by_a_client "$n" "$work/out/got" || {
        echo "$n version $v is no client's version"
        return 1
      }
    done
  done
}
check "every concurrent upload is kept in history, each one client's whole version" all_in_history

echo "# HAProxy in front of both nodes (docs/SCALING.md's config)"
# A port nobody listens on now (HAProxy binds it moments later; it cannot report a port 0).
proxy_port=$(free_port)
cat >"$work/haproxy.cfg" <<EOF
global
  maxconn 4096
defaults
  mode tcp
  timeout connect 5s
  timeout client 330s
  timeout server 330s
frontend backupd
  bind 127.0.0.1:$proxy_port
  default_backend backupd_nodes
backend backupd_nodes
  balance roundrobin
  server node-a 127.0.0.1:$port_a check inter 2s
  server node-b 127.0.0.1:$port_b check inter 2s
EOF
proxy_up() { [ -n "$(ss -Htln "sport = :$proxy_port")" ]; }
# proxied ARGS...: backup-client through HAProxy.
proxied() {
  timeout 60 "$client_bin" --server "127.0.0.1:$proxy_port" --user "$user_id" \
    --secret-file "$work/secret" "$@"
}
# Round robin sends each connection to the other node: a backup and its restore never meet on one.
through_proxy() {
  local i
  for i in $(seq 1 10); do
    head -c $((1000 + i * 311)) /dev/urandom >"$work/data/proxied.bin"
    proxied backup --name proxied.bin "$work/data/proxied.bin" >/dev/null &&
      proxied restore proxied.bin -o - >"$work/out/proxied.bin" &&
      cmp "$work/data/proxied.bin" "$work/out/proxied.bin" || return 1
  done
}
if command -v haproxy >/dev/null && haproxy -c -q -f "$work/haproxy.cfg"; then
  haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
  proxy_pid=$!
  check "HAProxy listens" eventually 20 proxy_up
  check "backup and restore through HAProxy (round robin over both nodes), 10 times byte-exact" \
    through_proxy
  both_served() { grep -q 'name="proxied.bin"' "$work/a.log" && grep -q 'name="proxied.bin"' "$work/b.log"; }
  check "HAProxy spread those connections over both nodes" both_served
  kill -TERM "$proxy_pid" 2>/dev/null
  wait "$proxy_pid" 2>/dev/null
  proxy_pid=
else
  echo "# no haproxy here (apt-get install haproxy): the proxy step is left out"
fi

scrub_b() { "$backupd" scrub -c "$work/b.conf" "$user_id"; }
check "backupd scrub through node B finds every file of the race whole" scrub_b
lock_file=storage/$user_id/.backupd-lock
lock_crosses() { flock -n "$work/mnt-a/$lock_file" -c "! flock -n '$work/mnt-b/$lock_file' true"; }
check "a user's lock taken through mount A holds through mount B" lock_crosses
# While A's side holds the lock, a scrub through B waits in it: killed by the timeout (124).
scrub_waits() {
  local rc=0
  flock "$work/mnt-a/$lock_file" timeout 5 "$backupd" scrub -c "$work/b.conf" "$user_id" || rc=$?
  [ "$rc" = 124 ] || echo "scrub under the lock exited $rc, not 124 (killed while waiting)"
  [ "$rc" = 124 ]
}
check "a scrub through node B waits while the user's lock is held through mount A" scrub_waits
stop_nodes
[ "$failed" = 0 ]

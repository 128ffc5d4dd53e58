#!/bin/bash
# Package test: does on this machine what a sysadmin does with the Debian packages (as root,
# without a running systemd): build and install them with the README's own commands, lint them,
# configure and drive the installed daemon through /etc/init.d/backupd, back up and restore a
# file with both clients, add a protocol v2 user and use it with both clients, check that the
# packaged default refuses v1 from a non-loopback peer (in network namespaces it makes), reload,
# rotate the log, stop, remove, purge keeping the backups,
# reinstall, purge deleting them — then checks that nothing is left behind.
#
#   tests/package/run.sh              (as root; KEEP_WORK=1 keeps the scratch folder)
#   tests/package/run.sh --preflight  (only checks that it can run here; tests/run_all.sh calls
#                                      it first, so it refuses before the build, not after)
#
# The machine is restored even when a step fails: the trap stops the daemon and purges the
# packages. It refuses to run where backupd is already installed or its user or files exist,
# and prints the commands that clear the way.
# Prints "N passed, M failed" last and exits non-zero when anything failed.

# Most functions are called indirectly, through check and eventually.
# shellcheck disable=SC2317
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/lib.sh
. "$repo/tests/lib.sh"
conf=/etc/backupd.conf
pidfile=/run/backupd.pid
storage=/var/lib/backupd
logdir=/var/log/backupd
init=/etc/init.d/backupd
user_id=4242
users_dir=/etc/backupd
v2_user=4343
# Network namespaces of the v1-from-another-address step, named after this run.
ns_server=backupd-pkg-srv-$$
ns_client=backupd-pkg-cli-$$

# check_rc DESCRIPTION EXPECTED COMMAND...: COMMAND must exit with status EXPECTED.
check_rc() {
  local what=$1 want=$2 out rc
  shift 2
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" = "$want" ]; then
    ok "$what"
  else
    not_ok "$what (exit $rc, expected $want)"
    [ -n "$out" ] && printf '%s\n' "$out" | tail -n 20 | sed 's/^/       | /'
  fi
}
# Ends the test; the EXIT trap cleans up and prints the summary line.
finished=0
finish() {
  finished=1
  [ "$failed" = 0 ]
  exit
}

# Processes running the installed daemon binary, whatever their name (other tests may run
# build-tree daemons called backupd at the same time; those are not ours).
installed_daemon_pids() {
  local p exe
  for p in /proc/[0-9]*; do
    exe=$(readlink "$p/exe" 2>/dev/null) || continue
    case "$exe" in
      /usr/sbin/backupd | "/usr/sbin/backupd (deleted)") echo "${p#/proc/}" ;;
    esac
  done
}
no_installed_daemon() { [ -z "$(installed_daemon_pids)" ]; }
daemon_pid() { cat "$pidfile" 2>/dev/null; }
is_listening() { [ -n "$(ss -Htln "sport = :$1")" ]; }
not_listening() { ! is_listening "$1"; }
package_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}
package_known() { dpkg-query -W "$1" >/dev/null 2>&1; }
# client PORT ARGS...: the installed C++ client as user $user_id.
client() { timeout 60 backup-client --protocol 1 --server "127.0.0.1:$1" --user "$user_id" --quiet "${@:2}"; }
pyclient() {
  timeout 60 /usr/bin/python3 /usr/share/backupd/python/backup_client.py \
    --protocol 1 --server "127.0.0.1:$1" --user "$user_id" "${@:2}"
}
# lists_exactly PORT EXPECTED: `list` on PORT prints EXPECTED.
lists_exactly() {
  local got
  got=$(client "$1" list) || return 1
  [ "$got" = "$2" ] || { echo "list printed: $got"; return 1; }
}
# set_key KEY VALUE: sets a top-level key of the conffile the way an admin would, by editing
# its (first) line, commented default or not.
set_key() {
  sed -i -E "0,/^#?[[:space:]]*$1[[:space:]]*=/s|^#?[[:space:]]*$1[[:space:]]*=.*$|$1 = $2|" "$conf"
}
apt_get() { DEBIAN_FRONTEND=noninteractive timeout 300 apt-get -y -q "$@"; }
stat_is() { [ "$(stat -c '%U:%G %a' "$1" 2>&1)" = "$2" ]; }

# Prints each reason the test cannot run on this machine with the command that clears it, and
# fails if there is any. The test deletes whatever backupd user and files it finds at its end,
# so it must start without any.
preflight() {
  local problems=() pkg f
  [ "$(id -u)" = 0 ] ||
    problems+=("it must run as root (it installs and purges packages): sudo $0")
  for pkg in backupd backup-client; do
    package_known "$pkg" &&
      problems+=("$pkg is installed (or removed but not purged): apt purge $pkg")
  done
  # Leftovers of an installed package go with it; name them only once it is gone.
  if [ "${#problems[@]}" = 0 ]; then
    [ -e "$storage" ] &&
      problems+=("$storage exists and may hold users' backups (a purge keeps them by default): move it away, mv $storage $storage.saved, or delete it")
    getent passwd backupd >/dev/null &&
      problems+=("the system user backupd exists (a purge keeps it with the backups): deluser --system backupd")
    getent group backupd >/dev/null &&
      problems+=("the group backupd exists: delgroup --system backupd")
    for f in "$conf" "$logdir" /etc/default/backupd "$pidfile" /run/backupd.status "$users_dir"; do
      [ -e "$f" ] && problems+=("$f exists: rm -r $f")
    done
  fi
  [ "${#problems[@]}" = 0 ] && return 0
  echo "tests/package/run.sh: cannot run here (it installs, then purges backupd system-wide):" >&2
  printf '  - %s\n' "${problems[@]}" >&2
  return 1
}

case "${1:-}" in
  --preflight)
    preflight || exit 1
    echo "tests/package/run.sh: preflight ok"
    exit 0
    ;;
  "") ;;
  *)
    echo "usage: tests/package/run.sh [--preflight]" >&2
    exit 2
    ;;
esac
preflight || exit 1

work=$(mktemp -d /tmp/backupd-pkgtest.XXXXXX)
strace_pid=""
ns_pid=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$strace_pid" ] && kill -0 "$strace_pid" 2>/dev/null; then
    kill "$strace_pid" 2>/dev/null
    wait "$strace_pid" 2>/dev/null
  fi
  if [ -x "$init" ]; then
    timeout 90 "$init" stop >/dev/null 2>&1
  fi
  if [ -n "$ns_pid" ] && kill -0 "$ns_pid" 2>/dev/null; then
    kill "$ns_pid" 2>/dev/null
    wait "$ns_pid" 2>/dev/null
  fi
  for ns in "$ns_server" "$ns_client"; do
    ip netns del "$ns" 2>/dev/null
  done
  if [ -n "$(installed_daemon_pids)" ]; then
    echo "cleanup: killing leftover daemon processes: $(installed_daemon_pids | tr '\n' ' ')"
    installed_daemon_pids | xargs -r kill -KILL 2>/dev/null
  fi
  if package_known backupd || package_known backup-client; then
    echo "cleanup: purging the packages"
    # Everything the package made here was made by this test.
    echo "backupd backupd/purge_storage boolean true" | debconf-set-selections 2>/dev/null
    if ! apt_get purge backupd backup-client >"$work/cleanup-purge.log" 2>&1; then
      tail -n 20 "$work/cleanup-purge.log"
      echo "cleanup: apt-get purge failed; forcing dpkg --purge"
      dpkg --purge --force-all backupd backup-client
    fi
  fi
  # What a failed purge may have left behind (none of it existed when the test started).
  getent passwd backupd >/dev/null && userdel backupd 2>/dev/null
  getent group backupd >/dev/null && groupdel backupd 2>/dev/null
  rm -rf "$storage" "$logdir" "$conf" /etc/default/backupd "$pidfile" /run/backupd.status
  # `backupd user add` made it, and a purge keeps it (it is not the package's file).
  rm -rf "$users_dir"
  if [ "${KEEP_WORK:-0}" = 1 ]; then
    echo "cleanup: scratch folder kept: $work"
  else
    rm -rf "$work"
  fi
  if [ "$finished" = 0 ]; then
    not_ok "the test ran to its end (stopped early, exit $rc)"
    [ "$rc" = 0 ] && rc=1
  fi
  echo "$passed passed, $failed failed"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "# build and install, as the README says"
# The README's "Installing from the Debian package" block, up to its `apt install` line, runs
# as written, so the README cannot drift from what is tested. It runs in a scratch copy of the
# checkout: a stale build-deb/ there cannot match its globs, and the checkout stays clean.
readme_block() {
  awk '/^## Installing from the Debian package/ { section = 1; next }
       section && /^## / { exit }
       section && /^```/ { if (code) exit; code = 1; next }
       code' "$repo/README.md" | sed '/^apt install /q'
}
readme_block >"$work/readme-install.sh"
sed 's/^/       | /' "$work/readme-install.sh"
check "the README's block builds the packages with packaging/build-deb.sh" \
  grep -q '^packaging/build-deb.sh' "$work/readme-install.sh"
check "the README's block ends with apt install ./build-deb/...deb" \
  grep -q '^apt install ./build-deb/backupd_.*\.deb ./build-deb/backup-client_.*\.deb' \
  "$work/readme-install.sh"
check "the README's block builds the packages once" \
  test "$(grep -o 'build-deb.sh' "$work/readme-install.sh" | wc -l)" = 1
checkout=$work/checkout
mkdir "$checkout"
if git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
  (cd "$repo" && git ls-files -z --cached --others --exclude-standard |
    tar --null --files-from=- --ignore-failed-read -cf -) | tar -C "$checkout" -xf -
else
  tar -C "$repo" --exclude='./build*' -cf - . | tar -C "$checkout" -xf -
fi
policy_denies_start=0
if [ -x /usr/sbin/policy-rc.d ]; then
  /usr/sbin/policy-rc.d backupd start >/dev/null 2>&1
  [ $? = 101 ] && policy_denies_start=1
fi
# What an admin types at the prompts: yes. Without Recommends (logrotate, python3): the purge
# must leave the machine as it was.
cat >"$work/apt.conf" <<'APT'
APT::Get::Assume-Yes "true";
APT::Install-Recommends "false";
APT
if ! (cd "$checkout" && APT_CONFIG=$work/apt.conf DEBIAN_FRONTEND=noninteractive \
  timeout 1800 bash -euo pipefail "$work/readme-install.sh") </dev/null >"$work/install.log" 2>&1; then
  not_ok "the README's build and install commands succeed"
  tail -n 40 "$work/install.log" | sed 's/^/       | /'
  finish
fi
ok "the README's build and install commands succeed"
debs=$checkout/build-deb
deb_daemon=$(compgen -G "$debs/backupd_*_*.deb" | head -n 1)
deb_client=$(compgen -G "$debs/backup-client_*_*.deb" | head -n 1)
check "backupd_<version>_<arch>.deb is produced" test -f "$deb_daemon"
check "backup-client_<version>_<arch>.deb is produced" test -f "$deb_client"
check "apt install installed backupd" package_installed backupd
check "apt install installed backup-client" package_installed backup-client
ships() { grep -q "$2" <<<"$(dpkg -c "$1")"; }
check "the daemon package ships backupd(8)" ships "$deb_daemon" man8/backupd.8.gz
check "the daemon package ships backupd.conf(5)" ships "$deb_daemon" man5/backupd.conf.5.gz
check "the client package ships backup-client(1)" ships "$deb_client" man1/backup-client.1.gz

echo "# lintian"
if command -v lintian >/dev/null; then
  lintian_out=$(lintian --fail-on error --tag-display-limit 0 "$debs"/backupd_*.changes 2>&1)
  lintian_rc=$?
  if [ "$lintian_rc" = 0 ]; then
    ok "lintian reports no error"
  else
    not_ok "lintian reports no error"
  fi
  grep -E '^[EWI]:' <<<"$lintian_out" | sed 's/^/       | /'
else
  echo "skip - lintian is not installed"
fi

echo "# installed files"
for f in /usr/sbin/backupd /usr/bin/backup-client "$init"; do
  check "$f is installed and executable" test -x "$f"
done
for f in "$conf" /etc/default/backupd /etc/logrotate.d/backupd /lib/systemd/system/backupd.service \
  /usr/share/backupd/python/backup_client.py; do
  check "$f is installed" test -f "$f"
done
# doc_is NAME SOURCE: /usr/share/doc/backupd/NAME (compressed or not) is the checkout's SOURCE.
doc_is() {
  local f=/usr/share/doc/backupd/$1
  [ -e "$f" ] || f=$f.gz
  zcat -f "$f" | cmp - "$checkout/$2"
}
check "/usr/share/doc/backupd/README.md is the README" doc_is README.md README.md
check "/usr/share/doc/backupd/PROTOCOL.md is docs/PROTOCOL.md" doc_is PROTOCOL.md docs/PROTOCOL.md
check "/usr/share/doc/backupd/SECURITY.md is docs/SECURITY.md" doc_is SECURITY.md docs/SECURITY.md
check "/usr/share/doc/backupd/README.Debian is packaging/README.md" \
  doc_is README.Debian packaging/README.md
check "/usr/share/doc/backupd/copyright is packaging/debian/copyright" \
  cmp /usr/share/doc/backupd/copyright "$checkout/packaging/debian/copyright"
check "the copyright file licenses everything under Apache-2.0" \
  test "$(grep '^License:' /usr/share/doc/backupd/copyright | sort -u)" = "License: Apache-2.0"
if [ -f /usr/share/common-licenses/Apache-2.0 ]; then
  check "LICENSE is the standard Apache License 2.0 text" \
    cmp "$checkout/LICENSE" /usr/share/common-licenses/Apache-2.0
fi
templates_translated() {
  local t
  t=$(dpkg-deb --ctrl-tarfile "$deb_daemon" | tar -xOf - ./templates) || return 1
  grep -qx 'Template: backupd/purge_storage' <<<"$t" && grep -qx 'Default: false' <<<"$t" &&
    ! grep -q '^_' <<<"$t"
}
check "the debconf template is built (po2debconf ran, default false)" templates_translated
purge_question_is() { debconf-show backupd | grep -Eqx "[* ] backupd/purge_storage: $1"; }
check "debconf knows the purge question, answer no by default" purge_question_is false

is_conffile() { dpkg-query -W -f='${Conffiles}\n' backupd | grep -q "^ $1 "; }
check "/etc/backupd.conf is a conffile" is_conffile "$conf"
check "/etc/default/backupd is a conffile" is_conffile /etc/default/backupd
check "man finds backupd(8)" man -w 8 backupd
check "man finds backupd.conf(5)" man -w 5 backupd.conf
check "man finds backup-client(1)" man -w 1 backup-client
check "the shipped config is valid (backupd -t)" /usr/sbin/backupd -t
documents_every_key() {
  local k
  for k in listen listen_backlog max_connections_per_ip storage user group max_file_size \
    idle_timeout request_timeout shutdown_timeout log log_level pid_file status_socket \
    status_group metrics_file workers min_spare max_spare max max_requests; do
    grep -Eq "^#$k =" "$conf" || { echo "missing: $k"; return 1; }
  done
}
check "every key is in the config file with its default" documents_every_key

is_system_user() {
  local uid home shell
  IFS=: read -r _ _ uid _ _ home shell < <(getent passwd backupd)
  echo "uid $uid, home $home, shell $shell"
  [ "${uid:-1000}" -lt 1000 ] && [ "$home" = "$storage" ] && [ "$shell" = /usr/sbin/nologin ]
}
check "system user backupd exists (home /var/lib/backupd, no shell)" is_system_user
check "system group backupd exists" getent group backupd
check "storage /var/lib/backupd is backupd:backupd 0700" stat_is "$storage" "backupd:backupd 700"
check "log folder /var/log/backupd is root:adm 0750" stat_is "$logdir" "root:adm 750"
check "the init script is enabled (rc2.d link)" compgen -G '/etc/rc2.d/S*backupd'
check "the systemd unit is enabled (multi-user.target.wants)" \
  test -L /etc/systemd/system/multi-user.target.wants/backupd.service
if [ "$policy_denies_start" = 1 ]; then
  check "policy-rc.d forbids starting services: the postinst did not start backupd" \
    no_installed_daemon
else
  some_installed_daemon() { ! no_installed_daemon; }
  check "the postinst started backupd" eventually 10 some_installed_daemon
  timeout 90 "$init" stop >/dev/null 2>&1
fi

if command -v systemd-analyze >/dev/null; then
  check "systemd-analyze verify backupd.service" \
    systemd-analyze verify /lib/systemd/system/backupd.service
else
  echo "skip - systemd-analyze is not available"
fi

cp /var/lib/dpkg/info/backupd.postrm "$work/backupd.postrm"
check "the postinst can run again (configure twice)" \
  env DEBIAN_FRONTEND=noninteractive /var/lib/dpkg/info/backupd.postinst configure 0.1.0
check "storage ownership and mode survive a second configure" \
  stat_is "$storage" "backupd:backupd 700"

echo "# configure and start"
port=$(free_port)
set_key listen "127.0.0.1:$port"
set_key log "$logdir/backupd.log"
check "backupd -t accepts the edited config" /usr/sbin/backupd -t
check_rc "$init start" 0 timeout 60 "$init" start
pid=$(daemon_pid)
check "the pid file names a live backupd" test "$(readlink "/proc/${pid:-0}/exe")" = /usr/sbin/backupd
check "backupd listens on the configured port $port" eventually 10 is_listening "$port"
check_rc "$init start when running (LSB: success)" 0 timeout 60 "$init" start
check "a second start keeps the same daemon" test "$(daemon_pid)" = "$pid"
workers=$(pgrep -P "${pid:-0}" 2>/dev/null | tr '\n' ' ')
check "the supervisor has workers" test -n "$workers"
workers_confined() {
  local w
  for w in $workers; do
    echo "worker $w: user $(ps -o user= -p "$w"), root $(readlink "/proc/$w/root")"
    [ "$(ps -o user= -p "$w")" = backupd ] &&
      [ "$(readlink "/proc/$w/root")" = "$storage/.backupd-empty" ] ||
      return 1
  done
}
check "workers run as backupd, chrooted into the empty storage/.backupd-empty" workers_confined
check "the log file says which port it listens on" \
  eventually 10 grep -q "listening on 127.0.0.1:$port" "$logdir/backupd.log"

echo "# back up and restore"
mkdir -p "$work/data" "$work/out"
head -c 300000 /dev/urandom >"$work/data/photo.bin"
echo "hello backupd" >"$work/data/notes.txt"
backup_from_data() { (cd "$work/data" && client "$@"); }
check "backup-client backup" backup_from_data "$port" backup photo.bin notes.txt
check "backup-client list shows both files" lists_exactly "$port" "$(printf 'notes.txt\nphoto.bin')"
check "backup-client restore" client "$port" restore photo.bin -o "$work/out/photo.bin"
check "the restored file is identical" cmp "$work/data/photo.bin" "$work/out/photo.bin"
check "the stored file is backupd's, mode 0600, in the user's folder" \
  stat_is "$storage/$user_id/photo.bin" "backupd:backupd 600"
py_lists_both() { [ "$(pyclient "$port" list)" = "$(printf 'notes.txt\nphoto.bin')" ]; }
py_restores() { (cd "$work/out" && pyclient "$port" restore notes.txt && cmp notes.txt "$work/data/notes.txt"); }
check "the python client lists the same files" py_lists_both
check "the python client restores notes.txt" py_restores
check "backup-client delete" client "$port" delete notes.txt
check_rc "restoring a deleted file fails with exit 1 (1001)" 1 \
  client "$port" restore notes.txt -o "$work/out/gone"

echo "# protocol v2: a user from backupd user add"
add_user() { /usr/sbin/backupd user add "$v2_user" >"$work/user-add.out"; }
check "backupd user add $v2_user" add_user
secret=$(awk 'END { print $NF }' "$work/user-add.out")
check "user add printed a secret" test -n "$secret"
check "the users file /etc/backupd/users is root:root 0600" stat_is "$users_dir/users" "root:root 600"
check "user add signalled the daemon" grep -q "sent SIGHUP to backupd (pid $pid)" "$work/user-add.out"
check "the daemon reloaded the users file" \
  eventually 15 grep -q "users reloaded: 1 from $users_dir/users" "$logdir/backupd.log"
(umask 077 && echo "$secret" >"$work/v2.secret")
v2client() {
  timeout 60 backup-client --server "127.0.0.1:$port" --user "$v2_user" --secret-file "$work/v2.secret" \
    --quiet "$@"
}
v2pyclient() {
  timeout 60 /usr/bin/python3 /usr/share/backupd/python/backup_client.py --server "127.0.0.1:$port" \
    --user "$v2_user" --secret-file "$work/v2.secret" "$@"
}
# The reload retires the old workers after their request: a login may meet one, so retry briefly.
v2_backup() { (cd "$work/data" && v2client backup photo.bin); }
check "backup-client backs up over v2" eventually 15 v2_backup
check "the file landed in the v2 user's folder" cmp "$work/data/photo.bin" "$storage/$v2_user/photo.bin"
v2_py_backup() { (cd "$work/data" && v2pyclient backup notes.txt); }
check "the python client backs up over v2" v2_py_backup
v2_long_list() {
  local want got
  want=$(cd "$work/data" && sha256sum notes.txt photo.bin | awk '{ print $1, $2 }')
  got=$(v2client list -l | awk '{ print $3, $4 }') || return 1
  [ "$got" = "$want" ] || { echo "list -l printed: $got"; return 1; }
}
check "backup-client list -l shows both files with their SHA-256" v2_long_list
v2_py_restore() { v2pyclient restore photo.bin -o - | cmp - "$work/data/photo.bin"; }
check "the python client restores backup-client's upload byte for byte" v2_py_restore
v2_restore() { v2client restore notes.txt -o "$work/out/v2-notes.txt" && cmp "$work/out/v2-notes.txt" "$work/data/notes.txt"; }
check "backup-client restores the python client's upload byte for byte" v2_restore
echo wrong-secret >"$work/wrong.secret" && chmod 600 "$work/wrong.secret"
check_rc "a wrong secret is refused (exit 6)" 6 timeout 60 backup-client --server "127.0.0.1:$port" \
  --user "$v2_user" --secret-file "$work/wrong.secret" list
check "v2 delete" v2client delete notes.txt
check "the packaged config leaves legacy_v1 at its default, loopback" grep -qx '#legacy_v1 = loopback' "$conf"
check "v1 from 127.0.0.1 is still served under the default" lists_exactly "$port" photo.bin

echo "# weekly scrub: shipped, off until enabled"
for f in /lib/systemd/system/backupd-scrub.service /lib/systemd/system/backupd-scrub.timer; do
  check "$f is installed" test -f "$f"
done
scrub_timer_not_enabled() { ! ls /etc/systemd/system/*.wants/backupd-scrub.* >/dev/null 2>&1; }
check "backupd-scrub.timer is not enabled" scrub_timer_not_enabled
check "the timer runs weekly and catches up (Persistent=true)" \
  grep -qx 'Persistent=true' /lib/systemd/system/backupd-scrub.timer
check "/etc/cron.weekly/backupd is installed and executable" test -x /etc/cron.weekly/backupd
check "/etc/default/backupd leaves the weekly scrub off" grep -qx 'SCRUB_WEEKLY=no' /etc/default/backupd
cp -p /etc/default/backupd "$work/default.saved"
# cron_scrub WANT_RC WANT_OUTPUT: the cron script exits WANT_RC, printing WANT_OUTPUT ("" or a
# pattern its output must match).
cron_scrub() {
  local out rc=0
  out=$(/etc/cron.weekly/backupd 2>&1) || rc=$?
  [ "$rc" = "$1" ] || { echo "exit $rc: $out"; return 1; }
  if [ -z "$2" ]; then [ -z "$out" ] || { echo "printed: $out"; return 1; }; fi
  [ -z "$2" ] || grep -q "$2" <<<"$out" || { echo "printed: $out"; return 1; }
}
check "off: the cron script runs nothing and prints nothing" cron_scrub 0 ""
# Enabled with a config that cannot be read: it runs scrub, which fails, and says so.
printf 'SCRUB_WEEKLY=yes\nCONFIG=%s\n' "$work/no-such.conf" >>/etc/default/backupd
check "enabled: the cron script runs scrub and prints its failure" cron_scrub 2 "backupd scrub:"
cp -p "$work/default.saved" /etc/default/backupd
echo "SCRUB_WEEKLY=yes" >>/etc/default/backupd
check "enabled: a clean store is scrubbed silently" cron_scrub 0 ""
cp -p "$work/default.saved" /etc/default/backupd

echo "# the packaged default refuses v1 from another address"
# The installed daemon with the installed config, in a network namespace of its own joined by a
# veth pair to a second one for the clients (10.199.0.1 and .2): a peer that is not loopback,
# without touching the host's network. Both namespaces are deleted after.
in_ns() { ip netns exec "$@"; }
make_namespaces() {
  ip netns add "$ns_server" && ip netns add "$ns_client" &&
    ip -n "$ns_server" link add bkd-srv type veth peer name bkd-cli netns "$ns_client" &&
    ip -n "$ns_server" addr add 10.199.0.1/30 dev bkd-srv && ip -n "$ns_server" link set bkd-srv up &&
    ip -n "$ns_server" link set lo up &&
    ip -n "$ns_client" addr add 10.199.0.2/30 dev bkd-cli && ip -n "$ns_client" link set bkd-cli up
}
check "two network namespaces joined by a veth pair" make_namespaces
# Not through in_ns: as a function it would run in a subshell, and $! would name that, not the
# daemon (ip netns exec execs the program).
ip netns exec "$ns_server" /usr/sbin/backupd -f -c "$conf" -o listen=10.199.0.1:1337 \
  -o "pid_file=$work/ns.pid" -o "status_socket=$work/ns.status" -o "log=$work/ns.log" \
  >"$work/ns-daemon.log" 2>&1 &
ns_pid=$!
check "the daemon in the namespace listens on 10.199.0.1:1337" \
  eventually 20 grep -q "listening on 10.199.0.1:1337" "$work/ns.log"
v1_refused_from_peer() {
  local out
  out=$(in_ns "$ns_client" timeout 60 backup-client --protocol 1 --server 10.199.0.1:1337 \
    --user "$user_id" list 2>&1)
  local rc=$?
  echo "exit $rc: $out"
  [ "$rc" = 1 ] && grep -q "refused by the server (1003)" <<<"$out"
}
check "v1 from 10.199.0.2 is refused with 1003 (exit 1)" v1_refused_from_peer
check "the log says v1 was refused under legacy_v1 = loopback" \
  eventually 10 grep -q "v1 refused from 10.199.0.2: legacy_v1 = loopback" "$work/ns.log"
v2_from_peer() {
  [ "$(in_ns "$ns_client" timeout 60 backup-client --server 10.199.0.1:1337 --user "$v2_user" \
    --secret-file "$work/v2.secret" list)" = photo.bin ]
}
check "v2 from 10.199.0.2 logs in and lists" v2_from_peer
kill "$ns_pid"
check "the daemon in the namespace stops on SIGTERM" timeout 60 tail --pid="$ns_pid" -f /dev/null
wait "$ns_pid" 2>/dev/null
ns_pid=""
delete_namespaces() { ip netns del "$ns_server" && ip netns del "$ns_client"; }
check "the namespaces are deleted" delete_namespaces

echo "# reinstall (an upgrade to the same version)"
check "apt-get install --reinstall ./backupd_*.deb" \
  apt_get install --reinstall --no-install-recommends "$deb_daemon"
check "the edited conffile is kept" grep -qx "listen = 127.0.0.1:$port" "$conf"
check "the users' files are kept" cmp "$work/data/photo.bin" "$storage/$user_id/photo.bin"
check "storage is still backupd:backupd 0700" stat_is "$storage" "backupd:backupd 700"
if [ "$policy_denies_start" = 1 ]; then
  check "the daemon kept running (policy-rc.d forbids the restart)" test "$(daemon_pid)" = "$pid"
else
  check "the daemon was restarted" eventually 15 is_listening "$port"
  pid=$(daemon_pid)
fi

echo "# reload"
port2=$(free_port)
set_key listen "127.0.0.1:$port2"
check_rc "$init reload" 0 timeout 60 "$init" reload
check "reload moved the daemon to port $port2" eventually 15 is_listening "$port2"
check "the old port $port is closed" eventually 15 not_listening "$port"
check "reload kept the same supervisor" test "$(daemon_pid)" = "$pid"
check "files are served on the new port" lists_exactly "$port2" photo.bin
echo "bogus_key = 1" >>"$conf"
check_rc "$init reload refuses an invalid config (LSB 6)" 6 timeout 60 "$init" reload
check "the daemon still serves after the refused reload" lists_exactly "$port2" photo.bin
sed -i '/^bogus_key = 1$/d' "$conf"
check_rc "$init force-reload" 0 timeout 60 "$init" force-reload

echo "# log rotation"
if command -v logrotate >/dev/null; then
  # backupd.log is also where the daemon falls back to when nothing listens on /dev/log.
  covers_the_log() {
    # grep reads to the end (no -q): logrotate -d writes its lines unbuffered, and one written
    # after grep -q had left would end it with SIGPIPE, failing the pipe (pipefail).
    logrotate -d /etc/logrotate.d/backupd 2>&1 | grep -x "considering log $logdir/backupd.log" >/dev/null
  }
  check "/etc/logrotate.d/backupd covers $logdir/backupd.log" covers_the_log
  check "logrotate -f rotates the log (and signals the daemon)" \
    logrotate -f -s "$work/logrotate.state" /etc/logrotate.d/backupd
  check "the old log is backupd.log.1" test -s "$logdir/backupd.log.1"
  check "logrotate created the new log root:adm 0640" stat_is "$logdir/backupd.log" "root:adm 640"
else
  echo "skip - logrotate is not installed (its postrotate script is run by hand)"
  mv "$logdir/backupd.log" "$logdir/backupd.log.1"
  postrotate=$(sed -n '/postrotate/,/endscript/{/postrotate/d;/endscript/d;p}' /etc/logrotate.d/backupd)
  check "the logrotate postrotate script runs" sh -c "$postrotate"
fi
# The next request's access-log line lands in the reopened file.
request_then_log_exists() { client "$1" list >/dev/null; test -s "$2"; }
check "after SIGUSR1 the daemon writes a new log file" \
  eventually 15 request_then_log_exists "$port2" "$logdir/backupd.log"

echo "# status"
check_rc "$init status of a running daemon (LSB 0)" 0 timeout 60 "$init" status
status_names_a_worker() {
  local out w
  out=$(timeout 30 /usr/sbin/backupd status 2>&1) || { echo "$out"; return 1; }
  w=$(pgrep -P "$pid" | head -n 1)
  grep -qw "$w" <<<"$out" || { echo "no worker pid $w in:"; echo "$out"; return 1; }
}
check "backupd status lists the workers" status_names_a_worker

echo "# restart and stop"
check_rc "$init restart" 0 timeout 120 "$init" restart
new_supervisor() { [ -n "$(daemon_pid)" ] && [ "$(daemon_pid)" != "$pid" ]; }
check "restart started a new supervisor" new_supervisor
check "files survive a restart" lists_exactly "$port2" photo.bin
check_rc "$init stop" 0 timeout 120 "$init" stop
check "no backupd process is left" eventually 10 no_installed_daemon
check "the pid file is gone" test ! -e "$pidfile"
check "port $port2 is closed" not_listening "$port2"
check_rc "$init stop when stopped (LSB: success)" 0 timeout 60 "$init" stop
check_rc "$init status of a stopped daemon (LSB 3)" 3 timeout 60 "$init" status
check_rc "$init reload of a stopped daemon (LSB 7)" 7 timeout 60 "$init" reload
check_rc "$init with an unknown action (LSB 2)" 2 "$init" frobnicate

echo "# seccomp filter of the unit (strace)"
# No systemd runs here, so the unit's SystemCallFilter= is checked against the syscalls the
# daemon really makes: start, serve each op, reload, reopen logs, status, stop, and -t.
children_of() { pgrep -P "$1" | sort | tr '\n' ' '; }
children_changed() { [ "$(children_of "$1")" != "$2" ]; }
# Expands SystemCallFilter= items into syscall names (groups nest).
expand_filter() {
  local item
  for item in "$@"; do
    case "$item" in
      @*)
        # shellcheck disable=SC2046
        expand_filter $(systemd-analyze syscall-filter "$item" 2>/dev/null |
          awk 'NR > 1 && $1 !~ /^#/ && NF { print $1 }')
        ;;
      *) echo "$item" ;;
    esac
  done
}
# Prints the syscalls in strace logs $@ that the unit's filter does not allow; fails if any.
syscalls_within_filter() {
  local filter allowed used outside
  filter=$(sed -n 's/^SystemCallFilter=//p' /lib/systemd/system/backupd.service)
  # shellcheck disable=SC2086
  allowed=$(expand_filter $filter | sort -u)
  used=$(sed -nE 's/^[0-9]+ +(<\.\.\. )?([a-z0-9_]+)[( ].*/\2/p' "$@" | sort -u)
  echo "$(wc -w <<<"$used") distinct syscalls seen"
  outside=$(comm -23 <(echo "$used") <(echo "$allowed"))
  [ -z "$outside" ] || { echo "not allowed by the unit: $outside"; return 1; }
}
serve_each_op() {
  (cd "$work/data" && client "$1" backup notes.txt) && client "$1" list &&
    client "$1" restore notes.txt -o "$work/out/strace.txt" && client "$1" delete notes.txt
}
if command -v strace >/dev/null; then
  port3=$(free_port)
  strace -f -qq -o "$work/strace.out" /usr/sbin/backupd -f -c "$conf" -o "listen=127.0.0.1:$port3" \
    -o "pid_file=$work/strace.pid" -o "status_socket=$work/strace.status" \
    -o "log=$work/strace.log" >"$work/strace-daemon.log" 2>&1 &
  strace_pid=$!
  check "the traced daemon listens" eventually 20 is_listening "$port3"
  check "the traced daemon serves backup, list, restore and delete" serve_each_op "$port3"
  spid=$(cat "$work/strace.pid" 2>/dev/null)
  if [ -n "$spid" ]; then
    before=$(children_of "$spid")
    kill -HUP "$spid"
    check "the traced daemon replaces its workers on SIGHUP" eventually 15 children_changed "$spid" "$before"
    mv "$work/strace.log" "$work/strace.log.1"
    kill -USR1 "$spid"
    check "the traced daemon reopens its log on SIGUSR1" \
      eventually 15 request_then_log_exists "$port3" "$work/strace.log"
    timeout 60 /usr/sbin/backupd status -c "$conf" -o "status_socket=$work/strace.status" \
      >/dev/null 2>&1
    kill -TERM "$spid"
  fi
  check "the traced daemon stops on SIGTERM" timeout 60 tail --pid="$strace_pid" -f /dev/null
  wait "$strace_pid" 2>/dev/null
  strace_pid=""
  strace -f -qq -o "$work/strace-t.out" /usr/sbin/backupd -t >/dev/null 2>&1
  check "strace saw the workers chroot" grep -q 'chroot(' "$work/strace.out"
  check "every syscall the daemon made is allowed by SystemCallFilter=" \
    syscalls_within_filter "$work/strace.out" "$work/strace-t.out"
else
  echo "skip - strace is not installed"
fi

echo "# the unit's sandbox"
# The exposure systemd-analyze gives the shipped unit: 3.4 before ProtectSystem=strict,
# ProtectHome=, PrivateMounts=, ProtectProc= and ProcSubset=; a change that weakens it fails here.
max_exposure=2.8
exposure_at_most() {
  local e
  e=$(systemd-analyze security --offline=yes /lib/systemd/system/backupd.service 2>&1 |
    sed -n 's/.*Overall exposure level for backupd.service: \([0-9.]*\).*/\1/p')
  echo "exposure ${e:-unknown}"
  [ -n "$e" ] && awk -v e="$e" -v m="$1" 'BEGIN { exit !(e <= m) }'
}
if command -v systemd-analyze >/dev/null; then
  check "systemd-analyze security --offline: exposure at most $max_exposure" \
    exposure_at_most "$max_exposure"
else
  echo "skip - systemd-analyze is not available"
fi
# No systemd runs here, so the unit's file-system view is made by hand in a mount namespace, as
# its ProtectSystem=strict, ReadWritePaths=, ProtectHome=, PrivateTmp=, ProtectProc=invisible and
# ProcSubset=pid make it; the daemon must start, serve, report status, write metrics and reload
# in it.
in_unit_view() {
  # exec: run in the background, the function's own pid becomes the daemon's (unshare and sh exec
  # in turn), so $! is the supervisor to signal.
  # shellcheck disable=SC2016  # expanded by the inner shell, in the namespace
  exec unshare --mount --propagation private -- sh -ec '
    for p in $(sed -n "s/^ReadWritePaths=//p" /lib/systemd/system/backupd.service); do
      p=${p#-}
      if [ -d "$p" ]; then mount --bind "$p" "$p"; fi
    done
    mount -o remount,bind,ro /
    for h in /home /root /run/user; do
      if [ -d "$h" ]; then mount -t tmpfs -o ro,mode=755 tmpfs "$h"; fi
    done
    mount -t tmpfs -o mode=1777 tmpfs /tmp
    mount -t proc -o hidepid=invisible,subset=pid proc /proc
    exec "$@"' in_unit_view "$@"
}
metrics_dir=/var/lib/prometheus/node-exporter
# The topmost folder this makes (if any), to remove again.
made_metrics_dir=$(mkdir -pv "$metrics_dir" | head -n 1 | sed -n "s/^mkdir: created directory '\(.*\)'$/\1/p")
port4=$(free_port)
in_unit_view /usr/sbin/backupd -f -c "$conf" -o "listen=127.0.0.1:$port4" \
  -o "metrics_file=$metrics_dir/backupd-package-test.prom" >"$work/unit-view.out" 2>&1 &
unit_pid=$!
check "in the unit's view the daemon listens" eventually 20 is_listening "$port4"
rm -f "$work/out/strace.txt"
check "in the unit's view it serves backup, list, restore and delete" serve_each_op "$port4"
workers=$(pgrep -P "$unit_pid" 2>/dev/null | tr '\n' ' ')
check "in the unit's view its workers run as backupd, chrooted" workers_confined
check "in the unit's view backupd status reads its socket" \
  timeout 30 /usr/sbin/backupd status
check "in the unit's view it writes the metrics file" \
  eventually 15 test -s "$metrics_dir/backupd-package-test.prom"
before=$(children_of "$unit_pid")
kill -HUP "$unit_pid"
check "in the unit's view it reloads on SIGHUP" eventually 15 children_changed "$unit_pid" "$before"
kill -TERM "$unit_pid"
check "in the unit's view it stops on SIGTERM" timeout 60 tail --pid="$unit_pid" -f /dev/null
wait "$unit_pid" 2>/dev/null
check "in the unit's view nothing went to stderr" test ! -s "$work/unit-view.out"
check "a clean stop removed the metrics file" test ! -e "$metrics_dir/backupd-package-test.prom"
if [ -n "$made_metrics_dir" ]; then rm -rf "$made_metrics_dir"; fi

echo "# remove"
check "apt-get remove backupd" apt_get remove backupd
check "remove keeps the config" test -f "$conf"
check "remove keeps the users' files" test -f "$storage/$user_id/photo.bin"
check "remove keeps the backupd user" getent passwd backupd
check "remove leaves no backupd process" no_installed_daemon

# Paths, owners (by name: a deleted user would show as a bare uid), modes and contents.
storage_manifest() {
  (cd "$storage" && find . -printf '%p %u:%g %m\n' | sort && find . -type f -exec sha256sum {} + | sort)
}
storage_unchanged() { storage_manifest | diff "$work/storage.before" -; }
preseed_purge_storage() {
  echo "backupd backupd/purge_storage boolean $1" | debconf-set-selections
}
storage_manifest >"$work/storage.before"
gone() { ! "$@"; }
# Every file and link of the packages (and what they made at run time) but the storage.
nothing_left_but_storage() {
  local f
  for f in "$logdir" "$conf" /etc/default/backupd "$init" /etc/logrotate.d/backupd \
    /lib/systemd/system/backupd.service /usr/share/backupd /usr/share/doc/backupd \
    /usr/sbin/backupd /usr/bin/backup-client "$pidfile" /run/backupd.status \
    /etc/systemd/system/multi-user.target.wants/backupd.service; do
    if [ -e "$f" ] || [ -L "$f" ]; then
      echo "left: $f"
      return 1
    fi
  done
  ! compgen -G '/etc/rc?.d/*backupd' || { echo "rc.d links left"; return 1; }
}

echo "# purge, answering: keep the backups"
check "debconf-set-selections: backupd/purge_storage false" preseed_purge_storage false
purge_keep() { apt_get purge backupd backup-client >"$work/purge-keep.log" 2>&1; }
check "apt-get purge backupd backup-client" purge_keep
check "purge removed the packages" gone package_known backupd
check "purge removed everything else" nothing_left_but_storage
check "purge kept the stored backups byte-identical, owned by backupd" storage_unchanged
check "purge kept /var/lib/backupd backupd:backupd 0700" stat_is "$storage" "backupd:backupd 700"
check "purge kept the backupd user" getent passwd backupd
check "purge kept the backupd group" getent group backupd
check "purge said where the backups stay" \
  grep -q "backupd: purge keeps the stored backups in $storage" "$work/purge-keep.log"

echo "# reinstall over the kept backups"
check "apt-get install ./backupd_*.deb" apt_get install --no-install-recommends "$deb_daemon"
timeout 90 "$init" stop >/dev/null 2>&1
check "the reinstall adopted the backups unchanged" storage_unchanged
check "storage is still backupd:backupd 0700" stat_is "$storage" "backupd:backupd 700"
check "debconf asks again after the purge (answer no by default)" purge_question_is false

echo "# purge, answering: delete the backups"
check "debconf-set-selections: backupd/purge_storage true" preseed_purge_storage true
check "apt-get purge backupd" apt_get purge backupd
check "purge removed the packages" gone package_known backupd
check "purge removed everything else" nothing_left_but_storage
check "purge removed $storage" test ! -e "$storage"
check "purge removed the backupd user" gone getent passwd backupd
check "purge removed the backupd group" gone getent group backupd
check "purge removed the debconf answer" gone purge_question_is true
check "the postrm purge can run again" env DEBIAN_FRONTEND=noninteractive "$work/backupd.postrm" purge

finish

#!/usr/bin/python3
"""Before/after: two builds of backupd (each with its own backup-client, and optionally its own
Python client), side by side in one run, taking turns as run.py does, so that an optimisation's
gain is read within one run on a shared machine. Prints each figure for both builds and their
ratio (after / before). Run as root, like run.py:

  sudo bench/ab.py --before BUILD_OLD --after BUILD_NEW [--py-before DIR --py-after DIR]
                   [--small N] [--size MIB] [--runs 5] [--tls] [--rsync]

--small N: N x 4 KiB files, one backup-client call each and all in one call (v2), and one
Python-client call each, and with --rsync the rsync daemon's figures for the first two taken in
the same turns (run.py's rsync calls), with each build's ratio to them; --size MIB: one upload,
restore and delete of that many MiB (the delete timed alone, after an untimed upload of its own
file) over v2 and v1, or
with --tls over v2 and v2+TLS (run.py's TLS rows: the daemon's TLS listener, the client given
--tls --ca), each build's TLS figure also given as a share of its plain one. Either may be 0 to
skip it. The storage goes under --storage-parent (/var/tmp), the data to
tmpfs.
"""

import argparse
import os
import subprocess
import sys
import tempfile

from run import MIB, SMALL_SIZE, Clients, Deadline, calls_per_second, figure, make_data
from run import rsync_small_commands, run_checked, same_file, spread_folders, take_turns, timed
from servers import Backupd, BenchError, Rsyncd


def per_call(paths, argv_of, what):
    """A run of one call per path (argv_of(path)): calls/s."""
    return lambda: calls_per_second(paths, argv_of, what)


def small(side, paths):
    c = side["clients"]
    return [
        ("calls/s, one backup-client call per file",
         per_call(paths, lambda p: [*c.backup(), p], "backup-client")),
        ("files/s, all in one backup-client call (v2)",
         lambda: len(paths) / timed([*c.backup(), *paths], "backup-client")),
        ("calls/s, one Python-client call per file",
         per_call(paths, lambda p: [*c.py(), "backup", p], "backup_client.py")),
    ]


def small_rsync(rsync, paths):
    """The rsync daemon's figures for small()'s first two rows, timed as run.py times them."""
    one, tree = rsync_small_commands(rsync, os.path.dirname(paths[0]))
    return [
        ("calls/s, one backup-client call per file", per_call(paths, one, "rsync")),
        ("files/s, all in one backup-client call (v2)",
         lambda: len(paths) / timed(tree, "rsync -r")),
    ]


def bulk(side, data, out, modes):
    c, mb = side["clients"], os.path.getsize(data) / 1e6
    restored = os.path.join(out, "restored")

    def restore(mode):
        def fn():
            if os.path.exists(restored):
                os.unlink(restored)
            seconds = timed([*c.cxx(mode), "restore", "big", "-o", restored, "--force"], "restore")
            if not same_file(restored, data):
                raise BenchError(f"{side['name']} {mode} restore: the restored file differs")
            return mb / seconds
        return fn

    def delete(mode):
        def fn():
            run_checked([*c.backup(mode), data, "--name", "doomed"], "backup", 600)
            return 1 / timed([*c.cxx(mode), "delete", "doomed"], "delete")
        return fn

    tasks = []
    for mode in modes:
        tasks.append((f"MB/s, {mode} upload", lambda mode=mode: mb / timed(
            [*c.backup(mode), data, "--name", "big"], "backup")))
        tasks.append((f"MB/s, {mode} restore", restore(mode)))
        tasks.append((f"deletes/s, {mode} delete of that file", delete(mode)))
    return tasks


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--before", required=True, help="build folder of the old binaries")
    p.add_argument("--after", required=True, help="build folder of the new binaries")
    p.add_argument("--py-before", help="folder of the old backup_client.py (default: this repo's)")
    p.add_argument("--py-after", help="folder of the new backup_client.py (default: this repo's)")
    p.add_argument("--small", type=int, default=200, help="4 KiB files (%(default)s)")
    p.add_argument("--size", type=int, default=256, help="MiB for the bulk figures (%(default)s)")
    p.add_argument("--runs", type=int, default=5, help="measured runs (%(default)s)")
    p.add_argument("--tls", action="store_true", help="bulk over v2 and v2+TLS instead of v2 and v1")
    p.add_argument("--rsync", action="store_true",
                   help="with --small, time the rsync daemon beside both builds")
    p.add_argument("--storage-parent", default="/var/tmp")
    args = p.parse_args()
    if os.geteuid() != 0:
        print("bench/ab.py: run as root", file=sys.stderr)
        return 2
    load = os.getloadavg()[0]
    scratch, daemons = [], []
    rsync = None
    try:
        out = tempfile.mkdtemp(prefix="backupd-ab-", dir="/dev/shm")
        scratch.append(out)
        disk = tempfile.mkdtemp(prefix="backupd-ab-", dir=args.storage_parent)
        scratch.append(disk)
        spread_folders(disk)
        data, paths = make_data(out, args.size * MIB, args.small)
        sides = []
        for name, build, py in (("before", args.before, args.py_before),
                                ("after", args.after, args.py_after)):
            folder = os.path.join(disk, name)
            os.mkdir(folder, 0o700)
            daemons.append(Backupd(os.path.join(build, "bin", "backupd"), folder, workers=4,
                                   max_workers=8))
            clients = Clients(build, daemons[-1])
            if py:
                clients.python = [sys.executable, os.path.join(py, "backup_client.py")]
            sides.append(dict(name=name, clients=clients))
        modes = ("v2", "tls") if args.tls else ("v2", "v1")
        tasks = []
        if args.rsync and args.small:
            rsync_folder = os.path.join(disk, "rsyncd")
            os.mkdir(rsync_folder, 0o700)
            rsync = Rsyncd(rsync_folder)
            tasks += [((key, "rsyncd"), fn) for key, fn in small_rsync(rsync, paths)]
        for side in sides:
            side_tasks = (small(side, paths) if args.small else []) + \
                (bulk(side, data, out, modes) if args.size else [])
            tasks += [((key, side["name"]), fn) for key, fn in side_tasks]
        # Grouped by figure, so that the two builds of one figure run next to each other.
        order = {key: i for i, key in enumerate(dict.fromkeys(key for (key, _), _ in tasks))}
        tasks.sort(key=lambda t: order[t[0][0]])
        values = take_turns(tasks, args.runs, 1, Deadline(1800))
        print(f"\nload {load:.2f} at start, {os.getloadavg()[0]:.2f} at end; median of "
              f"{args.runs} runs after 1 warm-up; {args.small} x {SMALL_SIZE // 1024} KiB, "
              f"{args.size} MiB")
        columns = f"{'figure':48} {'before':>8} {'after':>8} {'after/before':>13}"
        print(columns + (f" {'rsyncd':>8} {'before/rsyncd':>14} {'after/rsyncd':>13}"
                         if rsync else ""))
        for key in dict.fromkeys(k for (k, _) in values):
            b = figure("", values[(key, "before")])["value"]
            a = figure("", values[(key, "after")])["value"]
            line = f"{key:48} {b:8.1f} {a:8.1f} {a / b:13.2f}"
            if (key, "rsyncd") in values:
                r = figure("", values[(key, "rsyncd")])["value"]
                line += f" {r:8.1f} {b / r:14.2f} {a / r:13.2f}"
            print(line)
        if args.tls and args.size:
            # issue 11's target: TLS costs < 30 % of plain, so each build's share should be >= 0.70.
            for op in ("upload", "restore"):
                share = [figure("", values[(f"MB/s, tls {op}", side)])["value"] /
                         figure("", values[(f"MB/s, v2 {op}", side)])["value"]
                         for side in ("before", "after")]
                print(f"{'tls ' + op + ' / v2 ' + op:48} {share[0]:8.2f} {share[1]:8.2f} "
                      f"{share[1] / share[0]:13.2f}")
    except (BenchError, OSError, subprocess.SubprocessError) as e:
        print(f"bench/ab.py: FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        for d in daemons:
            d.stop()
        if rsync:
            rsync.stop()
        for path in scratch:
            subprocess.run(["rm", "-rf", "--one-file-system", path], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

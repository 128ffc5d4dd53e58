#!/usr/bin/env python3
# benchmark (root, to start backupd as root): the time of one small backup into a folder of
# 200,000 entries against one into an empty folder, and a list's peak memory, in the same run.
"""Times small backups into a crowded folder next to the same backups into an empty one.

Each backup goes on its own connection (as the seed's client sends them) and then on one shared
connection, so a cost paid once per connection can be told from one paid per upload. The crowded
folder's entries are empty files made straight in storage (mknod), not uploaded. Then lists the
user over v1 and prints the session child's peak memory (VmHWM) and the list's time.

Figures are printed, never judged: the exit status is non-zero only when something is wrong.

Usage (as root): python3 tests/bench/crowded_folder.py [--backupd PATH] [--entries 200000]
"""

import argparse
import os
import statistics
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import throughput as tp  # noqa: E402  (the daemon, the v1 requests and /proc readers)

USER = 7
OP_LIST = 202
ST_LIST = 211


def timed_backups(port, folder, count, per_connection):
    """Milliseconds per backup of a 4-byte file into `folder`, median of `count`."""
    times = []
    sock = None if per_connection else tp.connect(port)
    try:
        for i in range(count):
            if per_connection:
                sock = tp.connect(port)
            started = time.perf_counter()
            tp.backup_bytes(sock, USER, f"{folder}/new-{per_connection}-{i}".encode(), b"data")
            times.append((time.perf_counter() - started) * 1000)
            if per_connection:
                sock.close()
    finally:
        if sock is not None:
            sock.close()
    return statistics.median(times)


def list_peak(daemon):
    """(seconds, files, session child VmHWM in KiB) of one v1 list, read before the close."""
    sock = tp.connect(daemon.port)
    try:
        started = time.perf_counter()
        sock.sendall(tp.request_header(USER, OP_LIST, b""))
        version, status, name_len = struct.unpack("<BHH", tp.must_recv(sock, 5))
        tp.must_recv(sock, name_len)
        if status != ST_LIST:
            raise tp.BenchError(f"list: status {status}")
        (size,) = struct.unpack("<I", tp.must_recv(sock, 4))
        payload = tp.must_recv(sock, size)
        seconds = time.perf_counter() - started
        children = [c for w in daemon.workers() for c in tp.children_of(w)]
        peak = max((tp.vm_hwm_kib(c) or 0 for c in children), default=0)
        return seconds, payload.count(b"\n"), peak
    finally:
        sock.close()


def run(args, scratch):
    daemon = tp.Backupd(args.backupd, args.dir, 2, scratch)
    try:
        seed = tp.connect(daemon.port)
        for folder in ("crowded", "empty"):
            tp.backup_bytes(seed, USER, f"{folder}/seed".encode(), b"seed")
        seed.close()
        crowded = os.path.join(daemon.storage, str(USER), "crowded")
        fd = os.open(crowded, os.O_DIRECTORY)
        started = time.perf_counter()
        for i in range(args.entries):
            os.mknod(f"f{i:07d}", 0o600 | 0o100000, dir_fd=fd)
        os.close(fd)
        print(f"made {args.entries} entries in {time.perf_counter() - started:.0f} s")
        for per_connection in (True, False):
            how = "a connection each" if per_connection else "one connection"
            base = timed_backups(daemon.port, "empty", args.count, per_connection)
            full = timed_backups(daemon.port, "crowded", args.count, per_connection)
            print(f"backup, {how}: {full:.2f} ms into {args.entries} entries, "
                  f"{base:.2f} ms into an empty folder (median of {args.count})")
        seconds, files, peak = list_peak(daemon)
        print(f"v1 list of {files} files: {seconds:.2f} s, session child VmHWM {peak} KiB")
        daemon.check_alive()
    finally:
        daemon.stop()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--backupd", default=tp.default_backupd())
    p.add_argument("--entries", type=int, default=200000)
    p.add_argument("--count", type=int, default=30, help="backups timed per case")
    p.add_argument("--dir", default="/var/tmp", help="where storage goes (a disk, not tmpfs)")
    args = p.parse_args()
    if os.geteuid() != 0:
        print("crowded_folder.py: run as root (backupd drops to nobody and chroots)",
              file=sys.stderr)
        return 2
    if not os.access(args.backupd, os.X_OK):
        print(f"crowded_folder.py: no backupd at {args.backupd} (use --backupd)", file=sys.stderr)
        return 2
    scratch = []
    try:
        run(args, scratch)
    except (tp.BenchError, OSError) as e:
        print(f"crowded_folder.py: FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        for path in scratch:
            subprocess.run(["rm", "-rf", "--one-file-system", path], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

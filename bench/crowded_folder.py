#!/usr/bin/python3
# benchmark (root, to start backupd as root): the time of one small backup into a folder of
# 200,000 entries against one into an empty folder, and a list's peak memory, in the same run.
"""Times small backups into a crowded folder next to the same backups into an empty one.

Each backup goes on its own connection and then on one shared connection (protocol v1, raw
sockets), so a cost paid once per connection can be told from one paid per upload. The crowded
folder's entries are empty files made straight in storage (mknod), not uploaded. Then lists the
user over v1 and prints the session child's peak memory (VmHWM) and the list's time.

Figures are printed, never judged: the exit status is non-zero only when something is wrong.

Usage (as root): bench/crowded_folder.py --build BUILD [--entries 200000] [--count 30]
"""

import argparse
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

from servers import Backupd, BenchError, children, proc_status_kib

OP_BACKUP, OP_LIST = 100, 202
ST_LIST, ST_STORED = 211, 212


def connect(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def must_recv(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise BenchError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def request_header(user, op, name):
    return struct.pack("<IBBH", user, 1, op, len(name)) + name


def read_status(sock, want_name=None):
    """The status of an answer, whose name must be `want_name` (a list's is not the request's)."""
    version, status, name_len = struct.unpack("<BHH", must_recv(sock, 5))
    name = must_recv(sock, name_len)
    if version != 1 or want_name not in (None, name):
        raise BenchError(f"answer version {version} naming {name!r} (status {status})")
    return status


def backup_bytes(sock, user, name, payload):
    sock.sendall(request_header(user, OP_BACKUP, name) + struct.pack("<I", len(payload)) + payload)
    status = read_status(sock, name)
    if status != ST_STORED:
        raise BenchError(f"backup of {name!r}: status {status}")


def timed_backups(daemon, folder, count, per_connection):
    """Milliseconds per backup of a 4-byte file into `folder`, median of `count`."""
    times = []
    sock = None if per_connection else connect(daemon.port)
    try:
        for i in range(count):
            if per_connection:
                sock = connect(daemon.port)
            started = time.perf_counter()
            backup_bytes(sock, daemon.user, f"{folder}/new-{per_connection}-{i}".encode(), b"data")
            times.append((time.perf_counter() - started) * 1000)
            if per_connection:
                sock.close()
    finally:
        if sock is not None:
            sock.close()
    return statistics.median(times)


def list_peak(daemon):
    """(seconds, files, session child VmHWM in KiB) of one v1 list, read before the close."""
    sock = connect(daemon.port)
    try:
        started = time.perf_counter()
        sock.sendall(request_header(daemon.user, OP_LIST, b""))
        status = read_status(sock)
        if status != ST_LIST:
            raise BenchError(f"list: status {status}")
        (size,) = struct.unpack("<I", must_recv(sock, 4))
        payload = must_recv(sock, size)
        seconds = time.perf_counter() - started
        peak = max((proc_status_kib(s, "VmHWM") or 0 for s in daemon.sessions()), default=0)
        return seconds, payload.count(b"\n"), peak
    finally:
        sock.close()


def run(args, folder):
    daemon = Backupd(os.path.join(args.build, "bin", "backupd"), folder, workers=2, max_workers=4)
    try:
        seed = connect(daemon.port)
        for name in ("crowded", "empty"):
            backup_bytes(seed, daemon.user, f"{name}/seed".encode(), b"seed")
        seed.close()
        fd = os.open(os.path.join(daemon.storage, str(daemon.user), "crowded"), os.O_DIRECTORY)
        started = time.perf_counter()
        for i in range(args.entries):
            os.mknod(f"f{i:07d}", 0o600 | 0o100000, dir_fd=fd)
        os.close(fd)
        print(f"made {args.entries} entries in {time.perf_counter() - started:.0f} s")
        for per_connection in (True, False):
            how = "a connection each" if per_connection else "one connection"
            base = timed_backups(daemon, "empty", args.count, per_connection)
            full = timed_backups(daemon, "crowded", args.count, per_connection)
            print(f"backup, {how}: {full:.2f} ms into {args.entries} entries, "
                  f"{base:.2f} ms into an empty folder (median of {args.count})")
        seconds, files, peak = list_peak(daemon)
        print(f"v1 list of {files} files: {seconds:.2f} s, session child VmHWM {peak} KiB")
        daemon.check_alive()
    finally:
        daemon.stop()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--build", default=os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "build-bench"), help="the build folder holding bin/backupd")
    p.add_argument("--entries", type=int, default=200000)
    p.add_argument("--count", type=int, default=30, help="backups timed per case")
    p.add_argument("--dir", default="/var/tmp", help="where storage goes (a disk, not tmpfs)")
    args = p.parse_args()
    if os.geteuid() != 0:
        print("crowded_folder.py: run as root (backupd drops to nobody and chroots)",
              file=sys.stderr)
        return 2
    if not os.access(os.path.join(args.build, "bin", "backupd"), os.X_OK):
        print(f"crowded_folder.py: no backupd in {args.build}/bin (use --build)", file=sys.stderr)
        return 2
    folder = tempfile.mkdtemp(prefix="backupd-crowded-", dir=args.dir)
    try:
        run(args, folder)
    except (BenchError, OSError, subprocess.SubprocessError) as e:
        print(f"crowded_folder.py: FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", folder], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

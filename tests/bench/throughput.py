#!/usr/bin/env python3
# benchmark (root, to start backupd as root): backupd's throughput, small-request rate and worker
# memory, each printed next to a baseline measured in the same run.
"""Benchmarks backupd against a reference server measured in the same run.

The reference server is a forked Python process that speaks the same v1 protocol but does the
least work it can: in "discard" mode it throws uploads away and restores from the source file (the
raw loopback wire), in "fsync" mode it stores them as backupd does (temporary file, fsync, rename,
fsync of the folder) and restores with sendfile. backupd runs with its storage on disk and, when
/dev/shm exists, on tmpfs, so the disk's share of the cost can be told from the protocol's.

Figures are printed, never judged: the exit status is non-zero only when something is wrong
(restored bytes differ, a request fails, backupd dies or cannot start).

Usage (as root): python3 tests/bench/throughput.py [--backupd PATH] [--sizes 1M,64M,512M] ...
"""

import argparse
import mmap
import os
import re
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

OP_BACKUP = 100
OP_RESTORE = 200
ST_RESTORED = 210
ST_STORED = 212

MIB = 1 << 20
CHUNK = 1 << 20  # the reference server's read size


class BenchError(Exception):
    """Something is wrong (not slow): wrong bytes, a failed request, a dead daemon."""


# --- sizes and formatting ---


def parse_size(text):
    m = re.fullmatch(r"(\d+)([KMG]?)i?B?", text.strip(), re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    shift = {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2).upper()]
    value = int(m.group(1)) << shift
    if not 0 < value <= 0xFFFFFFFF:
        raise argparse.ArgumentTypeError(f"size out of range (1 .. 4 GiB - 1): {text!r}")
    return value


def size_label(n):
    for shift, unit in ((30, "GiB"), (20, "MiB"), (10, "KiB")):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} B"


def mbps(nbytes, seconds):
    return nbytes / seconds / 1e6 if seconds > 0 else float("inf")


def fs_type(path):
    """The filesystem type of the mount holding path, from /proc/mounts."""
    path = os.path.realpath(path)
    best, kind = "", "?"
    with open("/proc/mounts") as f:
        for line in f:
            fields = line.split()
            mnt = fields[1].replace("\\040", " ")
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                best, kind = mnt, fields[2]
    return kind


# --- the wire ---


def recv_exact(sock, n):
    """Exactly n bytes, or None at a clean EOF before the first one."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        r = sock.recv_into(view[got:])
        if r == 0:
            if got == 0:
                return None
            raise BenchError(f"connection closed after {got} of {n} bytes")
        got += r
    return bytes(buf)


def must_recv(sock, n):
    data = recv_exact(sock, n)
    if data is None:
        raise BenchError("connection closed by the server")
    return data


def recv_into_exact(sock, view):
    got = 0
    n = len(view)
    while got < n:
        r = sock.recv_into(view[got:])
        if r == 0:
            raise BenchError(f"connection closed after {got} of {n} payload bytes")
        got += r


def request_header(user, op, name):
    return struct.pack("<IBBH", user, 1, op, len(name)) + name


def read_response_head(sock, want_name):
    version, status, name_len = struct.unpack("<BHH", must_recv(sock, 5))
    name = must_recv(sock, name_len) if name_len else b""
    if version != 1:
        raise BenchError(f"response version {version}")
    if name != want_name:
        raise BenchError(f"response names {name!r}, expected {want_name!r} (status {status})")
    return status


def backup_from_file(sock, user, name, data_file, size):
    """One backup whose payload is the first `size` bytes of data_file, sent with sendfile."""
    sock.sendall(request_header(user, OP_BACKUP, name) + struct.pack("<I", size))
    sent = sock.sendfile(data_file, 0, size)
    if sent != size:
        raise BenchError(f"sendfile sent {sent} of {size} bytes")
    status = read_response_head(sock, name)
    if status != ST_STORED:
        raise BenchError(f"backup of {name!r} ({size} bytes): status {status}")


def backup_bytes(sock, user, name, payload):
    sock.sendall(request_header(user, OP_BACKUP, name) + struct.pack("<I", len(payload)) + payload)
    status = read_response_head(sock, name)
    if status != ST_STORED:
        raise BenchError(f"backup of {name!r}: status {status}")


def restore_into(sock, user, name, buf):
    """Restores `name` into buf, which must be exactly the file's size."""
    sock.sendall(request_header(user, OP_RESTORE, name))
    status = read_response_head(sock, name)
    if status != ST_RESTORED:
        raise BenchError(f"restore of {name!r}: status {status}")
    (size,) = struct.unpack("<I", must_recv(sock, 4))
    if size != len(buf):
        raise BenchError(f"restore of {name!r}: size {size}, expected {len(buf)}")
    recv_into_exact(sock, memoryview(buf))


def restore_bytes(sock, user, name):
    sock.sendall(request_header(user, OP_RESTORE, name))
    status = read_response_head(sock, name)
    if status != ST_RESTORED:
        raise BenchError(f"restore of {name!r}: status {status}")
    (size,) = struct.unpack("<I", must_recv(sock, 4))
    return must_recv(sock, size) if size else b""


def connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=120)


# --- the reference server ---


class RefServer:
    """A forked single-threaded v1 server doing the minimum (see the module docstring)."""

    def __init__(self, mode, store_dir, data_path):
        self.mode = mode
        self.store_dir = store_dir
        self.data_path = data_path
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self.pid = os.fork()
        if self.pid == 0:
            code = 0
            try:
                self._serve(listener)
            except BaseException:  # the child must never return into the parent's code
                traceback.print_exc()
                code = 1
            finally:
                os._exit(code)
        listener.close()

    def stop(self):
        os.kill(self.pid, signal.SIGTERM)
        os.waitpid(self.pid, 0)

    def _serve(self, listener):
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
        self.sizes = {}  # discard mode: what each name was last uploaded with
        self.dir_fds = {}
        self.buf = bytearray(CHUNK)
        self.data_file = open(self.data_path, "rb")
        while True:
            conn, _ = listener.accept()
            with conn:
                self._serve_connection(conn)

    def _user_dir(self, user):
        fd = self.dir_fds.get(user)
        if fd is None:
            path = os.path.join(self.store_dir, str(user))
            os.makedirs(path, exist_ok=True)
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
            self.dir_fds[user] = fd
        return fd

    def _serve_connection(self, conn):
        view = memoryview(self.buf)
        while True:
            head = recv_exact(conn, 8)
            if head is None:
                return
            user, _, op, name_len = struct.unpack("<IBBH", head)
            name = must_recv(conn, name_len)
            if op == OP_BACKUP:
                (size,) = struct.unpack("<I", must_recv(conn, 4))
                if self.mode == "fsync":
                    self._store(conn, user, name, size, view)
                else:
                    left = size
                    while left:
                        r = conn.recv_into(view[: min(left, CHUNK)])
                        if r == 0:
                            return
                        left -= r
                    self.sizes[name] = size
                conn.sendall(struct.pack("<BHH", 1, ST_STORED, name_len) + name)
            elif op == OP_RESTORE:
                self._restore(conn, user, name)
            else:
                raise BenchError(f"reference server: op {op}")

    def _store(self, conn, user, name, size, view):
        dir_fd = self._user_dir(user)
        tmp = b".tmp-" + name
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600, dir_fd=dir_fd)
        try:
            left = size
            while left:
                r = conn.recv_into(view[: min(left, CHUNK)])
                if r == 0:
                    raise BenchError("reference server: client left mid-upload")
                written = 0
                while written < r:
                    written += os.write(fd, view[written:r])
                left -= r
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        os.fsync(dir_fd)

    def _restore(self, conn, user, name):
        head = struct.pack("<BHH", 1, ST_RESTORED, len(name)) + name
        if self.mode == "fsync":
            with open(os.open(name, os.O_RDONLY, dir_fd=self._user_dir(user)), "rb") as f:
                size = os.fstat(f.fileno()).st_size
                conn.sendall(head + struct.pack("<I", size))
                conn.sendfile(f, 0, size)
        else:
            size = self.sizes[name]
            conn.sendall(head + struct.pack("<I", size))
            conn.sendfile(self.data_file, 0, size)


# --- backupd ---


def read_proc_stat(pid):
    """(state, ppid) from /proc/PID/stat, or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def children_of(ppid):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = read_proc_stat(int(entry))
            if st and st[1] == ppid and st[0] != "Z":
                out.append(int(entry))
    return sorted(out)


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise BenchError(f"no VmHWM for pid {pid}")


def server_pid_of(client_sock, server_port, candidates, timeout=5.0):
    """The process among candidates holding the server end of client_sock (found via
    /proc/net/tcp and /proc/PID/fd), polled because accept() happens after connect() returns."""
    client_port = client_sock.getsockname()[1]
    local = f"0100007F:{server_port:04X}"
    remote = f"0100007F:{client_port:04X}"
    deadline = time.monotonic() + timeout
    while True:
        inode = None
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[1] == local and fields[2] == remote:
                    inode = fields[9]
        if inode:
            target = f"socket:[{inode}]"
            for pid in candidates:
                try:
                    fds = os.listdir(f"/proc/{pid}/fd")
                except OSError:
                    continue
                for fd in fds:
                    try:
                        if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                            return pid
                    except OSError:
                        pass
        if time.monotonic() > deadline:
            raise BenchError("cannot find the worker serving the benchmark connection")
        time.sleep(0.01)


class Backupd:
    """One `backupd -f -c CONF` in its own folder, like tests/harness/daemon_harness.cc."""

    def __init__(self, binary, storage_parent, workers, scratch):
        self.dir = tempfile.mkdtemp(prefix="backupd-bench-", dir=storage_parent)
        scratch.append(self.dir)
        self.storage = os.path.join(self.dir, "storage")
        conf = os.path.join(self.dir, "backupd.conf")
        with open(conf, "w") as f:
            f.write(
                "listen = 127.0.0.1:0\n"
                f"storage = {self.storage}\n"
                "user = nobody\n"
                "group = nogroup\n"
                f"workers = {workers}\n"
                "log = stderr\n"
                "log_level = info\n"
                f"pid_file = {self.dir}/backupd.pid\n"
                f"status_socket = {self.dir}/backupd.status\n"
            )
        self.log = []
        self.log_lock = threading.Lock()
        self.proc = subprocess.Popen(
            [binary, "-f", "-c", conf],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.drainer = threading.Thread(target=self._drain, daemon=True)
        self.drainer.start()
        try:
            self.port = self._wait_for_port()
            self._wait_for_workers(workers)
        except BaseException:
            self.proc.kill()
            self.proc.wait()
            raise

    def _drain(self):
        for line in self.proc.stdout:
            with self.log_lock:
                self.log.append(line.decode(errors="replace"))
                del self.log[:-200]  # access lines pile up; only the tail is ever quoted

    def log_tail(self, n=30):
        with self.log_lock:
            return "".join(self.log[-n:])

    def _wait_for_port(self):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", self.log_tail(200))
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        raise BenchError(f"backupd did not start; log:\n{self.log_tail()}")

    def _wait_for_workers(self, n):
        # Workers chroot into the storage folder's empty, root-owned `.backupd-empty`.
        root = os.path.join(os.path.realpath(self.storage), ".backupd-empty")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            workers = children_of(self.proc.pid)
            ready = len(workers) >= n
            for w in workers:
                try:
                    ready = ready and os.readlink(f"/proc/{w}/root") == root
                except OSError:
                    ready = False
            if ready:
                return
            time.sleep(0.01)
        raise BenchError(f"backupd workers did not come up; log:\n{self.log_tail()}")

    def workers(self):
        return children_of(self.proc.pid)

    def check_alive(self):
        if self.proc.poll() is not None:
            raise BenchError(f"backupd exited ({self.proc.returncode}); log:\n{self.log_tail()}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise BenchError("backupd did not stop on SIGTERM")
        self.drainer.join(timeout=5)
        if self.proc.returncode != 0:
            raise BenchError(f"backupd exited {self.proc.returncode}; log:\n{self.log_tail()}")


# --- the measurements ---


def reps_for(size, budget):
    """How often to repeat a transfer of `size`: about `budget` bytes, 3 to 20 times."""
    return max(3, min(20, budget // size))


def bulk(targets, sizes, data_file, data_view, budget, on_connect=None, after_size=None):
    """Uploads then restores each size, once per target in turn, on one connection per target
    (targets: {label: port}). Taking turns spreads drift (disk writeback, page cache, other load)
    over all targets alike. Returns {label: {size: (upload MB/s, restore MB/s)}}, medians over the
    repetitions. Every restore is compared with what was sent."""
    socks = {}
    rates = {label: {} for label in targets}
    try:
        for label, port in targets.items():
            socks[label] = connect(port)
            if on_connect:
                on_connect(label, socks[label])
        for size in sizes:
            name = f"bulk-{size}".encode()
            buf = bytearray(size)
            buf[::4096] = b"\1" * len(range(0, size, 4096))  # fault the pages in before timing
            runs = {label: ([], []) for label in targets}
            for _ in range(reps_for(size, budget)):
                for label, sock in socks.items():
                    t0 = time.perf_counter()
                    backup_from_file(sock, 1, name, data_file, size)
                    t1 = time.perf_counter()
                    restore_into(sock, 1, name, buf)
                    t2 = time.perf_counter()
                    if buf != data_view[:size]:
                        raise BenchError(f"{label}: restored {size_label(size)} differs from sent")
                    buf[0] ^= 0xFF  # so a restore that writes nothing cannot pass next time
                    runs[label][0].append(mbps(size, t1 - t0))
                    runs[label][1].append(mbps(size, t2 - t1))
            for label, (ups, downs) in runs.items():
                rates[label][size] = (statistics.median(ups), statistics.median(downs))
            if after_size:
                after_size(size)
    finally:
        for sock in socks.values():
            sock.close()
    return rates


def small(port, user, count, payloads, per_connection, verify=True):
    """`count` backups of small files; requests/s. With verify, a sample is restored and
    compared (the discarding reference server keeps nothing to restore)."""
    names = [f"f{i:05d}".encode() for i in range(count)]
    t0 = time.perf_counter()
    if per_connection:
        for name, payload in zip(names, payloads):
            with connect(port) as sock:
                backup_bytes(sock, user, name, payload)
    else:
        with connect(port) as sock:
            for name, payload in zip(names, payloads):
                backup_bytes(sock, user, name, payload)
    elapsed = time.perf_counter() - t0
    if not verify:
        return count / elapsed
    with connect(port) as sock:
        for i in sorted({0, count // 2, count - 1}):
            if restore_bytes(sock, user, names[i]) != payloads[i]:
                raise BenchError(f"small file {names[i]!r} restored wrong")
    return count / elapsed


# --- main ---


def default_backupd():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for build in ("build-bench", "build"):
        path = os.path.join(root, build, "bin", "backupd")
        if os.access(path, os.X_OK):
            return path
    return os.path.join(root, "build-bench", "bin", "backupd")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--backupd", default=default_backupd(), help="the daemon binary (%(default)s)")
    p.add_argument(
        "--sizes",
        default="1M,64M,512M",
        help="bulk file sizes, comma-separated (%(default)s); the memory figure is taken "
        "around the largest",
    )
    p.add_argument(
        "--budget",
        type=parse_size,
        default=parse_size("512M"),
        help="bytes per size per target: each size is repeated to about this, 3 to 20 times; "
        "the median is printed (default 512M)",
    )
    p.add_argument("--small-count", type=int, default=2000, help="small backups per run (2000)")
    p.add_argument("--small-size", type=parse_size, default=4096, help="small file size (4K)")
    p.add_argument(
        "--disk-dir",
        default="/var/tmp",
        help="where the on-disk storage goes (%(default)s); should not be tmpfs",
    )
    p.add_argument("--no-shm", action="store_true", help="skip the runs with storage on /dev/shm")
    p.add_argument("--workers", type=int, default=2, help="backupd's `workers` (2)")
    args = p.parse_args()
    args.sizes = sorted({parse_size(s) for s in args.sizes.split(",") if s.strip()})
    if not args.sizes:
        p.error("--sizes is empty")
    if args.small_count < 3:
        p.error("--small-count must be at least 3")
    return args


def run(args, scratch):
    have_shm = os.path.isdir("/dev/shm") and not args.no_shm
    data_dir = tempfile.mkdtemp(prefix="backupd-bench-data-", dir="/dev/shm" if have_shm else None)
    scratch.append(data_dir)
    data_path = os.path.join(data_dir, "data")
    max_size = max(args.sizes)
    t = time.perf_counter()
    with open(data_path, "wb") as f:
        left = max_size
        while left:
            n = min(left, 16 * MIB)
            f.write(os.urandom(n))
            left -= n
    print(
        f"data: {size_label(max_size)} random bytes in {data_path} "
        f"({fs_type(data_path)}, {time.perf_counter() - t:.1f} s)",
        flush=True,
    )
    payloads = [os.urandom(args.small_size) for _ in range(args.small_count)]

    storages = [("disk", args.disk_dir)]
    if have_shm:
        storages.append(("shm", "/dev/shm"))
    bulk_rates = {}  # (target, storage) -> {size: (up, down)}
    small_rates = {}  # (target, storage, per_connection) -> requests/s
    memory = {}  # storage -> {"start": KiB, size: KiB}
    with open(data_path, "rb") as data_file, mmap.mmap(
        data_file.fileno(), 0, access=mmap.ACCESS_READ
    ) as mm:
        view = memoryview(mm)
        try:
            for label, parent in storages:
                print(f"running: storage {label} in {parent} ({fs_type(parent)})", flush=True)
                store = tempfile.mkdtemp(prefix="backupd-bench-ref-", dir=parent)
                scratch.append(store)
                servers = {"ref": RefServer("fsync", store, data_path)}
                # The raw wire does not depend on the storage: measured once, with the first.
                if label == storages[0][0]:
                    servers["wire"] = RefServer("discard", None, data_path)
                daemon = None
                try:
                    daemon = Backupd(args.backupd, parent, args.workers, scratch)
                    ports = {name: server.port for name, server in servers.items()}
                    ports["backupd"] = daemon.port
                    mem = memory[label] = {}

                    def on_connect(target, sock, daemon=daemon, mem=mem):
                        if target == "backupd":
                            mem["pid"] = server_pid_of(sock, daemon.port, daemon.workers())
                            mem["start"] = vm_hwm_kib(mem["pid"])

                    def after_size(size, mem=mem):
                        mem[size] = vm_hwm_kib(mem["pid"])

                    rates = bulk(
                        ports, args.sizes, data_file, view, args.budget, on_connect, after_size
                    )
                    for target, r in rates.items():
                        bulk_rates[(target, label)] = r
                    daemon.check_alive()
                    for per_connection in (False, True):
                        for target, port in ports.items():
                            user = 3 if per_connection else 2
                            small_rates[(target, label, per_connection)] = small(
                                port,
                                user,
                                args.small_count,
                                payloads,
                                per_connection,
                                verify=target != "wire",
                            )
                    daemon.check_alive()
                finally:
                    for server in servers.values():
                        server.stop()
                    if daemon:
                        daemon.stop()
        finally:
            view.release()
    report(args, bulk_rates, small_rates, memory, [label for label, _ in storages])


def report(args, bulk_rates, small_rates, memory, storages):
    print()
    print("== bulk transfer, MB/s (10^6 bytes/s), median of the repetitions")
    print("   wire = reference server that discards / restores from tmpfs (loopback ceiling)")
    print("   ref  = reference server storing like backupd (tmp file, fsync, rename, fsync dir)")
    head = f"{'op':<8} {'size':>8} {'storage':<7} {'wire':>8} {'ref':>8} {'backupd':>8}"
    head += f" {'b/ref':>6} {'b/wire':>6}"
    print(head)
    print("-" * len(head))
    for op, idx in (("upload", 0), ("restore", 1)):
        for size in args.sizes:
            for label in storages:
                w = bulk_rates[("wire", storages[0])][size][idx]
                ref = bulk_rates[("ref", label)][size][idx]
                b = bulk_rates[("backupd", label)][size][idx]
                print(
                    f"{op:<8} {size_label(size):>8} {label:<7} {w:8.0f} {ref:8.0f} {b:8.0f}"
                    f" {b / ref:6.2f} {b / w:6.2f}"
                )
    print()
    small_what = f"{args.small_count} backups of {size_label(args.small_size)}"
    print(f"== small files: {small_what}, requests/s")
    head = f"{'connection':<16} {'storage':<7} {'wire':>8} {'ref':>8} {'backupd':>8} {'b/ref':>6}"
    print(head)
    print("-" * len(head))
    for per_connection, what in ((False, "one for all"), (True, "one per request")):
        for label in storages:
            w = small_rates[("wire", storages[0], per_connection)]
            ref = small_rates[("ref", label, per_connection)]
            b = small_rates[("backupd", label, per_connection)]
            print(f"{what:<16} {label:<7} {w:8.0f} {ref:8.0f} {b:8.0f} {b / ref:6.2f}")
    print()
    print("== memory: VmHWM (peak RSS) of the backupd worker serving the bulk connection, KiB")
    largest = max(args.sizes)
    head = f"{'storage':<7} {'at accept':>10}"
    for size in args.sizes:
        head += f" {'after ' + size_label(size):>14}"
    head += f" {'growth':>8}"
    print(head)
    print("-" * len(head))
    for label in storages:
        mem = memory[label]
        line = f"{label:<7} {mem['start']:>10}"
        for size in args.sizes:
            line += f" {mem[size]:>14}"
        print(f"{line} {mem[largest] - mem['start']:>+8}")
    below = [s for s in args.sizes if s < largest]
    for label in storages:
        mem = memory[label]
        before = mem[below[-1]] if below else mem["start"]
        print(
            f"{label}: growth across the {size_label(largest)} upload+restore: "
            f"{mem[largest] - before:+d} KiB"
        )


def main():
    args = parse_args()
    if os.geteuid() != 0:
        print("throughput.py: run as root (backupd drops to nobody and chroots)", file=sys.stderr)
        return 2
    if not os.access(args.backupd, os.X_OK):
        print(f"throughput.py: no backupd at {args.backupd} (use --backupd)", file=sys.stderr)
        return 2
    scratch = []
    started = time.perf_counter()
    try:
        run(args, scratch)
    except (BenchError, OSError) as e:
        print(f"\nthroughput.py: FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        for path in scratch:
            subprocess.run(["rm", "-rf", "--one-file-system", path], check=False)
    print(f"\ntotal {time.perf_counter() - started:.0f} s; {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())

# benchmark (root): starts and stops the servers measured side by side on loopback — backupd
# (plain and TLS, v1 and v2), the rsync daemon and the iperf3 server — each in a temp folder.
"""The servers of one benchmark run. Each listens on 127.0.0.1 only; stop() ends what it started
and leaves its folder for the caller to remove."""

import os
import re
import signal
import socket
import subprocess
import threading
import time


class BenchError(Exception):
    """Something is wrong (not slow): wrong bytes, a failed call, a server that will not start."""


def free_port():
    """A port the kernel calls free now. iperf3 and rsyncd cannot be given port 0, so this is
    racy in principle; on a loopback-only run nothing else competes for it in practice."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, what, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{what} exited ({proc.returncode}) before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.02)
    raise BenchError(f"{what} is not listening on 127.0.0.1:{port} after {timeout:.0f} s")


def stop_process(proc, what, timeout=15.0):
    """SIGTERM, then SIGKILL if it lingers; raises if it had to be killed."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise BenchError(f"{what} did not stop on SIGTERM")


def children(pid):
    """The pids of pid's live children (from /proc/PID/task/PID/children), [] if it is gone."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def proc_status_kib(pid, field):
    """A `kB` field of /proc/PID/status (VmRSS, VmHWM), or None once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class Backupd:
    """`backupd -f -c CONF` with a plain and a TLS listener on 127.0.0.1:0, its storage, users
    file and certificate in `folder`, and one v2 user (`user`, secret in `secret_file`)."""

    user = 1

    def __init__(self, binary, folder, workers, max_workers):
        self.folder = folder
        self.storage = os.path.join(folder, "storage")
        self.conf = os.path.join(folder, "backupd.conf")
        self.cert = os.path.join(folder, "cert.pem")
        key = os.path.join(folder, "key.pem")
        self.secret_file = os.path.join(folder, "secret")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-days", "2", "-keyout", key, "-out", self.cert, "-subj", "/CN=backupd",
             "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.chmod(key, 0o600)
        with open(self.conf, "w") as f:
            f.write(
                "listen = 127.0.0.1:0\n"
                "tls_listen = 127.0.0.1:0\n"
                f"tls_cert = {self.cert}\n"
                f"tls_key = {key}\n"
                f"storage = {self.storage}\n"
                "user = nobody\n"
                "group = nogroup\n"
                # info is the packaged level: the access line per request is part of the cost.
                "log = stderr\n"
                "log_level = info\n"
                f"pid_file = {folder}/backupd.pid\n"
                f"status_socket = {folder}/backupd.status\n"
                f"users_file = {folder}/users\n"
                f"workers = {workers}\n"
                # The clients stand for many users but all come from 127.0.0.1: the per-address
                # limit (16 by default) would refuse the concurrent ones.
                f"max_connections_per_ip = {max_workers}\n"
                "[workers]\n"
                f"max_spare = {max_workers}\n"
                f"max = {max_workers}\n"
            )
        added = subprocess.run(
            [binary, "user", "add", str(self.user), "-c", self.conf],
            check=False, capture_output=True, text=True,
        )
        if added.returncode != 0 or not added.stdout.split():
            raise BenchError(f"backupd user add failed: {added.stderr.strip()}")
        fd = os.open(self.secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(added.stdout.split()[-1] + "\n")

        self.log = []
        self.log_lock = threading.Lock()
        self.proc = subprocess.Popen(
            [binary, "-f", "-c", self.conf],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        self.drainer = threading.Thread(target=self._drain, daemon=True)
        self.drainer.start()
        try:
            self.port, self.tls_port = self._wait_for_ports()
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

    def _wait_for_ports(self):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            tail = self.log_tail(200)
            plain = re.search(r"listening on 127\.0\.0\.1:(\d+)\s*$", tail, re.MULTILINE)
            tls = re.search(r"listening on 127\.0\.0\.1:(\d+) \(TLS\)", tail)
            if plain and tls:
                return int(plain.group(1)), int(tls.group(1))
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise BenchError(f"backupd did not start; log:\n{self.log_tail()}")

    def _wait_for_workers(self, n):
        root = os.path.realpath(os.path.join(self.storage, ".backupd-empty"))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            ready = [w for w in self.workers() if _root_of(w) == root]
            if len(ready) >= n:
                return
            self.check_alive()
            time.sleep(0.02)
        raise BenchError(f"backupd workers did not come up; log:\n{self.log_tail()}")

    def workers(self):
        return children(self.proc.pid)

    def sessions(self):
        """{session child pid: its worker's pid}: the per-connection children of the workers."""
        return {s: w for w in self.workers() for s in children(w)}

    def check_alive(self):
        if self.proc.poll() is not None:
            raise BenchError(f"backupd exited ({self.proc.returncode}); log:\n{self.log_tail()}")

    def stop(self):
        stop_process(self.proc, "backupd")
        self.drainer.join(timeout=5)
        if self.proc.returncode != 0:
            raise BenchError(f"backupd exited {self.proc.returncode}; log:\n{self.log_tail()}")


def _root_of(pid):
    try:
        return os.readlink(f"/proc/{pid}/root")
    except OSError:
        return None


class Rsyncd:
    """`rsync --daemon` with module `bench` (read-write, as root, no chroot) in `folder`,
    TCP_NODELAY on its sockets as the issue asks of the reference."""

    def __init__(self, folder):
        self.module_path = os.path.join(folder, "module")
        os.mkdir(self.module_path, 0o700)
        conf = os.path.join(folder, "rsyncd.conf")
        with open(conf, "w") as f:
            f.write(
                "use chroot = no\n"
                "uid = root\n"
                "gid = root\n"
                "socket options = TCP_NODELAY\n"
                f"pid file = {folder}/rsyncd.pid\n"
                "[bench]\n"
                f"path = {self.module_path}\n"
                "read only = no\n"
            )
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["rsync", "--daemon", "--no-detach", f"--config={conf}", "--address=127.0.0.1",
             f"--port={self.port}", f"--log-file={folder}/rsyncd.log"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.proc, "rsync --daemon")

    def url(self, path=""):
        return f"rsync://127.0.0.1:{self.port}/bench/{path}"

    def stop(self):
        stop_process(self.proc, "rsync --daemon")


class Iperf3:
    """`iperf3 -s` on 127.0.0.1: the raw loopback TCP ceiling, one stream. Readiness is read from
    its log, since a probing connection would spoil its next test."""

    def __init__(self, folder):
        self.port = free_port()
        log = os.path.join(folder, "iperf3.log")
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                ["iperf3", "-s", "--forceflush", "-B", "127.0.0.1", "-p", str(self.port)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 15
        while True:
            with open(log) as f:
                if "Server listening" in f.read():
                    return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise BenchError(f"iperf3 -s did not start on 127.0.0.1:{self.port}")
            time.sleep(0.02)

    def stop(self):
        stop_process(self.proc, "iperf3 -s")

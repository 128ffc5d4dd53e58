#!/usr/bin/python3
# benchmark (root, to start backupd as root): backupd through backup-client against the loopback,
# the disk and the rsync daemon, in one run; prints a table and writes JSON and a plot.
"""Measures backupd through `backup-client` against its references, all in one run on loopback:

  raw TCP (iperf3, one stream), the disk's write rate with fsync (dd conv=fsync into the storage's
  folder) and the rsync daemon (TCP_NODELAY both ends, --whole-file, --fsync for uploads).

Every figure is the median of --runs runs after --warmup discarded ones, the references and
backupd taking turns within each run, so drift on a shared machine hits all of them alike. The exit
status is non-zero only when something is wrong (bytes differ, a call fails, a server will not
start, the run overshoots its bound), never because a ratio misses its target.

Usage (as root, after a Release build): python3 bench/run.py [--build DIR] [--smoke]
"""

import argparse
import concurrent.futures
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from report import print_report, size_label, write_results_md
from servers import Backupd, BenchError, Iperf3, Rsyncd, proc_status_kib

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30

# Full and smoke settings; the smoke run exercises every path with sizes that take seconds.
FULL = dict(
    size=GIB, runs=5, warmup=1, small_count=1000, clients=[64, 256],
    sweep_sizes=[4 * KIB, 64 * KIB, MIB, 16 * MIB, 256 * MIB], sweep_clients=[1, 4, 16],
    calls_per_level=384, bound=600,
)
SMOKE = dict(
    size=8 * MIB, runs=1, warmup=0, small_count=20, clients=[4, 8],
    sweep_sizes=[4 * KIB, MIB], sweep_clients=[1], calls_per_level=24, bound=120,
)
SMALL_SIZE = 4 * KIB
DEBIAN_PACKAGES = {"iperf3": "iperf3", "rsync": "rsync", "openssl": "openssl"}


class Deadline:
    """The run's bound: a step that starts after it fails the run instead of running on."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.start = time.monotonic()

    def left(self):
        return self.seconds - (time.monotonic() - self.start)

    def step(self, what):
        """Says what starts now, and when, so a slow step shows in the log."""
        print(f"[{time.monotonic() - self.start:5.0f} s] {what}", flush=True)

    def check(self, step):
        if self.left() <= 0:
            raise BenchError(f"over the {self.seconds} s bound before {step}")


def run_checked(argv, what, timeout, **kwargs):
    """Runs argv; raises BenchError with its stderr when it fails."""
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{what}: no answer after {timeout:.0f} s") from None
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip()
        raise BenchError(f"{what}: exit {done.returncode}: {err}")
    return done


def timed(argv, what, timeout=300):
    t0 = time.perf_counter()
    run_checked(argv, what, timeout)
    return time.perf_counter() - t0


def same_file(a, b):
    return subprocess.run(["cmp", "-s", a, b], check=False).returncode == 0


def install_missing():
    """iperf3, rsync, openssl and matplotlib from Debian, when they are missing."""
    missing = [pkg for tool, pkg in DEBIAN_PACKAGES.items() if shutil.which(tool) is None]
    if not have_matplotlib():
        missing.append("python3-matplotlib")
    if not missing:
        return
    if shutil.which("apt-get") is None:
        raise BenchError(f"missing {' '.join(missing)} and no apt-get to install them")
    print(f"installing {' '.join(missing)}", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run_checked(["apt-get", "update", "-qq"], "apt-get update", 600, env=env)
    run_checked(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                "apt-get install", 600, env=env)
    if not have_matplotlib():
        raise BenchError(f"{sys.executable} does not see Debian's matplotlib: run this script "
                         "with /usr/bin/python3")


def have_matplotlib():
    try:
        import matplotlib  # noqa: F401  (only probing whether it is there)
    except ImportError:
        return False
    return True


class Clients:
    """The command lines of the clients under test against one backupd."""

    def __init__(self, build, daemon):
        self.binary = os.path.join(build, "bin", "backup-client")
        self.python = [sys.executable, os.path.join(REPO, "client", "python", "backup_client.py")]
        self.daemon = daemon

    def cxx(self, mode="v2"):
        return [self.binary, *self.options(mode)]

    def backup(self, mode="v2"):
        """backup-client's backup: every file sent, as a first run sends it. A repeat run of a v2
        client sends only what changed, so without --full a benchmark that backs up the same
        files again would time a list and a comparison instead of uploads."""
        full = ["--full"] if mode != "v1" and self.knows_full() else []
        return [*self.cxx(mode), "backup", *full]

    def knows_full(self):
        """Whether this build's backup-client has --full (ab.py also runs older builds)."""
        if not hasattr(self, "_full"):
            out = subprocess.run([self.binary, "--help"], capture_output=True, text=True).stdout
            self._full = "--full" in out
        return self._full

    def py(self):
        return [*self.python, *self.options("v2")]

    def options(self, mode):
        d = self.daemon
        if mode == "v1":
            return ["--server", f"127.0.0.1:{d.port}", "--user", str(d.user), "--protocol", "1"]
        login = ["--user", str(d.user), "--secret-file", d.secret_file]
        if mode == "tls":
            return ["--server", f"127.0.0.1:{d.tls_port}", "--tls", "--ca", d.cert, *login]
        return ["--server", f"127.0.0.1:{d.port}", *login]


def take_turns(tasks, runs, warmup, deadline):
    """Runs each (key, fn) in turn, warmup + runs times; {key: [values of the measured runs]}."""
    values = {key: [] for key, _ in tasks}
    for rep in range(warmup + runs):
        for key, fn in tasks:
            deadline.check(key)
            value = fn()
            if rep >= warmup:
                values[key].append(value)
    return values


def figure(unit, values, **extra):
    return dict(unit=unit, value=statistics.median(values), runs=values, **extra)


def bulk(env, size, data, runs, warmup):
    """1 GiB (or --size) upload and restore: iperf3, dd, rsyncd, backupd v2/v1/TLS; then the
    Python client once."""
    c, rsync, out = env["clients"], env["rsyncd"], env["out"]
    mb = size / 1e6
    sockopts = "--sockopts=TCP_NODELAY"

    def iperf():
        done = run_checked(["iperf3", "-c", "127.0.0.1", "-p", str(env["iperf3"].port), "-n",
                            str(size), "-J"], "iperf3 -c", 120)
        return json.loads(done.stdout)["end"]["sum_received"]["bits_per_second"] / 8e6

    def dd():
        target = os.path.join(env["disk"], "dd.bin")
        seconds = timed(["dd", f"if={data}", f"of={target}", "bs=4M", "conv=fsync",
                         "status=none"], "dd")
        os.unlink(target)
        return mb / seconds

    def upload(argv, what):
        return lambda: mb / timed(argv, what)

    def restore(argv, what, output):
        def fn():
            if os.path.exists(output):
                os.unlink(output)
            seconds = timed(argv, what)
            if not same_file(output, data):
                raise BenchError(f"{what}: the restored file differs from the one sent")
            return mb / seconds
        return fn

    restored = os.path.join(out, "restored")
    tasks = [("loopback_tcp", iperf), ("dd_fsync", dd)]
    tasks.append(("rsync_upload_fsync", upload(
        ["rsync", "-I", "--whole-file", "--fsync", sockopts, data, rsync.url("big")],
        "rsync upload")))
    tasks.append(("rsync_restore", restore(
        ["rsync", "-I", "--whole-file", sockopts, rsync.url("big"), restored], "rsync restore",
        restored)))
    for mode in ("v2", "v1", "tls"):
        tasks.append((f"{mode}_upload", upload(
            [*c.backup(mode), data, "--name", "big"], f"backup-client {mode} backup")))
        tasks.append((f"{mode}_restore", restore(
            [*c.cxx(mode), "restore", "big", "-o", restored, "--force"],
            f"backup-client {mode} restore", restored)))
    values = take_turns(tasks, runs, warmup, env["deadline"])
    figures = {key: figure("MB/s", v) for key, v in values.items()}

    py = take_turns([
        ("python_upload", upload([*c.py(), "backup", data], "backup_client.py backup")),
        ("python_restore", restore([*c.py(), "restore", data.lstrip("/"), "--output", restored],
                                   "backup_client.py restore", restored)),
    ], 1, 0, env["deadline"])
    figures.update({key: figure("MB/s", v, note="Python client, one run") for key, v in py.items()})
    return figures


# rsync's command for a small file's upload, as durable as backupd's (--fsync), whole each time.
SMALL_RSYNC_ARGS = ["rsync", "-I", "--whole-file", "--fsync", "--sockopts=TCP_NODELAY"]


def rsync_small_commands(rsync, folder):
    """The rsync daemon's small-file commands: one file into the module's small/ (made here), and
    the whole `folder` into its tree/ with one rsync -r."""
    os.makedirs(os.path.join(rsync.module_path, "small"), exist_ok=True)

    def one(path):
        return [*SMALL_RSYNC_ARGS, path, rsync.url("small/")]
    return one, [*SMALL_RSYNC_ARGS, "-r", folder + "/", rsync.url("tree/")]


def calls_per_second(paths, argv_of, what):
    """One call of argv_of(path) per path, in turn: calls/s."""
    t0 = time.perf_counter()
    for path in paths:
        run_checked(argv_of(path), what, 60)
    return len(paths) / (time.perf_counter() - t0)


def small_files(env, paths, runs, warmup):
    """4 KiB files: one client call per file against one rsync call per file, then all of them
    in one call (v2 pipelines the uploads on one connection) against one rsync -r call. The
    calls one per file go through the files once: each run takes the next 1/runs of them (1000
    calls in 5 runs of 200), after a warm-up of 20 calls, to keep the whole run bounded."""
    c = env["clients"]
    rsync_one, rsync_tree = rsync_small_commands(env["rsyncd"], os.path.dirname(paths[0]))
    share = math.ceil(len(paths) / runs)
    batches = [paths[:20]] * warmup + [paths[i * share:(i + 1) * share] for i in range(runs)]

    def per_call(argv_of, what):
        turns = iter(batches)
        return lambda: calls_per_second(next(turns), argv_of, what)

    def one_call(argv, what):
        return lambda: len(paths) / timed(argv, what)

    tasks = [
        ("small_calls_backupd", per_call(lambda p: [*c.backup(), p], "backup-client")),
        ("small_calls_rsync", per_call(rsync_one, "rsync")),
        ("small_one_call_backupd", one_call([*c.backup(), *paths], "backup-client")),
        ("small_one_call_rsync", one_call(rsync_tree, "rsync -r")),
    ]
    values = take_turns(tasks, runs, warmup, env["deadline"])
    for path in (paths[0], paths[len(paths) // 2], paths[-1]):
        got = run_checked([*c.cxx(), "restore", path.lstrip("/"), "-o", "-"], "restore", 60)
        with open(path, "rb") as f:
            if got.stdout != f.read():
                raise BenchError(f"small file {path} restored wrong")
    units = {"calls": "calls/s", "one": "files/s"}
    return {key: figure(units[key.split("_")[1]], v) for key, v in values.items()}


def concurrent_clients(env, n, calls, payloads):
    """n clients at once, each backing up, restoring (and comparing) and deleting its own 4 KiB
    file, one client call per request, until about `calls` requests were made."""
    c = env["clients"]
    iterations = max(1, math.ceil(calls / (3 * n)))

    def client(i):
        path = payloads[i % len(payloads)]
        with open(path, "rb") as f:
            content = f.read()
        name = f"clients/c{i}"
        latencies, errors = [], []
        for _ in range(iterations):
            for argv in ([*c.backup(), path, "--name", name],
                         [*c.cxx(), "restore", name, "-o", "-"],
                         [*c.cxx(), "delete", name]):
                t0 = time.perf_counter()
                done = subprocess.run(argv, capture_output=True, timeout=120)
                latencies.append(time.perf_counter() - t0)
                if done.returncode != 0:
                    errors.append(f"{argv[-2]} {argv[-1]}: exit {done.returncode}: "
                                  f"{done.stderr.decode(errors='replace').strip()}")
                elif argv[-2:] == ["-o", "-"] and done.stdout != content:
                    errors.append(f"restore {name}: wrong bytes")
        return latencies, errors

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(client, range(n)))
    wall = time.perf_counter() - t0
    latencies = sorted(x for lat, _ in results for x in lat)
    errors = [e for _, errs in results for e in errs]
    return dict(rps=len(latencies) / wall, p50_ms=1000 * percentile(latencies, 50),
                p99_ms=1000 * percentile(latencies, 99), requests=len(latencies),
                errors=len(errors), first_errors=errors[:3])


def percentile(sorted_values, p):
    rank = max(0, math.ceil(p / 100 * len(sorted_values)) - 1)
    return sorted_values[rank]


def clients_figures(env, levels, calls, payloads, runs, warmup):
    """{clients: medians of requests/s, p50, p99 over the runs; errors summed, the warm-up's
    too}. The warm-up runs at the most clients, so the pool has grown before any run counts."""
    warm = [concurrent_clients(env, max(levels), calls, payloads) for _ in range(warmup)]
    out = {}
    for n in levels:
        runs_n = []
        for _ in range(runs):
            env["deadline"].check(f"{n} clients")
            runs_n.append(concurrent_clients(env, n, calls, payloads))
            env["daemon"].check_alive()
        out[n] = dict(
            rps=statistics.median(r["rps"] for r in runs_n),
            p50_ms=statistics.median(r["p50_ms"] for r in runs_n),
            p99_ms=statistics.median(r["p99_ms"] for r in runs_n),
            requests_per_run=runs_n[0]["requests"],
            errors=sum(r["errors"] for r in runs_n),
            first_errors=[e for r in runs_n for e in r["first_errors"]][:3],
        )
    most = out[max(levels)]
    most["errors"] += sum(r["errors"] for r in warm)
    most["first_errors"] = ([e for r in warm for e in r["first_errors"]] + most["first_errors"])[:3]
    return out


def size_sweep(env, sizes, data, runs, warmup):
    """Upload and restore time of one file per size, backupd v2 against rsyncd."""
    c, rsync, out = env["clients"], env["rsyncd"], env["out"]
    rows = []
    for size in sizes:
        src = os.path.join(out, f"sweep-{size}")
        with open(data, "rb") as f, open(src, "wb") as g:
            g.write(f.read(size))
        restored = os.path.join(out, "sweep-restored")

        def restore(argv):
            def fn():
                if os.path.exists(restored):
                    os.unlink(restored)
                seconds = timed(argv, "restore")
                if not same_file(restored, src):
                    raise BenchError(f"restore of {size_label(size)}: bytes differ")
                return seconds
            return fn

        rsync_args = ["rsync", "-I", "--whole-file", "--sockopts=TCP_NODELAY"]
        name = f"sweep/{size}"
        values = take_turns([
            ("backupd_upload", lambda: timed([*c.backup(), src, "--name", name], "backup")),
            ("backupd_restore", restore([*c.cxx(), "restore", name, "-o", restored, "--force"])),
            ("rsync_upload", lambda: timed([*rsync_args, "--fsync", src, rsync.url(f"s{size}")],
                                           "rsync upload")),
            ("rsync_restore", restore([*rsync_args, rsync.url(f"s{size}"), restored])),
        ], runs, warmup, env["deadline"])
        os.unlink(src)
        rows.append(dict(size=size, **{k: statistics.median(v) for k, v in values.items()}))
    return rows


def worker_memory(env, data):
    """The memory of the worker and of its session child around a v2 upload and a restore of
    `data`. The session child is forked per connection and exits with it, so its VmHWM is sampled
    every 5 ms while the client runs: growth is its peak over its first sample (taken within ms of
    its fork), or the worker's VmRSS after over before, whichever is larger."""
    c, daemon = env["clients"], env["daemon"]
    restored = os.path.join(env["out"], "restored")
    result = {}
    for op, argv in (("upload", [*c.backup(), data, "--name", "memory"]),
                     ("restore", [*c.cxx(), "restore", "memory", "-o", restored, "--force"])):
        before = {w: proc_status_kib(w, "VmRSS") for w in daemon.workers()}
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        first, peak, worker = {}, {}, {}
        while proc.poll() is None:
            for session, w in daemon.sessions().items():
                hwm = proc_status_kib(session, "VmHWM")
                if hwm is not None:
                    first.setdefault(session, hwm)
                    peak[session] = max(peak.get(session, 0), hwm)
                    worker[session] = w
            time.sleep(0.005)
        err = proc.stderr.read().decode(errors="replace").strip()
        proc.stderr.close()
        if proc.returncode != 0:
            raise BenchError(f"memory {op}: exit {proc.returncode}: {err}")
        if not peak:
            raise BenchError(f"memory {op}: no session child seen while the client ran")
        session = max(peak, key=lambda s: peak[s] - first[s])
        w = worker[session]
        after = proc_status_kib(w, "VmRSS")
        result[op] = dict(worker_rss_before_kib=before.get(w), worker_rss_after_kib=after,
                          session_first_kib=first[session], session_peak_kib=peak[session],
                          growth_kib=max(peak[session] - first[session],
                                         (after or 0) - (before.get(w) or 0)))
    if not same_file(restored, data):
        raise BenchError("memory restore: bytes differ")
    growth = max(r["growth_kib"] for r in result.values())
    return dict(unit="KiB", value=growth, **result)


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    return dict(nproc=os.cpu_count(), cpu=cpu, kernel=platform.release(),
                date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), load_at_start=load)


def storage_fs(folder):
    """The file system beneath `folder`: its type and device and, for ext4, whether it keeps a
    journal. Without one, making an inode skips every inode freed there in the last minutes, so
    the small-file rows then also follow what else freed inodes (RESULTS.md, issue 11)."""
    dev = os.stat(folder).st_dev
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[2] == f"{os.major(dev)}:{os.minor(dev)}":
                fstype, source = fields[fields.index("-") + 1:][:2]
                break
        else:
            return f"{folder}: ?"
    what = f"{folder}: {fstype} on {source}"
    if fstype == "ext4":
        journals = os.listdir("/proc/fs/jbd2") if os.path.isdir("/proc/fs/jbd2") else []
        name = os.path.basename(source)
        has = any(j.startswith(name + "-") for j in journals)
        what += " with a journal" if has else " without a journal"
    return what


def spread_folders(folder):
    """Marks `folder` a top of directory hierarchies for ext4's Orlov allocator (chattr +T), so
    backupd's and rsyncd's folders beneath it each start in a block group of their own with free
    inodes, as top-level folders do. Without it both may land in the group of `folder`, where
    everything else under --storage-parent made and freed inodes, or only one of them does: on
    an ext4 without a journal each new inode there is found past every inode freed in the last
    minutes, and the small-file rows measured which server drew the busier group (RESULTS.md,
    issue 11's eighth step). Elsewhere (no ext4, no chattr) it does nothing."""
    try:
        subprocess.run(["chattr", "+T", folder], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
    except OSError:
        pass


def make_data(folder, size, small_count):
    data = os.path.join(folder, "data")
    with open(data, "wb") as f:
        left = size
        while left:
            n = min(left, 64 * MIB)
            f.write(os.urandom(n))
            left -= n
    small = os.path.join(folder, "small")
    os.mkdir(small)
    paths = []
    for i in range(small_count):
        paths.append(os.path.join(small, f"f{i:04d}"))
        with open(paths[-1], "wb") as f:
            f.write(os.urandom(SMALL_SIZE))
    return data, paths


def run(args, settings, scratch):
    deadline = Deadline(settings["bound"])
    runs = args.runs or settings["runs"]
    warmup = settings["warmup"]
    # The source files and restores live on tmpfs, so neither end's disk reads blur the figures.
    out = tempfile.mkdtemp(prefix="backupd-bench-", dir="/dev/shm")
    scratch.append(out)
    disk = tempfile.mkdtemp(prefix="backupd-bench-", dir=args.storage_parent)
    scratch.append(disk)
    spread_folders(disk)
    data, paths = make_data(out, settings["size"], settings["small_count"])
    daemon = rsyncd = iperf3 = None
    try:
        for sub in ("b", "r"):
            os.mkdir(os.path.join(disk, sub), 0o700)
        daemon = Backupd(os.path.join(args.build, "bin", "backupd"), os.path.join(disk, "b"),
                         workers=8, max_workers=max(settings["clients"]) + 8)
        rsyncd = Rsyncd(os.path.join(disk, "r"))
        iperf3 = Iperf3(disk)
        env = dict(daemon=daemon, rsyncd=rsyncd, iperf3=iperf3, clients=Clients(args.build, daemon),
                   out=out, disk=disk, deadline=deadline)
        results = dict(machine=dict(machine(), storage=storage_fs(args.storage_parent)),
                       smoke=args.smoke, size=settings["size"], runs=runs,
                       warmup=warmup, small_count=settings["small_count"], figures={})
        fig = results["figures"]
        step = deadline.step
        step(f"bulk: {size_label(settings['size'])}, {runs} runs after {warmup} warm-up")
        fig.update(bulk(env, settings["size"], data, runs, warmup))
        step(f"small files: {len(paths)} x {size_label(SMALL_SIZE)}")
        fig.update(small_files(env, paths, runs, warmup))
        step("worker memory")
        fig["worker_rss_growth"] = worker_memory(env, data)
        levels = sorted(set(settings["sweep_clients"] + settings["clients"]))
        step(f"concurrent clients: {levels}")
        by_clients = clients_figures(env, levels, settings["calls_per_level"], paths, runs,
                                     warmup)
        for n in settings["clients"]:
            fig[f"clients_{n}"] = dict(unit="requests/s", value=by_clients[n]["rps"],
                                       **by_clients[n])
        step(f"size sweep: {[size_label(s) for s in settings['sweep_sizes']]}")
        sweep = size_sweep(env, settings["sweep_sizes"], data, runs, warmup)
        sweep.append(dict(size=settings["size"],
                          backupd_upload=settings["size"] / 1e6 / fig["v2_upload"]["value"],
                          backupd_restore=settings["size"] / 1e6 / fig["v2_restore"]["value"],
                          rsync_upload=settings["size"] / 1e6 / fig["rsync_upload_fsync"]["value"],
                          rsync_restore=settings["size"] / 1e6 / fig["rsync_restore"]["value"]))
        results["sweep"] = dict(sizes=sweep, clients=[dict(clients=n, **by_clients[n])
                                                      for n in levels])
        daemon.check_alive()
    finally:
        for server in (iperf3, rsyncd, daemon):
            if server:
                server.stop()
    results["seconds"] = round(time.monotonic() - deadline.start, 1)
    return results


def write_outputs(out, results, table):
    from plot import draw  # after install_missing(), which may have just installed matplotlib

    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    draw(results, os.path.join(out, "sweep.svg"))
    write_results_md(os.path.join(out, "RESULTS.md"), results, table)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--build", default=os.path.join(REPO, "build-bench"),
                   help="the build folder holding bin/backupd and bin/backup-client "
                   "(%(default)s)")
    p.add_argument("--smoke", action="store_true",
                   help="small sizes, one run: checks that every path works, in seconds")
    p.add_argument("--runs", type=int, help="measured runs per figure (5; smoke: 1)")
    p.add_argument("--storage-parent", default="/var/tmp",
                   help="where backupd's and rsyncd's storage and dd's file go (%(default)s); "
                   "must be a disk, not tmpfs")
    p.add_argument("--out", help="folder for results.json, sweep.svg and RESULTS.md "
                   "(default: bench/ for a full run; nothing is kept from a smoke run)")
    args = p.parse_args()
    if args.runs is not None and args.runs < 1:
        p.error("--runs must be at least 1")
    return args


def main():
    args = parse_args()
    if os.geteuid() != 0:
        print("bench/run.py: run as root (backupd starts as root and drops privileges)",
              file=sys.stderr)
        return 2
    for tool in ("backupd", "backup-client"):
        if not os.access(os.path.join(args.build, "bin", tool), os.X_OK):
            print(f"bench/run.py: no {tool} in {args.build}/bin (use --build)", file=sys.stderr)
            return 2
    settings = SMOKE if args.smoke else FULL
    scratch = []
    try:
        install_missing()
        results = run(args, settings, scratch)
        table = print_report(results)
        # A smoke run draws its plot too, into a folder removed below, so the plot cannot rot.
        out = args.out or (tempfile.mkdtemp(prefix="backupd-bench-out-") if args.smoke else BENCH)
        if not args.out and args.smoke:
            scratch.append(out)
        write_outputs(out, results, table)
        if out not in scratch:
            print(f"wrote {out}/results.json, sweep.svg, RESULTS.md")
    except (BenchError, OSError, subprocess.SubprocessError) as e:
        print(f"\nbench/run.py: FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        for path in scratch:
            subprocess.run(["rm", "-rf", "--one-file-system", path], check=False)
    errors = sum(r["errors"] for r in results["sweep"]["clients"])
    if errors:
        print(f"bench/run.py: FAILED: {errors} client calls failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

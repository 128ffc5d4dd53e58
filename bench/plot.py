# benchmark (any user): draws how throughput and latency grow with file size and with the number
# of clients, from a run's results.json, as the SVG the README shows.
"""python3 bench/plot.py results.json sweep.svg  (bench/run.py calls draw() itself)."""

import json
import sys

import matplotlib

matplotlib.use("Agg")  # no display: the benchmark runs as root on a server
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

from report import size_label  # noqa: E402


def draw(results, path):
    sizes = results["sweep"]["sizes"]
    clients = results["sweep"]["clients"]
    fig, (thr, lat, conc) = plt.subplots(1, 3, figsize=(15, 4.5))
    x = [r["size"] for r in sizes]
    styles = {"backupd": "-o", "rsync": "--s"}
    colors = {"upload": "C0", "restore": "C2"}
    for who in ("backupd", "rsync"):
        for op in ("upload", "restore"):
            seconds = [r[f"{who}_{op}"] for r in sizes]
            label = f"{'backupd v2' if who == 'backupd' else 'rsyncd'} {op}"
            thr.plot(x, [s / t / 1e6 for s, t in zip(x, seconds)], styles[who],
                     color=colors[op], label=label)
            lat.plot(x, [1000 * t for t in seconds], styles[who], color=colors[op], label=label)
    for ax, ylabel in ((thr, "MB/s (one file, one client call)"), (lat, "ms per call")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(x, [size_label(s) for s in x], fontsize=8)
        ax.minorticks_off()
        ax.set_xlabel("file size")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    thr.set_title("throughput by file size")
    lat.set_title("latency by file size")

    n = [r["clients"] for r in clients]
    conc.plot(n, [r["rps"] for r in clients], "-o", color="C0", label="requests/s")
    conc.set_xscale("log", base=2)
    conc.set_xticks(n, [str(k) for k in n])
    conc.minorticks_off()
    conc.set_xlabel("concurrent clients")
    conc.set_ylabel("requests/s", color="C0")
    conc.grid(True, which="both", alpha=0.3)
    ms = conc.twinx()
    ms.plot(n, [r["p50_ms"] for r in clients], "--^", color="C1", label="p50 ms")
    ms.plot(n, [r["p99_ms"] for r in clients], ":v", color="C3", label="p99 ms")
    ms.set_yscale("log")
    ms.set_ylabel("latency, ms")
    lines = conc.get_lines() + ms.get_lines()
    ms.legend(lines, [line.get_label() for line in lines], fontsize=8, loc="upper left")
    conc.set_title("backupd: mixed 4 KiB requests by clients")
    m = results["machine"]
    fig.suptitle(f"backupd vs rsyncd on loopback; {m['nproc']} CPUs, {m['cpu']}, {m['date']}"
                 + (" (SMOKE RUN)" if results["smoke"] else ""), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, format="svg")
    plt.close(fig)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        draw(json.load(f), sys.argv[2])

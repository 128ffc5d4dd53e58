# benchmark (any user): turns one run's figures into the table printed and kept in RESULTS.md,
# each backupd figure beside its ratio to every reference and to the targets.
"""The report of a run: the figures, their ratios to the references, and the targets of issue 11
marked met or not met. Figures are judged here, never in the exit status."""

import os
import re

LABELS = {
    "loopback_tcp": "loopback TCP (iperf3, one stream)",
    "dd_fsync": "disk: dd conv=fsync",
    "rsync_upload_fsync": "rsyncd upload --fsync",
    "rsync_restore": "rsyncd restore",
    "v2_upload": "backupd v2 upload",
    "v2_restore": "backupd v2 restore",
    "v1_upload": "backupd v1 upload",
    "v1_restore": "backupd v1 restore",
    "tls_upload": "backupd v2+TLS upload",
    "tls_restore": "backupd v2+TLS restore",
    "python_upload": "backupd v2 upload (Python client)",
    "python_restore": "backupd v2 restore (Python client)",
    "small_calls_backupd": "backupd, one call per file",
    "small_calls_rsync": "rsyncd, one call per file",
    "small_one_call_backupd": "backupd, all in one call (v2 pipelined)",
    "small_one_call_rsync": "rsyncd, all in one rsync -r call",
}

# (what, backupd figure, reference figure, least ratio) from issue 11's "Targets".
TARGETS = [
    ("restore >= 1.8x rsyncd", "v2_restore", "rsync_restore", 1.8),
    ("restore >= 0.9x raw loopback", "v2_restore", "loopback_tcp", 0.9),
    ("durable upload >= 1.2x rsyncd --fsync", "v2_upload", "rsync_upload_fsync", 1.2),
    ("durable upload >= 0.9x dd with fsync", "v2_upload", "dd_fsync", 0.9),
    ("one call per small file >= 5x rsyncd", "small_calls_backupd", "small_calls_rsync", 5.0),
    ("small files in one call >= 2x rsyncd", "small_one_call_backupd", "small_one_call_rsync",
     2.0),
    ("TLS upload costs < 30 % of plain", "tls_upload", "v2_upload", 0.7),
    ("TLS restore costs < 30 % of plain", "tls_restore", "v2_restore", 0.7),
]
RSS_LIMIT_KIB = 8 * 1024
BEGIN, END = "<!-- bench:begin (written by bench/run.py) -->", "<!-- bench:end -->"


def size_label(n):
    for shift, unit in ((30, "GiB"), (20, "MiB"), (10, "KiB")):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} B"


def table_text(results):
    fig = results["figures"]
    m = results["machine"]
    lines = [
        f"machine: {m['nproc']} CPUs, {m['cpu']}, Linux {m['kernel']}, {m['date']}, "
        f"load {m['load_at_start']} at start; run took {results['seconds']:.0f} s"
        + ("; SMOKE RUN (small sizes, one run: not a measurement)" if results["smoke"] else ""),
        f"storage: {m.get('storage', '?')}",
        "",
        f"== bulk: {size_label(results['size'])} of random bytes, MB/s (10^6 B/s), median of "
        f"{results['runs']} runs after {results['warmup']} warm-up",
    ]
    head = f"{'figure':<36} {'MB/s':>8} {'/loopback':>10} {'/dd fsync':>10} {'/rsyncd':>8}"
    lines += [head, "-" * len(head)]
    for key in ("loopback_tcp", "dd_fsync", "rsync_upload_fsync", "rsync_restore"):
        lines.append(f"{LABELS[key]:<36} {fig[key]['value']:8.0f}")
    for key in ("v2_upload", "v2_restore", "v1_upload", "v1_restore", "tls_upload",
                "tls_restore", "python_upload", "python_restore"):
        v = fig[key]["value"]
        rsync = fig["rsync_upload_fsync" if key.endswith("upload") else "rsync_restore"]["value"]
        lines.append(f"{LABELS[key]:<36} {v:8.0f} {v / fig['loopback_tcp']['value']:10.2f} "
                     f"{v / fig['dd_fsync']['value']:10.2f} {v / rsync:8.2f}")
    lines += ["(the Python client's rows are one run each)", "",
              f"== small files: {results['small_count']} x 4 KiB, durable (rsync --fsync); "
              f"one call per file: the files split over the {results['runs']} runs"]
    head = f"{'figure':<44} {'rate':>8} {'unit':<8} {'/rsyncd':>8}"
    lines += [head, "-" * len(head)]
    for mine, ref in (("small_calls_backupd", "small_calls_rsync"),
                      ("small_one_call_backupd", "small_one_call_rsync")):
        for key in (ref, mine):
            f = fig[key]
            ratio = f"{f['value'] / fig[ref]['value']:8.2f}" if key == mine else ""
            lines.append(f"{LABELS[key]:<44} {f['value']:8.0f} {f['unit']:<8} {ratio}")
    lines += ["", "== concurrent clients: backup, restore (compared), delete of a 4 KiB file, "
              "one backup-client call each (process start and v2 login included)"]
    head = f"{'clients':>7} {'requests/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} " \
           f"{'errors':>7}"
    lines += [head, "-" * len(head)]
    for row in results["sweep"]["clients"]:
        lines.append(f"{row['clients']:>7} {row['rps']:11.0f} {row['p50_ms']:8.1f} "
                     f"{row['p99_ms']:8.1f} {row['requests_per_run']:>9} {row['errors']:>7}")
        lines += [f"        {e}" for e in row["first_errors"]]
    mem = fig["worker_rss_growth"]
    lines += ["", f"== memory over a {size_label(results['size'])} v2 transfer, KiB: the worker's "
              "VmRSS before and after; its session child's VmHWM first seen and at its peak "
              "(sampled every 5 ms)"]
    head = f"{'op':<8} {'worker before':>14} {'worker after':>13} {'session first':>14} " \
           f"{'session peak':>13} {'growth':>8}"
    lines += [head, "-" * len(head)]
    for op in ("upload", "restore"):
        r = mem[op]
        lines.append(f"{op:<8} {r['worker_rss_before_kib']:>14} {r['worker_rss_after_kib']:>13} "
                     f"{r['session_first_kib']:>14} {r['session_peak_kib']:>13} "
                     f"{r['growth_kib']:>+8}")
    lines += ["", "== issue 11's targets (ratios in this run)"]
    head = f"{'target':<40} {'backupd':>9} {'reference':>10} {'ratio':>6} {'needs':>6}  verdict"
    lines += [head, "-" * len(head)]
    for what, mine, ref, least in TARGETS:
        ratio = fig[mine]["value"] / fig[ref]["value"]
        lines.append(f"{what:<40} {fig[mine]['value']:9.0f} {fig[ref]['value']:10.0f} "
                     f"{ratio:6.2f} {least:6.2f}  {'met' if ratio >= least else 'NOT MET'}")
    growth = mem["value"]
    lines.append(f"{'worker RSS grows < 8 MiB over the transfer':<40} {growth:>+9} KiB"
                 f"{'':>15}  {'met' if growth < RSS_LIMIT_KIB else 'NOT MET'}")
    most = max(results["sweep"]["clients"], key=lambda r: r["clients"])
    verdict = "met" if most["errors"] == 0 else "NOT MET"
    lines.append(f"{str(most['clients']) + ' concurrent clients, zero errors':<40} "
                 f"{most['errors']:>9} errors{'':>12}  {verdict}")
    return "\n".join(lines)


def print_report(results):
    text = table_text(results)
    print()
    print(text)
    return text


def write_results_md(path, results, table):
    """Replaces the generated part of RESULTS.md (between the markers), keeping the notes around
    it; creates the file if there is none."""
    block = f"{BEGIN}\n```\n{table}\n```\n\n![throughput and latency](sweep.svg)\n{END}"
    old = ""
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
    if BEGIN in old and END in old:
        new = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, old, flags=re.S)
    else:
        new = f"# Benchmark results\n\n{block}\n"
    with open(path, "w") as f:
        f.write(new)

#!/usr/bin/env python3
"""Checks that each room (top-level folder) includes only from the rooms it may use.

The table is the README's layout: base and protocol sit below everything, worker never reaches
into daemon, nothing includes client. Run with the repository root as argument; prints each
forbidden include as FILE:LINE and exits 1 if there is any. --self-test plants forbidden includes
in a scratch tree and checks that every one is caught, so the checker itself cannot rot into a
test that always passes.
"""
import os
import re
import sys
import tempfile

# room -> the rooms (besides itself) whose headers it may include
ALLOWED = {
    "base": set(),
    "protocol": {"base"},
    "conf": {"base"},
    "ipc": {"base"},
    "worker": {"base", "protocol", "ipc", "conf"},
    "daemon": {"base", "protocol", "ipc", "conf", "worker"},
    "client": {"base", "protocol"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"/]+)/')
SOURCE = (".h", ".cc", ".cpp", ".hpp")


def violations(root):
    found = []
    for room, allowed in sorted(ALLOWED.items()):
        top = os.path.join(root, room)
        for folder, _, files in os.walk(top):
            for name in sorted(files):
                if not name.endswith(SOURCE):
                    continue
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8", errors="replace") as f:
                    for number, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        other = m.group(1)
                        if other != room and other not in allowed:
                            rel = os.path.relpath(path, root)
                            may = ", ".join(sorted(allowed)) or "nothing of ours"
                            found.append(f"{rel}:{number}: {room}/ may not include "
                                         f"{other}/ (it may use: {may})")
    return found


def self_test():
    planted = {
        "worker/a.cc": '#include "daemon/supervisor.h"\n',
        "protocol/b.h": '#include "worker/user_dir.h"\n',
        "base/c.h": '#include "protocol/wire.h"\n',
        "client/d.cc": '#include "worker/connection.h"\n',
        "ipc/e.cc": '#include "daemon/log.h"\n',
        "conf/f.cc": '  #  include "ipc/report.h"\n',
    }
    fine = {
        "worker/ok.cc": '#include "worker/x.h"\n#include "protocol/wire.h"\n#include <unistd.h>\n',
        "daemon/ok.cc": '#include "worker/worker_main.h"\n',
        "client/ok.cc": '#include "base/status.h"\n// #include "daemon/x.h" is prose\n',
    }
    with tempfile.TemporaryDirectory() as root:
        for rel, text in {**planted, **fine}.items():
            os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
            with open(os.path.join(root, rel), "w") as f:
                f.write(text)
        got = violations(root)
    caught = {v.split(":")[0] for v in got}
    missed = sorted(set(planted) - caught)
    wrong = sorted(caught - set(planted))
    for m in missed:
        print(f"self-test: forbidden include in {m} was not caught")
    for w in wrong:
        print(f"self-test: allowed include in {w} was reported")
    if missed or wrong:
        return 1
    print(f"self-test: all {len(planted)} planted forbidden includes caught, none falsely")
    return 0


def main(argv):
    if len(argv) == 2 and argv[1] == "--self-test":
        return self_test()
    if len(argv) != 2:
        print("usage: include_rules.py REPO_ROOT | --self-test", file=sys.stderr)
        return 2
    found = violations(argv[1])
    for v in found:
        print(v)
    if found:
        return 1
    print("include rules: every room includes only what it may use")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

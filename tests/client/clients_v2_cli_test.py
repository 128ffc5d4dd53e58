#!/usr/bin/env python3
# tests: both command-line clients, as programs, against fake_v2_server_tool on loopback: the
# login's refusals and their exit codes, digests both ways, the secret file and client.conf.
"""usage: clients_v2_cli_test.py FAKE_SERVER BACKUP_CLIENT BACKUP_CLIENT_PY"""

import os
import re
import subprocess
import sys
import tempfile
import unittest

FAKE, CPP, PY = sys.argv[1:4] if len(sys.argv) >= 4 else (None, None, None)
SECRET = "fake-secret-for-tests"


class FakeServer:
    def __init__(self, *flags):
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([FAKE, *flags], stdout=subprocess.PIPE, stderr=self.log)
        self.port = int(self.proc.stdout.readline())

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        self.log.seek(0)
        text = self.log.read().decode()
        self.log.close()
        return text


class Base:
    """The same cases for each client; `command` is its argv prefix."""
    command = None
    prog = None

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.home = os.path.join(self.dir, "home")
        os.makedirs(self.home)
        self.secret = self.write("secret", SECRET + "\n", 0o600)
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.close()
        self.tmp.cleanup()

    def write(self, name, text, mode=0o644):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def server(self, *flags):
        s = FakeServer(*flags)
        self.servers.append(s)
        return s

    def run_client(self, server, *args, secret=True, user="42"):
        argv = list(self.command) + ["--server", f"127.0.0.1:{server.port}", "--timeout", "10"]
        if user is not None:
            argv += ["--user", user]
        if secret:
            argv += ["--secret-file", self.secret]
        env = dict(os.environ, HOME=self.home)
        env.pop("XDG_CONFIG_HOME", None)
        return subprocess.run(argv + list(args), capture_output=True, text=True, env=env,
                              cwd=self.dir, timeout=60)

    def expect(self, r, code, text=None):
        self.assertEqual(r.returncode, code, f"stdout: {r.stdout}\nstderr: {r.stderr}")
        if text is not None:
            self.assertIn(text, r.stderr)

    def test_every_op(self):
        s = self.server()
        a = self.write("a.txt", "hello")
        self.expect(self.run_client(s, "backup", a, "--name", "docs/a.txt"), 0)
        r = self.run_client(s, "list")
        self.expect(r, 0)
        self.assertEqual(r.stdout, "docs/a.txt\n")
        r = self.run_client(s, "list", "-l")
        self.expect(r, 0)
        self.assertEqual(r.stdout, "5 2023-11-14T22:13:20Z 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c"
                                   "1fa7425e73043362938b9824 docs/a.txt\n")
        out = os.path.join(self.dir, "back.txt")
        self.expect(self.run_client(s, "restore", "docs/a.txt", "-o", out), 0)
        with open(out) as f:
            self.assertEqual(f.read(), "hello")
        self.expect(self.run_client(s, "delete", "docs/a.txt"), 0)
        self.expect(self.run_client(s, "delete", "docs/a.txt"), 1, "no file named docs/a.txt (1001)")

    def test_many_files_pipelined(self):
        s = self.server("--hold")
        files = [self.write(f"f{i:03}", f"file {i}") for i in range(100)]
        self.expect(self.run_client(s, "backup", *files), 0)
        r = self.run_client(s, "list")
        self.assertEqual(len(r.stdout.splitlines()), 100)
        held = [int(line.split()[1]) for line in s.close().splitlines() if line.startswith("held")]
        self.servers.remove(s)
        self.assertGreaterEqual(held[0], 32, held)

    def test_wrong_secret(self):
        s = self.server("--secret", "the-servers-idea-of-it")
        self.expect(self.run_client(s, "list"), 6, "authentication failed for user 42")

    def test_forged_server(self):
        s = self.server("--forge")
        self.expect(self.run_client(s, "list"), 5,
                    "server could not prove it knows user 42's verifier (not the real backupd?)")

    def test_busy(self):
        s = self.server("--busy")
        self.expect(self.run_client(s, "list"), 8,
                    "too many failed logins from 127.0.0.1; try later")

    def test_upload_digest_mismatch(self):
        s = self.server("--bad-upload-digest")
        a = self.write("a.txt", "hello")
        self.expect(self.run_client(s, "backup", a), 7,
                    "digest mismatch: the server got different bytes than were sent")

    def test_restore_digest_mismatch_leaves_no_file(self):
        s = self.server("--bad-restore-digest")
        a = self.write("a.txt", "hello")
        self.expect(self.run_client(s, "backup", a, "--name", "a"), 0)
        before = sorted(os.listdir(self.dir))
        self.expect(self.run_client(s, "restore", "a", "-o", os.path.join(self.dir, "out")), 7,
                    "digest mismatch")
        self.assertEqual(sorted(os.listdir(self.dir)), before)

    def test_secret_file_readable_by_others(self):
        s = self.server()
        os.chmod(self.secret, 0o644)
        self.expect(self.run_client(s, "list"), 2, f"chmod 600 {self.secret}")

    def test_no_secret(self):
        s = self.server()
        self.expect(self.run_client(s, "list", secret=False), 2,
                    "no secret for user 42: give --secret-file FILE (or --protocol 1 for an "
                    "unauthenticated v1 server)")

    def test_client_conf(self):
        s = self.server()
        conf_dir = os.path.join(self.home, ".config", "backupd")
        os.makedirs(conf_dir)
        conf = os.path.join(conf_dir, "client.conf")
        with open(conf, "w") as f:
            f.write(f"# mine\nuser = 42\nsecret_file = {self.secret}\nserver = 127.0.0.1:1\n")
        # The command line's --server wins over the file's.
        r = self.run_client(s, "list", secret=False, user=None)
        self.expect(r, 0)
        with open(conf, "a") as f:
            f.write("colour = blue\n")
        self.expect(self.run_client(s, "list", secret=False, user=None), 2, f"{conf}:5: unknown key")


SUMMARY = re.compile(r"scanned (\d+), sent (\d+), unchanged (\d+), failed (\d+), "
                     r"bytes sent (\d+), \d+\.\d\d s\n")


class CppClientTest(Base, unittest.TestCase):
    """backup-client's folders, incremental runs and configured backups (issue 12)."""
    command = [CPP]

    def tree(self):
        for d in ("tree/sub/deeper", "tree/empty", "tree/build"):
            os.makedirs(os.path.join(self.dir, d))
        self.write("tree/a.txt", "alpha")
        self.write("tree/sub/b.o", "object")
        self.write("tree/sub/deeper/c.txt", "see")
        self.write("tree/build/out.bin", "built")
        return os.path.join(self.dir, "tree")

    def summary(self, r):
        m = SUMMARY.fullmatch(r.stdout)
        self.assertIsNotNone(m, f"stdout: {r.stdout!r}\nstderr: {r.stderr}")
        return tuple(int(g) for g in m.groups())

    def test_folder_runs_send_only_changes_and_end_with_the_summary(self):
        s = self.server()
        self.tree()
        r = self.run_client(s, "backup", "tree")
        self.expect(r, 0)
        self.assertEqual(self.summary(r), (4, 4, 0, 0, 19))
        r = self.run_client(s, "backup", "tree")
        self.expect(r, 0)
        self.assertEqual(self.summary(r), (4, 0, 4, 0, 0))
        # A change is seen by its mtime (set here, so no clock tick can hide it); nothing is read.
        c = os.path.join(self.dir, "tree/sub/deeper/c.txt")
        self.write("tree/sub/deeper/c.txt", "SEE")
        os.utime(c, ns=(1500000000123456789, 1500000000123456789))
        r = self.run_client(s, "backup", "tree")
        self.assertEqual(self.summary(r), (4, 1, 3, 0, 3))
        # Same size, same mtime, other bytes: only --checksum reads the file and sends it.
        self.write("tree/sub/deeper/c.txt", "Sea")
        os.utime(c, ns=(1500000000123456789, 1500000000123456789))
        self.assertEqual(self.summary(self.run_client(s, "backup", "tree")), (4, 0, 4, 0, 0))
        r = self.run_client(s, "backup", "tree", "--checksum")
        self.assertEqual(self.summary(r), (4, 1, 3, 0, 3))
        self.write("tree/sub/deeper/c.txt", "SEE")
        os.utime(c, ns=(1500000000123456789, 1500000000123456789))
        self.assertEqual(self.summary(self.run_client(s, "backup", "tree", "--checksum")),
                         (4, 1, 3, 0, 3))
        self.expect(self.run_client(s, "backup", "tree", "--full", "--checksum"), 2,
                    "give --full or --checksum, not both")
        # --full sends everything again, as rsync -I does.
        r = self.run_client(s, "backup", "tree", "--full")
        self.assertEqual(self.summary(r), (4, 4, 0, 0, 19))
        r = self.run_client(s, "list")
        self.assertEqual(r.stdout, "tree/a.txt\ntree/build/out.bin\ntree/sub/b.o\n"
                                   "tree/sub/deeper/c.txt\n")
        out = os.path.join(self.dir, "out")
        self.expect(self.run_client(s, "restore", "tree/sub", "-o", out), 0)
        with open(os.path.join(out, "deeper", "c.txt")) as f:
            self.assertEqual(f.read(), "SEE")
        with open(os.path.join(out, "b.o")) as f:
            self.assertEqual(f.read(), "object")
        self.assertEqual(sorted(os.listdir(out)), ["b.o", "deeper"])
        # Again: every file exists, each is named, and kept.
        r = self.run_client(s, "restore", "tree/sub", "-o", out)
        self.expect(r, 4, f"'{out}/b.o' exists; not replaced")
        self.expect(self.run_client(s, "restore", "tree/sub", "-o", out, "--force"), 0)

    def test_excludes(self):
        s = self.server()
        self.tree()
        ex = self.write("ex", "# objects\n*.o\n")
        r = self.run_client(s, "backup", "tree", "--exclude", "/build/", "--exclude-from", ex)
        self.expect(r, 0)
        self.assertEqual(self.summary(r), (2, 2, 0, 0, 8))
        r = self.run_client(s, "list")
        self.assertEqual(r.stdout, "tree/a.txt\ntree/sub/deeper/c.txt\n")
        self.expect(self.run_client(s, "backup", "tree", "--exclude", "!"), 2,
                    "--exclude: exclude pattern '!' matches nothing")

    def test_a_failed_file_is_named_and_the_exit_is_1(self):
        s = self.server()
        self.tree()
        self.write("tree/.backupd-x", "reserved")
        missing = os.path.join(self.dir, "missing")
        r = self.run_client(s, "backup", "tree", missing)
        self.expect(r, 1)
        self.assertEqual(self.summary(r), (6, 4, 0, 2, 19))
        self.assertIn(f"backup-client: backup {missing}: No such file or directory\n", r.stderr)
        self.assertIn("backup-client: backup tree/.backupd-x: cannot be stored as "
                      "'tree/.backupd-x'", r.stderr)

    def test_a_refused_list_sends_nothing_and_still_ends_with_the_summary(self):
        s = self.server("--refuse-list")
        self.tree()
        r = self.run_client(s, "backup", "tree")
        self.expect(r, 1, "backup-client: backup: list what is stored: ")
        self.assertIn("cannot list today (1003)", r.stderr)
        self.assertEqual(self.summary(r), (4, 0, 0, 4, 0))

    def test_symlinks_and_fifos_are_skipped_with_a_note(self):
        s = self.server()
        self.tree()
        os.symlink("a.txt", os.path.join(self.dir, "tree", "link"))
        os.mkfifo(os.path.join(self.dir, "tree", "fifo"))
        r = self.run_client(s, "backup", "tree")
        self.expect(r, 0)
        self.assertEqual(self.summary(r), (4, 4, 0, 0, 19))
        self.assertIn("tree/link: skipped: a symlink (not followed without --follow-symlinks)",
                      r.stderr)
        self.assertIn("tree/fifo: skipped: a FIFO", r.stderr)
        r = self.run_client(s, "backup", "tree", "--follow-symlinks")
        self.assertEqual(self.summary(r), (5, 1, 4, 0, 5))

    def test_configured_backup_with_no_paths_given(self):
        s = self.server()
        self.tree()
        conf_dir = os.path.join(self.home, ".config", "backupd")
        os.makedirs(conf_dir)
        with open(os.path.join(conf_dir, "client.conf"), "w") as f:
            f.write(f"user = 42\nsecret_file = {self.secret}\n"
                    f"paths = {self.dir}/tree/sub {self.dir}/tree/a.txt\n"
                    "exclude = *.o\n")
        r = self.run_client(s, "backup", secret=False, user=None)
        self.expect(r, 0)
        self.assertEqual(self.summary(r), (2, 2, 0, 0, 8))
        r = self.run_client(s, "list", secret=False, user=None)
        base = self.dir.lstrip("/")
        self.assertEqual(r.stdout, f"{base}/tree/a.txt\n{base}/tree/sub/deeper/c.txt\n")

    def test_backup_with_no_paths_anywhere_is_a_usage_error(self):
        s = self.server()
        self.expect(self.run_client(s, "backup"), 2, "backup needs at least one PATH")
        self.tree()
        self.expect(self.run_client(s, "backup", "tree", "--name", "x"), 2,
                    "backup-client: backup tree: --name goes with a single file, not a folder")


class PythonClientTest(Base, unittest.TestCase):
    command = [sys.executable, PY]


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)

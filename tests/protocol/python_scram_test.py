#!/usr/bin/env python3
"""The Python client's SCRAM-SHA-256 (client/python/backupd_scram.py): the RFC 7677 test vector,
and real logins against the C++ ScramServer through scram_server_tool (its path is argv[1])."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../client/python"))
import backupd_scram as scram  # noqa: E402

TOOL = None

# RFC 7677 section 3.
RFC_SERVER_FIRST = ("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                    "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
RFC_CLIENT_FINAL = ("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
RFC_SERVER_FINAL = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
SECRET = "Qm9ndXMgc2VjcmV0IGZvciB0ZXN0cyE"


class Rfc7677Test(unittest.TestCase):
    def test_vector(self):
        c = scram.ScramClient("user", "pencil", nonce="rOprNGfwEbeRWgbNEkqO")
        self.assertEqual(c.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
        self.assertEqual(c.client_final(RFC_SERVER_FIRST), RFC_CLIENT_FINAL)
        c.verify_server_final(RFC_SERVER_FINAL)

    def test_forged_server_signature_is_refused(self):
        c = scram.ScramClient("user", "pencil", nonce="rOprNGfwEbeRWgbNEkqO")
        c.client_first()
        c.client_final(RFC_SERVER_FIRST)
        with self.assertRaises(scram.AuthenticationError):
            c.verify_server_final("v=" + "A" * 43 + "=")

    def test_malformed_server_first_is_refused(self):
        salt = "s=W22ZaJ0SNY7soEsUEjb6gQ=="
        n = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
        for bad in [f"r=someoneelsesnonce0123456789,{salt},i=4096", f"r={n},{salt},i=1024",
                    f"r={n},{salt},i=99999999", f"r={n},s=W22ZaJ0SNY7soEsUEjb6gQ,i=4096",
                    f"r={n},s=AAAA,i=4096", f"r={n},{salt}", f"r={n},{salt},i=4096,x=1",
                    f"r={n},{salt},i=+4096", "r=" + "x" * 2000]:
            c = scram.ScramClient("user", "pencil", nonce="rOprNGfwEbeRWgbNEkqO")
            c.client_first()
            with self.assertRaises(scram.ScramError, msg=bad):
                c.client_final(bad)


class AgainstCppServerTest(unittest.TestCase):
    def login(self, client_secret, server_secret, tamper=None):
        """Runs one login; returns (client error or None, tool exit code)."""
        tool = subprocess.Popen([TOOL, server_secret], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        error = None
        try:
            c = scram.ScramClient("42", client_secret)
            tool.stdin.write(c.client_first() + "\n")
            tool.stdin.flush()
            final = c.client_final(tool.stdout.readline().rstrip("\n"))
            tool.stdin.write((tamper(final) if tamper else final) + "\n")
            tool.stdin.flush()
            c.verify_server_final(tool.stdout.readline().rstrip("\n"))
        except scram.ScramError as e:
            error = e
        finally:
            tool.stdin.close()
            code = tool.wait(timeout=30)
            tool.stdout.close()
        return error, code

    def test_login_succeeds_both_ways(self):
        self.assertEqual(self.login(SECRET, SECRET), (None, 0))

    def test_wrong_secret_is_refused(self):
        error, code = self.login("not-" + SECRET, SECRET)
        self.assertIsInstance(error, scram.AuthenticationError)
        self.assertEqual(code, 1)

    def test_tampered_nonce_is_refused(self):
        def tamper(final):
            at = final.index(",p=") - 1
            return final[:at] + ("A" if final[at] != "A" else "B") + final[at + 1:]
        error, code = self.login(SECRET, SECRET, tamper)
        self.assertIsInstance(error, scram.AuthenticationError)
        self.assertEqual(code, 1)


if __name__ == "__main__":
    TOOL = sys.argv.pop(1)
    unittest.main()

#!/usr/bin/env python3
# client (the user's privilege): the Python client for backupd, standard library only.
"""Back up, restore, delete and list files on a backupd server (protocol version 2, or 1).

With no arguments, run in a folder holding server.info ("IP PORT") and backup.info (one file path
a line), it plays the seed's scenario for a random user and checks every status. With arguments it
offers the same commands as backup-client:

    backup_client.py [--server HOST:PORT] --user ID backup FILE... [--name NAME]
    backup_client.py [--server HOST:PORT] --user ID restore NAME [-o OUTPUT] [--force]
    backup_client.py [--server HOST:PORT] --user ID delete NAME...
    backup_client.py [--server HOST:PORT] --user ID list

Protocol 2 (the default) logs in as --user with SCRAM-SHA-256 using the secret on the first line of
--secret-file FILE (mode 600), and checks every file's SHA-256; --protocol 1 speaks the
unauthenticated version 1. server, user, secret_file, tls and ca may be set in
~/.config/backupd/client.conf (KEY = VALUE lines); the command line wins. --tls [--ca FILE] before
the command speaks TLS and verifies the server's certificate against FILE (or the system's store)
and the --server host.

Exit status: 0 success; 1 an error status from the server or a local file problem (in the
scenario: a step got an unexpected status); 2 usage error; 3 cannot connect, connection lost or a
malformed answer; 4 restore: the output file exists and --force was not given; 5 the server is not
trusted (its certificate, or its SCRAM signature); 6 authentication failed; 7 digest mismatch;
8 the server is busy.
"""

import argparse
import collections
import filecmp
import hashlib
import hmac
import os
import random
import socket
import ssl
import struct
import sys
import tempfile
import time
from pathlib import Path

import backupd_scram

# ---------------------------------------------------------------------------------------------
# Protocol v1: constants, request encoding, strict response decoding. All integers little-endian.
#   request:  user_id u32 | version u8 | op u8 | name_len u16 | name | [backup: size u32 | bytes]
#   response: version u8 | status u16 | name_len u16 | name | [210/211: size u32 | bytes]
# ---------------------------------------------------------------------------------------------

VERSION = 1
OP_BACKUP, OP_RESTORE, OP_DELETE, OP_LIST = 100, 200, 201, 202
RESTORE_OK, LIST_OK, OK, NOT_FOUND, NO_FILES, ERROR = 210, 211, 212, 1001, 1002, 1003
MAX_NAME_LEN = 4096
MAX_PAYLOAD = 0xFFFFFFFF  # the size field is u32
CHUNK = 64 * 1024  # payloads move through a buffer of this size, whatever the file size

REQUEST_HEADER = struct.Struct("<IBBH")
RESPONSE_HEADER = struct.Struct("<BHH")
SIZE_FIELD = struct.Struct("<I")

# The statuses each op may be answered with; anything else means the stream is out of step.
_GENERIC = {NOT_FOUND, NO_FILES, ERROR}
ALLOWED = {
    OP_BACKUP: {OK} | _GENERIC,
    OP_RESTORE: {RESTORE_OK} | _GENERIC,
    OP_DELETE: {OK} | _GENERIC,
    OP_LIST: {LIST_OK} | _GENERIC,
}
WITH_PAYLOAD = {RESTORE_OK, LIST_OK}
DESCRIPTION = {NOT_FOUND: "not found", NO_FILES: "no files stored for this user",
               ERROR: "refused by the server"}


class ProtocolError(Exception):
    """The connection broke or the server's answer does not follow protocol v1."""


class UntrustedServer(Exception):
    """--tls: the server's certificate could not be verified."""


class LocalError(Exception):
    """A local file could not be read or written, or a name cannot be sent."""


def encode_request(user_id, op, name, size=None):
    """The request's bytes up to and including the size field (backup only)."""
    if len(name) > MAX_NAME_LEN:
        raise LocalError(f"name longer than {MAX_NAME_LEN} bytes")
    head = REQUEST_HEADER.pack(user_id, VERSION, op, len(name)) + name
    return head + SIZE_FIELD.pack(size) if op == OP_BACKUP else head


def recv_exact(sock, n):
    """Exactly n bytes from sock; a connection closed early is a ProtocolError."""
    parts, got = [], 0
    while got < n:
        try:
            part = sock.recv(min(n - got, CHUNK))
        except OSError as e:
            raise ProtocolError(f"receive from server: {e}") from None
        if not part:
            raise ProtocolError(f"server closed the connection after {got} of {n} bytes")
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def not_backupd(peer, seen, version=VERSION):
    """Why the first bytes a peer sent cannot come from backupd, named by the usual suspects'
    opening bytes: an HTTP status line, a TLS record (alert or handshake, version 3.x), an SSH
    banner, or a small version byte from a newer backupd."""
    if seen.startswith(b"HTTP/"):
        return f"{peer} is not a backupd server (it answers like an HTTP server)"
    if seen.startswith(b"SSH-"):
        return f"{peer} is not a backupd server (it answers like an SSH server)"
    if len(seen) >= 2 and seen[0] in (0x15, 0x16) and seen[1] == 0x03:
        return f"{peer} is not a backupd server (it answers like a TLS server)"
    if seen[0] == 1 and version == 2:
        return (f"{peer} speaks only protocol version 1 (give --protocol 1 to use it, "
                "unauthenticated)")
    if 1 <= seen[0] <= 15:
        return f"{peer} answers with protocol version {seen[0]}, expected {version}"
    return f"{peer} is not a backupd server (its answer begins with bytes {seen[:8].hex(' ')})"


def read_first_header(sock, peer, version=VERSION, size=RESPONSE_HEADER.size):
    """The first answer's header, judged by its first byte as soon as it arrives: a peer that is not
    backupd (an HTTP server waiting for the rest of a request line) may send a few bytes and then
    nothing, and waiting for a whole header would only burn the timeout."""
    try:
        head = sock.recv(size)
    except OSError as e:
        raise ProtocolError(f"receive from server: {e}") from None
    if not head:
        raise ProtocolError(f"{peer} closed the connection without answering "
                            "(is it a backupd server?)")
    if head[0] != version:
        # Only what has already arrived: a socket with a timeout would wait out MSG_DONTWAIT, and
        # the connection is closed after this anyway.
        sock.setblocking(False)
        try:
            head += sock.recv(8)
        except OSError:
            pass
        raise ProtocolError(not_backupd(peer, head, version))
    return head + recv_exact(sock, size - len(head))


def read_response(sock, op, peer=None):
    """Reads one answer's header, name and size field: (status, name bytes, size or None). With
    `peer` (the connection's first answer) a peer that is not backupd is named at once."""
    head = read_first_header(sock, peer) if peer else recv_exact(sock, RESPONSE_HEADER.size)
    version, status, name_len = RESPONSE_HEADER.unpack(head)
    if version != VERSION:
        raise ProtocolError(f"server answered with protocol version {version}, expected 1")
    if status not in ALLOWED[op]:
        raise ProtocolError(f"unexpected status {status} in answer to op {op}")
    if name_len > MAX_NAME_LEN:
        raise ProtocolError(f"name_len {name_len} over {MAX_NAME_LEN}")
    name = recv_exact(sock, name_len)
    size = None
    if status in WITH_PAYLOAD:
        (size,) = SIZE_FIELD.unpack(recv_exact(sock, SIZE_FIELD.size))
    return status, name, size


def parse_endpoint(text):
    """'HOST:PORT', '[IPV6]:PORT', 'HOST' or '[IPV6]' -> (host, port); port defaults to 1337."""
    port_text = None
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ValueError(f"server address '{text}': missing ']'")
        host, rest = text[1:close], text[close + 1:]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"server address '{text}': expected ':PORT' after ']'")
            port_text = rest[1:]
        if ":" not in host:
            raise ValueError(f"server address '{text}': brackets are for IPv6 addresses")
    else:
        if any(not (c.isascii() and (c.isalnum() or c in "-._:%")) for c in text):
            raise ValueError(f"server address '{text}': expected HOST:PORT, e.g. 127.0.0.1:1337")
        if text.count(":") > 1:
            raise ValueError(f"server address '{text}': write an IPv6 address in brackets, "
                             "e.g. [::1]:1337")
        host, sep, port_text = text.partition(":")
        if not sep:
            port_text = None
    if not host:
        raise ValueError(f"server address '{text}': empty host")
    if port_text is None:
        return host, 1337
    if not (port_text.isascii() and port_text.isdigit()) or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"server address '{text}': port must be 1..65535")
    return host, int(port_text)


def parse_user_id(text):
    if not (text.isascii() and text.isdigit()) or int(text) > 0xFFFFFFFF:
        raise ValueError(f"user id '{text}': expected a decimal number 0..4294967295")
    return int(text)


def tls_context(ca):
    """The client's TLS settings: TLS 1.2 or later, the server's certificate checked against the
    PEM file ca (None: the system's store) and, at connect, against the host name or address."""
    context = ssl.create_default_context(cafile=ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def stored_name(path):
    """The name a file is stored under: its path as given, leading '/' stripped (as tar does)."""
    return str(path).lstrip("/")


def restore_into(fetch, output, replace):
    """fetch(out) writes a restored file to the binary file out and returns (result, keep). The
    temp file beside output is fsynced and renamed over output only when keep; otherwise output is
    untouched and no temp file is left. With replace=False an existing output, even one created
    meanwhile, is never replaced. Returns fetch's result."""
    output = Path(output)
    try:
        tmp = tempfile.NamedTemporaryFile(dir=output.parent, prefix=f".{output.name}.",
                                          suffix=".restore", delete=False)
    except OSError as e:
        raise LocalError(f"create a temp file beside {output}: {e.strerror}") from None
    committed = False
    try:
        with tmp:
            result, keep = fetch(tmp)
            if not keep:
                return result
            tmp.flush()
            mask = os.umask(0)
            os.umask(mask)
            os.fchmod(tmp.fileno(), 0o666 & ~mask)
            os.fsync(tmp.fileno())
        if replace:
            os.replace(tmp.name, output)
        else:
            # link() fails if output exists, atomically; the temp name is removed below.
            try:
                os.link(tmp.name, output)
            except FileExistsError:
                raise LocalError(f"keep {output}, created meanwhile: File exists") from None
        committed = replace
        dir_fd = os.open(output.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return result
    except OSError as e:
        raise LocalError(f"restore into {output}: {e}") from None
    finally:
        if not committed:  # with replace=False the temp name always goes
            try:
                os.unlink(tmp.name)
            except FileNotFoundError:
                pass


# ---------------------------------------------------------------------------------------------
# The client: one connection, requests one after another.
# ---------------------------------------------------------------------------------------------

class Client:
    """Speaks protocol v1 for one user over one connection. After a ProtocolError the connection
    is closed: the stream can no longer be trusted."""

    def __init__(self, host, port, user_id, timeout=30.0, tls=None):
        """tls: an ssl.SSLContext (tls_context()) to speak TLS, or None."""
        self.user_id = user_id
        self.peer = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.answered = False  # a v1 answer has arrived: the peer is a backupd server
        self.sock = None
        try:
            sock = socket.create_connection((host, port), timeout=timeout or None)
        except ConnectionRefusedError as e:
            raise ProtocolError(f"connect to {self.peer}: {e.strerror}; "
                                "is backupd running there?") from None
        except OSError as e:
            raise ProtocolError(f"connect to {self.peer}: {e}") from None
        # A request's header and payload are sent apart: with Nagle the payload waits for the
        # server's delayed ACK of the header (~40 ms a request).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is None:
            self.sock = sock
            return
        try:
            self.sock = tls.wrap_socket(sock, server_hostname=host)
        except ssl.SSLCertVerificationError as e:
            raise UntrustedServer(f"server certificate not trusted: {e.verify_message}") from None
        except (ssl.SSLError, OSError) as e:
            raise ProtocolError(f"TLS handshake with {self.peer} failed: {e}") from None
        finally:
            if self.sock is None:
                sock.close()

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _request(self, op, name, size=None):
        if self.sock is None:
            raise ProtocolError("not connected")
        try:
            self.sock.sendall(encode_request(self.user_id, op, os.fsencode(name), size))
        except OSError as e:
            self.close()
            raise ProtocolError(f"send to server: {e}") from None

    def _response(self, op):
        try:
            answer = read_response(self.sock, op, None if self.answered else self.peer)
        except ProtocolError:
            self.close()
            raise
        self.answered = True
        return answer

    def backup(self, name, path):
        """Streams the file at path as name; returns the status."""
        try:
            f = open(path, "rb")
        except OSError as e:
            raise LocalError(f"{path}: {e.strerror}") from None
        with f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_PAYLOAD:
                raise LocalError(f"{path}: {size} bytes; protocol v1 carries at most {MAX_PAYLOAD}")
            self._request(OP_BACKUP, name, size)
            sent = 0
            try:
                while sent < size:
                    chunk = f.read(min(CHUNK, size - sent))
                    if not chunk:
                        raise ProtocolError(f"{path}: file shrank while being sent")
                    self.sock.sendall(chunk)
                    sent += len(chunk)
            except OSError as e:
                # The server may have refused early (e.g. too large) and hung up: its answer
                # says why, if it arrived.
                try:
                    status, _, _ = read_response(self.sock, OP_BACKUP)
                except ProtocolError:
                    self.close()
                    raise ProtocolError(f"send to server: {e}") from None
                self.close()
                return status
            except ProtocolError:
                self.close()
                raise
        status, _, _ = self._response(OP_BACKUP)
        return status

    def restore_to(self, name, out):
        """Writes a 210 payload to the binary file object out as it arrives; returns the status.
        A write error is raised only after the rest of the payload has been read, so the
        connection stays in step."""
        self._request(OP_RESTORE, name)
        status, _, size = self._response(OP_RESTORE)
        if status != RESTORE_OK:
            return status
        error = None
        got = 0
        while got < size:
            try:
                chunk = recv_exact(self.sock, min(CHUNK, size - got))
            except ProtocolError:
                self.close()
                raise
            got += len(chunk)
            if error is None:
                try:
                    out.write(chunk)
                except OSError as e:
                    error = e
        if error is not None:
            raise LocalError(f"write restored data: {error}")
        return status

    def restore(self, name, output, replace=True):
        """Restores name into the file output (see restore_into); returns the status."""
        def fetch(out):
            status = self.restore_to(name, out)
            return status, status == RESTORE_OK

        return restore_into(fetch, output, replace)

    def delete(self, name):
        self._request(OP_DELETE, name)
        status, _, _ = self._response(OP_DELETE)
        return status

    def list(self):
        """Returns (status, names); names are str (undecodable bytes kept as surrogates)."""
        self._request(OP_LIST, "")
        status, _, size = self._response(OP_LIST)
        if status != LIST_OK:
            return status, []
        try:
            payload = recv_exact(self.sock, size)
        except ProtocolError:
            self.close()
            raise
        if payload and not payload.endswith(b"\n"):
            self.close()
            raise ProtocolError("list payload does not end with a newline")
        names = payload.split(b"\n")[:-1] if payload else []
        if any(not n or len(n) > MAX_NAME_LEN for n in names):
            self.close()
            raise ProtocolError("list payload holds an empty or over-long name")
        return status, [os.fsdecode(n) for n in names]


# ---------------------------------------------------------------------------------------------
# Protocol v2 (docs/PROTOCOL.md, Part 2): a SCRAM-SHA-256 login, then requests, pipelined.
#   request:  user_id u32 | version u8 | op u8 | name_len u16 | size u64 | name | payload |
#             [backup: sha256]
#   response: version u8 | status u16 | name_len u16 | size u64 | name | payload | [210: sha256]
# ---------------------------------------------------------------------------------------------

V2 = 2
OP_AUTH_START, OP_AUTH_FINISH = 1, 2
AUTH_CONTINUE, AUTH_OK = 220, 221
BAD_NAME, TOO_LARGE, NO_SPACE, AUTH_REQUIRED, AUTH_FAILED, BUSY, DIGEST_MISMATCH, UNSUPPORTED = (
    1010, 1011, 1012, 1013, 1014, 1015, 1016, 1017)
FORBIDDEN = 1018  # an append-only user's delete (issue 12)
V2_ERRORS = {NOT_FOUND, NO_FILES, ERROR, BAD_NAME, TOO_LARGE, NO_SPACE, AUTH_REQUIRED,
             AUTH_FAILED, BUSY, DIGEST_MISMATCH, UNSUPPORTED, FORBIDDEN}
V2_SUCCESS = {OP_AUTH_START: AUTH_CONTINUE, OP_AUTH_FINISH: AUTH_OK, OP_BACKUP: OK,
              OP_RESTORE: RESTORE_OK, OP_DELETE: OK, OP_LIST: LIST_OK}
V2_REQUEST_HEADER = struct.Struct("<IBBHQ")
V2_RESPONSE_HEADER = struct.Struct("<BHHQ")
LIST_ENTRY_TAIL = struct.Struct("<Qq32s")  # size, mtime_ns, sha256 after the name
MAX_MESSAGE = 1024
# Pipelined uploads keep at most this many answers outstanding, and at most this many bytes of
# them counted at their largest: they must fit in the socket buffers, or the server blocks writing
# answers while the client blocks writing the next upload.
MAX_PIPELINED = 64
MAX_PENDING_ANSWER_BYTES = 64 * 1024

EXIT_FAILED, EXIT_USAGE, EXIT_CONNECTION, EXIT_EXISTS, EXIT_UNTRUSTED = 1, 2, 3, 4, 5
EXIT_AUTH, EXIT_DIGEST, EXIT_BUSY = 6, 7, 8


class SendFailed(ProtocolError):
    """A send failed; the server may still have answered what it got before it hung up."""


class LoginRefused(Exception):
    """The server answered the login with an error status: .status, .message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def escape_untrusted(data):
    """The server's message as printable text: control bytes and non-ASCII become \\xNN."""
    return "".join(chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else f"\\x{b:02x}"
                   for b in data)


class ClientV2(Client):
    """Speaks protocol v2 for one user over one connection: login() first."""

    def _send(self, data):
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise SendFailed(f"send to server: {e}") from None

    def _v2_request(self, op, name=b"", payload_size=0):
        if len(name) > MAX_NAME_LEN:
            raise LocalError(f"name longer than {MAX_NAME_LEN} bytes")
        return V2_REQUEST_HEADER.pack(self.user_id, V2, op, len(name), payload_size) + name

    def _v2_response(self, op):
        """(status, name, size, message) of one answer; the payload of a success is the caller's
        to read. A malformed answer closes the connection."""
        try:
            if self.answered:
                head = recv_exact(self.sock, V2_RESPONSE_HEADER.size)
            else:
                head = read_first_header(self.sock, self.peer, V2, V2_RESPONSE_HEADER.size)
            self.answered = True
            version, status, name_len, size = V2_RESPONSE_HEADER.unpack(head)
            if version != V2:
                raise ProtocolError(f"server answered with protocol version {version}, expected 2")
            if status != V2_SUCCESS[op] and status not in V2_ERRORS:
                raise ProtocolError(f"unexpected status {status} in answer to op {op}")
            if name_len > MAX_NAME_LEN or (status == LIST_OK and name_len):
                raise ProtocolError(f"name_len {name_len} does not fit status {status}")
            if (status in V2_ERRORS and size > MAX_MESSAGE) or (status == OK and size) or (
                    status in (AUTH_CONTINUE, AUTH_OK) and not 1 <= size <= MAX_MESSAGE):
                raise ProtocolError(f"size {size} does not fit status {status}")
            name = recv_exact(self.sock, name_len)
            message = ""
            if status in V2_ERRORS:
                message = escape_untrusted(recv_exact(self.sock, size))
                size = 0
            return status, name, size, message
        except ProtocolError:
            self.close()
            raise

    def _recv(self, n):
        try:
            return recv_exact(self.sock, n)
        except ProtocolError:
            self.close()
            raise

    def login(self, secret):
        """The SCRAM-SHA-256 login; raises LoginRefused, or AuthenticationError when the server
        cannot prove it holds the user's verifier."""
        scram = backupd_scram.ScramClient(user=str(self.user_id), secret=secret)
        first = scram.client_first().encode("ascii")
        self._send(self._v2_request(OP_AUTH_START, payload_size=len(first)) + first)
        status, _, size, message = self._v2_response(OP_AUTH_START)
        if status != AUTH_CONTINUE:
            self.close()
            raise LoginRefused(status, message)
        try:
            final = scram.client_final(self._recv(size).decode("ascii")).encode("ascii")
        except (backupd_scram.ScramError, UnicodeDecodeError) as e:
            self.close()
            raise ProtocolError(f"the server's login message: {e}") from None
        self._send(self._v2_request(OP_AUTH_FINISH, payload_size=len(final)) + final)
        status, _, size, message = self._v2_response(OP_AUTH_FINISH)
        if status != AUTH_OK:
            self.close()
            raise LoginRefused(status, message)
        try:
            scram.verify_server_final(self._recv(size).decode("ascii", "replace"))
        except backupd_scram.ScramError:
            self.close()
            raise backupd_scram.AuthenticationError(
                f"server could not prove it knows user {self.user_id}'s verifier "
                "(not the real backupd?)") from None

    def _send_upload(self, name, f, size):
        self._send(self._v2_request(OP_BACKUP, os.fsencode(name), size))
        digest = hashlib.sha256()
        sent = 0
        while sent < size:
            chunk = f.read(min(CHUNK, size - sent))
            if not chunk:
                self.close()
                raise ProtocolError("file shrank while being sent")
            digest.update(chunk)
            self._send(chunk)
            sent += len(chunk)
        self._send(digest.digest())

    def backup_many(self, uploads, done):
        """Uploads each (path, name) with its SHA-256, pipelined; done(index, status, message)
        is called in order, or done(index, None, LocalError) for a file that cannot be read."""
        pending = collections.deque()
        pending_bytes = 0

        def read_oldest():
            nonlocal pending_bytes
            index, cost = pending.popleft()
            pending_bytes -= cost
            status, _, _, message = self._v2_response(OP_BACKUP)
            done(index, status, message)

        for index, (path, name) in enumerate(uploads):
            try:
                f = open(path, "rb")
                size = os.fstat(f.fileno()).st_size
            except OSError as e:
                while pending:
                    read_oldest()
                done(index, None, LocalError(f"{path}: {e.strerror}"))
                continue
            with f:
                cost = V2_RESPONSE_HEADER.size + len(os.fsencode(name)) + MAX_MESSAGE
                while pending and (len(pending) >= MAX_PIPELINED or
                                   pending_bytes + cost > MAX_PENDING_ANSWER_BYTES):
                    read_oldest()
                try:
                    self._send_upload(name, f, size)
                except SendFailed as e:
                    # The server may have refused a request and hung up: its answers say why.
                    pending.append((index, cost))
                    while pending:
                        try:
                            read_oldest()
                        except ProtocolError:
                            self.close()
                            raise ProtocolError(str(e)) from None
                    self.close()
                    return
                pending.append((index, cost))
                pending_bytes += cost
        while pending:
            read_oldest()

    def restore_to(self, name, out):
        """Writes a 210 payload to out as it arrives; returns (status, message, digest_ok)."""
        self._send(self._v2_request(OP_RESTORE, os.fsencode(name)))
        status, _, size, message = self._v2_response(OP_RESTORE)
        if status != RESTORE_OK:
            return status, message, True
        digest = hashlib.sha256()
        error = None
        got = 0
        while got < size:
            chunk = self._recv(min(CHUNK, size - got))
            got += len(chunk)
            digest.update(chunk)
            if error is None:
                try:
                    out.write(chunk)
                except OSError as e:
                    error = e
        trailer = self._recv(32)
        if error is not None:
            raise LocalError(f"write restored data: {error}")
        return status, message, hmac.compare_digest(digest.digest(), trailer)

    def delete(self, name):
        self._send(self._v2_request(OP_DELETE, os.fsencode(name)))
        status, _, _, message = self._v2_response(OP_DELETE)
        return status, message

    def list_entries(self):
        """(status, message, [(name, size, mtime_ns, sha256)]) in the server's order."""
        self._send(self._v2_request(OP_LIST))
        status, _, size, message = self._v2_response(OP_LIST)
        entries = []
        got = 0
        while got < size:
            if size - got < 2 + LIST_ENTRY_TAIL.size:
                self.close()
                raise ProtocolError("answer to list: an entry cut short")
            (name_len,) = struct.unpack("<H", self._recv(2))
            if not 1 <= name_len <= MAX_NAME_LEN or size - got < 2 + name_len + LIST_ENTRY_TAIL.size:
                self.close()
                raise ProtocolError("answer to list: a bad entry")
            name = self._recv(name_len)
            fsize, mtime_ns, sha = LIST_ENTRY_TAIL.unpack(self._recv(LIST_ENTRY_TAIL.size))
            if entries and not os.fsencode(entries[-1][0]) < name:
                self.close()
                raise ProtocolError("answer to list: names out of order")
            entries.append((os.fsdecode(name), fsize, mtime_ns, sha))
            got += 2 + name_len + LIST_ENTRY_TAIL.size
        return status, message, entries


def restore_v2(client, name, output, replace):
    """As Client.restore, for v2: output is committed only when the digest matched. Returns
    (status, message, digest_ok)."""
    def fetch(out):
        status, message, digest_ok = client.restore_to(name, out)
        return (status, message, digest_ok), status == RESTORE_OK and digest_ok

    return restore_into(fetch, output, replace)


def read_client_conf(path):
    """client.conf's KEY = VALUE lines as a dict; a missing file is empty; errors name FILE:LINE."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return {}
    config = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path}:{number}"
        key, sep, value = (part.strip() for part in line.partition("="))
        if not sep:
            raise ValueError(f"{where}: expected KEY = VALUE")
        if not value:
            raise ValueError(f"{where}: '{key}' has no value")
        if key not in ("server", "user", "secret_file", "tls", "ca"):
            raise ValueError(f"{where}: unknown key '{key}' (known: server, user, secret_file, "
                             "tls, ca)")
        if key in config:
            raise ValueError(f"{where}: '{key}' given twice")
        if key == "tls":
            flags = {"yes": True, "true": True, "on": True, "1": True,
                     "no": False, "false": False, "off": False, "0": False}
            if value not in flags:
                raise ValueError(f"{where}: tls must be yes or no, not '{value}'")
            value = flags[value]
        config[key] = value
    return config


def client_conf_path():
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    if xdg.startswith("/"):
        return f"{xdg}/backupd/client.conf"
    home = os.environ.get("HOME", "")
    return f"{home}/.config/backupd/client.conf" if home else None


def read_secret_file(path):
    """The first line of path, trimmed; refused if group or others may access the file."""
    try:
        with open(path, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            if mode & 0o077:
                raise ValueError(f"secret file {path} is accessible by others; run: chmod 600 {path}")
            first = f.read(64 * 1024).split(b"\n", 1)[0].decode("ascii", "replace").strip()
    except OSError as e:
        raise ValueError(f"secret file {path}: {e.strerror}") from None
    if not first:
        raise ValueError(f"secret file {path}: the first line is empty")
    return first


# ---------------------------------------------------------------------------------------------
# The seed's scenario (no arguments).
# ---------------------------------------------------------------------------------------------

def read_config(folder):
    fields = (folder / "server.info").read_text().split()
    if len(fields) != 2:
        raise ValueError("server.info: expected 'IP PORT' on one line")
    host = fields[0].strip("[]")
    port = int(fields[1])
    if not 1 <= port <= 65535:
        raise ValueError("server.info: port must be 1..65535")
    files = [line.strip() for line in (folder / "backup.info").read_text().splitlines()]
    files = [f for f in files if f]
    if len(files) < 2:
        listed = "no file path" if not files else "only 1 file path"
        raise ValueError(f"backup.info: lists {listed}, and the scenario needs two: it backs up "
                         "both, checks that the list shows both, then restores, deletes and "
                         "restores again the first while the second stays stored. Add another "
                         "file's path on a line of its own")
    return host, port, files


def scenario(folder):
    """Runs the seed's steps, one connection per request as the seed's client does."""
    try:
        host, port, files = read_config(folder)
    except (OSError, ValueError) as e:
        print(f"backup_client.py: {e}", file=sys.stderr)
        return 2
    user_id = random.randint(1, 0xFFFFFFFF)
    first, second = files[0], files[1]
    name1, name2 = stored_name(first), stored_name(second)
    print(f"server {f'[{host}]' if ':' in host else host}:{port}, user {user_id}")
    failures = 0

    def step(title, expected, action):
        nonlocal failures
        with Client(host, port, user_id) as client:
            status, ok, detail = action(client)
        good = status == expected and ok
        failures += not good
        verdict = "ok" if good else f"FAILED (expected {expected}{detail})"
        print(f"{title}: {status} {verdict}")

    def list_action(client):
        status, names = client.list()
        return status, True, ""

    def list_both(client):
        status, names = client.list()
        print(f"  files: {', '.join(names)}")
        ok = name1 in names and name2 in names
        return status, ok, "" if ok else f" and names {name1!r}, {name2!r}"

    def restore_compare(client):
        fd, tmp = tempfile.mkstemp(prefix="backup_client-", suffix=".restore")
        os.close(fd)
        try:
            status = client.restore(name1, tmp)
            same = status == RESTORE_OK and filecmp.cmp(tmp, first, shallow=False)
            print(f"  restored into {tmp}: {'identical to' if same else 'DIFFERS from'} {first}")
            return status, same, "" if same else " and identical content"
        finally:
            os.unlink(tmp)

    try:
        step("list (new user)", NO_FILES, list_action)
        step(f"backup {first} as {name1}", OK, lambda c: (c.backup(name1, first), True, ""))
        step(f"backup {second} as {name2}", OK, lambda c: (c.backup(name2, second), True, ""))
        step("list", LIST_OK, list_both)
        step(f"restore {name1}", RESTORE_OK, restore_compare)
        step(f"delete {name1}", OK, lambda c: (c.delete(name1), True, ""))
        step(f"restore {name1} (deleted)", NOT_FOUND,
             lambda c: (c.restore_to(name1, _Discard()), True, ""))
    except LocalError as e:
        print(f"backup_client.py: {e}", file=sys.stderr)
        return 1
    except ProtocolError as e:
        print(f"backup_client.py: {e}", file=sys.stderr)
        return 3
    print("all steps ok" if failures == 0 else f"{failures} step(s) failed")
    return 0 if failures == 0 else 1


class _Discard:
    """A sink for a payload nobody wants (a restore expected to fail)."""

    def write(self, data):
        return len(data)


# ---------------------------------------------------------------------------------------------
# Commands (with arguments), as backup-client offers them.
# ---------------------------------------------------------------------------------------------

def describe(status):
    return f"{DESCRIPTION.get(status, 'status')} ({status})"


def not_found_hint(name, user_id):
    """What a user who got 1001 for name most likely needs: what was looked up, and the form stored
    names take; a relative name is shown as the file of that name in the current folder."""
    shown = "e.g. 'home/tester/notes.txt'"
    if not name.startswith("/"):
        try:
            absolute = f"{os.getcwd()}/{name}"
            shown = f"{absolute} is stored as '{stored_name(absolute)}'"
        except OSError:
            pass
    return (f": user {user_id} has no file '{name}'. Names are stored with the leading '/' "
            f"removed: {shown}. 'backup_client.py list' shows them.")


def apply_client_conf(args):
    """Fills what the command line left unset from client.conf (ValueError on a bad file)."""
    path = client_conf_path()
    config = read_client_conf(path) if path else {}
    if args.server is None:
        args.server = config.get("server", "127.0.0.1:1337")
    if args.user is None:
        args.user = config.get("user")
    if args.secret_file is None and args.protocol == 2:
        args.secret_file = config.get("secret_file")
    args.tls = args.tls or config.get("tls", False)
    if args.ca is None:
        args.ca = config.get("ca")
    if args.user is None:
        raise ValueError(f"--user is required (or 'user' in {path})")


def run_command(args):
    if args.protocol not in (1, 2):
        print("backup_client.py: --protocol must be 1 or 2", file=sys.stderr)
        return EXIT_USAGE
    if args.protocol == 1 and (args.secret_file is not None or getattr(args, "long", False)):
        print("backup_client.py: --secret-file and --long need protocol 2", file=sys.stderr)
        return EXIT_USAGE
    try:
        apply_client_conf(args)
        host, port = parse_endpoint(args.server)
        user_id = parse_user_id(args.user)
    except ValueError as e:
        print(f"backup_client.py: {e}", file=sys.stderr)
        return EXIT_USAGE
    if args.ca is not None and not args.tls:
        print("backup_client.py: --ca goes with --tls", file=sys.stderr)
        return 2
    tls = None
    if args.tls:
        try:
            tls = tls_context(args.ca)
        except (OSError, ssl.SSLError) as e:
            print(f"backup_client.py: --ca {args.ca}: {e.strerror or e}", file=sys.stderr)
            return 2
    if args.command == "backup" and args.name is not None and len(args.files) != 1:
        print("backup_client.py: --name goes with a single FILE", file=sys.stderr)
        return 2
    worst = 0

    def report(what, status, success, name=None):
        nonlocal worst
        if status != success:
            hint = not_found_hint(name, user_id) if status == NOT_FOUND and name else ""
            print(f"backup_client.py: {what}: {describe(status)}{hint}", file=sys.stderr)
            worst = max(worst, 1)

    secret = None
    if args.protocol == 2:
        if args.secret_file is None:
            print(f"backup_client.py: --user {args.user}: no secret for user {user_id}: give "
                  "--secret-file FILE (or --protocol 1 for an unauthenticated v1 server)",
                  file=sys.stderr)
            return EXIT_USAGE
        try:
            secret = read_secret_file(args.secret_file)
        except ValueError as e:
            print(f"backup_client.py: --secret-file: {e}", file=sys.stderr)
            return EXIT_USAGE

    output = None
    if args.command == "restore":
        output = args.output
        if output is None:
            output = args.name_.rpartition("/")[2]
            if output in ("", ".", ".."):
                print(f"backup_client.py: cannot derive an output file from "
                      f"'{args.name_}'; give one with -o", file=sys.stderr)
                return 2
        # Refused before connecting: the server is not asked for a file that would be thrown away.
        if output != "-" and not args.force and os.path.lexists(output):
            print(f"backup_client.py: restore {args.name_}: '{output}' exists; not replaced (give "
                  "--force to replace it, or -o another file)", file=sys.stderr)
            return 4

    if args.protocol == 2:
        return run_v2(args, host, port, user_id, tls, secret, output)
    try:
        with Client(host, port, user_id, args.timeout, tls) as client:
            if args.command == "backup":
                for path in args.files:
                    name = args.name if args.name is not None else stored_name(path)
                    try:
                        report(f"backup {path}", client.backup(name, path), OK)
                    except LocalError as e:
                        print(f"backup_client.py: backup {path}: {e}", file=sys.stderr)
                        worst = max(worst, 1)
            elif args.command == "restore":
                if output == "-":
                    status = client.restore_to(args.name_, sys.stdout.buffer)
                    sys.stdout.buffer.flush()
                else:
                    status = client.restore(args.name_, output, replace=args.force)
                report(f"restore {args.name_}", status, RESTORE_OK, args.name_)
            elif args.command == "delete":
                for name in args.names:
                    report(f"delete {name}", client.delete(name), OK, name)
            else:
                status, names = client.list()
                if status != NO_FILES:
                    report("list", status, LIST_OK)
                for name in names:
                    sys.stdout.buffer.write(os.fsencode(name) + b"\n")
    except LocalError as e:
        print(f"backup_client.py: {e}", file=sys.stderr)
        return 1
    except ProtocolError as e:
        print(f"backup_client.py: {e}", file=sys.stderr)
        return 3
    except UntrustedServer as e:
        print(f"backup_client.py: connect: {e}", file=sys.stderr)
        return 5
    return worst


def run_v2(args, host, port, user_id, tls, secret, output):
    """The command over protocol v2; returns the exit status."""
    worst = 0

    def report(what, status, message, success, name=None, digest_ok=True):
        nonlocal worst
        code = 0
        if status == success and not digest_ok:
            why, code = ("digest mismatch: the bytes received do not match the server's SHA-256 "
                         "(an output file is not kept)", EXIT_DIGEST)
        elif status == DIGEST_MISMATCH:
            why, code = ("digest mismatch: the server got different bytes than were sent "
                         f"({status})", EXIT_DIGEST)
        elif status == BUSY:
            why, code = f"server busy: {message} ({status})", EXIT_BUSY
        elif status != success:
            hint = not_found_hint(name, user_id) if status == NOT_FOUND and name else ""
            why, code = f"{message} ({status}){hint}", EXIT_FAILED
        if code:
            print(f"backup_client.py: {what}: {why}", file=sys.stderr)
            worst = max(worst, code)

    try:
        with ClientV2(host, port, user_id, args.timeout, tls) as client:
            try:
                client.login(secret)
            except LoginRefused as e:
                if e.status == AUTH_FAILED:
                    print(f"backup_client.py: login: authentication failed for user {user_id}",
                          file=sys.stderr)
                    return EXIT_AUTH
                report("login", e.status, e.message, AUTH_OK)
                return worst
            if args.command == "backup":
                uploads = [(path, args.name if args.name is not None else stored_name(path))
                           for path in args.files]

                def done(index, status, message):
                    nonlocal worst
                    what = f"backup {uploads[index][0]}"
                    if status is None:
                        print(f"backup_client.py: {what}: {message}", file=sys.stderr)
                        worst = max(worst, EXIT_FAILED)
                    else:
                        report(what, status, message, OK)

                client.backup_many(uploads, done)
            elif args.command == "restore":
                if output == "-":
                    status, message, digest_ok = client.restore_to(args.name_, sys.stdout.buffer)
                    sys.stdout.buffer.flush()
                else:
                    status, message, digest_ok = restore_v2(client, args.name_, output, args.force)
                report(f"restore {args.name_}", status, message, RESTORE_OK, args.name_, digest_ok)
            elif args.command == "delete":
                for name in args.names:
                    status, message = client.delete(name)
                    report(f"delete {name}", status, message, OK, name)
            else:
                status, message, entries = client.list_entries()
                if status != NO_FILES:
                    report("list", status, message, LIST_OK)
                for name, size, mtime_ns, sha in entries:
                    if args.long:
                        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(mtime_ns // 10**9))
                        digest = "-" if sha == bytes(32) else sha.hex()
                        sys.stdout.buffer.write(f"{size} {when} {digest} ".encode())
                    sys.stdout.buffer.write(os.fsencode(name) + b"\n")
    except LocalError as e:
        print(f"backup_client.py: {e}", file=sys.stderr)
        return max(worst, EXIT_FAILED)
    except backupd_scram.AuthenticationError as e:
        print(f"backup_client.py: login: {e}", file=sys.stderr)
        return EXIT_UNTRUSTED
    except backupd_scram.ScramError as e:
        print(f"backup_client.py: login: {e}", file=sys.stderr)
        return EXIT_USAGE
    except ProtocolError as e:
        print(f"backup_client.py: {e}", file=sys.stderr)
        return EXIT_CONNECTION
    except UntrustedServer as e:
        print(f"backup_client.py: connect: {e}", file=sys.stderr)
        return EXIT_UNTRUSTED
    return worst


def main(argv):
    if not argv:
        return scenario(Path.cwd())
    parser = argparse.ArgumentParser(
        prog="backup_client.py", description=__doc__.split("\n\n")[0],
        epilog="Exit status: 0 success; 1 an error status from the server or a local file "
               "problem; 2 usage error (also a bad client.conf or secret file); 3 cannot connect, "
               "connection lost or a malformed answer; 4 restore: OUTPUT exists and --force was "
               "not given (nothing was sent); 5 the server is not trusted: its certificate "
               "(--tls), or it could not prove it knows the user's verifier; 6 authentication "
               "failed; 7 digest mismatch; 8 the server is busy. "
               "'list' for a user with no files (1002) prints nothing and exits 0. With no "
               "arguments: the seed scenario using server.info and backup.info in the current "
               "folder.")
    parser.add_argument("--server", "-s", metavar="HOST:PORT",
                        help="server address; IPv6 in brackets (default 127.0.0.1:1337)")
    parser.add_argument("--user", "-u", metavar="ID", help="user id (required)")
    parser.add_argument("--secret-file", metavar="FILE",
                        help="v2: log in with the secret on FILE's first line (mode 600)")
    parser.add_argument("--protocol", type=int, default=2, metavar="1|2",
                        help="protocol version (default 2; 1 is unauthenticated)")
    parser.add_argument("--timeout", "-t", type=float, default=30.0, metavar="SECONDS",
                        help="give up on a silent server after SECONDS (0 waits forever)")
    parser.add_argument("--tls", action="store_true",
                        help="connect with TLS and verify the server's certificate")
    parser.add_argument("--ca", metavar="FILE",
                        help="--tls: trust the PEM certificates in FILE (default: the system's "
                             "store)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("backup", help="store FILEs under their paths, leading '/' stripped")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--name", "-n", help="store the single FILE under NAME")
    p = sub.add_parser("restore", help="fetch NAME (default output: its last component)")
    p.add_argument("name_", metavar="NAME")
    p.add_argument("--output", "-o", metavar="OUTPUT", help="'-' for standard output")
    p.add_argument("--force", "-f", action="store_true",
                   help="replace OUTPUT if it exists (without it, exit 4 and keep it)")
    p = sub.add_parser("delete", help="remove NAMEs")
    p.add_argument("names", nargs="+", metavar="NAME")
    p = sub.add_parser("list", help="print stored names, one a line")
    p.add_argument("--long", "-l", action="store_true",
                   help="also print size, modification time (UTC) and SHA-256")
    return run_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

# client (the user's privilege): SCRAM-SHA-256 client side for backupd, standard library only.
"""SCRAM-SHA-256 (RFC 5802, RFC 7677), the client's half, as backupd's protocol v2 login uses it.

    client = ScramClient(user="42", secret=secret)
    send(client.client_first())
    send(client.client_final(receive()))     # receive() -> server-first
    client.verify_server_final(receive())    # raises unless the server proved it holds the verifier

The same strict rules as the server's C++ side (protocol/scram.cc): messages of at most 1024
bytes, attributes in the RFC's order and nothing else, canonical base64, no channel binding, user
names and secrets of printable ASCII (SASLprep leaves those unchanged, so none is implemented),
nonces of 16 to 128 printable characters without ','. The server's iteration count must be 4096 to
1000000: a server cannot talk the client into a cheap proof nor into an hour of hashing.
"""

import base64
import hashlib
import hmac
import secrets

MAX_MESSAGE = 1024
MIN_ITERATIONS = 4096
MAX_ITERATIONS = 1000000
MIN_SALT, MAX_SALT = 8, 64
MIN_NONCE, MAX_NONCE = 16, 128
GS2_HEADER = "n,,"
CHANNEL_BINDING = "biws"  # base64 of the gs2 header


class ScramError(Exception):
    """A malformed SCRAM message, a call out of order, or unusable parameters."""


class AuthenticationError(ScramError):
    """The server refused the login, or could not prove that it knows the user's verifier."""


def _printable(s):
    return all(0x21 <= ord(c) <= 0x7E for c in s)


def _is_nonce(s):
    return MIN_NONCE <= len(s) <= MAX_NONCE and _printable(s) and "," not in s


def b64decode_strict(text):
    """The bytes of canonical standard base64 (padded, no whitespace), else ScramError."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as e:
        raise ScramError("not base64") from e
    if base64.b64encode(raw).decode("ascii") != text:
        raise ScramError("not canonical base64")
    return raw


def _attributes(message, names, what):
    """'a=x,b=y' -> ['x', 'y'] when the attributes are exactly `names`, in that order."""
    if len(message.encode("utf-8", "surrogateescape")) > MAX_MESSAGE:
        raise ScramError(f"{what} too long")
    parts = message.split(",")
    if len(parts) != len(names):
        raise ScramError(f"{what}: expected the attributes {', '.join(n + '=' for n in names)}")
    values = []
    for name, part in zip(names, parts):
        if not part.startswith(name + "="):
            raise ScramError(f"{what}: expected attribute '{name}='")
        values.append(part[2:])
    return values


def _hmac(key, data):
    return hmac.new(key, data, hashlib.sha256).digest()


def derive_keys(secret, salt, iterations):
    """secret, salt, iterations -> (ClientKey, StoredKey, ServerKey), RFC 5802 section 3."""
    if not secret or not _printable(secret):
        raise ScramError("the secret must be printable ASCII")
    if not MIN_SALT <= len(salt) <= MAX_SALT:
        raise ScramError(f"the salt must be {MIN_SALT} to {MAX_SALT} bytes")
    if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise ScramError(f"the iteration count must be {MIN_ITERATIONS} to {MAX_ITERATIONS}")
    salted = hashlib.pbkdf2_hmac("sha256", secret.encode("ascii"), salt, iterations)
    client_key = _hmac(salted, b"Client Key")
    return client_key, hashlib.sha256(client_key).digest(), _hmac(salted, b"Server Key")


class ScramClient:
    """One login: client_first(), client_final(server_first), verify_server_final(server_final).

    Any failure ends the exchange; a later call raises ScramError.
    """

    def __init__(self, user, secret, nonce=None):
        self._user = user
        self._secret = secret
        # 18 random bytes -> 24 characters of base64url: no ',' and no '='.
        self._nonce = nonce if nonce is not None else secrets.token_urlsafe(18)
        self._step = "start"
        self._client_first_bare = None
        self._server_signature = None

    def _advance(self, expected):
        if self._step != expected:
            self._step = "failed"
            raise ScramError("SCRAM step out of order")
        self._step = "failed"  # until the step succeeds

    def client_first(self):
        self._advance("start")
        user = self._user
        if not user or len(user) > 255 or not _printable(user) or "," in user or "=" in user:
            raise ScramError("user name must be printable ASCII without ',' or '='")
        if not _is_nonce(self._nonce):
            raise ScramError("client nonce must be 16 to 128 printable characters without ','")
        if not self._secret or not _printable(self._secret):
            raise ScramError("the secret must be printable ASCII")
        self._client_first_bare = f"n={user},r={self._nonce}"
        self._step = "sent-first"
        return GS2_HEADER + self._client_first_bare

    def client_final(self, server_first):
        self._advance("sent-first")
        nonce, salt_text, iterations_text = _attributes(server_first, "rsi", "server-first")
        if not nonce.startswith(self._nonce) or not _is_nonce(nonce[len(self._nonce):]):
            raise ScramError("server-first: the nonce does not extend ours")
        salt = b64decode_strict(salt_text)
        if not (iterations_text.isascii() and iterations_text.isdigit()) or len(iterations_text) > 7:
            raise ScramError("server-first: bad iteration count")
        client_key, stored_key, server_key = derive_keys(self._secret, salt, int(iterations_text))
        self._secret = None
        without_proof = f"c={CHANNEL_BINDING},r={nonce}"
        auth_message = f"{self._client_first_bare},{server_first},{without_proof}".encode("ascii")
        signature = _hmac(stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        self._server_signature = _hmac(server_key, auth_message)
        self._step = "sent-final"
        return f"{without_proof},p={base64.b64encode(proof).decode('ascii')}"

    def verify_server_final(self, server_final):
        self._advance("sent-final")
        if server_final.startswith("e="):
            raise AuthenticationError(f"the server refused the login: {server_final[2:]!r}")
        (value,) = _attributes(server_final, "v", "server-final")
        signature = b64decode_strict(value)
        if not hmac.compare_digest(signature, self._server_signature):
            raise AuthenticationError(
                "the server could not prove that it knows this user's verifier")
        self._step = "done"

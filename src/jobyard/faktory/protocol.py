"""The Faktory wire protocol (FWP v2), without I/O: framing, replies, the handshake's hash.

Client to server: one line, ``VERB[ SP payload]\\r\\n`` (a plain ``\\n`` is accepted too).
Server to client: RESP replies, each written whole in one send (a client's reader may break on
a reply split over several reads): ``+OK``, ``-ERR message``, ``$<len>\\r\\n<bytes>`` (bulk) and
``$-1`` (null). See research/seed-systems.md §1 for what real clients send and expect.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

VERSION = 2
MAX_LINE = 8 * 1024 * 1024  # bytes in one request; a longer one fails alone, unread
DEFAULT_PORT = 7419
ITERATIONS = (4000, 8096)  # the real server's choice: 4000 + rand(4096) sha256 rounds

INVALID_PASSWORD = "Invalid password"  # the real server's words
OK = b"+OK\r\n"
NULL = b"$-1\r\n"


class FaktoryError(Exception):
    """A request the listener refuses: answered ``-<code> <message>``, the connection kept."""

    def __init__(self, message: str, code: str = "ERR") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class Fatal(FaktoryError):
    """A refusal after which the listener closes the connection (a failed handshake)."""


def error(message: str, code: str = "ERR") -> bytes:
    """``-ERR message``: one line, whatever the message holds."""
    text = " ".join(message.split())  # no CR or LF may end the line early
    return f"-{code} {text}\r\n".encode()


def bulk(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return b"$%d\r\n%s\r\n" % (len(data), data)


def dumps(value: Any) -> str:
    """Compact JSON: the node client splits the HI line on spaces before it parses the JSON."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def bulk_json(value: Any) -> bytes:
    return bulk(dumps(value))


# -- requests -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    verb: str  # upper case
    payload: str  # the rest of the line after the first space; "" when there is none


def parse_line(line: bytes) -> Request:
    """One request line (without its line ending); FaktoryError when it is not one."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FaktoryError(
            f"a request must be UTF-8 text: {exc.reason} at byte {exc.start}"
        ) from exc
    text = text.strip("\r\n")
    verb, _, payload = text.partition(" ")
    if not verb:
        raise FaktoryError("empty request: expected a command such as PUSH or FETCH")
    if not verb.isascii() or not verb.isalpha() or len(verb) > 20:
        raise FaktoryError(f"unknown command {verb[:40]}")
    return Request(verb.upper(), payload.strip())


def json_object(payload: str, what: str) -> dict[str, Any]:
    """The JSON object a command carries; FaktoryError naming ``what`` when it is not one."""
    if not payload:
        raise FaktoryError(f"{what} needs a JSON object")
    try:
        value = json.loads(payload)
    except ValueError as exc:
        raise FaktoryError(f"{what}: invalid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise FaktoryError(f"{what} must be a JSON object, not {type(value).__name__}")
    return value


def json_value(payload: str, what: str) -> Any:
    if not payload:
        raise FaktoryError(f"{what} needs a JSON value")
    try:
        return json.loads(payload)
    except ValueError as exc:
        raise FaktoryError(f"{what}: invalid JSON: {exc}") from exc


# -- the handshake --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Challenge:
    """What the server's HI line offers: a salt and a number of rounds when a password is set."""

    salt: str | None
    iterations: int

    def line(self) -> bytes:
        hi: dict[str, Any] = {"v": VERSION}
        if self.salt is not None:
            hi.update(i=self.iterations, s=self.salt)
        return f"+HI {dumps(hi)}\r\n".encode()


def challenge(password: str | None) -> Challenge:
    if not password:
        return Challenge(None, 1)
    low, high = ITERATIONS
    return Challenge(secrets.token_hex(8), low + secrets.randbelow(high - low))


def password_hash(password: str, salt: str, iterations: int) -> str:
    """sha256(password + salt), then sha256 of the digest ``iterations - 1`` more times, hex.

    Faktory's ``server.go: hash()``; with 1 round it is what clients of protocol v1 send.
    """
    digest = hashlib.sha256((password + salt).encode()).digest()
    for _ in range(iterations - 1):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()


@dataclass(frozen=True, slots=True)
class Hello:
    """The client's HELLO: who it is; a ``wid`` makes it a worker's connection."""

    version: int | None
    hostname: str
    pid: int
    wid: str | None
    labels: tuple[str, ...]


def parse_hello(request: Request, *, password: str | None, offer: Challenge) -> Hello:
    """Check a HELLO against the offer; Fatal (the connection closes) when it does not pass.

    A client that says ``v`` 2 or more must send the iterated hash; one that sends no version
    (PyPI ``faktory``) or an older one sends a single round, as the real server accepts.
    """
    if request.verb != "HELLO":
        raise Fatal(f"expected HELLO, got {request.verb}")
    try:
        data = json_object(request.payload, "HELLO")
    except FaktoryError as exc:
        raise Fatal(exc.message) from exc
    version = data.get("v")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise Fatal("HELLO: v must be an integer")
    if password:
        rounds = offer.iterations if version is not None and version >= 2 else 1
        sent = data.get("pwdhash")
        assert offer.salt is not None
        wanted = password_hash(password, offer.salt, rounds)
        # as bytes: compare_digest refuses str with characters beyond ASCII (a TypeError, not
        # the wrong password it is)
        if not isinstance(sent, str) or not hmac.compare_digest(
            sent.lower().encode(), wanted.encode()
        ):
            raise Fatal(INVALID_PASSWORD)
    wid = data.get("wid")
    if wid is not None and (not isinstance(wid, str) or len(wid) > 200):
        raise Fatal("HELLO: wid must be a string of at most 200 characters")
    labels = data.get("labels") or []
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise Fatal("HELLO: labels must be a list of strings")
    pid = data.get("pid")
    hostname = data.get("hostname")
    return Hello(
        version=version,
        hostname=hostname[:200] if isinstance(hostname, str) else "",
        pid=pid if isinstance(pid, int) and not isinstance(pid, bool) and 0 <= pid < 2**31 else 0,
        wid=wid or None,
        labels=tuple(x[:100] for x in labels[:50]),
    )

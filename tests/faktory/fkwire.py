"""A raw Faktory connection for tests: send lines, read RESP replies, do the handshake."""

from __future__ import annotations

import json
import socket
from typing import Any

from jobyard.faktory.protocol import password_hash


class Wire:
    def __init__(self, port: int, *, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed; unread: {self.buffer!r}")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def reply(self) -> Any:
        """``+X`` -> "X"; ``-ERR m`` -> ("ERR", "m"); ``$n`` -> the bulk text; ``$-1`` -> None."""
        line = self._line()
        kind, rest = line[:1], line[1:].decode()
        if kind == b"+":
            return rest
        if kind == b"-":
            code, _, message = rest.partition(" ")
            return (code, message)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            while len(self.buffer) < size + 2:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed inside a bulk reply")
                self.buffer += chunk
            data, self.buffer = self.buffer[:size], self.buffer[size + 2 :]
            return data.decode()
        raise AssertionError(f"not a RESP reply: {line!r}")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def call(self, verb: str, payload: Any = None) -> Any:
        line = verb if payload is None else f"{verb} {_text(payload)}"
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def hello(self, password: str | None = None, **fields: Any) -> Any:
        """Read HI, answer HELLO (v 2 and the iterated hash unless told otherwise)."""
        hi = json.loads(self.reply().split(" ", 1)[1])
        body: dict[str, Any] = {"hostname": "test-host", "pid": 1, "v": 2, **fields}
        if password is not None and "s" in hi:
            rounds = hi["i"] if body.get("v", 0) >= 2 else 1
            body["pwdhash"] = password_hash(password, hi["s"], rounds)
        body = {k: v for k, v in body.items() if v is not None}
        return self.call("HELLO", body)


def _text(payload: Any) -> str:
    return payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))

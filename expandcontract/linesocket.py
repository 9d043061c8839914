"""The one-line-per-connection protocol HAProxy's admin socket and gh-ost's serve socket share:
connect, send one line, half-close, read until the peer closes."""

from __future__ import annotations

import socket
from pathlib import Path


def send_line(address: str | Path, line: str, timeout: float = 5.0) -> str:
    """``address`` is a Unix socket path, or ``host:port`` for TCP. Raises OSError."""
    if "\n" in line or "\r" in line:
        raise ValueError("one line only: a line break would smuggle in a second command")
    text = str(address)
    if ":" in text and not text.startswith("/"):
        host, _, port = text.rpartition(":")
        sock = socket.create_connection((host, int(port)), timeout=timeout)
    else:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(text)
        except OSError:
            sock.close()
            raise
    with sock:
        sock.sendall(line.encode() + b"\n")
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode(errors="replace")

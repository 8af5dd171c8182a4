"""Helpers for lab-sockets' tests (imported by the test modules)."""

from __future__ import annotations

import socket

HOST = "127.0.0.1"


def udp(address, payload: bytes, timeout: float = 2.0) -> bytes:
    """One request over real UDP; the reply (TimeoutError if none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(payload, (address[0], address[1]))
        data, _ = sock.recvfrom(65536)
        return data


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

"""Helpers for the lab-live tests: raw LiveSocket senders, a raw pull socket, an SSE client, waiting."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import queue
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _root_conftest():
    """tests/conftest.py (pytest imports every conftest as ``conftest``, so load the root one by path)."""
    path = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("_lab_tests_root_conftest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_ROOT = _root_conftest()
service_missing = _ROOT.service_missing
IN_CI = _ROOT.IN_CI
REPO = Path(__file__).resolve().parents[2]


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy (returned); fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def live_datagram(data: dict[str, Any], host: str = "vm") -> bytes:
    """A datagram exactly as PyExpLabSys's LiveSocket sends it (json.dumps defaults, UTF-8)."""
    return json.dumps({"host": host, "data": data}).encode("utf-8")


class RawSender:
    """A plain UDP socket sending to the dashboard's receiver on 127.0.0.1."""

    def __init__(self, port: int):
        self.address = ("127.0.0.1", port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def send(self, payload: bytes | dict, host: str = "vm") -> None:
        if isinstance(payload, dict):
            payload = live_datagram(payload, host)
        self.sock.sendto(payload, self.address)

    def close(self) -> None:
        self.sock.close()


class RawPullSocket:
    """A minimal pull socket speaking PyExpLabSys's json_wn reply format, byte for byte
    (``json.dumps`` default separators, codename order, ``"OLD_DATA"``, ``UNKNOWN_COMMMAND``).

    ``silent=True`` receives requests and never answers (a hung device)."""

    def __init__(self, points: dict[str, Any] | None = None, silent: bool = False):
        self.points: dict[str, Any] = dict(points or {})
        self.silent = silent
        self.requests: list[bytes] = []
        self.reply_override: bytes | None = None
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def set(self, codename: str, value: Any) -> None:
        with self._lock:
            self.points[codename] = value

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            self.requests.append(data)
            if self.silent:
                continue
            with self._lock:
                if self.reply_override is not None:
                    reply = self.reply_override
                elif data == b"json_wn":
                    reply = json.dumps(self.points).encode()
                else:
                    reply = b"UNKNOWN_COMMMAND"
            self.sock.sendto(reply, peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


class SseClient:
    """A browser stand-in: reads ``/events`` over a plain socket and keeps the parsed events.

    ``read=False`` connects, sends the request and then never reads (a stuck browser); its
    receive buffer is made tiny so the server's writes to it block soon."""

    def __init__(self, http_address: tuple[str, int], read: bool = True):
        self.events: list[tuple[str, dict]] = []
        self.queue: queue.Queue = queue.Queue()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if not read:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", http_address[1]))
        self.sock.sendall(b"GET /events HTTP/1.0\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n")
        self.closed = threading.Event()
        self._thread = None
        if read:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        stream = self.sock.makefile("rb")
        try:
            status = stream.readline()
            assert b" 200 " in status, status
            while stream.readline() not in (b"\r\n", b"\n", b""):
                pass  # headers
            name, data = None, []
            for raw in stream:
                line = raw.decode("utf-8").rstrip("\r\n")
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip())
                elif not line and data:
                    event = (name or "message", json.loads("\n".join(data)))
                    self.events.append(event)
                    self.queue.put(event)
                    name, data = None, []
        except (OSError, ValueError):
            pass
        finally:
            self.closed.set()

    # -- what the client has seen, folded like the page folds it --------------------------------
    def values(self) -> dict[str, dict]:
        """Latest summary per codename from the snapshot and the updates seen so far."""
        result: dict[str, dict] = {}
        for name, data in list(self.events):
            if name == "snapshot":
                result = dict(data["channels"])
            elif name == "update":
                result.update(data["channels"])
        return result

    def points(self, codename: str) -> list:
        result: list = []
        for name, data in list(self.events):
            if name == "snapshot":
                result = list(data.get("history", {}).get(codename, []))
            elif name == "update":
                if codename in data["reset"]:
                    result = []
                result.extend(data["points"].get(codename, []))
        return result

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        if self._thread is not None:
            self._thread.join(2)

"""The UDP receiver of LiveSocket datagrams (what PyExpLabSys calls the live server's socket)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

from lab_core.netaccess import AllowList, RefusalLog

from .hub import Hub
from .protocol import BadMessage, parse_live_datagram

log = logging.getLogger(__name__)

#: Largest UDP payload: nothing a sender can send is cut (PyExpLabSys read 8192 bytes).
MAX_DATAGRAM = 65535


class RateLimitedLog:
    """Logs the first problem at WARNING, then at most one summary per ``every`` seconds."""

    def __init__(self, logger: logging.Logger, every: float = 30.0):
        self.logger, self.every = logger, every
        self._last = -float("inf")
        self._suppressed = 0

    def warning(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last >= self.every:
            if self._suppressed:
                message += f" ({self._suppressed} similar message(s) suppressed)"
            self.logger.warning(message, *args)
            self._last, self._suppressed = now, 0
        else:
            self._suppressed += 1
            self.logger.debug(message, *args)


class UdpReceiver:
    """Receives LiveSocket datagrams on ``(host, port)`` in its own thread and applies them to the hub.

    Nothing a sender sends can stop it: a bad datagram is counted, logged (rate-limited) and dropped;
    a bad entry inside a good datagram is skipped and the rest is used.
    """

    def __init__(self, hub: Hub, host: str = "0.0.0.0", port: int = 9767, allow: Sequence[str] | None = None):
        self.hub, self.host, self.port = hub, host, port
        self.allow = AllowList(allow)
        self.refusals = RefusalLog(log, f"LiveSocket receiver on udp {host}:{port}", noun="datagram(s)")
        self.datagrams = 0
        self.bad = 0
        self.last_error: str | None = None
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._log = RateLimitedLog(log)
        self._status_due = 0.0

    @property
    def address(self) -> tuple[str, int]:
        if self._sock is None:
            raise RuntimeError("the receiver is not started")
        return self._sock.getsockname()[:2]

    def start(self) -> UdpReceiver:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise OSError(exc.errno, f"cannot receive LiveSocket datagrams on udp {self.host}:{self.port}: "
                                     f"{exc.strerror} (choose another --udp-port, or 0 for any)") from exc
        sock.settimeout(0.1)  # to notice stop(); recvfrom on a closed socket is not woken on every OS
        self._sock = sock
        self.refusals.what = "LiveSocket receiver on udp {}:{}".format(*self.address)
        self._publish_status(force=True)
        self._thread = threading.Thread(target=self._run, name=f"lab-live-udp-{self.address[1]}", daemon=True)
        self._thread.start()
        log.info("receiving LiveSocket datagrams on udp %s:%d", *self.address)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._sock is not None:
            self._sock.close()

    def _run(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(MAX_DATAGRAM)
            except TimeoutError:
                self._publish_status()
                continue
            except OSError as exc:  # e.g. ICMP errors surfacing on some OSes; never fatal
                if self._stop.is_set():
                    break
                log.debug("udp receive error: %s", exc)
                continue
            if not self.allow.allows(peer[0]):
                self.refusals.refused(peer[0], f"not in allow ({self.allow})")
                continue
            try:
                self.handle(data, peer)
            except Exception:  # a bug here must not end the receiver
                log.exception("unexpected error handling a datagram from %s", peer)
            self._publish_status()

    def handle(self, data: bytes, peer: Any) -> None:
        """Apply one datagram (public for tests and other transports)."""
        self.datagrams += 1
        peer_host = peer[0] if isinstance(peer, tuple) and peer else str(peer)
        try:
            message = parse_live_datagram(data)
        except BadMessage as exc:
            self.bad += 1
            self.last_error = f"from {peer_host}: {exc}"
            self._log.warning("dropped a bad LiveSocket datagram from %s: %s", peer_host, exc)
            return
        if message.errors:
            self.bad += 1
            self.last_error = f"from {peer_host}: {'; '.join(message.errors)}"
            self._log.warning("skipped bad entries of a LiveSocket datagram from %s: %s",
                              peer_host, "; ".join(message.errors))
        source = f"live {message.host or peer_host}"
        if message.resets:
            self.hub.apply_reset(source, message.resets)
        if message.points:
            self.hub.apply_points(source, message.points)

    def _publish_status(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._status_due:
            return
        self._status_due = now + 1.0
        host, port = self.address
        self.hub.set_status("udp", {
            "kind": "udp", "address": f"{host}:{port}", "datagrams": self.datagrams, "bad": self.bad,
            "last_error": self.last_error,
        })

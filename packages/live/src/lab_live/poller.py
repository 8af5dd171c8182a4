"""Polls PyExpLabSys pull sockets (DateDataPullSocket, DataPullSocket) with ``json_wn`` over UDP.

One thread polls every target: each round it sends ``json_wn`` to all of them at once and
applies each reply as it arrives, so a slow or dead socket never delays the others. Rounds
are due at ``start + k * interval`` (drift-free); a round waits at most ``timeout`` seconds
for replies (default: the interval, at most 2 s). A target that does not answer is shown
as such on the page; its codenames go stale after ``stale_after`` like any other.

Before a codename's first set, pull sockets serve the default point ``(0.0, 0.0)``; it is
listed without a value, not plotted (so a DataPullSocket's genuine point (0, 0) is not shown).
"""

from __future__ import annotations

import errno
import logging
import selectors
import socket
import threading
import time
from collections.abc import Sequence

from .hub import Hub
from .protocol import PULL_REQUEST, BadMessage, parse_pull_reply
from .receiver import MAX_DATAGRAM, RateLimitedLog

log = logging.getLogger(__name__)

#: What a PyExpLabSys pull socket serves for a codename never set (default_x, default_y): not a point.
UNSET_POINT = (0.0, 0.0)


class Target:
    """One pull socket: its address, its UDP socket (connected, so only its replies arrive) and state."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.name = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.sock: socket.socket | None = None
        self.state = "waiting"
        self.error: str | None = None
        self.last_reply: float | None = None
        self.codenames = 0
        self.replies = 0
        self.log = RateLimitedLog(log)

    def open(self) -> socket.socket:
        if self.sock is None:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
            family, kind, proto, _, address = infos[0]
            sock = socket.socket(family, kind, proto)
            try:
                sock.connect(address)
            except OSError:
                sock.close()
                raise
            sock.setblocking(False)
            self.sock = sock
        return self.sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def status(self) -> dict:
        return {"kind": "pull", "address": self.name, "state": self.state, "error": self.error,
                "last_reply": self.last_reply, "codenames": self.codenames, "replies": self.replies}


class PullPoller:
    def __init__(self, hub: Hub, targets: Sequence[tuple[str, int]], interval: float = 1.0,
                 timeout: float | None = None):
        if interval <= 0:
            raise ValueError(f"the poll interval must be > 0 seconds, got {interval}")
        self.hub = hub
        self.targets = [Target(h, p) for h, p in targets]
        self.interval = interval
        self.timeout = timeout if timeout is not None else min(interval, 2.0)
        if self.timeout <= 0:
            raise ValueError(f"the poll timeout must be > 0 seconds, got {self.timeout}")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> PullPoller:
        for target in self.targets:
            self._publish(target)
        self._thread = threading.Thread(target=self._run, name="lab-live-poller", daemon=True)
        self._thread.start()
        log.info("polling %d pull socket(s) every %g s: %s", len(self.targets), self.interval,
                 ", ".join(t.name for t in self.targets))
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for target in self.targets:
            target.close()

    def _run(self) -> None:
        start = time.monotonic()
        k = 0
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # never let one bad round end the polling
                log.exception("unexpected error while polling pull sockets")
            k = max(k + 1, int((time.monotonic() - start) / self.interval) + 1)  # skip missed instants
            self._stop.wait(max(0.0, start + k * self.interval - time.monotonic()))

    def poll_once(self) -> None:
        """One round: ask every target, apply replies as they come, until all answered or the timeout."""
        selector = selectors.DefaultSelector()
        try:
            for target in self.targets:
                if self._send(target):
                    selector.register(target.sock, selectors.EVENT_READ, target)
            deadline = time.monotonic() + self.timeout
            waiting = len(selector.get_map())
            while waiting and not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                for key, _ in selector.select(min(left, 0.25)):
                    target = key.data
                    if self._receive(target):
                        selector.unregister(key.fileobj)
                        waiting -= 1
            for key in list(selector.get_map().values()):
                target = key.data
                if not self._stop.is_set():
                    self._fail(target, "no reply", f"no reply within {self.timeout:g} s")
        finally:
            selector.close()

    def _send(self, target: Target) -> bool:
        try:
            sock = target.open()
            _drain(sock)  # late replies of an earlier round
            sock.send(PULL_REQUEST)
            return True
        except OSError as exc:
            target.close()  # resolve and connect again next round
            self._fail(target, "error", in_words(exc, target.name))
            return False

    def _receive(self, target: Target) -> bool:
        """Read the target's reply; True when this round is over for the target."""
        assert target.sock is not None
        try:
            data = target.sock.recv(MAX_DATAGRAM)
        except BlockingIOError:
            return False
        except OSError as exc:  # e.g. ConnectionRefusedError: nothing listens there (ICMP port unreachable)
            self._fail(target, "error", in_words(exc, target.name))
            return True
        try:
            reply = parse_pull_reply(data)
        except BadMessage as exc:
            self._fail(target, "bad reply", str(exc))
            return True
        source = f"pull {target.name}"
        points = {c: p for c, p in reply.points.items() if p != UNSET_POINT}
        if len(points) < len(reply.points):
            self.hub.apply_unset(source, [c for c in reply.points if c not in points])
        if points:
            self.hub.apply_points(source, points, dedupe=True)
        if reply.old:
            self.hub.apply_old(source, reply.old)
        target.state = "ok"
        target.error = "; ".join(reply.errors) or None
        if reply.errors:
            target.log.warning("skipped bad entries in the reply of %s: %s", target.name, target.error)
        target.last_reply = self.hub.wallclock()
        target.codenames = len(reply.points) + len(reply.old)
        target.replies += 1
        self._publish(target)
        return True

    def _fail(self, target: Target, state: str, error: str) -> None:
        target.state, target.error = state, error
        target.log.warning("pull socket %s: %s", target.name, error)
        self._publish(target)

    def _publish(self, target: Target) -> None:
        status = target.status()
        status.pop("replies")  # changes every round: not worth an event of its own
        if status["state"] == "ok":
            status.pop("last_reply")
        self.hub.set_status(f"pull {target.name}", status)


def in_words(exc: OSError, where: str) -> str:
    """What a socket error means for a person: "nothing listens at 127.0.0.1:9000", not an errno."""
    if isinstance(exc, ConnectionRefusedError):
        return f"nothing listens at {where} (is the pull socket running, on that port?)"
    if isinstance(exc, socket.gaierror):
        return f"the host of {where} is not known (check the name, or use an address)"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return f"{where} did not answer in time"
    if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return f"{where} cannot be reached from this machine (no route to it)"
    return f"{where}: {exc.strerror or exc}"


def _drain(sock: socket.socket) -> None:
    for _ in range(100):
        try:
            sock.recv(MAX_DATAGRAM)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # a pending ICMP error; the send below reports it again if it persists

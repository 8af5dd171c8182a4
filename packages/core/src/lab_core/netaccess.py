"""Who may talk to a server: client-network allow-lists, connection slots nobody can squat,
and refusals logged without flooding.

Every server and transport in the ecosystem takes ``allow`` (a list of networks or
addresses, e.g. ``["10.0.0.0/8", "127.0.0.1"]``); a peer outside it gets no reply
at all. ``None`` (the default) allows everyone, as PyExpLabSys does.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["AllowList", "ConnectionSlots", "GuardedServer", "RefusalLog", "Slot", "network_argument"]

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class AllowList:
    """The client networks a server answers; ``AllowList(None)`` answers everyone."""

    def __init__(self, networks: Iterable[str] | None = None, key: str = "allow"):
        self.key = key
        if networks is None:
            self.networks: tuple[Network, ...] | None = None
            return
        if isinstance(networks, str):
            raise ValueError(f'{key}: expected a list of networks, e.g. {key} = ["{networks}"]')
        parsed = []
        for item in networks:
            try:
                parsed.append(ipaddress.ip_network(str(item).strip(), strict=False))
            except ValueError:
                raise ValueError(f'{key}: {item!r} is not a network or an address; write e.g. '
                                 f'"10.0.0.0/8", "192.168.1.20" or "::1"') from None
        self.networks = tuple(parsed)

    @property
    def open(self) -> bool:
        """True when every peer is allowed."""
        return self.networks is None

    def allows(self, host: str) -> bool:
        """Whether a peer at ``host`` (an IP address as a socket reports it) may be answered."""
        if self.networks is None:
            return True
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def __str__(self) -> str:
        return "everyone" if self.networks is None else ", ".join(map(str, self.networks)) or "no one"


def network_argument(text: str) -> str:
    """argparse ``type=`` for an ``--allow NETWORK`` option: a clear usage error, not a traceback."""
    import argparse

    try:
        AllowList([text])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[1]) from None
    return text


class RefusalLog:
    """Logs refusals at most once per ``interval`` s, with how many there were since the last line.

    A peer that knocks thousands of times a second costs one log line per interval, not one each.
    """

    def __init__(self, logger: logging.Logger, what: str, interval: float = 60.0, noun: str = "request(s)"):
        self.logger, self.what, self.interval, self.noun = logger, what, interval, noun
        self._count = 0
        self._last_line = float("-inf")
        self._lock = threading.Lock()
        self.total = 0

    def refused(self, peer: str, reason: str) -> None:
        with self._lock:
            self._count += 1
            self.total += 1
            now = time.monotonic()
            if now - self._last_line < self.interval:
                return
            count, self._count, self._last_line = self._count, 0, now
        self.logger.warning("%s refused %d %s in the last %.0f s; latest from %s: %s",
                            self.what, count, self.noun, self.interval, peer, reason)


class Slot:
    """One open connection as :class:`ConnectionSlots` sees it: whose, since when idle, busy or not."""

    __slots__ = ("host", "close", "idle_since", "busy")

    def __init__(self, host: str, close: Callable[[], None]):
        self.host, self.close = host, close  # close(): make the connection's thread end it
        self.idle_since = time.monotonic()
        self.busy = False

    def working(self) -> None:
        """A request is being handled: this connection is not to be closed for another one."""
        self.busy = True

    def waiting(self) -> None:
        """The request is answered: idle again, from now."""
        self.idle_since, self.busy = time.monotonic(), False


class ConnectionSlots:
    """The connections a server holds, so that no peer can squat them.

    One peer address holds at most ``max_per_peer``, everyone together
    ``max_connections``. At either limit the longest-idle connection (never one whose
    request is being handled) is closed to make room for the new one, so idle
    connections lock nobody out; a new one is refused only when every slot it could
    take is busy. Refusals go to ``refusals`` (logged at most once per interval).
    """

    def __init__(self, max_connections: int, max_per_peer: int, refusals: RefusalLog):
        if max_connections < 1 or max_per_peer < 1:
            raise ValueError("max_connections and max_per_peer must be at least 1")
        self.max_connections, self.max_per_peer = max_connections, max_per_peer
        self.refusals = refusals
        self._open: set[Slot] = set()
        self._lock = threading.Lock()

    def admit(self, host: str, close: Callable[[], None]) -> Slot | None:
        """A slot for a new connection from ``host`` (``close`` ends it), or None: refused."""
        slot = Slot(host, close)
        with self._lock:
            victim = self._longest_idle(host)
            if victim is not None:
                self._open.discard(victim)
            elif not self._has_room(host):
                slot = None
            if slot is not None:
                self._open.add(slot)
        if slot is None:
            self.refusals.refused(host, "every connection slot it could take is busy with a request")
        if victim is not None:
            log.debug("closing the connection from %s idle for %.1f s to make room for one from %s",
                      victim.host, time.monotonic() - victim.idle_since, host)
            victim.close()
        return slot

    def release(self, slot: Slot | None) -> None:
        """The connection is closed: its slot is free."""
        with self._lock:
            self._open.discard(slot)

    def __len__(self) -> int:
        with self._lock:
            return len(self._open)

    def all(self) -> list[Slot]:
        with self._lock:
            return list(self._open)

    def _has_room(self, host: str) -> bool:
        return (len(self._open) < self.max_connections
                and sum(s.host == host for s in self._open) < self.max_per_peer)

    def _longest_idle(self, host: str) -> Slot | None:
        """The connection to close for a new one from ``host``: None when there is room (or none idle)."""
        if self._has_room(host):
            return None
        same_peer = [s for s in self._open if s.host == host]
        pool = same_peer if len(same_peer) >= self.max_per_peer else self._open
        idle = [s for s in pool if not s.busy]
        return min(idle, key=lambda s: s.idle_since) if idle else None


class GuardedServer:
    """Mixin for a ``socketserver`` server: ``allow`` says who may connect, ``slots`` how many.

    The server calls :meth:`guard` in its ``__init__``; its handler calls
    ``server.working(request)`` once a request is in, so that the connection is not
    closed for another one (one that has sent nothing yet is idle: the first to go).
    """

    def guard(self, allow: AllowList, refusals: RefusalLog, max_connections: int, max_per_peer: int) -> None:
        self.allow, self.refusals = allow, refusals
        self.slots = ConnectionSlots(max_connections, max_per_peer, refusals)
        self._slot_lock = threading.Lock()
        self._slot_by_request: dict[Any, Slot] = {}

    def verify_request(self, request, client_address) -> bool:
        host = client_address[0]
        if not self.allow.allows(host):
            self.refusals.refused(host, f"not in {self.allow.key} ({self.allow})")
            return False
        slot = self.slots.admit(host, close=lambda: _wake(request))
        if slot is None:
            return False
        with self._slot_lock:
            self._slot_by_request[request] = slot
        return True

    def slot_of(self, request) -> Slot | None:
        with self._slot_lock:
            return self._slot_by_request.get(request)

    def working(self, request) -> None:
        """The request on this connection is in: it is not to be closed for a newcomer."""
        slot = self.slot_of(request)
        if slot is not None:
            slot.working()

    def shutdown_request(self, request) -> None:
        with self._slot_lock:
            slot = self._slot_by_request.pop(request, None)
        self.slots.release(slot)
        super().shutdown_request(request)


def _wake(sock: socket.socket) -> None:
    """End a connection from outside its thread: its blocked recv returns and the handler finishes."""
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)

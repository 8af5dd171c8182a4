"""Who may talk to a server: client-network allow-lists, and refusals logged without flooding.

Every server and transport in the ecosystem takes ``allow`` (a list of networks or
addresses, e.g. ``["10.0.0.0/8", "127.0.0.1"]``); a peer outside it gets no reply
at all. ``None`` (the default) allows everyone, as PyExpLabSys does.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Iterable

__all__ = ["AllowList", "RefusalLog", "network_argument"]

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

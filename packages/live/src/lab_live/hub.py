"""The dashboard's state (one channel per codename) and its fan-out to any number of browsers.

Producers (the UDP receiver, the pull poller, the staleness ticker) call ``Hub``'s
``apply_*`` methods; those change the channels under one lock and *offer* the change
to every connected ``Client``. Offering never blocks and never waits for a browser:
it merges the change into the client's pending update (latest summary per codename,
new plot points appended). A client whose pending points exceed its bound is not
kept up to date point by point any more: its pending update is dropped and it is
marked for a *resync* — its next event is a fresh snapshot (latest values and the
bounded history). So a slow or stuck browser costs a bounded amount of memory and
never slows the sockets or the other browsers.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from .protocol import OLD_DATA, Point

log = logging.getLogger(__name__)


class TooManyClients(RuntimeError):
    """The dashboard already serves its maximum number of browsers."""


class HubClosed(RuntimeError):
    """The hub was closed (the server is stopping)."""


@attrs.define(eq=False)
class Channel:
    """One codename: its latest point, where it came from, its freshness and its recent history."""

    codename: str
    history: deque[Point]
    source: str = ""
    x: float | None = None
    y: Any = None
    has_value: bool = False
    #: wall-clock time (``time.time()``) and monotonic time of the last change seen by the dashboard
    updated: float | None = None
    updated_mono: float | None = None
    stale: bool = False
    reason: str | None = None
    reset: bool = False

    def summary(self) -> dict[str, Any]:
        return {
            "x": self.x, "y": self.y, "has_value": self.has_value, "source": self.source,
            "updated": self.updated, "stale": self.stale, "reason": self.reason, "reset": self.reset,
        }


class Client:
    """One browser's pending update. ``offer`` is called under the hub's lock; ``take`` by the
    browser's own thread. Only this client's small lock is shared between them."""

    def __init__(self, max_pending_points: int):
        self.max_pending_points = max_pending_points
        self._cond = threading.Condition()
        self._summaries: dict[str, dict[str, Any]] = {}
        self._points: dict[str, list[Point]] = {}
        self._resets: dict[str, None] = {}
        self._status: dict[str, Any] | None = None
        self._pending_points = 0
        self.resync = True  # the first event is always a snapshot
        self.closed = False
        self.dropped_updates = 0  # times this client fell behind and was resynced

    # -- producer side (under the hub lock) -----------------------------------------
    def offer(self, summaries: Mapping[str, dict[str, Any]], points: Mapping[str, list[Point]],
              resets: Iterable[str], status: dict[str, Any] | None) -> None:
        with self._cond:
            if self.closed:
                return
            if not self.resync:
                for codename in resets:
                    self._pending_points -= len(self._points.pop(codename, ()))
                    self._resets[codename] = None
                for codename, new in points.items():
                    self._points.setdefault(codename, []).extend(new)
                    self._pending_points += len(new)
                self._summaries.update(summaries)
                if status is not None:
                    self._status = status
                if self._pending_points > self.max_pending_points:
                    self._clear()
                    self.resync = True
                    self.dropped_updates += 1
            self._cond.notify()

    def _clear(self) -> None:
        self._summaries, self._points, self._resets = {}, {}, {}
        self._status, self._pending_points = None, 0

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._clear()
            self._cond.notify_all()

    # -- consumer side (the browser's thread) ------------------------------------------
    def wait(self, timeout: float) -> bool:
        """Wait until something is pending (or closed); True if so."""
        with self._cond:
            return self._cond.wait_for(self._ready, timeout)

    def _ready(self) -> bool:
        return self.closed or self.resync or bool(self._summaries or self._resets or self._status is not None)

    def take(self) -> dict[str, Any] | None:
        """The pending update (and nothing pending any more), or None if a resync is due or nothing is pending."""
        with self._cond:
            if self.closed:
                raise HubClosed("the dashboard is stopping")
            if self.resync or not self._ready():
                return None
            update: dict[str, Any] = {"channels": self._summaries, "points": self._points,
                                      "reset": list(self._resets)}
            if self._status is not None:
                update["status"] = self._status
            self._clear()
            return update

    def _begin_snapshot(self) -> None:
        """Called by the hub, under its lock, as it takes this client's snapshot."""
        with self._cond:
            self._clear()
            self.resync = False


class Hub:
    """Channels by codename, their staleness, and the connected clients.

    ``stale_after`` — seconds without a new point after which a channel is stale;
    ``history`` — points kept per codename (for the plots and for snapshots);
    ``max_channels`` — codenames kept at most (more are ignored and counted);
    ``clock`` / ``wallclock`` — injectable for tests (monotonic seconds / unix time).
    """

    def __init__(self, *, stale_after: float = 30.0, history: int = 1000, max_channels: int = 5000,
                 max_clients: int = 100, max_pending_points: int | None = None,
                 clock: Callable[[], float] = time.monotonic, wallclock: Callable[[], float] = time.time):
        if stale_after <= 0:
            raise ValueError(f"stale_after must be > 0 seconds, got {stale_after}")
        if history < 1:
            raise ValueError(f"history must be at least 1 point, got {history}")
        self.stale_after = stale_after
        self.history = history
        self.max_channels = max_channels
        self.max_clients = max_clients
        self.max_pending_points = max_pending_points or max(10 * history, 10000)
        self.clock = clock
        self.wallclock = wallclock
        self._lock = threading.Lock()
        self._channels: dict[str, Channel] = {}
        self._clients: set[Client] = set()
        self._status: dict[str, Any] = {}
        self._closed = False
        #: codename -> {"unit": …, "description": …}: what the wire does not carry (from ``lab live --config``)
        self.meta: dict[str, dict[str, str]] = {}
        self.ignored_channels = 0
        self._warned_full = False

    # -- producers ------------------------------------------------------------------
    def apply_points(self, source: str, points: Mapping[str, Point], *, dedupe: bool = False) -> None:
        """New points from ``source``. With ``dedupe`` (pull sockets, which serve the same point until
        it is set again) a point equal to the channel's latest is not a new point."""
        now, wall = self.clock(), self.wallclock()
        summaries: dict[str, dict[str, Any]] = {}
        new_points: dict[str, list[Point]] = {}
        with self._lock:
            for codename, (x, y) in points.items():
                channel = self._channel(codename)
                if channel is None:
                    continue
                if dedupe and channel.has_value and channel.x == x and _same(channel.y, y):
                    continue  # the same point again: not an update (its staleness stands)
                channel.source, channel.x, channel.y, channel.has_value = source, x, y, True
                channel.updated, channel.updated_mono = wall, now
                channel.stale, channel.reason, channel.reset = False, None, False
                channel.history.append((x, y))
                summaries[codename] = channel.summary()
                new_points.setdefault(codename, []).append((x, y))
            self._offer(summaries, new_points, ())

    def apply_unset(self, source: str, codenames: Iterable[str]) -> None:
        """Codenames a source has but never set (a pull socket's default point): listed, without a value."""
        summaries: dict[str, dict[str, Any]] = {}
        with self._lock:
            for codename in codenames:
                known = codename in self._channels
                channel = self._channel(codename)
                if channel is None or known:
                    continue
                channel.source = source
                summaries[codename] = channel.summary()
            self._offer(summaries, {}, ())

    def apply_reset(self, source: str, codenames: Iterable[str]) -> None:
        """LiveSocket ``reset``: forget the codename's value and plot (the row stays, marked reset)."""
        now, wall = self.clock(), self.wallclock()
        summaries: dict[str, dict[str, Any]] = {}
        resets: list[str] = []
        with self._lock:
            for codename in codenames:
                channel = self._channel(codename)
                if channel is None:
                    continue
                channel.history.clear()
                channel.source, channel.x, channel.y, channel.has_value = source, None, None, False
                channel.updated, channel.updated_mono = wall, now
                channel.stale, channel.reason, channel.reset = False, None, True
                summaries[codename] = channel.summary()
                resets.append(codename)
            self._offer(summaries, {}, resets)

    def apply_old(self, source: str, codenames: Iterable[str]) -> None:
        """A pull socket answered ``OLD_DATA`` for these codenames: mark them stale (keep the last value)."""
        summaries: dict[str, dict[str, Any]] = {}
        with self._lock:
            for codename in codenames:
                channel = self._channel(codename)
                if channel is None:
                    continue
                if channel.stale and channel.reason == OLD_DATA and channel.source == source:
                    continue
                channel.source, channel.stale, channel.reason = source, True, OLD_DATA
                summaries[codename] = channel.summary()
            self._offer(summaries, {}, ())

    def tick(self) -> list[str]:
        """Mark channels with no new point for ``stale_after`` seconds stale; returns their codenames."""
        now = self.clock()
        summaries: dict[str, dict[str, Any]] = {}
        with self._lock:
            for channel in self._channels.values():
                if channel.stale or channel.updated_mono is None:
                    continue
                if now - channel.updated_mono > self.stale_after:
                    channel.stale = True
                    channel.reason = f"no update for {self.stale_after:g} s"
                    summaries[channel.codename] = channel.summary()
            if summaries:
                self._offer(summaries, {}, ())
        return list(summaries)

    def set_status(self, key: str, status: Mapping[str, Any]) -> None:
        """The state of one source (the UDP receiver, a pull socket), shown on the page."""
        with self._lock:
            if self._status.get(key) == status:
                return
            self._status[key] = dict(status)
            self._offer({}, {}, (), status=dict(self._status))

    def _channel(self, codename: str) -> Channel | None:
        channel = self._channels.get(codename)
        if channel is None:
            if len(self._channels) >= self.max_channels:
                self.ignored_channels += 1
                if not self._warned_full:
                    self._warned_full = True
                    log.warning("more than %d codenames: ignoring new ones such as %r (raise --max-channels)",
                                self.max_channels, codename)
                return None
            channel = self._channels[codename] = Channel(codename, deque(maxlen=self.history))
        return channel

    def _offer(self, summaries, points, resets, status=None) -> None:
        if not (summaries or points or resets or status is not None):
            return
        for client in self._clients:
            client.offer(summaries, points, resets, status)

    # -- consumers ------------------------------------------------------------------
    def connect(self) -> Client:
        with self._lock:
            if self._closed:
                raise HubClosed("the dashboard is stopping")
            if len(self._clients) >= self.max_clients:
                raise TooManyClients(f"already serving {self.max_clients} browsers (raise --max-clients)")
            client = Client(self.max_pending_points)
            self._clients.add(client)
            return client

    def disconnect(self, client: Client) -> None:
        with self._lock:
            self._clients.discard(client)
        client.close()

    def snapshot(self, client: Client | None = None, *, history: bool = True) -> dict[str, Any]:
        """Every channel's latest summary (and history), the sources' status, the settings.
        With ``client``, atomically clears that client's pending update (it resumes from here)."""
        with self._lock:
            if client is not None:
                client._begin_snapshot()
            result: dict[str, Any] = {
                "now": self.wallclock(),
                "stale_after": self.stale_after,
                "history_points": self.history,
                "channels": {c: ch.summary() for c, ch in sorted(self._channels.items())},
                "status": dict(self._status),
                "meta": self.meta,
            }
            if history:
                result["history"] = {c: list(ch.history) for c, ch in sorted(self._channels.items())}
            return result

    @property
    def clients(self) -> int:
        with self._lock:
            return len(self._clients)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            clients, self._clients = list(self._clients), set()
        for client in clients:
            client.close()


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b

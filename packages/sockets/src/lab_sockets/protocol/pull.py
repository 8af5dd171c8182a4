"""The pull protocol shared by DateDataPullSocket and DataPullSocket: request bytes in, reply bytes out.

Commands (UTF-8; ASCII is what PyExpLabSys sent)::

    raw            x1,y1;x2,y2;OLD_DATA          json      [[x1, y1], [x2, y2], "OLD_DATA"]
    raw_wn         a:x1,y1;b:x2,y2               json_wn   {"a": [x1, y1], "b": [x2, y2]}
    codenames_raw  a,b                           codenames_json  ["a", "b"]
    a#raw          x1,y1                         a#json    [x1, y1]
    name           the server's name             status    {"system_status": …, "socket_server_status": …}
    anything else  UNKNOWN_COMMMAND

The two kinds differ only in when a point is ``OLD_DATA`` (see ``date`` and ``data``).

The protocol keeps the points and is safe to use from several threads: setters
take a lock, and replies are built under it. Replies are cached per command
until the next set, or until the first served point would turn old, so a busy
poller costs a dictionary look-up.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from numbers import Real
from typing import Any

from lab_core import check_codename

from ..errors import UnknownCodename
from .common import OLD_DATA, UNKNOWN_COMMAND_BYTES, StatusProvider, encode_json, no_status, raw_item

_INF = math.inf
_NOT_SET_YET = -_INF


def _check_timeout(codename: str, timeout: Any) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, Real) or not timeout >= 0:
        raise ValueError(f"timeout for {codename!r} must be a number of seconds >= 0 or None, got {timeout!r}")
    return float(timeout)


_PLAIN = (float, int, str, bool, type(None))


def as_point(codename: str, point: Any) -> tuple[Any, Any]:
    """``point`` as an (x, y) tuple that can be served in both encodings; else TypeError."""
    if isinstance(point, (str, bytes)):
        raise TypeError(f"point for {codename!r} must be a pair (x, y), got the string {point!r}")
    try:
        x, y = point
    except (TypeError, ValueError):
        raise TypeError(f"point for {codename!r} must be a pair (x, y), got {point!r}") from None
    if type(x) not in _PLAIN or type(y) not in _PLAIN:
        try:
            encode_json((x, y))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"point for {codename!r} cannot be served as JSON: {exc}") from None
    return x, y


class PullProtocol:
    """State and commands of a pull socket (abstract: see DateDataPullProtocol, DataPullProtocol)."""

    #: ``"date"`` or ``"data"``: the socket type reported by ``status``.
    kind = "pull"

    def __init__(
        self,
        name: str,
        codenames: Sequence[str],
        default_x: Any = 0.0,
        default_y: Any = 0.0,
        timeouts: float | Sequence[float | None] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        status: StatusProvider = no_status,
    ):
        if not isinstance(name, str):
            raise TypeError(f"name must be a string, got {name!r}")
        if isinstance(codenames, str):
            raise TypeError(f"codenames must be a list of strings, not the string {codenames!r}")
        codenames = list(codenames)
        self.name = name
        self.default_x = default_x
        self.default_y = default_y
        self._clock = clock
        self._status = status
        self._lock = threading.RLock()
        self._codenames: list[str] = []
        self._points: dict[str, tuple[Any, Any]] = {}
        self._timeouts: dict[str, float | None] = {}
        #: the time each point's age is measured from (see ``_age_reference``)
        self._refs: dict[str, float] = {}
        self._generation = 0
        self._cache: dict[bytes, tuple[int, float, bytes]] = {}
        self._commands: dict[bytes, Callable[[float], tuple[bytes, float]]] = {}
        if timeouts is None or isinstance(timeouts, (Real, str)):
            per_codename = [timeouts] * len(codenames)
        else:
            per_codename = list(timeouts)
            if len(per_codename) != len(codenames):
                raise ValueError(
                    f"timeouts has {len(per_codename)} values for {len(codenames)} codenames; "
                    "give one timeout for all, or one per codename in the same order"
                )
        self.add_codenames(codenames, per_codename)

    # -- codenames ---------------------------------------------------------------------

    @property
    def codenames(self) -> list[str]:
        return list(self._codenames)

    def timeouts(self) -> dict[str, float | None]:
        return dict(self._timeouts)

    def add_codenames(self, codenames: Iterable[str], timeouts: Iterable[float | None] | None = None) -> None:
        """Serve more codenames (after the existing ones). Duplicates and bad characters are refused."""
        codenames = list(codenames)
        timeouts = [None] * len(codenames) if timeouts is None else list(timeouts)
        if len(timeouts) != len(codenames):
            raise ValueError(f"{len(timeouts)} timeouts for {len(codenames)} codenames; give one per codename")
        checked = []
        seen = set(self._codenames)
        for codename, timeout in zip(codenames, timeouts, strict=True):
            check_codename(codename)
            if codename in seen:
                raise ValueError(f"codename {codename!r} is given twice; codenames must be unique")
            seen.add(codename)
            checked.append((codename, _check_timeout(codename, timeout)))
        with self._lock:
            for codename, timeout in checked:
                self._codenames.append(codename)
                self._timeouts[codename] = timeout
                self._points[codename] = (self.default_x, self.default_y)
                self._refs[codename] = self._initial_reference()
            self._rebuild_commands()

    def _check(self, codename: str) -> None:
        if codename not in self._points:
            raise UnknownCodename(
                f"codename {codename!r} is not served by {self.name!r}; its codenames are "
                f"{', '.join(self._codenames) or '(none)'}"
            )

    # -- setting points (kind-specific age reference) ---------------------------------------

    def _initial_reference(self) -> float:
        """Age reference before the first set (old at once when a timeout is set)."""
        return _NOT_SET_YET

    def _age_reference(self, codename: str, x: Any, timestamp: float | None) -> float:
        raise NotImplementedError

    def set_point(self, codename: str, point: Any, timestamp: float | None = None) -> None:
        self.set_batch({codename: point}, timestamp)

    def set_batch(self, points: Mapping[str, Any], timestamp: float | None = None) -> None:
        """Set several points at once; nothing is set if one codename is unknown."""
        checked = []
        for codename, point in points.items():
            self._check(codename)
            x, y = as_point(codename, point)
            checked.append((codename, (x, y), self._age_reference(codename, x, timestamp)))
        with self._lock:
            for codename, point, reference in checked:
                self._points[codename] = point
                self._refs[codename] = reference
            self._generation += 1

    def reset(self, codenames: Iterable[str] | None = None) -> None:
        """Serve ``codenames`` (default: all) as before their first set."""
        codenames = self.codenames if codenames is None else list(codenames)
        for codename in codenames:
            self._check(codename)
        with self._lock:
            for codename in codenames:
                self._points[codename] = (self.default_x, self.default_y)
                self._refs[codename] = self._initial_reference()
            self._generation += 1

    def point(self, codename: str) -> tuple[Any, Any]:
        """The point as stored (regardless of its age)."""
        self._check(codename)
        return self._points[codename]

    # -- serving ---------------------------------------------------------------------------------

    def receive(self, request: bytes) -> bytes:
        """The reply to one request (never raises for any request bytes)."""
        entry = self._cache.get(request)
        if entry is not None and entry[0] == self._generation and self._clock() <= entry[1]:
            return entry[2]
        command = self._commands.get(request)
        if command is None:
            if request == b"status":
                return encode_json(self._status()).encode()
            return UNKNOWN_COMMAND_BYTES
        with self._lock:
            generation = self._generation
            reply, until = command(self._clock())
            self._cache[request] = (generation, until, reply)
        return reply

    def _rebuild_commands(self) -> None:
        self._generation += 1
        commands: dict[bytes, Callable[[float], tuple[bytes, float]]] = {
            b"raw": self._raw,
            b"json": self._json,
            b"raw_wn": self._raw_wn,
            b"json_wn": self._json_wn,
            b"codenames_raw": self._fixed(",".join(self._codenames).encode()),
            b"codenames_json": self._fixed(encode_json(self._codenames).encode()),
            b"name": self._fixed(self.name.encode()),
        }
        for codename in self._codenames:
            commands[f"{codename}#raw".encode()] = self._single(codename, raw=True)
            commands[f"{codename}#json".encode()] = self._single(codename, raw=False)
        self._commands = commands
        self._cache = {}

    @staticmethod
    def _fixed(reply: bytes) -> Callable[[float], tuple[bytes, float]]:
        return lambda now: (reply, _INF)

    def _current(self, codename: str, now: float) -> tuple[Any, float]:
        """``(point or OLD_DATA, until when that answer holds)``."""
        timeout = self._timeouts[codename]
        if timeout is None:
            return self._points[codename], _INF
        deadline = self._refs[codename] + timeout
        if now > deadline:
            return OLD_DATA, _INF  # stays old until the next set
        return self._points[codename], deadline

    def _all(self, now: float) -> tuple[list[tuple[str, Any]], float]:
        until = _INF
        values = []
        for codename in self._codenames:
            value, deadline = self._current(codename, now)
            if deadline < until:
                until = deadline
            values.append((codename, value))
        return values, until

    @staticmethod
    def _raw_point(value: Any) -> str:
        if value is OLD_DATA:
            return OLD_DATA
        return raw_item(value[0]) + "," + raw_item(value[1])

    def _raw(self, now: float) -> tuple[bytes, float]:
        values, until = self._all(now)
        return ";".join(self._raw_point(v) for _, v in values).encode(), until

    def _raw_wn(self, now: float) -> tuple[bytes, float]:
        values, until = self._all(now)
        return ";".join(f"{c}:{self._raw_point(v)}" for c, v in values).encode(), until

    def _json(self, now: float) -> tuple[bytes, float]:
        values, until = self._all(now)
        return encode_json([v for _, v in values]).encode(), until

    def _json_wn(self, now: float) -> tuple[bytes, float]:
        values, until = self._all(now)
        return encode_json(dict(values)).encode(), until

    def _single(self, codename: str, raw: bool) -> Callable[[float], tuple[bytes, float]]:
        def reply(now: float) -> tuple[bytes, float]:
            value, until = self._current(codename, now)
            text = self._raw_point(value) if raw else encode_json(value)
            return text.encode(), until

        return reply

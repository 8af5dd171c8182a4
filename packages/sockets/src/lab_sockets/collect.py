"""Collector plugins: the ``socket`` writer (serve collected values on the network) and the
``socket`` reader (read codenames from a remote pull socket).

Writer ``socket`` — options ``host`` ("0.0.0.0"), ``port`` (9000), ``name``, ``codenames``,
``timeouts``, ``transport`` ("udp"), ``allow`` (client networks answered; default everyone):
    every accepted sample becomes the current point ``(sample.time, value)`` of its codename
    on a DateDataPullSocket. PyExpLabSys fixes a socket's codenames when it is made; here
    ``codenames`` may be given (only those are served, in that order; others are ignored) or
    left out: then every codename the writer sees is served, in the order first seen, and
    ``codenames_json`` grows as new ones arrive. Only the newest point of a codename is
    served: an older sample (a retried batch) never replaces a newer one; error samples are
    not served (the last good point stays, and turns OLD_DATA after its timeout).

Reader ``socket`` — options ``host``, ``port`` (9000), ``transport``, ``timeout``, ``retries``,
``time_source`` ("remote" or "local"):
    a variable's address is a codename on the remote pull socket; one ``json_wn`` request
    reads a whole batch. ``time_source="remote"`` (default) takes the sample time from the
    point's x (a DateDataPullSocket's time); use "local" for a DataPullSocket. OLD_DATA,
    a codename the remote does not serve, or a value that is not a number/bool/str is an
    error sample for that variable; an unreachable socket fails the whole read.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Sequence
from numbers import Real
from typing import Any

from lab_core import Reader, Sample, Variable, Writer, check_codename

from .protocol.common import DEFAULT_PORTS, OLD_DATA

__all__ = ["SocketReader", "SocketWriter"]

log = logging.getLogger("lab_sockets.collect")


class SocketWriter(Writer):
    """Serve the collected values on a DateDataPullSocket (see the module docstring)."""

    max_batch = 5000

    def __init__(self, host: str = "0.0.0.0", port: int = DEFAULT_PORTS["date"], name: str = "lab collector",
                 codenames: Sequence[str] | None = None, timeouts: float | Sequence[float | None] | None = None,
                 transport: Any = "udp", transport_options: dict | None = None, check_activity: bool = True,
                 activity_timeout: float = 900, allow: Sequence[str] | None = None):
        from .pull import DateDataPullSocket

        if codenames is None and timeouts is not None and not isinstance(timeouts, Real):
            raise ValueError("without codenames, timeouts must be one number of seconds (for every codename)")
        self.fixed_codenames = codenames is not None
        self.timeout = None if self.fixed_codenames else timeouts
        self.socket = DateDataPullSocket(
            name, list(codenames or ()), port=port, timeouts=timeouts if self.fixed_codenames else None,
            check_activity=check_activity, activity_timeout=activity_timeout, host=host, transport=transport,
            transport_options=transport_options, allow=allow)
        self._ignored: set[str] = set()

    @property
    def port(self) -> int:
        return self.socket.port

    @property
    def address(self) -> tuple[str, int]:
        return self.socket.address

    def open(self) -> None:
        if not self.socket.running:
            self.socket.start()

    def write(self, batch: Sequence[Sample]) -> None:
        newest: dict[str, Sample] = {}
        for sample in batch:
            if not sample.ok:
                continue
            best = newest.get(sample.codename)
            if best is None or sample.time >= best.time:
                newest[sample.codename] = sample
        protocol = self.socket.protocol
        served = set(protocol.codenames)
        new = [codename for codename in newest if codename not in served]
        if new:
            if self.fixed_codenames:
                for codename in new:
                    del newest[codename]
                    if codename not in self._ignored:
                        self._ignored.add(codename)
                        log.info("socket writer: codename %r is not in its codenames; not served", codename)
            else:
                protocol.add_codenames(new, [self.timeout] * len(new))
        points = {}
        for codename, sample in newest.items():
            current_x = protocol.point(codename)[0]
            if not isinstance(current_x, Real) or sample.time >= current_x:
                points[codename] = (sample.time, sample.value)
        if points:
            self.socket.set_batch(points)

    def close(self) -> None:
        self.socket.stop()


class SocketReader(Reader):
    """Read codenames (the variables' addresses) from a remote pull socket."""

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORTS["date"], transport: Any = "udp",
                 timeout: float = 1.0, retries: int = 2, time_source: str = "remote", min_interval_ms: float = 0.0):
        if time_source not in ("remote", "local"):
            raise ValueError(f"time_source must be 'remote' (the point's x) or 'local', got {time_source!r}")
        self.host = host
        self.port = port
        self.transport = transport
        self.timeout = timeout
        self.retries = retries
        self.time_source = time_source
        self.min_interval_ms = min_interval_ms
        self._client: Any = None

    def check_address(self, variable: Variable) -> None:
        try:
            check_codename(variable.address)
        except ValueError as exc:
            raise ValueError(f"variable {variable.codename!r}: address must be a remote codename: {exc}") from None

    def open(self) -> None:
        from .client import PullClient

        if self._client is None:
            self._client = PullClient(self.host, self.port, transport=self.transport, timeout=self.timeout,
                                      retries=self.retries)

    def read(self, variables: Sequence[Variable]) -> list[Sample]:
        from .errors import RemoteError

        if self._client is None:
            self.open()
        try:
            data = self._client.json_wn()
        except RemoteError:  # e.g. too many codenames for one datagram: ask one by one
            data = {}
            for variable in variables:
                with contextlib.suppress(RemoteError):  # not served: an error sample below
                    data[variable.address] = self._client.get(variable.address)
        now = time.time()
        return [self._sample(variable, data, now) for variable in variables]

    def _sample(self, variable: Variable, data: dict[str, Any], now: float) -> Sample:
        where = f"{self.host}:{self.port}"
        point = data.get(variable.address)
        if point is None:
            return Sample.failed(variable.codename, f"codename {variable.address!r} is not served by {where} "
                                 f"(it serves {', '.join(data) or 'nothing'})", now)
        if point == OLD_DATA:
            return Sample.failed(variable.codename, f"OLD_DATA: {variable.address!r} at {where} is older than "
                                 "its timeout", now)
        if not isinstance(point, tuple) or len(point) != 2:
            return Sample.failed(variable.codename, f"{variable.address!r} at {where} is not a point: {point!r}", now)
        x, value = point
        if value is None:
            return Sample.failed(variable.codename, f"{variable.address!r} at {where} is null (NaN or infinite "
                                 "there)", now)
        if not isinstance(value, (int, float, str, bool)):
            return Sample.failed(variable.codename, f"{variable.address!r} at {where} is not a number, bool or "
                                 f"string: {value!r}", now)
        at = now
        if self.time_source == "remote":
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
                return Sample.failed(variable.codename, f"{variable.address!r} at {where} has no time (x={x!r}); "
                                     "use time_source='local'", now)
            at = float(x)
        return Sample(variable.codename, at, value)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

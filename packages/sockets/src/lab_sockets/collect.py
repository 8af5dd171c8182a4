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
from typing import Annotated, Any, Literal

from lab_core import Reader, Sample, Variable, Writer, check_codename

from .protocol.common import DEFAULT_PORTS, OLD_DATA

__all__ = ["SocketReader", "SocketWriter"]

log = logging.getLogger("lab_sockets.collect")


class SocketWriter(Writer):
    """Serve the collected values on a DateDataPullSocket (see the module docstring)."""

    max_batch = 5000

    def __init__(
        self,
        host: Annotated[str, "address to serve on (PyExpLabSys's default: all interfaces)"] = "0.0.0.0",
        port: Annotated[int, "UDP/TCP port of the pull socket"] = DEFAULT_PORTS["date"],
        name: Annotated[str, "socket name (the name command's answer)"] = "lab collector",
        codenames: Annotated[Sequence[str] | None, "codenames to serve, in order (default: every one seen)"] = None,
        timeouts: Annotated[float | Sequence[float | None] | None,
                            "seconds after which a point is OLD_DATA: one number, or one per codename"] = None,
        transport: Annotated[str | type, "transport name (udp, tcp), or a Transport class"] = "udp",
        transport_options: Annotated[dict | None, "options for the transport (e.g. max_connections for tcp)"] = None,
        check_activity: Annotated[bool, "status says INACTIVE when no point arrived for activity_timeout"] = True,
        activity_timeout: Annotated[float, "seconds without a new point before the activity warning"] = 900,
        allow: Annotated[Sequence[str] | None, "client networks answered, e.g. [\"10.0.0.0/8\", \"127.0.0.1\"] "
                         "(default: everyone)"] = None,
    ):
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

    example_address = "remote_codename"

    def __init__(
        self,
        host: Annotated[str, "host of the remote pull socket"] = "127.0.0.1",
        port: Annotated[int, "port of the remote pull socket"] = DEFAULT_PORTS["date"],
        transport: Annotated[str | type, "transport name (udp, tcp), or a Transport class"] = "udp",
        timeout: Annotated[float, "seconds to wait for each reply"] = 1.0,
        retries: Annotated[int, "requests sent again after a timeout"] = 2,
        time_source: Annotated[Literal["remote", "local"],
                               "remote: the point's own time (DateDataPullSocket); local: this machine's"] = "remote",
        min_interval_ms: Annotated[float, "shortest interval (ms) the collector may read it at"] = 0.0,
    ):
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

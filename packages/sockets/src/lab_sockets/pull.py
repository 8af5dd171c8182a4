"""DateDataPullSocket and DataPullSocket: serve the latest point of each codename."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from . import status as _status
from .protocol.common import DEFAULT_PORTS
from .protocol.data import DataPullProtocol
from .protocol.date import DateDataPullProtocol
from .protocol.pull import PullProtocol
from .server import SocketServer

__all__ = ["CommonDataPullSocket", "DataPullSocket", "DateDataPullSocket"]


class CommonDataPullSocket(SocketServer):
    """What both pull sockets share (see PyExpLabSys's CommonDataPullSocket).

    ``timeouts``: seconds after which a point is served as ``OLD_DATA``; one number
    for all codenames or one per codename (None: never old).
    """

    protocol_class: type[PullProtocol] = PullProtocol

    def __init__(self, name: str, codenames: Sequence[str], port: int, default_x: Any = 0.0,
                 default_y: Any = 0.0, timeouts: float | Sequence[float | None] | None = None,
                 check_activity: bool = True, activity_timeout: float = 900, poke_on_set: bool = True, *,
                 host: str | None = None, transport: Any = "udp", transport_options: dict | None = None,
                 allow: Sequence[str] | None = None):
        super().__init__(name, port, host=host, transport=transport, transport_options=transport_options,
                         check_activity=check_activity, activity_timeout=activity_timeout, allow=allow)
        self.poke_on_set = poke_on_set
        self.protocol = self.protocol_class(name, codenames, default_x, default_y, timeouts,
                                            status=_status.status_message)

    @property
    def codenames(self) -> list[str]:
        return self.protocol.codenames

    def _receive(self, request: bytes, peer: Any) -> bytes:
        return self.protocol.receive(request)

    def reset(self, codenames: Iterable[str] | None = None) -> None:
        """Serve ``codenames`` (default all) as before their first set: the default point, or OLD_DATA
        when the codename has a timeout."""
        self.protocol.reset(codenames)

    def point(self, codename: str) -> tuple[Any, Any]:
        """The latest point set for ``codename`` (whatever its age)."""
        return self.protocol.point(codename)


class DateDataPullSocket(CommonDataPullSocket):
    """Serve (unix time, value) points; a point is OLD_DATA when ``now - time > timeout``. Port 9000."""

    type = "date"
    protocol_class = DateDataPullProtocol

    def __init__(self, name: str, codenames: Sequence[str], port: int = DEFAULT_PORTS["date"],
                 default_x: Any = 0.0, default_y: Any = 0.0, timeouts: float | Sequence[float | None] | None = None,
                 check_activity: bool = True, activity_timeout: float = 900, poke_on_set: bool = True, *,
                 host: str | None = None, transport: Any = "udp", transport_options: dict | None = None,
                 allow: Sequence[str] | None = None):
        super().__init__(name, codenames, port, default_x, default_y, timeouts, check_activity, activity_timeout,
                         poke_on_set, host=host, transport=transport, transport_options=transport_options,
                         allow=allow)

    def set_point(self, codename: str, point: Sequence[Any]) -> None:
        """Set ``codename``'s point to ``(unix_time, value)``."""
        self.protocol.set_point(codename, point)
        if self.poke_on_set:
            self.poke()

    def set_point_now(self, codename: str, value: Any) -> None:
        """Set ``codename``'s value, timed now."""
        self.protocol.set_point_now(codename, value)
        if self.poke_on_set:
            self.poke()

    def set_batch(self, data: Mapping[str, Sequence[Any]]) -> None:
        """Set several points ``{codename: (unix_time, value)}`` at once (none if one codename is unknown)."""
        self.protocol.set_batch(data)
        if self.poke_on_set:
            self.poke()

    def set_batch_now(self, data: Mapping[str, Any]) -> None:
        """Set several values ``{codename: value}``, all timed now."""
        self.protocol.set_batch_now(data)
        if self.poke_on_set:
            self.poke()


class DataPullSocket(CommonDataPullSocket):
    """Serve (x, y) points; a point is OLD_DATA ``timeout`` seconds after it was set. Port 9010."""

    type = "data"
    protocol_class = DataPullProtocol

    def __init__(self, name: str, codenames: Sequence[str], port: int = DEFAULT_PORTS["data"],
                 default_x: Any = 0.0, default_y: Any = 0.0, timeouts: float | Sequence[float | None] | None = None,
                 check_activity: bool = True, activity_timeout: float = 900, poke_on_set: bool = True, *,
                 host: str | None = None, transport: Any = "udp", transport_options: dict | None = None,
                 allow: Sequence[str] | None = None):
        super().__init__(name, codenames, port, default_x, default_y, timeouts, check_activity, activity_timeout,
                         poke_on_set, host=host, transport=transport, transport_options=transport_options,
                         allow=allow)

    def set_point(self, codename: str, point: Sequence[Any], timestamp: float | None = None) -> None:
        """Set ``codename``'s point ``(x, y)``; ``timestamp`` (default now) is when it was measured."""
        self.protocol.set_point(codename, point, timestamp)
        if self.poke_on_set:
            self.poke()

    def set_batch(self, data: Mapping[str, Sequence[Any]], timestamp: float | None = None) -> None:
        """Set several points ``{codename: (x, y)}`` at once, all measured at ``timestamp`` (default now)."""
        self.protocol.set_batch(data, timestamp)
        if self.poke_on_set:
            self.poke()

"""LiveSocket: send points, fire-and-forget, to a live server; mirror them on a pull socket."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .protocol.common import DEFAULT_PORTS, LIVE_SERVER_PORT, parse_host_port
from .protocol.live import LiveProtocol
from .pull import DataPullSocket
from .transports.base import resolve

__all__ = ["LiveSocket", "default_live_server"]

log = logging.getLogger("lab_sockets.live")

#: ``host:port`` of the live server when ``live_server`` is not given.
LIVE_SERVER_ENV = "LAB_LIVE_SERVER"
#: PyExpLabSys's settings file; its ``common_liveserver_host`` / ``common_liveserver_port`` are used next.
USER_SETTINGS = Path("~/.config/PyExpLabSys/user_settings.yaml")


def default_live_server() -> tuple[str, int]:
    """``$LAB_LIVE_SERVER`` (``host:port``), else PyExpLabSys's ``user_settings.yaml``, else localhost:9767."""
    value = os.environ.get(LIVE_SERVER_ENV, "").strip()
    if value:
        try:
            return parse_host_port(value, None, "localhost")
        except ValueError as exc:
            raise ValueError(f"{LIVE_SERVER_ENV}={value!r} is not host:port, e.g. myserver:{LIVE_SERVER_PORT} "
                             f"({exc})") from None
    settings = read_user_settings(USER_SETTINGS.expanduser())
    host, port = settings.get("common_liveserver_host"), settings.get("common_liveserver_port")
    try:
        port = LIVE_SERVER_PORT if port is None else int(port)
    except (TypeError, ValueError):
        raise ValueError(f"common_liveserver_port in {USER_SETTINGS} must be a port number, got {port!r}") from None
    return (str(host) if host else "localhost", port)


def read_user_settings(path: Path) -> dict[str, Any]:
    """The top-level mapping of a PyExpLabSys ``user_settings.yaml`` ({} when there is none).

    Read with PyYAML when it is installed (``pip install lab-sockets[yaml]``); else a
    minimal subset: ``key: value`` lines at the top level, ``#`` comments, quoted or bare
    scalars (numbers become ints/floats). Nested blocks are skipped.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    try:
        import yaml
    except ImportError:
        return _yaml_subset(text)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        log.warning("%s is not valid YAML (%s); its live server settings are ignored", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def _yaml_subset(text: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for line in text.splitlines():
        if not line or line[0] in " \t#-":
            continue
        key, sep, value = line.partition(":")
        value = value.split(" #", 1)[0].strip()
        if not sep or not value:
            continue
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            found[key.strip()] = value[1:-1]
            continue
        for convert in (int, float):
            try:
                found[key.strip()] = convert(value)
                break
            except ValueError:
                continue
        else:
            found[key.strip()] = value
    return found


class _InternalPullSocket(DataPullSocket):
    type = "data"  # what PyExpLabSys's LiveSocket reports in status (it is a DataPullSocket)


class LiveSocket:
    """Send each set point to the live server (one UDP datagram per call, nothing waits for it).

    Unless ``no_internal_data_pull_socket``, the points are also served by an internal
    DataPullSocket on ``internal_data_pull_socket_port`` (8000), which makes the
    LiveSocket a status socket too (``status`` type ``data``, as in PyExpLabSys). ``start``/``stop``
    run it. An unknown codename raises ``UnknownLiveCodename`` (a ``RuntimeError`` and a ``KeyError``).
    """

    def __init__(self, name: str, codenames: Sequence[str], live_server: Sequence[Any] | None = None,
                 no_internal_data_pull_socket: bool = False,
                 internal_data_pull_socket_port: int = DEFAULT_PORTS["live"], *, host: str | None = None,
                 transport: Any = "udp", transport_options: dict | None = None, hostname: str | None = None,
                 allow: Sequence[str] | None = None):
        self.name = name
        if live_server is None:
            live_server = default_live_server()
        if len(live_server) != 2:
            raise ValueError(f"live_server must be (host, port), got {live_server!r}")
        self.live_server = (str(live_server[0]), int(live_server[1]))
        self.protocol = LiveProtocol(name, codenames, hostname or socket.gethostname())
        self.internal_socket: DataPullSocket | None = None
        if not no_internal_data_pull_socket:
            self.internal_socket = _InternalPullSocket(
                name, codenames, port=internal_data_pull_socket_port, host=host, transport=transport,
                transport_options=transport_options, allow=allow)
        else:  # still refuse bad or duplicate codenames, as the pull socket would
            from .protocol.data import DataPullProtocol

            DataPullProtocol(name, codenames)
        self._sender: socket.socket | None = None
        self._sockaddr: Any = None

    @property
    def codenames(self) -> list[str]:
        return list(self.protocol.codenames)

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the internal DataPullSocket (if any)."""
        if self.internal_socket is not None:
            self.internal_socket.start()

    def stop(self) -> None:
        """Stop the internal DataPullSocket and close the sending socket."""
        if self.internal_socket is not None:
            self.internal_socket.stop()
        if self._sender is not None:
            self._sender.close()
            self._sender = None

    @property
    def port(self) -> int | None:
        return self.internal_socket.port if self.internal_socket is not None else None

    def __enter__(self) -> LiveSocket:
        if self.internal_socket is not None and not self.internal_socket.running:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- sending ----------------------------------------------------------------------------

    def _send(self, message: bytes) -> None:
        try:
            if self._sockaddr is None:
                family, self._sockaddr = resolve(*self.live_server, socket.SOCK_DGRAM)
                if self._sender is None or self._sender.family != family:
                    self._sender = socket.socket(family, socket.SOCK_DGRAM)
            self._sender.sendto(message, self._sockaddr)
        except OSError as exc:  # fire and forget: the live server may be down
            self._sockaddr = None  # resolve again next time
            log.warning("LiveSocket %r: not sent to %s:%s: %s", self.name, *self.live_server, exc)

    def set_batch(self, data: Mapping[str, Sequence[Any]]) -> None:
        """Send several points ``{codename: (x, y)}`` in one datagram (y may be a number, bool or str)."""
        message = self.protocol.points(data)
        if self.internal_socket is not None:
            self.internal_socket.set_batch(dict(data))
        self._send(message)

    def set_batch_now(self, data: Mapping[str, Any]) -> None:
        """Send several values ``{codename: value}`` timed now."""
        now = time.time()
        self.set_batch({codename: (now, value) for codename, value in data.items()})

    def set_point(self, codename: str, point: Sequence[Any]) -> None:
        self.set_batch({codename: point})

    def set_point_now(self, codename: str, value: Any) -> None:
        self.set_batch({codename: (time.time(), value)})

    def reset(self, codenames: Iterable[str]) -> None:
        """Tell the live server to clear ``codenames``; the internal socket serves them as before any set."""
        codenames = list(codenames)
        message = self.protocol.reset(codenames)
        if self.internal_socket is not None:
            self.internal_socket.reset(codenames)
        self._send(message)

"""What every socket server shares: start/stop on a transport, activity, status registration."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from lab_core.netaccess import AllowList

from . import status as _status
from .transports import make_transport

log = logging.getLogger("lab_sockets")


def _check_activity_timeout(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"activity_timeout must be a positive number of seconds, got {value!r}")
    return float(value)


class SocketServer:
    """Base of the socket servers: serves ``self._receive`` on a transport.

    ``start()`` binds (a busy port raises ``PortInUse`` at once), ``stop()`` frees
    the port before it returns; both may be called again. Also a context manager.
    """

    #: the ``type`` in ``status``: "date", "data", "push" or "live"
    type: ClassVar[str] = ""

    def __init__(self, name: str, port: int, *, host: str | None, transport: Any, transport_options: dict | None,
                 check_activity: bool, activity_timeout: float, allow: Sequence[str] | None = None):
        if not isinstance(name, str):
            raise TypeError(f"name must be a string, got {name!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an integer from 0 to 65535 (0: any free port), got {port!r}")
        self.name = name
        self.requested_port = port
        self.transport_name = transport if isinstance(transport, str) else getattr(transport, "name", "custom")
        # PyExpLabSys's sockets listen on every interface; lab's other transports are new: loopback
        self.host = host if host is not None else ("0.0.0.0" if self.transport_name == "udp" else "127.0.0.1")
        self._transport_spec = transport
        self._transport_options = dict(transport_options or {})
        if allow is not None:
            AllowList(allow)  # a bad network is an error now, not when the server starts
            self._transport_options["allow"] = list(allow)
        self.check_activity = bool(check_activity)
        self.activity_timeout = _check_activity_timeout(activity_timeout)
        self.last_activity = time.time()
        self._transport: Any = None
        self._status_key: str | None = None
        self._start_lock = threading.Lock()
        self._stopped = threading.Event()
        self._stopped.set()

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Bind and serve in the background. Raises ``PortInUse`` if the port is taken."""
        with self._start_lock:
            if self._transport is not None:
                raise RuntimeError(f"{self!r} is already started")
            transport = make_transport(self._transport_spec, self._handle, self.host, self.requested_port,
                                       **self._transport_options)
            transport.start()
            self._transport = transport
            port = transport.address[1]
            self._status_key = str(port) if self.transport_name == "udp" else f"{port}/{self.transport_name}"
            _status.register(self._status_key, self)
            self._stopped.clear()
        log.info("%s %r serving on %s %s:%s", type(self).__name__, self.name, self.transport_name, self.host, port)

    def stop(self) -> None:
        """Stop serving and free the port (at once). Safe to call when not started."""
        with self._start_lock:
            transport, self._transport = self._transport, None
            if transport is None:
                return
            if self._status_key is not None:
                _status.unregister(self._status_key, self)
            transport.stop()
            self._stopped.set()
        log.info("%s %r stopped", type(self).__name__, self.name)

    @property
    def running(self) -> bool:
        return self._transport is not None

    def is_alive(self) -> bool:
        """Serving? (PyExpLabSys's sockets were threads.)"""
        return self.running

    def join(self, timeout: float | None = None) -> None:
        """Wait until the server is stopped (PyExpLabSys's sockets were threads: ``start(); join()``)."""
        self._stopped.wait(timeout)

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) bound; valid once started."""
        if self._transport is None:
            raise RuntimeError(f"{type(self).__name__} {self.name!r} is not started; call start() first")
        return tuple(self._transport.address)

    @property
    def port(self) -> int:
        """The port bound once started (also after ``port=0``), else the port asked for."""
        transport = self._transport
        return transport.address[1] if transport is not None else self.requested_port

    def __enter__(self):
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = f"{self.transport_name} {self.host}:{self.port}"
        return f"<{type(self).__name__} {self.name!r} {where} {'running' if self.running else 'stopped'}>"

    # -- activity ------------------------------------------------------------------------

    def poke(self) -> None:
        """Tell the server there is activity (``status`` reports OK until ``activity_timeout``)."""
        self.last_activity = time.time()

    def activity_status(self, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        if not self.check_activity:
            state, since = "DISABLED", None
        else:
            since = now - self.last_activity
            state = "OK" if since <= self.activity_timeout else "INACTIVE"
        return {"name": self.name, "type": self.type, "status": state, "since_last_activity": since}

    # -- requests ------------------------------------------------------------------------

    def _receive(self, request: bytes, peer: Any) -> bytes | None:
        raise NotImplementedError

    def _error_reply(self, message: str) -> bytes:
        return f"ERROR#{message}".encode()

    def _handle(self, request: bytes, peer: Any) -> bytes | None:
        """The transport's handler: never raises; a reply too long for the transport becomes an error."""
        try:
            reply = self._receive(request, peer)
        except Exception as exc:
            log.exception("%r failed on a request of %d bytes", self, len(request))
            return self._error_reply(f"internal error: {type(exc).__name__}: {exc}")
        if reply is not None:
            return self._fit(reply, peer)
        return None

    def _fit(self, reply: bytes, peer: Any) -> bytes:
        limit = getattr(peer, "max_reply", None)
        if limit is not None and len(reply) > limit:
            log.warning("%r: a reply of %d bytes does not fit the transport (max %d)", self, len(reply), limit)
            return self._error_reply(
                f"the reply of {len(reply)} bytes does not fit in one datagram (max {limit}); "
                "ask for less (e.g. codename#json) or use the tcp transport"
            )
        return reply

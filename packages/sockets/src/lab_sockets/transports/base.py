"""What the udp and tcp transports share: binding with clear errors, peers, client connections."""

from __future__ import annotations

import errno
import logging
import socket
from typing import Any, ClassVar

from lab_core import Transport

from ..errors import PortInUse

log = logging.getLogger("lab_sockets.transports")


def resolve(host: str, port: int, kind: int, passive: bool = False) -> tuple[int, Any]:
    """``(family, sockaddr)`` for ``host:port`` (IPv4 preferred); OSError naming the host if unknown."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=kind, flags=socket.AI_PASSIVE if passive else 0)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve host {host!r}: {exc.strerror}") from None
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr


def bind(kind: int, host: str, port: int, protocol: str, reuse_address: bool = False) -> socket.socket:
    """A socket bound to ``host:port``; a busy port is a ``PortInUse`` error that says what to do."""
    family, sockaddr = resolve(host, port, kind, passive=True)
    sock = socket.socket(family, kind)
    try:
        if reuse_address:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(
                f"{protocol} port {port} on {host or 'all interfaces'} is already in use (by another "
                f"socket server in this or another process); stop that server or choose another port"
            ) from exc
        if exc.errno == errno.EACCES:
            raise PermissionError(
                exc.errno, f"not allowed to bind {protocol} port {port} on {host!r}; ports below 1024 "
                "need privileges, choose a higher port"
            ) from exc
        raise
    return sock


def wake_address(host: str, port: int, family: int) -> tuple[str, int]:
    """Where to send a datagram/connection to reach a server bound to ``host:port`` from this machine."""
    if host in ("", "0.0.0.0"):
        return ("127.0.0.1", port)
    if host == "::":
        return ("::1", port)
    return (host, port)


class Peer:
    """The client a request came from, as handed to the handler.

    ``reply`` is None when the transport cannot send a reply later (the handler must
    return it); otherwise ``peer.reply(data)`` sends one, from any thread.
    ``max_reply`` is the largest reply the transport can carry (None: no limit).
    """

    __slots__ = ("address",)
    reply: Any = None
    max_reply: int | None = None

    def __init__(self, address: Any):
        self.address = address

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.address!r})"


class Connection:
    """A client connection for many requests: ``request(payload) -> reply``; ``close()``."""

    def __init__(self, address: tuple[str, int], timeout: float = 2.0):
        self.address = (address[0], int(address[1]))
        self.timeout = timeout

    def request(self, payload: bytes) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SocketTransport(Transport):
    """What the udp and tcp transports share: the bound address, and the client side
    through ``connection_class`` (``request`` is one ``connect(...).request`` call)."""

    name: ClassVar[str] = ""
    connection_class: ClassVar[type[Connection]] = Connection

    def __init__(self, handler, /, **options: Any):  # host, port: see Transport
        super().__init__(handler, **options)
        self._sock: socket.socket | None = None
        self._thread: Any = None
        self._address: tuple[str, int] | None = None
        self._stopping = False

    @property
    def address(self) -> tuple[str, int]:
        if self._address is None:
            raise RuntimeError(f"the {self.name} transport is not started; call start() first")
        return self._address

    @property
    def running(self) -> bool:
        return self._thread is not None

    def _check_not_started(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"the {self.name} transport on {self._address} is already started")

    @classmethod
    def request(cls, address: tuple[str, int], payload: bytes, timeout: float = 2.0) -> bytes:
        with cls.connect(address, timeout) as connection:
            return connection.request(payload)

    @classmethod
    def connect(cls, address: tuple[str, int], timeout: float = 2.0) -> Connection:
        """A client connection for many requests to ``address``."""
        return cls.connection_class(address, timeout)

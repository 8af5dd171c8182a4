"""The ``tcp`` transport: framed request/reply pairs, many per connection.

Each message, both ways, is a 4-byte big-endian unsigned length followed by that
many bytes of payload. A client may send any number of requests on one
connection; each gets exactly one reply, in order (an empty frame when the
handler has nothing to say). Use it for replies larger than a datagram.

Every connection is served by its own thread (at most ``max_connections`` at
once; more are closed at once), so a slow request on one connection never
stalls another. A frame longer than ``max_message`` closes the connection, as
does ``idle_timeout`` seconds without a request.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
from typing import Any

from .base import Connection, Peer, SocketTransport, bind, wake_address

log = logging.getLogger("lab_sockets.transports.tcp")

HEADER = struct.Struct(">I")
MAX_FRAME = 2**32 - 1


def frame(payload: bytes) -> bytes:
    if len(payload) > MAX_FRAME:
        raise ValueError(f"a tcp message holds at most {MAX_FRAME} bytes, got {len(payload)}")
    return HEADER.pack(len(payload)) + payload


def _recv_exactly(sock: socket.socket, size: int) -> bytes | None:
    """``size`` bytes, or None on a clean end of stream before the first byte."""
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        n = sock.recv_into(view[got:], size - got)
        if n == 0:
            if got == 0:
                return None
            raise ConnectionError(f"connection closed after {got} of {size} bytes")
        got += n
    return bytes(buffer)


def read_frame(sock: socket.socket, max_message: int | None = None) -> bytes | None:
    header = _recv_exactly(sock, HEADER.size)
    if header is None:
        return None
    (size,) = HEADER.unpack(header)
    if max_message is not None and size > max_message:
        raise ValueError(f"a message of {size} bytes is longer than max_message={max_message}")
    if size == 0:
        return b""
    payload = _recv_exactly(sock, size)
    if payload is None:
        raise ConnectionError(f"connection closed before a message of {size} bytes")
    return payload


class TcpTransport(SocketTransport):
    """Serve ``handler`` over TCP with length-prefixed frames on ``host:port``.

    Options: ``max_connections`` (64), ``max_message`` (16 MiB), ``idle_timeout``
    (300 s, None for none), ``backlog`` (128).
    """

    name = "tcp"

    def __init__(self, handler, host: str = "0.0.0.0", port: int = 0, *, max_connections: int = 64,
                 max_message: int = 16 * 2**20, idle_timeout: float | None = 300.0, backlog: int = 128,
                 **options: Any):
        super().__init__(handler, host=host, port=port, **options)
        self.max_connections = max_connections
        self.max_message = max_message
        self.idle_timeout = idle_timeout
        self.backlog = backlog
        self._lock = threading.Lock()
        self._connections: dict[socket.socket, threading.Thread] = {}

    def start(self) -> None:
        self._check_not_started()
        sock = bind(socket.SOCK_STREAM, self.host, self.port, "tcp", reuse_address=True)
        sock.listen(self.backlog)
        self._sock = sock
        self._address = sock.getsockname()[:2]
        self._stopping = False
        self._thread = threading.Thread(target=self._accept, args=(sock,), daemon=True,
                                        name=f"lab-sockets tcp {self._address[1]}")
        self._thread.start()
        log.debug("tcp transport serving on %s", self._address)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, address = listener.accept()
            except OSError as exc:
                if self._stopping:
                    break
                log.debug("tcp accept error (ignored): %s", exc)
                continue
            if self._stopping:
                conn.close()
                break
            with self._lock:
                if len(self._connections) >= self.max_connections:
                    log.warning("tcp %s: refusing a connection from %s: %d connections already open "
                                "(max_connections)", self._address, address, len(self._connections))
                    conn.close()
                    continue
                thread = threading.Thread(target=self._serve, args=(conn, address), daemon=True,
                                          name=f"lab-sockets tcp {self._address[1]} {address}")
                self._connections[conn] = thread
            thread.start()

    def _serve(self, conn: socket.socket, address: Any) -> None:
        peer = Peer(address)
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.settimeout(self.idle_timeout)
            while not self._stopping:
                request = read_frame(conn, self.max_message)
                if request is None:
                    break
                try:
                    reply = self.handler(request, peer)
                except Exception:
                    log.exception("tcp handler failed on a request of %d bytes from %s", len(request), address)
                    reply = None
                conn.sendall(frame(b"" if reply is None else reply))
        except TimeoutError:
            log.debug("tcp connection from %s idle for %s s: closed", address, self.idle_timeout)
        except (OSError, ValueError) as exc:
            if not self._stopping:
                log.info("tcp connection from %s closed: %s", address, exc)
        finally:
            with self._lock:
                self._connections.pop(conn, None)
            conn.close()

    def stop(self) -> None:
        thread, sock = self._thread, self._sock
        if thread is None or sock is None:
            return
        self._stopping = True
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # wakes accept() on Linux
        thread.join(0.2)
        if thread.is_alive():
            try:
                socket.create_connection(wake_address(*self._address, sock.family), timeout=1).close()
            except OSError as exc:
                log.debug("tcp wake-up connection failed: %s", exc)
            thread.join(2.0)
        sock.close()
        with self._lock:
            connections = list(self._connections.items())
        for conn, _ in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for _, conn_thread in connections:
            if conn_thread is not threading.current_thread():  # a handler may stop the server
                conn_thread.join(1.0)
        self._thread = self._sock = None
        log.debug("tcp transport on %s stopped", self._address)


class TcpConnection(Connection):
    """A client connection for many framed requests: ``request(payload) -> reply``.

    Reconnects once when the server closed the connection between two requests.
    """

    def __init__(self, address: tuple[str, int], timeout: float = 2.0):
        super().__init__(address, timeout)
        self._sock: socket.socket | None = None

    def _connect(self) -> socket.socket:
        try:
            sock = socket.create_connection(self.address, timeout=self.timeout)
        except TimeoutError:
            raise TimeoutError(f"no tcp connection to {self.address[0]}:{self.address[1]} "
                               f"within {self.timeout} s") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def request(self, payload: bytes) -> bytes:
        message = frame(payload)
        fresh = self._sock is None
        if fresh:
            self._sock = self._connect()
        try:
            self._sock.sendall(message)
            reply = read_frame(self._sock)
            if reply is None:
                raise ConnectionResetError("the server closed the connection")
            return reply
        except TimeoutError:
            self.close()  # the late reply would answer the next request
            raise TimeoutError(f"no reply from tcp {self.address[0]}:{self.address[1]} "
                               f"within {self.timeout} s") from None
        except (ConnectionError, BrokenPipeError):
            self.close()
            if fresh:
                raise
            return self.request(payload)  # the server dropped an idle connection: once more

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


TcpTransport.connection_class = TcpConnection

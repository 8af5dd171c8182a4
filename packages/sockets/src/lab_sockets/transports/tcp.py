"""The ``tcp`` transport: framed request/reply pairs, many per connection.

Each message, both ways, is a 4-byte big-endian unsigned length followed by that
many bytes of payload. A client may send any number of requests on one
connection; each gets exactly one reply, in order (an empty frame when the
handler has nothing to say). Use it for replies larger than a datagram.

Every connection is served by its own thread, so a slow request on one
connection never stalls another. No peer can squat the server:

* a new connection must complete its first frame within ``first_frame_timeout``
  seconds, and any frame, once begun, within ``frame_timeout``; a connection
  without a request for ``idle_timeout`` seconds is closed;
* one peer address holds at most ``max_per_peer`` connections, and all peers
  together ``max_connections``; at either limit the longest-idle connection
  (never one whose request is being handled) is closed to make room;
* ``allow`` (networks) limits who may connect at all; refusals are logged at most
  once a minute, with a count.

A frame longer than ``max_message`` closes the connection.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
import time
from typing import Annotated, Any

from lab_core.netaccess import AllowList, ConnectionSlots, RefusalLog, Slot

from .base import Connection, Peer, SocketTransport, bind, wake_address

log = logging.getLogger("lab_sockets.transports.tcp")

HEADER = struct.Struct(">I")
MAX_FRAME = 2**32 - 1


def frame(payload: bytes) -> bytes:
    if len(payload) > MAX_FRAME:
        raise ValueError(f"a tcp message holds at most {MAX_FRAME} bytes, got {len(payload)}")
    return HEADER.pack(len(payload)) + payload


def _recv_exactly(sock: socket.socket, size: int, deadline: float | None = None) -> bytes | None:
    """``size`` bytes, or None on a clean end of stream before the first byte.

    ``deadline`` (monotonic) bounds the whole read; without it the socket's own timeout
    applies to each ``recv``.
    """
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{got} of {size} bytes arrived in time")
            sock.settimeout(left)
        n = sock.recv_into(view[got:], size - got)
        if n == 0:
            if got == 0:
                return None
            raise ConnectionError(f"connection closed after {got} of {size} bytes")
        got += n
    return bytes(buffer)


def read_frame(sock: socket.socket, max_message: int | None = None, *, start_by: float | None = None,
               finish_by: float | None = None, frame_timeout: float | None = None) -> bytes | None:
    """One frame's payload, or None when the peer closed the connection between frames.

    Server side: the frame must begin by ``start_by`` and be complete by ``finish_by``, or
    within ``frame_timeout`` s of its first byte (monotonic times; None: no deadline).
    """
    first = _recv_exactly(sock, 1, start_by)
    if first is None:
        return None
    if finish_by is None and frame_timeout is not None:
        finish_by = time.monotonic() + frame_timeout
    (size,) = HEADER.unpack(first + _recv_exactly_or_fail(sock, HEADER.size - 1, finish_by))
    if max_message is not None and size > max_message:
        raise ValueError(f"a message of {size} bytes is longer than max_message={max_message}")
    return _recv_exactly_or_fail(sock, size, finish_by) if size else b""


def _recv_exactly_or_fail(sock: socket.socket, size: int, deadline: float | None) -> bytes:
    data = _recv_exactly(sock, size, deadline)
    if data is None:
        raise ConnectionError(f"connection closed in the middle of a message ({size} bytes missing)")
    return data


class _Client:
    """The server's record of one open connection: its socket, thread and slot."""

    __slots__ = ("sock", "thread", "slot")

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.thread: threading.Thread | None = None
        self.slot: Slot | None = None

    def close_from_server(self, finish_reply: bool = False) -> None:
        """Wake the connection's thread (its recv returns) so it closes the socket itself;
        with ``finish_reply`` a reply being sent still goes out whole first."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RD if finish_reply else socket.SHUT_RDWR)


class TcpTransport(SocketTransport):
    """Serve ``handler`` over TCP with length-prefixed frames on ``host:port``."""

    name = "tcp"

    def __init__(self, handler, /, host: Annotated[str, "address to listen on"] = "127.0.0.1",
                 port: Annotated[int, "TCP port (0: any free port)"] = 0, *,
                 max_connections: Annotated[int, "open connections at most, all peers together"] = 64,
                 max_per_peer: Annotated[int, "open connections at most from one peer address"] = 8,
                 max_message: Annotated[int, "longest message in bytes"] = 16 * 2**20,
                 first_frame_timeout: Annotated[float, "seconds a new connection has for its first request"] = 5.0,
                 frame_timeout: Annotated[float, "seconds a begun message has to arrive whole"] = 30.0,
                 idle_timeout: Annotated[float | None, "seconds without a request before closing"] = 300.0,
                 backlog: Annotated[int, "connections waiting to be accepted"] = 128,
                 allow: Annotated[list[str] | None, "client networks allowed (default: everyone)"] = None,
                 **options: Any):
        super().__init__(handler, host=host, port=port, **options)
        self.max_message = max_message
        self.first_frame_timeout = first_frame_timeout
        self.frame_timeout = frame_timeout
        self.idle_timeout = idle_timeout
        self.backlog = backlog
        self.allow = AllowList(allow)
        self.refusals = RefusalLog(log, f"tcp transport on port {port}", noun="connection(s)")
        self.slots = ConnectionSlots(max_connections, max_per_peer, self.refusals)
        self._lock = threading.Lock()
        self._clients: dict[socket.socket, _Client] = {}

    def start(self) -> None:
        self._check_not_started()
        sock = bind(socket.SOCK_STREAM, self.host, self.port, "tcp", reuse_address=True)
        sock.listen(self.backlog)
        self._sock = sock
        self._address = sock.getsockname()[:2]
        self.refusals.what = f"tcp transport on {self._address[0]}:{self._address[1]}"
        self._stopping = False
        self._thread = threading.Thread(target=self._accept, args=(sock,), daemon=True,
                                        name=f"lab-sockets tcp {self._address[1]}")
        self._thread.start()
        log.debug("tcp transport serving on %s (allow: %s)", self._address, self.allow)

    # -- accepting ------------------------------------------------------------------------

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
            self._admit(conn, address)

    def _admit(self, conn: socket.socket, address: Any) -> None:
        host = address[0]
        if not self.allow.allows(host):
            self.refusals.refused(host, f"not in allow ({self.allow})")
            conn.close()
            return
        client = _Client(conn)
        client.slot = self.slots.admit(host, close=lambda: client.close_from_server(finish_reply=True))
        if client.slot is None:
            conn.close()
            return
        client.thread = threading.Thread(target=self._serve, args=(client, address), daemon=True,
                                         name=f"lab-sockets tcp {self._address[1]} {address}")
        with self._lock:
            self._clients[conn] = client
        client.thread.start()

    # -- serving --------------------------------------------------------------------------

    def _serve(self, client: _Client, address: Any) -> None:
        conn, peer = client.sock, Peer(address)
        start_by = finish_by = time.monotonic() + self.first_frame_timeout  # the first frame, whole
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while not self._stopping:
                request = read_frame(conn, self.max_message, start_by=start_by, finish_by=finish_by,
                                     frame_timeout=self.frame_timeout)
                if request is None:
                    break
                client.slot.working()
                try:
                    reply = self.handler(request, peer)
                except Exception:
                    log.exception("tcp handler failed on a request of %d bytes from %s", len(request), address)
                    reply = None
                client.slot.waiting()                # may make room now: the reply still goes out whole
                conn.settimeout(self.frame_timeout)
                conn.sendall(frame(b"" if reply is None else reply))
                start_by = None if self.idle_timeout is None else client.slot.idle_since + self.idle_timeout
                finish_by = None
        except TimeoutError:
            log.debug("tcp connection from %s timed out (no complete request in time): closed", address)
        except (OSError, ValueError) as exc:
            if not self._stopping:
                log.info("tcp connection from %s closed: %s", address, exc)
        finally:
            self.slots.release(client.slot)
            with self._lock:
                self._clients.pop(conn, None)
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
            clients = list(self._clients.values())
        for client in clients:
            client.close_from_server()
        for client in clients:
            if client.thread is not threading.current_thread():  # a handler may stop the server
                client.thread.join(1.0)
        self._thread = self._sock = None
        log.debug("tcp transport on %s stopped", self._address)

    @property
    def connections(self) -> int:
        """How many connections hold a slot now (one closed to make room no longer does)."""
        return len(self.slots)


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

"""The ``udp`` transport: one datagram per request and per reply (PyExpLabSys's wire).

Requests are read whole up to 65507 bytes (the largest IPv4 datagram) and handled
in order in one receive thread; a handler may reply later, from another thread,
with ``peer.reply`` (DataPushSocket does so for slow callbacks). ``stop`` wakes the
thread, closes the socket and so frees the port before it returns.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from typing import Annotated, Any

from lab_core.netaccess import AllowList, RefusalLog

from .base import Connection, Peer, SocketTransport, bind, resolve, wake_address

log = logging.getLogger("lab_sockets.transports.udp")

RECEIVE_BUFFER = 65536  # > 65507: a datagram is never cut


class UdpPeer(Peer):
    """A UDP client; ``reply`` sends a datagram to it (thread-safe)."""

    __slots__ = ("_sock",)
    max_reply = 65507  # IPv4

    def __init__(self, address: Any, sock: socket.socket):
        self.address = address
        self._sock = sock

    def reply(self, payload: bytes) -> None:
        try:
            self._sock.sendto(payload, self.address)
        except OSError as exc:
            log.warning("udp reply of %d bytes to %s not sent: %s", len(payload), self.address, exc)


class UdpPeer6(UdpPeer):
    __slots__ = ()
    max_reply = 65527  # IPv6


class UdpTransport(SocketTransport):
    """Serve ``handler`` over UDP on ``host:port`` (port 0: any free port, see ``address``).

    Binds all interfaces by default, as PyExpLabSys's sockets do; ``allow`` (networks)
    restricts who gets an answer: other peers' datagrams are dropped unanswered (and
    counted in a log line at most once a minute).
    """

    name = "udp"

    def __init__(self, handler, host: Annotated[str, "address to listen on (PyExpLabSys: all)"] = "0.0.0.0",
                 port: Annotated[int, "UDP port (0: any free port)"] = 0, *,
                 rcvbuf: Annotated[int | None, "kernel receive buffer in bytes (default: the system's)"] = None,
                 allow: Annotated[list[str] | None, "client networks answered (default: everyone)"] = None,
                 **options: Any):
        super().__init__(handler, host=host, port=port, **options)
        self.rcvbuf = rcvbuf
        self.allow = AllowList(allow)
        self.refusals = RefusalLog(log, f"udp transport on port {port}", noun="datagram(s)")

    def start(self) -> None:
        self._check_not_started()
        sock = bind(socket.SOCK_DGRAM, self.host, self.port, "udp")
        if self.rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        self._sock = sock
        self._address = sock.getsockname()[:2]
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, args=(sock,), daemon=True,
                                        name=f"lab-sockets udp {self._address[1]}")
        self._thread.start()
        log.debug("udp transport serving on %s", self._address)

    def _serve(self, sock: socket.socket) -> None:
        recvfrom = sock.recvfrom
        sendto = sock.sendto
        handler = self.handler
        make_peer = UdpPeer if sock.family == socket.AF_INET else UdpPeer6
        allows = None if self.allow.open else self.allow.allows
        self.refusals.what = f"udp transport on {self._address[0]}:{self._address[1]}"
        while True:
            try:
                request, address = recvfrom(RECEIVE_BUFFER)
            except OSError as exc:
                if self._stopping:
                    break
                log.debug("udp receive error (ignored): %s", exc)
                continue
            if self._stopping:
                break
            if allows is not None and not allows(address[0]):
                self.refusals.refused(address[0], f"not in allow ({self.allow})")
                continue
            try:
                reply = handler(request, make_peer(address, sock))
            except Exception:
                log.exception("udp handler failed on a request of %d bytes from %s", len(request), address)
                continue
            if reply is not None:
                try:
                    sendto(reply, address)
                except OSError as exc:
                    log.warning("udp reply of %d bytes to %s not sent: %s", len(reply), address, exc)
            if self._stopping and self._thread is None:  # the handler stopped us
                sock.close()
                break

    def stop(self) -> None:
        thread, sock = self._thread, self._sock
        if thread is None or sock is None:
            return
        self._stopping = True
        if thread is threading.current_thread():  # stopped by a handler: the loop replies, then closes
            self._thread = self._sock = None
            return
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked recvfrom on Linux
        thread.join(0.2)
        if thread.is_alive():  # elsewhere: wake it with a datagram of our own
            try:
                with socket.socket(sock.family, socket.SOCK_DGRAM) as waker:
                    waker.sendto(b"", wake_address(self._address[0], self._address[1], sock.family))
            except OSError as exc:
                log.debug("udp wake-up datagram failed: %s", exc)
            thread.join(2.0)
            if thread.is_alive():
                log.warning("udp receive thread on %s did not stop; closing its socket anyway", self._address)
        sock.close()
        self._thread = self._sock = None
        log.debug("udp transport on %s stopped", self._address)


class UdpConnection(Connection):
    """A connected UDP client socket: ``request(payload) -> reply``.

    Before each request, late replies to earlier (timed-out) requests are drained,
    so a reply is never taken for the answer to a later request.
    """

    def __init__(self, address: tuple[str, int], timeout: float = 2.0):
        super().__init__(address, timeout)
        family, sockaddr = resolve(self.address[0], self.address[1], socket.SOCK_DGRAM)
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._sock.connect(sockaddr)
        except OSError:
            self._sock.close()
            raise

    def _drain(self) -> None:
        self._sock.setblocking(False)
        try:
            while True:
                self._sock.recv(RECEIVE_BUFFER)
        except (BlockingIOError, ConnectionRefusedError):
            pass
        finally:
            self._sock.settimeout(self.timeout)

    def request(self, payload: bytes) -> bytes:
        self._drain()
        try:
            self._sock.send(payload)
            return self._sock.recv(RECEIVE_BUFFER)
        except TimeoutError:
            raise TimeoutError(
                f"no reply from udp {self.address[0]}:{self.address[1]} within {self.timeout} s"
            ) from None
        except ConnectionRefusedError:
            raise ConnectionRefusedError(
                f"nothing listens on udp {self.address[0]}:{self.address[1]} (port unreachable)"
            ) from None

    def close(self) -> None:
        self._sock.close()


UdpTransport.connection_class = UdpConnection

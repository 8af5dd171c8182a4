"""A minimal third-party transport for the tests: real UDP, one thread, reply returned by the handler."""

from __future__ import annotations

import socket
import threading

from lab_core import Transport, hookimpl


class LoopUdpTransport(Transport):
    """A minimal real UDP transport for the tests (until lab-sockets provides ``udp``)."""

    def __init__(self, handler, host="127.0.0.1", port=0, **options):
        super().__init__(handler, host, port, **options)
        self._sock = None
        self._thread = None

    @property
    def address(self):
        return self._sock.getsockname()[:2]

    def start(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((self.host, self.port))
        self._sock.settimeout(0.1)
        self._running = True
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while self._running:
            try:
                data, peer = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            reply = self.handler(data, peer)
            if reply is not None:
                self._sock.sendto(reply, peer)

    def stop(self):
        self._running = False
        if self._thread is not None:
            self._thread.join(2)
        if self._sock is not None:
            self._sock.close()

    @classmethod
    def request(cls, address, payload, timeout=2.0):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            sock.sendto(payload, tuple(address))
            try:
                return sock.recvfrom(65535)[0]
            except TimeoutError as exc:
                raise TimeoutError(f"no reply from {address} within {timeout} s") from exc


class TestTransports:
    """A plugin object publishing ``test-udp`` (register it on a Registry)."""

    __test__ = False  # not a test class, despite the name

    @hookimpl
    def lab_transports(self):
        return {"test-udp": LoopUdpTransport}

"""The job server: :class:`JobService` behind the wire protocol, on a transport from ``lab_transports``.

::

    server = JobServer(JobService(), transport="udp", host="127.0.0.1", port=0)
    server.start()
    print(server.address)          # the port actually bound
    ...
    server.stop()

Transports are found through the core's registry (lab-sockets provides ``udp``
and ``tcp``); this package imports none of them. The server binds 127.0.0.1
unless told otherwise, and answers only the client networks in ``allow``
(None: everyone); a refused peer gets no reply, and refusals are logged at most
once a minute with a count. A transport that takes ``allow`` itself (lab-sockets'
``udp`` and ``tcp``: tcp refuses the connection) is given it; for any other the
server filters each request.
"""

from __future__ import annotations

import inspect
import logging
import signal
import threading
from collections.abc import Iterable
from typing import Any

from lab_core import Registry, default_registry
from lab_core.netaccess import AllowList, RefusalLog

from .protocol import UDP_MAX, DahuProtocol
from .service import JobService

log = logging.getLogger(__name__)

DEFAULT_PORT = 8770


def peer_host(peer: Any) -> str:
    """The IP address of a transport's peer (a lab-sockets ``Peer`` or a ``(host, port)`` tuple)."""
    address = getattr(peer, "address", peer)
    return str(address[0]) if isinstance(address, (tuple, list)) and address else str(address)


class JobServer:
    """Serves a :class:`JobService` on a transport; ``stop()`` stops serving and closes the service.

    ``allow``: the client networks answered (e.g. ``["10.0.0.0/8", "127.0.0.1"]``; None: all)."""

    def __init__(self, service: JobService | None = None, transport: str = "udp", host: str = "127.0.0.1",
                 port: int = DEFAULT_PORT, registry: Registry | None = None, *,
                 allow: Iterable[str] | AllowList | None = None, **transport_options: Any):
        self.allow = allow if isinstance(allow, AllowList) else AllowList(allow)
        self.refusals = RefusalLog(log, "lab-dahu job server")
        self.service = service or JobService()
        self.transport_name = transport
        # a transport's peers may state their own limit (lab-sockets' do); udp's is known anyway
        self.protocol = DahuProtocol(self.service, max_reply=UDP_MAX if transport == "udp" else None)
        registry = registry or default_registry()
        try:
            klass = registry.get_class("transport", transport)
            self._filter = not self.allow.open
            if self._filter and "allow" in inspect.signature(klass).parameters:
                transport_options["allow"] = [str(network) for network in self.allow.networks]
                self._filter = False  # the transport refuses them, before any byte is read
            self.transport = klass(self._handle, host=host, port=port, **transport_options)
        except BaseException:
            if service is None:
                self.service.close(0)
            raise

    def _handle(self, request: bytes, peer: Any) -> bytes | None:
        host = peer_host(peer) if self._filter else ""
        if self._filter and not self.allow.allows(host):
            self.refusals.refused(host, f"not in allow ({self.allow})")
            return None
        return self.protocol(request, peer)

    @property
    def address(self) -> tuple[str, int]:
        return self.transport.address

    def start(self) -> JobServer:
        self.transport.start()
        log.info("lab-dahu job server on %s %s:%s", self.transport_name, *self.address)
        return self

    def stop(self, grace: float = 5.0) -> bool:
        """Stop serving, then close the service (see ``JobService.close``); True if every job is over."""
        try:
            self.transport.stop()
        finally:
            stopped = self.service.close(grace)
        return stopped

    def __enter__(self) -> JobServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self, stop: threading.Event | None = None, grace: float = 5.0) -> bool:
        """Serve until ``stop`` is set or SIGTERM/SIGINT arrives (main thread only), then stop cleanly.

        Returns True if every job was over when it returned (see :meth:`stop`)."""
        stop = stop or threading.Event()
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, lambda *_: stop.set())
        try:
            while not stop.wait(0.5):
                pass
        finally:
            log.info("lab-dahu job server stopping")
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.stop(grace)

"""The HTTP side: the page, its static files, a JSON endpoint and the server-sent event stream.

Standard library only (``ThreadingHTTPServer``): one thread per connection. A browser's
event stream lives in its own thread that waits on its own ``Client``; nothing else ever
waits for it. A browser that stops reading blocks only its own thread, and only until the
socket's send timeout (``write_timeout``), after which it is disconnected.

Routes: ``/`` (the page), ``/static/<file>``, ``/api/values`` (JSON: latest values, staleness,
sources; ``?history=1`` adds the plotted points), ``/events`` (``text/event-stream``:
``snapshot`` then ``update`` events), ``/healthz``.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import time
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lab_core.netaccess import AllowList, GuardedServer, RefusalLog

from . import __version__
from .hub import Hub, HubClosed, TooManyClients
from .protocol import dumps

log = logging.getLogger(__name__)

_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml",
          "": "text/plain; charset=utf-8"}
_CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'"


def load_static() -> dict[str, tuple[bytes, str]]:
    """The files under ``lab_live/static``: name -> (content, content type). Read once, at start."""
    result = {}
    for entry in files("lab_live").joinpath("static").iterdir():
        if entry.is_file():
            suffix = entry.name[entry.name.rfind("."):] if "." in entry.name else ""
            result[entry.name] = (entry.read_bytes(), _TYPES.get(suffix, _TYPES[""]))
    return result


class DashboardServer(GuardedServer, ThreadingHTTPServer):
    """The page's HTTP server. Nobody can squat it: ``allow`` (networks) says who may connect,
    one peer address holds at most ``max_per_peer`` connections and all peers ``max_connections``
    (at either limit the longest-idle connection, one that has not sent its request yet, makes
    room; refusals are counted in a log line at most once a minute), and a request must arrive
    within ``request_timeout`` s of connecting."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], hub: Hub, *, title: str = "lab live",
                 write_timeout: float = 20.0, keepalive: float = 15.0, min_event_gap: float = 0.05,
                 allow: Sequence[str] | None = None, max_per_peer: int = 16, max_connections: int = 256,
                 request_timeout: float = 5.0):
        self.guard(AllowList(allow), RefusalLog(log, f"dashboard on http {address[0]}:{address[1]}",
                                                noun="connection(s)"), max_connections, max_per_peer)
        self.request_timeout = request_timeout
        self.hub = hub
        self.title = title
        self.write_timeout = write_timeout
        self.keepalive = keepalive
        self.min_event_gap = min_event_gap
        self.static = load_static()
        self.stopping = False
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, DashboardHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would look up the host's FQDN (a DNS query, seconds when DNS is slow)
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]
        self.refusals.what = f"dashboard on http {self.server_name}:{self.server_port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("error serving %s", client_address, exc_info=True)


class DashboardHandler(BaseHTTPRequestHandler):
    server: DashboardServer
    server_version = f"lab-live/{__version__}"
    protocol_version = "HTTP/1.0"  # one request per connection; the event stream ends with the connection

    def setup(self) -> None:
        self.timeout = self.server.request_timeout  # applied to the socket by StreamRequestHandler.setup
        super().setup()

    def parse_request(self) -> bool:
        parsed = super().parse_request()
        self.connection.settimeout(self.server.write_timeout)  # the request is in: now the reply's timeout
        self.server.working(self.request)  # an event stream stays busy until it ends: never closed for a newcomer
        return parsed

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("%s %s", self.address_string(), format % args)

    def do_HEAD(self) -> None:  # noqa: N802
        self._route(head=True)

    def do_GET(self) -> None:  # noqa: N802
        self._route(head=False)

    def _route(self, head: bool) -> None:
        url = urlsplit(self.path)
        path = url.path
        if path in ("/", "/index.html"):
            return self._static("index.html", head)
        if path.startswith("/static/"):
            return self._static(path[len("/static/"):], head)
        if path == "/api/values":
            query = parse_qs(url.query)
            history = query.get("history", ["0"])[-1] not in ("0", "", "false", "no")
            body = self.server.hub.snapshot(history=history)
            body["title"] = self.server.title
            body["clients"] = self.server.hub.clients
            return self._send(HTTPStatus.OK, dumps(body).encode(), "application/json", head)
        if path == "/events":
            return self._events()
        if path == "/healthz":
            return self._send(HTTPStatus.OK, b"ok\n", "text/plain; charset=utf-8", head)
        self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8", head)

    def _static(self, name: str, head: bool) -> None:
        found = self.server.static.get(name)
        if found is None:
            return self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8", head)
        body, kind = found
        self._send(HTTPStatus.OK, body, kind, head, cache=name != "index.html")

    def _send(self, status: HTTPStatus, body: bytes, kind: str, head: bool = False, cache: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=300" if cache else "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if kind.startswith("text/html"):
            self.send_header("Content-Security-Policy", _CSP)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _events(self) -> None:
        hub = self.server.hub
        try:
            client = hub.connect()
        except TooManyClients as exc:
            return self._send(HTTPStatus.SERVICE_UNAVAILABLE, f"{exc}\n".encode(), "text/plain; charset=utf-8")
        except HubClosed:
            return self._send(HTTPStatus.SERVICE_UNAVAILABLE, b"stopping\n", "text/plain; charset=utf-8")
        try:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Accel-Buffering", "no")  # tell reverse proxies not to buffer
            self.end_headers()
            self.wfile.write(b"retry: 2000\n\n")
            last_sent = 0.0
            while not self.server.stopping:
                if not client.wait(self.server.keepalive):
                    self.wfile.write(b": keepalive\n\n")
                    continue
                # a little coalescing: at most one event per min_event_gap seconds per browser
                gap = last_sent + self.server.min_event_gap - time.monotonic()
                if gap > 0:
                    time.sleep(gap)
                update = client.take()
                if client.resync:
                    snapshot = hub.snapshot(client)
                    snapshot["title"] = self.server.title
                    self._event("snapshot", snapshot)
                elif update is not None:
                    update["now"] = hub.wallclock()
                    self._event("update", update)
                last_sent = time.monotonic()
        except HubClosed:
            pass
        except OSError as exc:  # the browser went away, or stopped reading for write_timeout seconds
            log.debug("event stream to %s ended: %s", self.address_string(), exc)
        finally:
            hub.disconnect(client)

    def _event(self, name: str, data: dict[str, Any]) -> None:
        self.wfile.write(f"event: {name}\ndata: {dumps(data)}\n\n".encode())

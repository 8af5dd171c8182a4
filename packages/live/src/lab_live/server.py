"""``LiveServer``: the UDP receiver, the pull poller, the staleness ticker and the web server together."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import attrs

from lab_core.netaccess import AllowList

from .hub import Hub
from .poller import PullPoller
from .protocol import DEFAULT_HTTP_PORT, DEFAULT_LIVE_PORT, DEFAULT_PULL_PORT, parse_address
from .receiver import UdpReceiver
from .web import DashboardServer

log = logging.getLogger(__name__)


def _port(instance, attribute, value) -> None:
    if value is not None and not 0 <= value < 65536:
        raise ValueError(f"{attribute.name} must be 0..65535 (0: any free port), got {value}")


def _positive(instance, attribute, value) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value}")


def _targets(value: Sequence[str | tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    result = []
    for item in value:
        if isinstance(item, str):
            result.extend(parse_address(part, DEFAULT_PULL_PORT) for part in item.split(",") if part.strip())
        else:
            host, port = item
            result.append((str(host), int(port)))
    return tuple(result)


def _networks(value: Sequence[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    AllowList(value)  # refuses a string or a bad network, naming it
    return tuple(value)


@attrs.frozen(kw_only=True)
class LiveConfig:
    """Settings of ``lab live`` (each is also a command-line option)."""

    #: LiveSocket receiver: bind address and port (None: no receiver, pull sockets only).
    udp_host: str = "0.0.0.0"
    udp_port: int | None = attrs.field(default=DEFAULT_LIVE_PORT, validator=_port)
    #: Pull sockets to poll with json_wn: "host:port" strings (or comma-separated lists) or (host, port).
    pull: tuple[tuple[str, int], ...] = attrs.field(default=(), converter=_targets)
    poll_interval: float = attrs.field(default=1.0, validator=_positive)
    poll_timeout: float | None = attrs.field(default=None, validator=_positive)
    #: Seconds without a new point after which a value is marked stale.
    stale_after: float = attrs.field(default=30.0, validator=_positive)
    #: Points kept (and plotted) per codename.
    history: int = attrs.field(default=1000, validator=_positive)
    #: Web server: bind address and port (0: any free port).
    http_host: str = "127.0.0.1"
    http_port: int = attrs.field(default=DEFAULT_HTTP_PORT, validator=_port)
    title: str = "lab live"
    max_clients: int = attrs.field(default=100, validator=_positive)
    #: Seconds a browser may stop reading before it is disconnected (it reconnects when it reads again).
    client_timeout: float = attrs.field(default=20.0, validator=_positive)
    max_channels: int = attrs.field(default=5000, validator=_positive)
    #: Client networks allowed to send LiveSocket datagrams / to open the page (None: everyone).
    udp_allow: tuple[str, ...] | None = attrs.field(default=None, converter=_networks)
    http_allow: tuple[str, ...] | None = attrs.field(default=None, converter=_networks)
    #: codename -> {"unit": …, "description": …}, shown beside values and on axes (the wire has no units).
    meta: dict[str, dict[str, str]] = attrs.field(factory=dict, converter=dict)


class LiveServer:
    """The live dashboard. ``start()`` binds everything (errors are raised here, not in a thread);
    ``url`` and ``udp_address`` tell where it listens; ``stop()`` ends every thread and closes
    every socket. Also a context manager."""

    def __init__(self, config: LiveConfig | None = None, **options):
        self.config = config if config is not None else LiveConfig(**options)
        c = self.config
        self.hub = Hub(stale_after=c.stale_after, history=c.history, max_channels=c.max_channels,
                       max_clients=c.max_clients)
        self.hub.meta = {codename: dict(meta) for codename, meta in c.meta.items()}
        self.receiver: UdpReceiver | None = None
        self.poller: PullPoller | None = None
        self.http: DashboardServer | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    # -- where it listens ----------------------------------------------------------------
    @property
    def http_address(self) -> tuple[str, int]:
        if self.http is None:
            raise RuntimeError("the dashboard is not started")
        return self.http.server_address[:2]

    @property
    def url(self) -> str:
        host, port = self.http_address
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1" if host == "0.0.0.0" else "::1"
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    @property
    def udp_address(self) -> tuple[str, int] | None:
        return self.receiver.address if self.receiver is not None else None

    # -- life cycle --------------------------------------------------------------------
    def start(self) -> LiveServer:
        c = self.config
        try:
            try:
                self.http = DashboardServer((c.http_host, c.http_port), self.hub, title=c.title,
                                            write_timeout=c.client_timeout, allow=c.http_allow)
            except OSError as exc:
                raise OSError(exc.errno, f"cannot serve the dashboard on http {c.http_host}:{c.http_port}: "
                                         f"{exc.strerror} (choose another --http-port, or 0 for any)") from exc
            if c.udp_port is not None:
                self.receiver = UdpReceiver(self.hub, c.udp_host, c.udp_port, c.udp_allow).start()
            if c.pull:
                self.poller = PullPoller(self.hub, c.pull, c.poll_interval, c.poll_timeout).start()
            self._spawn(self._tick, "lab-live-ticker")
            self._spawn(self.http.serve_forever, "lab-live-http", 0.2)
        except BaseException:
            self.stop()
            raise
        log.info("dashboard at %s", self.url)
        return self

    def _spawn(self, target, name: str, *args) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _tick(self) -> None:
        period = min(0.25, self.config.stale_after / 4)
        while not self._stop.wait(period):
            try:
                self.hub.tick()
            except Exception:
                log.exception("unexpected error while checking staleness")

    def stop(self) -> None:
        self._stop.set()
        if self.http is not None:
            self.http.stopping = True
        self.hub.close()  # ends every event stream
        if self.http is not None and any(t.name == "lab-live-http" for t in self._threads):
            self.http.shutdown()
        if self.receiver is not None:
            self.receiver.stop()
        if self.poller is not None:
            self.poller.stop()
        for thread in self._threads:
            thread.join(5)
        self._threads.clear()
        if self.http is not None:
            self.http.server_close()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

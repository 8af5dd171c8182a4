"""Watching a running collector: health verdict, status endpoint, periodic stats line, ``lab status``.

::

    status = Status(collector, WatchSettings.from_config({"status": "127.0.0.1:9100"}))
    server = StatusServer(status).start()      # GET /metrics, /healthz, /status
    Monitor(status).start()                     # stats line every stats_interval_s; systemd watchdog

``/metrics`` is Prometheus' text format (``lab_core.metrics``, read from the
collector's counters at scrape time: nothing is updated on the data path);
``/healthz`` is ``{"status": "ok" | "degraded" | "failing", "reasons": [...]}``
(HTTP 503 when failing); ``/status`` is everything ``lab status`` prints.

The health rules and their thresholds (``[collector]`` keys) are in
``HealthRules``; ``docs/lab-admins.md`` lists them for admins.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import attrs

from . import __version__, systemd
from .errors import ConfigError
from .netaccess import AllowList, GuardedServer, RefusalLog

log = logging.getLogger(__name__)

OK, DEGRADED, FAILING = "ok", "degraded", "failing"
_RANK = {OK: 0, DEGRADED: 1, FAILING: 2}
DEFAULT_PORT = 9100


# -- settings ---------------------------------------------------------------------------------


def _positive(instance, attribute, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"collector.{attribute.name}: expected a number of seconds above 0, got {value!r}")


@attrs.frozen
class HealthRules:
    """When the verdict turns from ``ok``; each threshold is a ``[collector]`` key of the same name.

    * failing: a reader or writer worker thread has ended;
    * failing: every read of a reader raised for ``health_reader_stale_s`` (60 s), or one read
      (or open) has not returned for that long (a device or driver that never answers);
    * failing: a writer holds pending samples and delivered nothing for ``health_writer_stale_s`` (120 s);
    * degraded: a reader's last read raised, or gave error samples;
    * degraded: a writer's last attempt failed, or its oldest pending sample is older than
      ``health_writer_stale_s`` (it is behind);
    * degraded: within the last ``health_window_s`` (300 s) a spool dropped samples, a writer set
      samples aside, or a reader skipped more than ``health_skipped_ratio`` (1 %) of its instants.
    """

    health_reader_stale_s: float = attrs.field(default=60.0, validator=_positive)
    health_writer_stale_s: float = attrs.field(default=120.0, validator=_positive)
    health_window_s: float = attrs.field(default=300.0, validator=_positive)
    health_skipped_ratio: float = attrs.field(default=0.01, validator=_positive)


def _address(value: Any, example: str = 'status = "127.0.0.1:9100"', key: str = "collector.status") -> tuple[str, int]:
    """``"HOST:PORT"``, ``":PORT"`` (loopback), ``"[::1]:PORT"`` or a bare port number."""
    if isinstance(value, int) and not isinstance(value, bool):
        host, port = "127.0.0.1", value
    elif isinstance(value, str) and value.strip():
        host, sep, port_text = value.strip().rpartition(":")
        if not sep:
            host, port_text = "127.0.0.1", value.strip()
        host = host.strip("[]") or "127.0.0.1"
        try:
            port = int(port_text)
        except ValueError:
            port = -1
    else:
        port, host = -1, ""
    if not 0 <= port <= 65535:
        raise ConfigError(f"{key}: {value!r} is not HOST:PORT; write e.g. {example}")
    return host, port


WATCH_KEYS = {"status", "status_allow", "stats_interval_s", *attrs.fields_dict(HealthRules)}


@attrs.frozen
class WatchSettings:
    """The ``[collector]`` keys of this module, checked (errors name the key)."""

    status: tuple[str, int] | None = None  # where the endpoint listens; None: no endpoint
    status_allow: tuple[str, ...] | None = None  # client networks; None: everyone who can reach it
    stats_interval_s: float | None = None  # the stats line's period; None: no stats line
    rules: HealthRules = HealthRules()

    @classmethod
    def from_config(cls, settings: Mapping[str, Any]) -> WatchSettings:
        status = settings.get("status")
        allow = settings.get("status_allow")
        try:
            AllowList(allow, key="collector.status_allow")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        interval = settings.get("stats_interval_s")
        if interval is not None and (isinstance(interval, bool) or not isinstance(interval, (int, float))
                                     or interval < 0):
            raise ConfigError(f"collector.stats_interval_s: expected seconds (0 for no stats line), got {interval!r}")
        try:
            rules = HealthRules(**{k: settings[k] for k in attrs.fields_dict(HealthRules) if k in settings})
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        return cls(_address(status) if status not in (None, "") else None,
                   tuple(allow) if allow is not None else None, float(interval) if interval else None, rules)


# -- health -----------------------------------------------------------------------------------------


@attrs.frozen
class Health:
    status: str  # ok | degraded | failing
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "reasons": list(self.reasons)}


class _Increases:
    """How much a counter grew over the last ``window_s`` s, from the values it was seen with."""

    def __init__(self, window_s: float):
        self.window_s = window_s
        self._seen: dict[tuple, collections.deque] = {}
        self._lock = threading.Lock()

    def over_window(self, key: tuple, value: int, now: float) -> int:
        with self._lock:
            seen = self._seen.setdefault(key, collections.deque())
            if not seen or now - seen[-1][0] >= 1.0:  # at most one point a second: bounded memory
                seen.append((now, value))
            while len(seen) > 1 and now - seen[1][0] >= self.window_s:
                seen.popleft()  # keep one point at or before the window's start as the base
            return max(0, value - seen[0][1])  # a restarted reader/writer starts again from 0


class Status:
    """What is known about one running collector: its health, a snapshot for ``/status``, reloads."""

    def __init__(self, collector, settings: WatchSettings | None = None):
        self.collector = collector
        self.settings = settings or WatchSettings()
        self.started_time = time.time()
        self.reloads = {"done": 0, "refused": 0, "last_time": None, "last_error": None}
        self._increases = _Increases(self.settings.rules.health_window_s)

    def note_reload(self, error: str | None) -> None:
        """Record a reload (``error`` None) or a refused one (the reason)."""
        self.reloads["refused" if error else "done"] += 1
        self.reloads["last_time"], self.reloads["last_error"] = time.time(), error

    def alive(self) -> bool:
        """Whether every reader and writer worker runs: what the systemd watchdog is fed on."""
        stats = self.collector.stats()
        return all(s["alive"] for kind in ("readers", "writers") for s in stats[kind].values())

    def health(self, stats: dict[str, Any] | None = None, now: float | None = None) -> Health:
        stats = self.collector.stats() if stats is None else stats
        now = time.time() if now is None else now
        found: list[tuple[str, str]] = []
        for name, reader in stats["readers"].items():
            found += self._reader_health(name, reader, now)
        for name, writer in stats["writers"].items():
            found += self._writer_health(name, writer, now)
        status = max((level for level, _ in found), key=_RANK.__getitem__, default=OK)
        return Health(status, tuple(reason for _, reason in sorted(found, key=lambda f: -_RANK[f[0]])))

    def _reader_health(self, name: str, r: Mapping[str, Any], now: float) -> list[tuple[str, str]]:
        rules, found = self.settings.rules, []
        if not r["alive"]:
            return [(FAILING, f"reader {name}: its worker thread has ended")]
        stuck = now - r["reading_since"] if r["reading_since"] else 0.0
        if stuck >= rules.health_reader_stale_s:
            return [(FAILING, f"reader {name} has been in one read for {stuck:.0f} s (a device or driver that "
                              f"does not answer: give the reader a timeout)")]
        if r["failing"]:
            silent = now - max(r["last_ok_time"], r["started_time"])
            if silent >= rules.health_reader_stale_s:
                found.append((FAILING, f"reader {name} has read nothing for {silent:.0f} s "
                                       f"(last error: {r['last_error']})"))
            else:
                found.append((DEGRADED, f"reader {name}: its last {r['failing']} read(s) failed "
                                        f"(last error: {r['last_error']})"))
        elif r["last_read_errors"]:
            found.append((DEGRADED, f"reader {name}: {r['last_read_errors']} variable(s) gave an error "
                                    f"in the last read"))
        window = rules.health_window_s
        skipped = self._increases.over_window(("reader", name, "skipped"), r["skipped"], now)
        reads = self._increases.over_window(("reader", name, "reads"), r["reads"], now)
        if skipped and skipped > rules.health_skipped_ratio * (skipped + reads):
            found.append((DEGRADED, f"reader {name} skipped {skipped} of {skipped + reads} instants in the last "
                                    f"{window:.0f} s (its reads take longer than the interval)"))
        return found

    def _writer_health(self, name: str, w: Mapping[str, Any], now: float) -> list[tuple[str, str]]:
        rules, found = self.settings.rules, []
        if not w["alive"]:
            return [(FAILING, f"writer {name}: its delivery thread has ended")]
        stale = rules.health_writer_stale_s
        idle = now - max(w["last_success_time"], w["started_time"])
        oldest = now - w["oldest_time"] if w["oldest_time"] is not None else 0.0
        error = f"; last error: {w['last_error']}" if w["failing"] else ""
        if w["pending"] and idle >= stale and oldest >= stale:
            found.append((FAILING, f"writer {name} has delivered nothing for {min(idle, oldest):.0f} s "
                                   f"({w['pending']} sample(s) pending{error})"))
        elif w["failing"]:
            found.append((DEGRADED, f"writer {name}: {w['failing']} failed attempt(s) since its last success "
                                    f"({w['pending']} pending{error})"))
        elif w["pending"] and oldest >= stale:
            found.append((DEGRADED, f"writer {name} is behind: its oldest pending sample is {oldest:.0f} s old "
                                    f"({w['pending']} pending)"))
        window = rules.health_window_s
        for key, what in (("dropped", "dropped {} sample(s) (spool full)"),
                          ("set_aside", "set aside {} sample(s) it cannot store (kept in its spool)")):
            grew = self._increases.over_window(("writer", name, key), w[key], now)
            if grew:
                found.append((DEGRADED, f"writer {name} {what.format(grew)} in the last {window:.0f} s"))
        return found

    def snapshot(self) -> dict[str, Any]:
        """Everything ``/status`` serves and ``lab status`` prints."""
        stats, now = self.collector.stats(), time.time()
        contexts = [{"id": c.id, "state": c.state.value, "variables": len(c.variables)}
                    for c in self.collector.contexts()]
        for writer in stats["writers"].values():
            oldest = writer.pop("oldest_time")
            writer["oldest_pending_age_s"] = round(now - oldest, 3) if oldest is not None else None
        for reader in stats["readers"].values():
            reader.pop("lateness_histogram")
        return {"health": self.health(now=now).to_dict(), "time": now, "uptime_s": round(now - self.started_time, 1),
                "pid": os.getpid(), "version": __version__, "readers": stats["readers"],
                "writers": stats["writers"], "contexts": contexts, "reloads": dict(self.reloads)}

    def stats_line(self) -> str:
        """One line for the log: the verdict and each reader's and writer's main counters."""
        stats = self.collector.stats()
        health = self.health(stats)
        readers = ", ".join(f"{n} {r['reads']} reads/{r['errors']} errors/{r['skipped']} skipped"
                            for n, r in stats["readers"].items())
        writers = ", ".join(f"{n} {w['accepted']} accepted/{w['delivered']} delivered/{w['pending']} pending/"
                            f"{w['dropped']} dropped/{w['set_aside']} set aside" for n, w in stats["writers"].items())
        why = f" ({'; '.join(health.reasons)})" if health.reasons else ""
        return f"stats: {health.status}{why}; readers: {readers}; writers: {writers}"


# -- the endpoint -----------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = f"lab-status/{__version__}"

    def setup(self) -> None:
        self.timeout = self.server.request_timeout_s  # every recv/send, so a silent peer cannot hold us
        super().setup()

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(head=True)

    def _answer(self, head: bool) -> None:
        self.server.working(self.request)
        path = urlsplit(self.path).path
        try:
            code, kind, body = self._route(path)
        except Exception:
            log.exception("status endpoint: %s failed", path)
            code, kind, body = 500, "text/plain; charset=utf-8", b"internal error (see the collector's log)\n"
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _route(self, path: str) -> tuple[int, str, bytes]:
        status = self.server.status
        if path == "/metrics":
            return 200, self.server.metrics.content_type, self.server.metrics.render()
        if path == "/healthz":
            health = status.health()
            return 503 if health.status == FAILING else 200, "application/json", _json(health.to_dict())
        if path == "/status":
            return 200, "application/json", _json(status.snapshot())
        if path == "/":
            return 200, "text/plain; charset=utf-8", b"lab collector: /metrics /healthz /status\n"
        return 404, "text/plain; charset=utf-8", b"not found: try /metrics, /healthz or /status\n"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("status endpoint %s: " + format, self.client_address[0], *args)


def _json(data: Any) -> bytes:
    return (json.dumps(data, indent=1, default=str) + "\n").encode()


class _Server(GuardedServer, ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address, status: Status, metrics, allow: AllowList, request_timeout_s: float,
                 max_connections: int, max_per_peer: int):
        self.status, self.metrics = status, metrics
        self.request_timeout_s = request_timeout_s
        self.guard(allow, RefusalLog(log, "status endpoint", noun="connection(s)"), max_connections, max_per_peer)
        self._deadlines: dict[socket.socket, float] = {}
        self._deadlines_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def process_request(self, request, client_address) -> None:
        with self._deadlines_lock:  # a whole request gets 2 timeouts at most, however slowly it trickles
            self._deadlines[request] = time.monotonic() + 2 * self.request_timeout_s
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._deadlines_lock:
            self._deadlines.pop(request, None)
        super().shutdown_request(request)

    def service_actions(self) -> None:
        """Called by the accept loop every poll: cut connections past their deadline."""
        now = time.monotonic()
        with self._deadlines_lock:
            late = [s for s, deadline in self._deadlines.items() if deadline < now]
        for request in late:
            with contextlib.suppress(OSError):  # already closed
                request.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request, client_address) -> None:
        log.debug("status endpoint: request from %s failed", client_address[0], exc_info=True)


class StatusServer:
    """Serves ``status`` at ``address`` (default: the settings' ``status``) to the ``allow`` networks.

    A request gets ``request_timeout_s`` per read or write and twice that in all; at most
    ``max_connections`` connections are open at once, ``max_per_peer`` from one address (at
    either limit the longest-idle one, which has not sent its request yet, makes room; refusals
    are logged at most once a minute).
    """

    def __init__(self, status: Status, address: tuple[str, int] | None = None,
                 allow: list[str] | tuple[str, ...] | None = None, *, request_timeout_s: float = 5.0,
                 max_connections: int = 16, max_per_peer: int = 8):
        from .metrics import Metrics  # prometheus_client is imported only when an endpoint is wanted

        address = address or status.settings.status or ("127.0.0.1", DEFAULT_PORT)
        allow = allow if allow is not None else status.settings.status_allow
        self._server = _Server(address, status, Metrics(status), AllowList(allow, key="collector.status_allow"),
                               request_timeout_s, max_connections, max_per_peer)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.5},
                                        name="lab-status", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        return self._server.server_address[:2]

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    def start(self) -> StatusServer:
        self._thread.start()
        log.info("status endpoint at %s (/metrics, /healthz, /status), answering %s", self.url, self._server.allow)
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


# -- the stats line and the watchdog ---------------------------------------------------------------------


class Monitor:
    """A thread that logs ``Status.stats_line`` every ``stats_interval_s`` and, under systemd with
    ``WatchdogSec=``, sends ``WATCHDOG=1`` at half the watchdog period while every worker is alive."""

    def __init__(self, status: Status, watchdog_s: float | None = None):
        self.status = status
        self.watchdog_s = watchdog_s if watchdog_s is not None else systemd.watchdog_interval_s()
        self.stats_interval_s = status.settings.stats_interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lab-monitor", daemon=True)

    @property
    def needed(self) -> bool:
        return bool(self.watchdog_s or self.stats_interval_s)

    def start(self) -> Monitor:
        if self.needed:
            self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        now = time.monotonic()
        next_stats = now + self.stats_interval_s if self.stats_interval_s else None
        next_ping = now if self.watchdog_s else None
        while True:
            due = min(t for t in (next_stats, next_ping) if t is not None)
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return
            now = time.monotonic()
            try:
                if next_ping is not None and now >= next_ping:
                    next_ping = now + self.watchdog_s
                    self._feed_watchdog()
                if next_stats is not None and now >= next_stats:
                    next_stats = now + self.stats_interval_s
                    log.info("%s", self.status.stats_line())
            except Exception:
                log.exception("monitor: a periodic check failed; trying again at the next period")

    def _feed_watchdog(self) -> None:
        if self.status.alive():
            systemd.notify("WATCHDOG=1")
        else:
            log.error("a reader or writer worker has ended: not feeding the systemd watchdog (%s)",
                      "; ".join(self.status.health().reasons))


# -- lab status ------------------------------------------------------------------------------------------


def fetch(address: str, timeout: float = 5.0) -> dict[str, Any]:
    """``/status`` of the collector at ``HOST:PORT``; raises ``OSError`` (with what to check) if unreachable."""
    import urllib.error
    import urllib.request

    host, port = _address(address, f"lab status 127.0.0.1:{DEFAULT_PORT}", "HOST:PORT")
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/status"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http only, built above
            return json.loads(response.read(10_000_000))
    except urllib.error.HTTPError as exc:
        raise OSError(f"{url} answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise OSError(f"no collector status at {url} ({reason}); is `[collector] status` set in its "
                      f"configuration, and is this machine in its status_allow?") from None
    except ValueError:
        raise OSError(f"{url} did not answer JSON: is it a lab collector?") from None


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.1f} {unit}" if unit != "min" else f"{seconds / size:.0f} min"
    return f"{seconds:.0f} s"


def _age(now: float, then: float | None) -> str:
    return f"{_duration(max(0.0, now - then))} ago" if then else "never"


def _table(rows: list[tuple]) -> list[str]:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]


def describe(snapshot: Mapping[str, Any], where: str = "") -> str:
    """``/status`` for a person: the verdict and its reasons, then readers, writers, contexts."""
    now, health = snapshot["time"], snapshot["health"]
    lines = [f"collector{' at ' + where if where else ''}: {health['status'].upper()} "
             f"(up {_duration(snapshot['uptime_s'])}, pid {snapshot['pid']}, lab-core {snapshot['version']})"]
    lines += [f"  - {reason}" for reason in health["reasons"]]
    readers = [("READER", "READS", "ERRORS", "FAILURES", "SKIPPED", "LAST OK", "LAST ERROR")]
    readers += [(n, r["reads"], r["errors"], r["failures"], r["skipped"], _age(now, r["last_ok_time"]),
                 r["last_error"] or "-") for n, r in snapshot["readers"].items()]
    writers = [("WRITER", "ACCEPTED", "DELIVERED", "PENDING", "OLDEST", "DROPPED", "SET ASIDE", "FAILURES",
                "LAST SUCCESS")]
    writers += [(n, w["accepted"], w["delivered"], w["pending"],
                 "-" if w["oldest_pending_age_s"] is None else f"{w['oldest_pending_age_s']:.1f} s",
                 w["dropped"], w["set_aside"], w["failures"], _age(now, w["last_success_time"]))
                for n, w in snapshot["writers"].items()]
    lines += ["", *_table(readers), "", *_table(writers), ""]
    states = collections.Counter(c["state"] for c in snapshot["contexts"])
    lines.append("contexts: " + (", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "none"))
    reloads = snapshot["reloads"]
    if reloads["done"] or reloads["refused"]:
        last = f"; last refused: {reloads['last_error']}" if reloads["last_error"] else ""
        lines.append(f"reloads: {reloads['done']} done, {reloads['refused']} refused, the last "
                     f"{_age(now, reloads['last_time'])}{last}")
    return "\n".join(lines)

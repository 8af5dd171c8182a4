"""``lab run``: one collector from a configuration file, from start-up to the exit status.

::

    runner = Runner("lab.toml", duration_s=60)
    status = runner.run()   # build, start, wait for Ctrl-C / SIGTERM / the duration, close, report

The steps are separate methods (``build``, ``start``, ``wait``, ``close``,
``summary``, ``exit_status``) so that what runs beside a collector hooks into
one place: the status endpoint and the stats line (``lab_core.status``), the
systemd notifications (``READY=1``, watchdog, ``RELOADING=1``, ``STOPPING=1``)
and the reload on SIGHUP (``lab_core.reload``).

The exit status tells the truth (``docs/lab-admins.md``, "Exit statuses"):
``ExitCode.LOST`` when any sample was dropped by a full spool, set aside by its
writer, or left in a memory spool at stop; samples left in a disk spool are
kept for the next run and are not lost.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterator

import attrs

from . import systemd
from .errors import ConfigError
from .exitcodes import ExitCode
from .scheduler import prefer_timeliness, settle_heap
from .spool import DiskSpool
from .writers.console import ConsoleWriter

log = logging.getLogger("lab")

#: How often ``wait`` looks at the clock and the contexts.
POLL_S = 0.2


@attrs.frozen
class WriterSummary:
    """What became of the samples one writer was given during a run."""

    name: str
    accepted: int  # put into its spool
    errors: int  # of those, samples that carry an error instead of a value
    delivered: int
    left: int  # still spooled at stop
    dropped: int  # lost to a full spool
    set_aside: int  # refused by the writer for good
    durable: bool  # the spool is on disk: what is left is kept for the next run

    @property
    def lost(self) -> int:
        return self.dropped + self.set_aside + (0 if self.durable else self.left)

    def line(self) -> str:
        kept = " (kept in the disk spool)" if self.durable and self.left else ""
        return (f"writer {self.name}: {self.accepted} accepted: {self.accepted - self.errors} values, "
                f"{self.errors} errors; {self.delivered} delivered, {self.left} left{kept}, "
                f"{self.dropped} dropped, {self.set_aside} set aside")


class Runner:
    """Runs the collector that the configuration file ``config`` describes."""

    def __init__(self, config: str | os.PathLike, *, duration_s: float | None = None, registry=None,
                 show: bool | None = None):
        self.config = config
        self.duration_s = duration_s
        self.registry = registry
        self.show = show  # live values on stdout; None: when stdout is a terminal and no console writer is set
        self.view: LiveView | None = None
        self.stopping = threading.Event()  # set by Ctrl-C, SIGTERM or ``request_stop``
        self.reloading = threading.Event()  # set by SIGHUP or ``request_reload``
        self._wake = threading.Event()  # either of them: ``wait`` looks at once
        self.setup = None  # config.Setup once built
        self.left: dict[str, int] = {}
        self.lost_on_reload = 0  # samples in memory spools of writers a reload removed
        self.status = self.server = self.monitor = self.reloader = None

    @property
    def collector(self):
        return self.setup.collector

    def run(self) -> ExitCode:
        """The whole of ``lab run``; returns its exit status."""
        self.build()
        with self.signals():
            try:
                self.start()
                self.wait()
            finally:
                self.close()
        self.report()
        return self.exit_status()

    def build(self) -> None:
        """Read the configuration and build the collector (writers checked, spools open); raises
        ``ConfigError`` naming the key when something is wrong."""
        from .config import build, read_toml
        from .reload import Reloader
        from .status import Status, WatchSettings

        data = read_toml(self.config)
        try:
            self.setup = build(data, self.registry)
        except ConfigError as exc:
            raise ConfigError(str(exc) if str(exc).startswith(str(self.config)) else f"{self.config}: {exc}") from None
        self.status = Status(self.collector, WatchSettings.from_config(data.get("collector") or {}))
        self.reloader = Reloader(self.config, self.collector, data, registry=self.registry)
        show = self.show
        if show is None:
            show = sys.stdout.isatty() and not any(isinstance(w, ConsoleWriter)
                                                   for w in self.collector.writers.values())
        if show:
            self.view = LiveView()
            self.collector.taps.append(self.view)
            self.collector.add_listener(self.view)  # its contexts' units and descriptions

    @contextlib.contextmanager
    def signals(self) -> Iterator[None]:
        """Ctrl-C and SIGTERM ask for a clean stop while the collector runs, SIGHUP for a reload."""
        handlers = {signal.SIGINT: self.request_stop, signal.SIGTERM: self.request_stop,
                    signal.SIGHUP: self.request_reload}
        previous = {sig: signal.signal(sig, lambda *_, h=h: h()) for sig, h in handlers.items()}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def request_stop(self) -> None:
        self.stopping.set()
        self._wake.set()

    def request_reload(self) -> None:
        self.reloading.set()
        self._wake.set()

    def start(self) -> None:
        prefer_timeliness()
        for context in self.setup.contexts:
            self.collector.start(context)
        systemd.notify("READY=1", f"STATUS=collecting: {self._counts()}")
        self.watch()

    def _counts(self) -> str:
        variables = sum(len(c.variables) for c in self.collector.contexts() if c.state.value == "running")
        return (f"{len(self.collector.readers)} reader(s), {variables} variable(s), "
                f"{len(self.collector.writers)} writer(s)")

    def watch(self) -> None:
        """Start (or, after a reload, restart) the status endpoint and the monitor the settings ask for."""
        from .status import Monitor, StatusServer

        self.unwatch()
        if self.status.settings.status is not None:
            self.server = StatusServer(self.status).start()
        self.monitor = Monitor(self.status).start()

    def unwatch(self) -> None:
        for part in (self.monitor, self.server):
            if part is not None:
                part.close()
        self.monitor = self.server = None

    def reload(self) -> bool:
        """Re-read the configuration file and apply what changed; a bad one is refused (logged)."""
        # MONOTONIC_USEC: systemd 253+ matches a reload to the SIGHUP by it (Type=notify-reload too)
        systemd.notify("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")
        try:
            reloaded = self.reloader.reload()
        except ConfigError as exc:
            log.error("reload refused, the running configuration carries on: %s", exc)
            self.status.note_reload(str(exc))
            systemd.notify("READY=1", "STATUS=reload refused; collecting with the previous configuration")
            return False
        self.lost_on_reload += reloaded.lost
        settle_heap()
        log.info("configuration %s reloaded", self.config)
        self.status.note_reload(None)
        if reloaded.watch != self.status.settings:
            self.status.settings = reloaded.watch
            self.watch()
        systemd.notify("READY=1", f"STATUS=collecting: {self._counts()}")
        return True

    def wait(self) -> None:
        """Until a stop is asked for, the duration is over or every context reached its own."""
        deadline = time.monotonic() + self.duration_s if self.duration_s else None
        while not self.stopping.is_set():
            if self.reloading.is_set():  # a SIGHUP: reload in this thread, then carry on
                self.reloading.clear()
                self.reload()
            if deadline is not None and time.monotonic() >= deadline:
                break
            if all(c.state.value == "stopped" for c in self.collector.contexts()):
                break
            self._wake.wait(POLL_S)
            self._wake.clear()
        log.info("stopping: flushing writers (up to %.0f s)", self.collector.flush_timeout_s)

    def close(self) -> None:
        systemd.notify("STOPPING=1")
        self.unwatch()
        self.left = self.collector.close()
        if self.view is not None:
            self.view.stop()

    def summary(self) -> list[WriterSummary]:
        deliveries = self.collector.deliveries
        return [WriterSummary(name, s["accepted"], s["errors"], s["delivered"], self.left.get(name, 0),
                              s["dropped"], s["set_aside"], isinstance(deliveries[name].spool, DiskSpool))
                for name, s in self.collector.stats()["writers"].items()]

    def report(self) -> None:
        for writer in self.summary():
            log.log(logging.WARNING if writer.lost else logging.INFO, "%s", writer.line())

    def exit_status(self) -> ExitCode:
        lost = {w.name: w.lost for w in self.summary() if w.lost}
        if self.lost_on_reload:
            lost["removed by a reload"] = self.lost_on_reload
        if lost:
            log.error("samples were lost: %s", ", ".join(f"writer {n}: {c}" for n, c in lost.items()))
            return ExitCode.LOST
        return ExitCode.OK


class LiveView:
    """``lab run --show``: prints what the readers read, as they read it (before any processor).

    A thread of its own prints, so a slow terminal never holds a reader up; when
    ``QUEUE_MAX`` reads wait, newer ones are not shown (counted in ``skipped``).
    """

    QUEUE_MAX = 1000

    def __init__(self, stream=None):
        self.console = ConsoleWriter(stream)
        self.skipped = 0
        self._queue: queue.Queue = queue.Queue(self.QUEUE_MAX)
        self._thread = threading.Thread(target=self._print, name="lab-show", daemon=True)
        self._thread.start()

    def before_start(self, context) -> None:
        """A context starts (also on a reload): learn its variables' units and descriptions."""
        self.console.check_context(context)

    def __call__(self, samples) -> None:
        try:
            self._queue.put_nowait(samples)
        except queue.Full:
            self.skipped += len(samples)

    def _print(self) -> None:
        while (samples := self._queue.get()) is not None:
            try:
                self.console.write(samples)
            except (OSError, ValueError):  # the terminal went away: stop showing, keep collecting
                return

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(2.0)


def try_once(config: str | os.PathLike, *, as_json: bool = False, registry=None) -> ExitCode:
    """``lab run --once``: every variable read once through the real readers, a table printed,
    nothing written; ``ExitCode.FAILED`` if any variable could not be read."""
    from .config import load
    from .tables import format_table
    from .trial import read_once

    plan = load(config, registry, check_only=True)
    readings = read_once(plan.readers, [v for context in plan.contexts for v in context.variables])
    if as_json:
        print(json.dumps([{"codename": r.variable.codename, "reader": r.variable.reader, "value": r.sample.value,
                           "unit": r.unit, "description": r.variable.description, "error": r.error,
                           "time": r.sample.time, "read_ms": round(r.seconds * 1000, 3)} for r in readings], indent=2))
    else:
        print(format_table(("CODENAME", "VALUE", "UNIT", "ERROR", "READ TIME", "DESCRIPTION"),
                           ((r.variable.codename, _shown(r.sample.value), r.unit, r.error,
                             f"{r.seconds * 1000:.1f} ms", r.variable.description) for r in readings)))
    failed = sum(r.error is not None for r in readings)
    print(f"{len(readings)} variable(s) read once, {failed} failed; nothing written", file=sys.stderr)
    return ExitCode.FAILED if failed else ExitCode.OK


def _shown(value: object) -> str:
    return f"{value:.6g}" if isinstance(value, float) else ("" if value is None else str(value))

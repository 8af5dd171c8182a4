"""``lab run``: one collector from a configuration file, from start-up to the exit status.

::

    runner = Runner("lab.toml", duration_s=60)
    status = runner.run()   # build, start, wait for Ctrl-C / SIGTERM / the duration, close, report

The steps are separate methods (``build``, ``start``, ``wait``, ``close``,
``summary``, ``exit_status``) so that what runs beside a collector (a status
endpoint, a reload on SIGHUP) hooks into one place.

The exit status tells the truth (``docs/lab-admins.md``, "Exit statuses"):
``ExitCode.LOST`` when any sample was dropped by a full spool, set aside by its
writer, or left in a memory spool at stop; samples left in a disk spool are
kept for the next run and are not lost.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator

import attrs

from .exitcodes import ExitCode
from .scheduler import prefer_timeliness
from .spool import DiskSpool

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

    def __init__(self, config: str | os.PathLike, *, duration_s: float | None = None, registry=None):
        self.config = config
        self.duration_s = duration_s
        self.registry = registry
        self.stopping = threading.Event()  # set by Ctrl-C, SIGTERM or ``request_stop``
        self.setup = None  # config.Setup once built
        self.left: dict[str, int] = {}

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
        from .config import load

        self.setup = load(self.config, self.registry)

    @contextlib.contextmanager
    def signals(self) -> Iterator[None]:
        """Ctrl-C and SIGTERM ask for a clean stop while the collector runs."""
        handlers = {signal.SIGINT: self.request_stop, signal.SIGTERM: self.request_stop}
        previous = {sig: signal.signal(sig, lambda *_, h=h: h()) for sig, h in handlers.items()}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def request_stop(self) -> None:
        self.stopping.set()

    def start(self) -> None:
        prefer_timeliness()
        for context in self.setup.contexts:
            self.collector.start(context)

    def wait(self) -> None:
        """Until a stop is asked for, the duration is over or every context reached its own."""
        deadline = time.monotonic() + self.duration_s if self.duration_s else None
        while not self.stopping.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            if all(c.state.value == "stopped" for c in self.collector.contexts()):
                break
            self.stopping.wait(POLL_S)
        log.info("stopping: flushing writers (up to %.0f s)", self.collector.flush_timeout_s)

    def close(self) -> None:
        self.left = self.collector.close()

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
        if lost:
            log.error("samples were lost: %s", ", ".join(f"writer {n}: {c}" for n, c in lost.items()))
            return ExitCode.LOST
        return ExitCode.OK

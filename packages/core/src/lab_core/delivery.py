"""One delivery worker per writer: takes batches from the writer's spool and hands them off.

A slow or dead writer only ever delays its own spool. Failures are retried
with capped exponential backoff (never a busy loop, also during the final
flush on stop); samples the writer rejects for good are set aside so they
cannot block the ones behind them.

Life cycle (public, for the collector and for the loggers built on it)::

    delivery = Delivery("db", writer, spool)
    delivery.start()
    delivery.running                 # the worker is alive
    delivery.flush(5.0)              # wait until the spool is empty (True) or 5 s passed
    left = delivery.stop(10.0)       # final flush for at most 10 s, close the writer, samples left

``stop`` is ``request_stop(timeout)`` (start the final flush, return at once)
followed by ``join()`` (wait for it). A worker still blocked inside the writer
after the deadline is woken with the writer's optional ``interrupt()`` method
(break a blocked network call), then given ``grace`` seconds more.
"""

from __future__ import annotations

import logging
import random
import threading
import time

import attrs

from .contracts import Writer
from .errors import RejectedSamples
from .spool import Entry, Spool

log = logging.getLogger(__name__)


@attrs.define
class Backoff:
    """Capped exponential backoff: ``initial``, ×``factor`` per failure, at most ``cap`` seconds.

    Each wait is drawn between ``(1 - jitter)`` × and 1 × the current step, so that many collectors
    that lost one database at the same moment (a server restart) do not all come back in the same
    instant, nor retry in lock-step after it.
    """

    initial: float = 0.2
    cap: float = 30.0
    factor: float = 2.0
    current: float = 0.0  # the current step (the longest wait it may draw now)
    jitter: float = 0.5

    def next(self) -> float:
        """The next wait, seconds."""
        self.current = self.initial if not self.current else min(self.current * self.factor, self.cap)
        return self.current * (1.0 - self.jitter * random.random())

    def reset(self) -> None:
        self.current = 0.0


@attrs.define
class DeliveryStats:
    batches: int = 0
    failures: int = 0
    last_error: str = ""
    open: bool = False
    started_time: float = 0.0  # unix time the worker started
    last_success_time: float = 0.0  # unix time of the last batch the writer took (0: none yet)
    failing: int = 0  # failures since the last success (0: the last attempt worked)


class Delivery:
    """Moves samples from ``spool`` to ``writer`` in a thread of its own."""

    #: seconds a worker still busy after the final flush's deadline gets (after ``writer.interrupt()``)
    grace: float = 5.0

    def __init__(self, name: str, writer: Writer, spool: Spool, backoff: Backoff | None = None):
        self.name, self.writer, self.spool = name, writer, spool
        self.backoff = backoff or Backoff()
        self.stats = DeliveryStats()
        self._stop = threading.Event()
        self._drain_until = float("inf")  # monotonic deadline for the final flush on stop
        self._thread = threading.Thread(target=self._run, name=f"lab-writer-{name}", daemon=True)

    def start(self) -> None:
        """Start the worker (once)."""
        self._thread.start()

    @property
    def started(self) -> bool:
        return self._thread.ident is not None

    @property
    def running(self) -> bool:
        """True while the worker runs (started, and not yet ended by ``stop``)."""
        return self._thread.is_alive()

    @property
    def stopping(self) -> bool:
        """True once a stop was requested (the final flush is under way or over)."""
        return self._stop.is_set()

    def _run(self) -> None:
        try:
            while not self._should_exit():
                if not self.stats.open:
                    self._open()
                    continue
                entries = self.spool.take(self.writer.max_batch, timeout=0.2)
                if entries:
                    self._deliver(entries)
        finally:
            self._close()

    def _should_exit(self) -> bool:
        if not self._stop.is_set():
            return False
        # draining: go on (opening the writer again if need be) until empty or out of time
        return not len(self.spool) or time.monotonic() >= self._drain_until

    def _open(self) -> None:
        try:
            self.writer.open()
        except Exception as exc:
            self._failed("open", exc)
        else:
            self.stats.open = True
            self.backoff.reset()

    def _deliver(self, entries: list[Entry]) -> None:
        try:
            self.writer.write([sample for _, sample in entries])
        except RejectedSamples as rejected:
            self._set_aside(entries, rejected)
        except Exception as exc:
            self._failed("write", exc)
        else:
            self.spool.ack(entries)
            self.stats.batches += 1
            self.stats.last_success_time, self.stats.failing = time.time(), 0
            self.backoff.reset()

    def _set_aside(self, entries: list[Entry], rejected: RejectedSamples) -> None:
        ids = {id(s) for s in rejected.samples}
        refused = [e for e in entries if id(e[1]) in ids or e[1] in rejected.samples]
        if not refused:  # the writer named samples it was not given: treat as a failure
            self._failed("write", rejected)
            return
        log.error("writer %s set aside %d sample(s): %s (e.g. %r)",
                  self.name, len(refused), rejected.reason, refused[0][1])
        self.spool.set_aside(refused, rejected.reason)

    def _failed(self, step: str, exc: Exception) -> None:
        self.stats.failures += 1
        self.stats.failing += 1
        self.stats.last_error = f"{type(exc).__name__}: {exc}"
        delay = self.backoff.next()
        # Log the first failure and then only as the backoff grows, not every retry.
        level = (logging.WARNING if self.backoff.current < self.backoff.cap or self.stats.failures % 10 == 1
                 else logging.DEBUG)
        log.log(level, "writer %s: %s failed (%s); %d pending, retrying in %.1f s",
                self.name, step, self.stats.last_error, len(self.spool), delay)
        self._pause(delay)

    def _pause(self, delay: float) -> None:
        if not self._stop.is_set():
            self._stop.wait(delay)  # a stop request ends the wait: the final flush starts at once
        else:  # the final flush backs off too (never a busy loop), but never past its deadline
            time.sleep(min(delay, self._time_left()))

    def _time_left(self) -> float:
        return max(0.0, self._drain_until - time.monotonic())

    def flush(self, timeout: float) -> bool:
        """Wait until the writer took everything spooled so far (True), or ``timeout`` s (False)."""
        return self.spool.wait_empty(timeout)

    def stop(self, timeout: float = 10.0) -> int:
        """Deliver what it can within ``timeout`` s (the final flush), close the writer; return how many
        samples are left. Returns after at most ``timeout`` + ``grace`` + 1 s, whatever the writer does."""
        self.request_stop(timeout)
        return self.join()

    def stop_now(self, timeout: float) -> bool:
        """Stop without the final flush, leaving what is pending in the spool (for the writer's
        next instance); wait up to ``timeout`` s for a write under way. True once the worker ended."""
        self.request_stop(0.0)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def request_stop(self, timeout: float) -> None:
        """Start the final flush (at most ``timeout`` s) without waiting for it."""
        self._drain_until = time.monotonic() + max(0.0, timeout)
        self._stop.set()

    def join(self, timeout: float | None = None) -> int:
        """Wait for the worker to end; return how many samples it could not deliver.

        ``timeout`` defaults to the final flush's deadline (+ 1 s; no deadline before a stop
        was requested: until the worker ends, as ``Thread.join``). A worker still busy
        then is interrupted (``writer.interrupt()``, if the writer has one) and given
        ``grace`` seconds more; the count is returned either way.
        """
        if self.started:
            if timeout is None and self._stop.is_set():
                timeout = self._time_left() + 1.0
            self._thread.join(timeout)  # None (no stop requested): until it ends
            if self._thread.is_alive() and self._stop.is_set() and not self._time_left():
                interrupt = getattr(self.writer, "interrupt", None)
                if callable(interrupt):
                    interrupt()
                self._thread.join(self.grace)
                if self._thread.is_alive():
                    log.warning("writer %s: its worker is still busy in the writer after the final flush",
                                self.name)
        left = len(self.spool)
        if left and (self._stop.is_set() and not self.running):
            log.warning("writer %s stopped with %d sample(s) not delivered (%s)", self.name, left,
                        "kept in the disk spool" if hasattr(self.spool, "path") else "lost with the memory spool")
        return left

    def _close(self) -> None:
        if self.stats.open:
            try:
                self.writer.close()
            except Exception:
                log.exception("writer %s failed to close", self.name)
            self.stats.open = False

"""One worker thread per reader instance, reading on a drift-free schedule.

Each worker keeps one *timer* per interval. A timer's due instants are
``origin + k·interval`` on the monotonic clock (never "now + interval", which
drifts). Contexts asking for the same interval on the same reader share the
timer, so a variable they share is read once per instant; contexts with other
intervals add their own instants, and the worker reads at the *union* of the
instants, each variable once per instant (not at the gcd of the intervals,
which would read more often than anyone asked). Reads are spaced at least the
reader's minimum interval apart, and instants closer together than the
minimum interval (the reader's, or the smallest of its contexts'; at least
1 ms) are served by one read — e.g. two contexts started a few milliseconds
apart do not read a shared variable twice in a row.
Instants missed because a read ran long are skipped and counted, never
bunched up.
"""

from __future__ import annotations

import bisect
import collections
import gc
import logging
import math
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence

import attrs

from .contracts import Reader
from .model import VALUE_TYPES, Sample, Variable

log = logging.getLogger(__name__)

#: Instants this close together are served by one read.
MERGE_WINDOW_S = 0.001

#: Merged plans a worker keeps (one per combination of its intervals falling due together).
MERGED_PLANS_KEPT = 64

#: The interpreter's thread switch interval a collector process runs with (CPython's default is
#: 5 ms: a reader worker waking up on time could wait that long for the GIL behind a busy thread).
SWITCH_INTERVAL_S = 0.001


def prefer_timeliness() -> None:
    """Make this process switch threads often enough that reads start on time.

    For processes whose main job is collecting (``lab run`` calls it); it costs a little
    throughput in CPU-bound threads, which a collector does not have.
    """
    if sys.getswitchinterval() > SWITCH_INTERVAL_S:
        sys.setswitchinterval(SWITCH_INTERVAL_S)
    settle_heap()


def settle_heap() -> None:
    """Take the objects alive now (modules, plugins, configuration) out of the garbage collector's scans.

    A collector allocates a sample per read, so the oldest generation is collected every second or
    so; scanning every start-up object each time stopped all threads for several ms and was most
    of the scheduler's p99 lateness (``bench/core_scheduler.py``). Called again after a reload, so
    what the old configuration left behind is freed first.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


#: ``deliver(samples, writers_by_codename)`` — hands a read's samples on; the mapping is the worker's
#: (shared by every read of the same plan): read it, never change it.
Deliver = Callable[[list[Sample], dict[str, frozenset[str]]], None]


@attrs.define(eq=False)
class Timer:
    interval: float  # seconds
    origin: float  # monotonic
    k: int = 0
    #: context id -> (variables, writer names, minimum interval in seconds)
    plans: dict[int, tuple[tuple[Variable, ...], frozenset[str], float]] = attrs.field(factory=dict)

    @property
    def due(self) -> float:
        return self.origin + self.k * self.interval

    def advance(self, now: float) -> int:
        """Move to the first instant after ``now``; return how many instants were skipped."""
        nxt = max(self.k + 1, math.floor((now - self.origin) / self.interval) + 1)
        while self.origin + nxt * self.interval <= now:  # float rounding at the boundary
            nxt += 1
        skipped = nxt - self.k - 1
        self.k = nxt
        return skipped


#: Upper bounds (s) of the lateness histogram's buckets (the status endpoint's ``lab_reader_lateness_seconds``).
LATENESS_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


@attrs.define
class Histogram:
    """Counts per bucket (the last one is +Inf) and the sum: one bisect per read, read at scrape time."""

    bounds: tuple[float, ...] = LATENESS_BUCKETS_S
    counts: list[int] = attrs.field(factory=lambda: [0] * (len(LATENESS_BUCKETS_S) + 1))
    sum: float = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value


@attrs.define
class ReaderStats:
    reads: int = 0
    samples: int = 0
    errors: int = 0  # error samples produced
    failures: int = 0  # reads or opens that raised
    skipped: int = 0  # due instants missed because the reader was busy
    last_error: str = ""
    started_time: float = 0.0  # unix time the worker started
    last_ok_time: float = 0.0  # unix time of the last read that did not raise
    failing: int = 0  # reads that raised since the last one that did not (0: the last read worked)
    last_read_errors: int = 0  # error samples in the most recent read
    reading_since: float = 0.0  # unix time the read in progress started (0: not in a read); a hung driver shows
    lateness_histogram: Histogram = attrs.field(factory=Histogram)
    #: lateness of each read's start after its due instant, seconds (the most recent ones)
    lateness: collections.deque = attrs.field(factory=lambda: collections.deque(maxlen=200_000))


class ReaderWorker:
    """Reads one reader instance on the union of its timers' instants, in its own thread."""

    def __init__(self, name: str, reader: Reader, deliver: Deliver, min_interval_s: float = 0.0,
                 clock: Callable[[], float] = time.monotonic):
        self.name, self.reader, self.deliver = name, reader, deliver
        self.min_interval_s = min_interval_s
        self.clock = clock
        self.stats = ReaderStats()
        self._timers: dict[float, Timer] = {}
        #: due intervals -> their merged plan; the plans change only in ``add``/``remove``, which clear it
        self._merged: dict[tuple[float, ...], tuple[tuple[Variable, ...], dict[str, frozenset[str]]]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._open = False
        self._last_read = -math.inf
        self._thread = threading.Thread(target=self._run, name=f"lab-reader-{name}", daemon=True)

    # -- plan changes (any thread) --------------------------------------------

    def add(self, context_id: int, by_interval: dict[float, Sequence[Variable]], writers: Iterable[str],
            min_interval_s: float = 0.0) -> None:
        """Read ``by_interval`` (seconds -> variables) for ``context_id`` from now on; its reads
        need be no closer together than ``min_interval_s``."""
        writers = frozenset(writers)
        now = self.clock()
        with self._lock:
            for interval, variables in by_interval.items():
                timer = self._timers.get(interval)
                if timer is None:  # a new grid starts now: first read at once
                    timer = self._timers[interval] = Timer(interval, origin=now)
                timer.plans[context_id] = (tuple(variables), writers, min_interval_s)
            self._merged.clear()
        self._wake.set()

    def remove(self, context_id: int) -> None:
        with self._lock:
            for interval, timer in list(self._timers.items()):
                timer.plans.pop(context_id, None)
                if not timer.plans:
                    del self._timers[interval]
            self._merged.clear()
        self._wake.set()

    @property
    def alive(self) -> bool:
        """Whether the worker thread is running (False before ``start`` and after it ended)."""
        return self._thread.is_alive()

    @property
    def idle(self) -> bool:
        with self._lock:
            return not self._timers

    # -- life cycle --------------------------------------------------------------

    def start(self) -> None:
        self.stats.started_time = time.time()
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("reader %s is still busy in read(); leaving its thread behind", self.name)

    # -- the loop -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop:
                due = self._next_due()
                if due is None:
                    self._wake.wait()
                    self._wake.clear()
                    continue
                due = max(due, self._last_read + self.min_interval_s)
                delay = due - self.clock()
                if delay > 0 and self._wake.wait(delay):
                    self._wake.clear()
                    continue  # the plan changed: look again
                self._read_due(due)
        finally:
            self._close_reader()

    def _next_due(self) -> float | None:
        with self._lock:
            return min((t.due for t in self._timers.values()), default=None)

    def _read_due(self, target: float) -> None:
        now = self.clock()
        with self._lock:
            window = now + self._merge_window()
            due_timers = [t for t in self._timers.values() if t.due <= window]
            if not due_timers:
                return
            key = tuple(t.interval for t in due_timers)
            merged = self._merged.get(key)
            if merged is None:
                if len(self._merged) >= MERGED_PLANS_KEPT:  # many intervals: their combinations are many
                    self._merged.clear()
                merged = self._merged[key] = self._merge(due_timers)
            variables, writers = merged
            for timer in due_timers:
                self.stats.skipped += timer.advance(now)
        self.stats.lateness.append(now - target)
        self.stats.lateness_histogram.observe(now - target)
        self._last_read = now
        samples = self._read(variables)
        self.deliver(samples, writers)

    def _merge_window(self) -> float:
        plans = [plan[2] for timer in self._timers.values() for plan in timer.plans.values()]
        return max(MERGE_WINDOW_S, self.min_interval_s, min(plans, default=0.0))

    @staticmethod
    def _merge(timers: list[Timer]) -> tuple[tuple[Variable, ...], dict[str, frozenset[str]]]:
        """Each variable once, with the union of the writers of every context that wants it now."""
        variables: dict[str, Variable] = {}
        writers: dict[str, frozenset[str]] = {}
        for timer in timers:
            for plan_variables, plan_writers, _ in timer.plans.values():
                for variable in plan_variables:
                    variables.setdefault(variable.codename, variable)
                    writers[variable.codename] = writers.get(variable.codename, frozenset()) | plan_writers
        return tuple(variables.values()), writers

    def _read(self, variables: Sequence[Variable]) -> list[Sample]:
        self.stats.reads += 1
        self.stats.reading_since = time.time()
        try:
            if not self._open:
                self.reader.open()
                self._open = True
            samples = self.reader.read(list(variables))  # a list of its own: the reader may keep or change it
            samples = (_checked_buffered if getattr(self.reader, "buffered", False) else _checked)(samples, variables)
            self.stats.last_ok_time, self.stats.failing = time.time(), 0
        except Exception as exc:
            samples = self._failed(variables, exc)
        finally:
            self.stats.reading_since = 0.0
        self.stats.samples += len(samples)
        errors = sum(1 for s in samples if s.error is not None)
        self.stats.errors += errors
        self.stats.last_read_errors = errors
        return samples

    def _failed(self, variables: Sequence[Variable], exc: Exception) -> list[Sample]:
        self.stats.failures += 1
        self.stats.failing += 1
        self.stats.last_error = f"{type(exc).__name__}: {exc}"
        if self.stats.failures == 1 or self.stats.failures % 100 == 0:
            log.warning("reader %s failed (%d time(s)): %s", self.name, self.stats.failures, self.stats.last_error)
        self._close_reader()  # reopened before the next read
        at = time.time()
        return [Sample.failed(v.codename, exc, at) for v in variables]

    def _close_reader(self) -> None:
        if self._open:
            self._open = False
            try:
                self.reader.close()
            except Exception:
                log.exception("reader %s failed to close", self.name)


def _checked(samples: object, variables: Sequence[Variable]) -> list[Sample]:
    """The reader's answer, one sample per variable, coerced to each variable's type."""
    if not isinstance(samples, list) or len(samples) != len(variables):
        got = f"{len(samples)} samples" if isinstance(samples, list) else repr(type(samples))
        raise TypeError(f"read() must return a list of one Sample per variable ({len(variables)}), got {got}")
    result = []
    for variable, sample in zip(variables, samples):
        if not isinstance(sample, Sample) or sample.codename != variable.codename:
            raise TypeError(f"read() returned {sample!r} where a Sample for {variable.codename!r} was due")
        result.append(_coerce(variable, sample))
    return result


def _checked_buffered(samples: object, variables: Sequence[Variable]) -> list[Sample]:
    """A buffered reader's answer: any number of samples, each for one of ``variables``."""
    by_codename = {v.codename: v for v in variables}
    if not isinstance(samples, list):
        raise TypeError(f"read() of a buffered reader must return a list of Samples, got {type(samples)!r}")
    result = []
    for sample in samples:
        variable = by_codename.get(getattr(sample, "codename", None))
        if not isinstance(sample, Sample) or variable is None:
            raise TypeError(f"read() returned {sample!r}, which is not a Sample of the variables asked")
        result.append(_coerce(variable, sample))
    return result


def _coerce(variable: Variable, sample: Sample) -> Sample:
    kind = VALUE_TYPES[variable.value_type]
    value = sample.value
    if sample.error is not None or value is None or type(value) is kind:
        return sample
    try:
        if kind is bool and not isinstance(value, (bool, int)):
            raise TypeError(f"{value!r} is not a boolean")
        return Sample(sample.codename, sample.time, kind(value))
    except (TypeError, ValueError) as exc:
        return Sample.failed(sample.codename, f"cannot make {value!r} a {variable.value_type}: {exc}", sample.time)


"""The collector: variables_collector's DataCollector, done right.

Several contexts run at once; each can be started, paused, resumed and
stopped by id, and stops by itself when its duration runs out. Every reader
instance is read by its own worker (``scheduler.ReaderWorker``) and every
writer is fed by its own delivery worker and spool (``delivery.Delivery``), so
a slow device or a dead database never holds anything else up.

``reconfigure`` changes readers, writers and contexts while the collector runs
(what ``lab run`` does on SIGHUP): what changed restarts, the rest keeps running,
and no spooled sample is dropped.

The six life-cycle events fire through the ``lab_*`` hooks of every installed
plugin and through the listeners added to this collector (objects with any of
the methods ``before_start(context)``, ``after_start(context)``,
``before_stop(context)``, ``after_stop(context)``, ``before_close()``,
``after_close()``).
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from .contracts import Reader, Writer
from .delivery import Delivery
from .errors import CollectorClosed, ConfigError, UnknownContext
from .model import Context, ContextState, Sample, Variable
from .processing import Factory, Processing
from .registry import Registry, default_registry
from .scheduler import ReaderWorker
from .spool import MemorySpool, Spool

log = logging.getLogger(__name__)


class IntervalPolicy(str, enum.Enum):
    """What to do with a variable whose interval is below its reader's minimum interval."""

    CLAMP = "clamp"  # read it at the minimum interval (logged)
    IGNORE = "ignore"  # leave the variable out of the context (logged)
    ERROR = "error"  # refuse to start the context


class DataCollectionListener:
    """Base for listeners: override the events you need (all do nothing here)."""

    def before_start(self, context: Context) -> None: ...
    def after_start(self, context: Context) -> None: ...
    def before_stop(self, context: Context) -> None: ...
    def after_stop(self, context: Context) -> None: ...
    def before_close(self) -> None: ...
    def after_close(self) -> None: ...


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@attrs.frozen
class Delta:
    """Names (or context ids) added, replaced (restarted) and removed by a reconfiguration."""

    added: tuple = ()
    replaced: tuple = ()
    removed: tuple = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.replaced or self.removed)

    def describe(self, what: str) -> str:
        parts = [f"{verb} {', '.join(map(str, names))}" for verb, names in
                 (("added", self.added), ("restarted", self.replaced), ("removed", self.removed)) if names]
        return f"{what} {'; '.join(parts)}"


@attrs.frozen
class Changes:
    """What ``Collector.reconfigure`` did; ``left`` counts what removed writers could not deliver."""

    readers: Delta = Delta()
    writers: Delta = Delta()
    contexts: Delta = Delta()
    left: dict[str, int] = attrs.field(factory=dict)

    def __bool__(self) -> bool:
        return bool(self.readers or self.writers or self.contexts)

    def describe(self) -> str:
        parts = [delta.describe(what) for what, delta in
                 (("readers", self.readers), ("writers", self.writers), ("contexts", self.contexts)) if delta]
        return "; ".join(parts) or "nothing changed"


class _Inlet:
    """Where one writer's samples enter its spool; the spool can be switched without losing a put."""

    def __init__(self, spool: Spool):
        self.spool = spool
        self._lock = threading.Lock()

    def put(self, batch: list[Sample]) -> None:
        with self._lock:
            self.spool.put(batch)

    def switch(self, spool: Spool) -> None:
        """Move every pending sample into ``spool`` (in order), then let new samples go there."""
        with self._lock:
            old, self.spool = self.spool, spool
            while entries := old.peek(10_000):
                spool.put([sample for _, sample in entries])  # put, then ack: a crash can repeat, never lose
                old.ack(entries)
            old.close()


class Collector:
    """Collects the variables of running contexts from ``readers`` into ``writers``.

    ``readers`` and ``writers`` map instance names to plugin instances; variables
    name their reader instance. ``spools`` gives a writer a spool other than
    the default ``MemorySpool``. ``processors`` maps stream processor names (as variables'
    ``processors`` and ``writer_processors`` list them) to factories of fresh instances;
    ``writer_processors`` maps writer names to the chain applied to what that writer gets.
    """

    def __init__(self, readers: Mapping[str, Reader], writers: Mapping[str, Writer], *,
                 spools: Mapping[str, Spool] | None = None, listeners: Iterable[Any] = (),
                 processors: Mapping[str, Factory] | None = None,
                 writer_processors: Mapping[str, Iterable[str]] | None = None,
                 interval_policy: IntervalPolicy | str = IntervalPolicy.CLAMP,
                 registry: Registry | None = None, flush_timeout_s: float = 10.0):
        self.readers = dict(readers)
        self.writers = dict(writers)
        self.interval_policy = IntervalPolicy(interval_policy)
        self.registry = registry or default_registry()
        self.flush_timeout_s = flush_timeout_s
        self.listeners = list(listeners)
        #: Callables given each read's samples as read, in the reader's thread (keep them quick):
        #: ``lab run --show`` prints through one.
        self.taps: list[Callable[[list[Sample]], None]] = []
        spools = dict(spools or {})
        unknown = set(spools) - set(self.writers)
        if unknown:
            raise ConfigError(f"spools given for unknown writers: {', '.join(sorted(unknown))}")
        try:
            check_writers(self.writers)
            unknown = set(writer_processors or {}) - set(self.writers)
            if unknown:
                raise ConfigError(f"processors given for unknown writers: {', '.join(sorted(unknown))}")
            self.processing = Processing(processors or {}, writer_processors or {})
        except ConfigError:
            for spool in spools.values():
                spool.close()
            raise
        self.deliveries = {name: Delivery(name, w, spools[name] if name in spools else MemorySpool())
                           for name, w in self.writers.items()}
        self._inlets = {name: _Inlet(d.spool) for name, d in self.deliveries.items()}
        self.workers = {name: self._worker(name, r) for name, r in self.readers.items()}
        self._contexts: dict[int, Context] = {}
        self._configured: dict[int, Context] = {}  # each context as it was given to start()
        self._plans: dict[int, dict[str, dict[float, list[Variable]]]] = {}
        self._timers: dict[int, threading.Timer] = {}
        self._lock = threading.RLock()
        self._closed = False
        self._errors = dict.fromkeys(self.writers, 0)  # error samples accepted, per writer
        self._errors_lock = threading.Lock()
        for delivery in self.deliveries.values():
            delivery.start()
        for worker in self.workers.values():
            worker.start()

    # -- events -----------------------------------------------------------------

    def add_listener(self, listener: Any) -> None:
        self.listeners.append(listener)

    def _fire(self, event: str, **kwargs: Any) -> None:
        self.registry.call_each(f"lab_{event}", collector=self, **kwargs)
        for listener in self.listeners:
            method = getattr(listener, event, None)
            if method is None:
                continue
            try:
                method(*kwargs.values())
            except Exception:
                log.exception("listener %r raised in %s; the collector carries on", listener, event)

    # -- contexts ---------------------------------------------------------------

    def start(self, context: Context) -> Context:
        """Start collecting ``context``; return the running copy. Starting a running context returns it."""
        return self._start(context, None)

    def _start(self, context: Context, plan: dict | None) -> Context:
        with self._lock:
            self._check_open()
            current = self._contexts.get(context.id)
            if current is not None and current.state in (ContextState.RUNNING, ContextState.PAUSED):
                return current
            plan = plan if plan is not None else self._plan(context)
            self.processing.add(context, context.writers if context.writers is not None else self.writers)
            self._fire("before_start", context=context)
            running = attrs.evolve(context, state=ContextState.RUNNING, start_date=_now(), end_date=None)
            self._contexts[context.id], self._plans[context.id] = running, plan
            self._configured[context.id] = context
            self._schedule(running)
            timer = threading.Timer(context.duration_s, self._expire, args=(context.id,))
            timer.daemon = True
            timer.start()
            self._timers[context.id] = timer
        log.info("context %d started: %d variable(s)", context.id, len(context.variables))
        self._fire("after_start", context=running)
        return running

    def pause(self, context_id: int) -> Context:
        """Stop reading ``context_id`` until ``resume``; its duration keeps running."""
        with self._lock:
            context = self._get(context_id)
            if context.state is ContextState.RUNNING:
                self._unschedule(context_id)
                context = self._contexts[context_id] = attrs.evolve(context, state=ContextState.PAUSED)
            return context

    def resume(self, context_id: int) -> Context:
        with self._lock:
            context = self._get(context_id)
            if context.state is ContextState.PAUSED:
                context = self._contexts[context_id] = attrs.evolve(context, state=ContextState.RUNNING)
                self._schedule(context)
            return context

    def stop(self, context_id: int) -> Context:
        """Stop ``context_id`` for good; return it with its end date. Stopping twice is harmless."""
        with self._lock:
            context = self._get(context_id)
            if context.state is ContextState.STOPPED:
                return context
            self._fire("before_stop", context=context)
            self._unschedule(context_id)
            timer = self._timers.pop(context_id, None)
            if timer is not None and timer is not threading.current_thread():
                timer.cancel()
            stopped = self._contexts[context_id] = attrs.evolve(
                context, state=ContextState.STOPPED, end_date=_now())
            self._end_streams(context)
        log.info("context %d stopped", context_id)
        self._fire("after_stop", context=stopped)
        return stopped

    def _expire(self, context_id: int) -> None:
        with self._lock:
            if self._closed or self._contexts[context_id].state is ContextState.STOPPED:
                return
        log.info("context %d reached its duration", context_id)
        self.stop(context_id)

    def context(self, context_id: int) -> Context:
        """The current copy of ``context_id`` (state, start and end dates)."""
        with self._lock:
            return self._get(context_id)

    def contexts(self) -> list[Context]:
        with self._lock:
            return list(self._contexts.values())

    def _get(self, context_id: int) -> Context:
        self._check_open()
        try:
            return self._contexts[context_id]
        except KeyError:
            raise UnknownContext(f"no context with id {context_id} was started on this collector") from None

    def _check_open(self) -> None:
        if self._closed:
            raise CollectorClosed("this collector is closed; make a new Collector")

    # -- planning -----------------------------------------------------------------

    def _plan(self, context: Context, readers: Mapping[str, Reader] | None = None,
              writers: Mapping[str, Writer] | None = None) -> dict[str, dict[float, list[Variable]]]:
        """reader name -> interval (s) -> variables, after checks and the interval policy
        (against ``readers`` and ``writers``, by default the collector's own)."""
        readers = self.readers if readers is None else readers
        writers = self.writers if writers is None else writers
        unknown = sorted({w for w in context.writers or () if w not in writers})
        if unknown:
            raise ConfigError(f"context {context.id} names unknown writer(s) {', '.join(unknown)}; "
                              f"writers are: {', '.join(writers) or 'none'}")
        for name in context.writers if context.writers is not None else writers:
            try:
                writers[name].check_context(context)
            except ValueError as exc:
                raise ConfigError(f"context {context.id} cannot be written by writer {name!r}: {exc}") from exc
        plan: dict[str, dict[float, list[Variable]]] = {}
        for variable in context.variables:
            reader = readers.get(variable.reader)
            if reader is None:
                raise ConfigError(f"variable {variable.codename!r} of context {context.id} names reader "
                                  f"{variable.reader!r}; readers are: {', '.join(readers) or 'none'}")
            reader.check_address(variable)
            interval = self._interval_ms(context, variable, reader)
            if interval is not None:
                plan.setdefault(variable.reader, {}).setdefault(interval / 1000.0, []).append(variable)
        return plan

    def _interval_ms(self, context: Context, variable: Variable, reader: Reader) -> float | None:
        asked = context.interval_ms(variable)
        limit = getattr(reader, "min_interval_ms", 0.0) or context.min_interval_ms
        if asked >= limit:
            return asked
        where = f"variable {variable.codename!r} of context {context.id} asks for {asked:g} ms"
        if self.interval_policy is IntervalPolicy.ERROR:
            raise ConfigError(f"{where}, below the minimum interval of {limit:g} ms; "
                              f"raise its interval_ms or choose interval_policy 'clamp'")
        if self.interval_policy is IntervalPolicy.IGNORE:
            log.warning("%s, below the minimum of %g ms: left out (interval_policy 'ignore')", where, limit)
            return None
        log.warning("%s, below the minimum of %g ms: read every %g ms instead", where, limit, limit)
        return limit

    def _schedule(self, context: Context) -> None:
        writers = context.writers if context.writers is not None else tuple(self.writers)
        for reader, by_interval in self._plans[context.id].items():
            limit_ms = getattr(self.readers[reader], "min_interval_ms", 0.0) or context.min_interval_ms
            self.workers[reader].add(context.id, by_interval, writers, limit_ms / 1000.0)

    def _unschedule(self, context_id: int) -> None:
        for worker in self.workers.values():
            worker.remove(context_id)

    # -- data -------------------------------------------------------------------------

    def _fan_out(self, samples: list[Sample], writers_by_codename: dict[str, frozenset[str]]) -> None:
        """Give each writer the samples of the contexts it serves (samples are immutable: shared
        safely), through the stream processors where any are configured."""
        for tap in self.taps:
            tap(samples)
        batches: dict[str, list[Sample]] = {}
        if self.processing.active:
            self.processing.route(samples, writers_by_codename, batches)
        else:
            for sample in samples:
                for writer in writers_by_codename.get(sample.codename, ()):
                    batches.setdefault(writer, []).append(sample)
        self._spool(batches)

    def _end_streams(self, context: Context) -> None:
        """Flush the processors of ``context``'s variables that no running context reads any more."""
        if not self.processing.active:
            return
        still_read = {v.codename for c in self._contexts.values() if c.state is not ContextState.STOPPED
                      for v in c.variables}
        self._spool(self.processing.remove(v.codename for v in context.variables
                                           if v.codename not in still_read))

    def _spool(self, batches: dict[str, list[Sample]]) -> None:
        inlets = self._inlets  # reconfigure swaps the whole dict
        for writer, batch in batches.items():
            inlet = inlets.get(writer)
            if not batch or inlet is None:  # nothing, or removed by a reconfiguration while this read ran
                continue
            try:
                inlet.put(batch)
            except Exception:
                log.exception("spool of writer %s refused %d sample(s)", writer, len(batch))
                continue
            errors = sum(1 for s in batch if s.error is not None)
            if errors:
                with self._errors_lock:
                    self._errors[writer] = self._errors.get(writer, 0) + errors

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every writer took every sample spooled so far; False on timeout."""
        timeout = self.flush_timeout_s if timeout is None else timeout
        return all(d.flush(timeout) for d in self.deliveries.values())

    def stats(self) -> dict[str, Any]:
        """Counters per reader and per writer (what the status endpoint serves); safe from any thread."""
        workers, deliveries = self.workers, self.deliveries  # reconfigure swaps whole dicts
        return {
            "readers": {n: {**attrs.asdict(w.stats, filter=lambda a, _: a.name != "lateness"), "alive": w.alive}
                        for n, w in workers.items()},
            "writers": {n: {**attrs.asdict(d.stats), **attrs.asdict(d.spool.stats()),
                            "errors": self._errors.get(n, 0), "alive": d.running}
                        for n, d in deliveries.items()},
        }

    # -- changing what runs ------------------------------------------------------------

    def reconfigure(self, readers: Mapping[str, Reader], writers: Mapping[str, Writer],
                    contexts: Iterable[Context], *, spools: Mapping[str, Spool] | None = None) -> Changes:
        """Make the collector run ``readers``, ``writers`` and ``contexts`` from now on.

        An instance that *is* the running one (same object) is kept running; another
        instance under a running name replaces it (restarted); names not given are removed.
        A replaced writer keeps its spool (its pending samples go to the new instance)
        unless ``spools`` gives it another, into which the pending samples are moved;
        a new writer gets ``spools[name]`` or a ``MemorySpool``. A context equal to the
        one started under its id keeps running, rescheduled if a reader it reads or the
        writers it feeds changed; a changed context is stopped and started again; one not
        given is stopped. Everything is checked first: on ``ConfigError`` nothing changed.
        Removed writers deliver what they can within ``flush_timeout_s`` before they close.
        """
        readers, writers, spools = dict(readers), dict(writers), dict(spools or {})
        wanted = self._wanted(contexts)
        with self._lock:
            self._check_open()
            unknown = sorted(set(spools) - set(writers))
            if unknown:
                raise ConfigError(f"spools given for unknown writers: {', '.join(unknown)}")
            reader_delta = _delta(self.readers, readers)
            writer_delta = _delta(self.writers, writers, lambda n: n in spools and
                                  spools[n] is not self.deliveries[n].spool)
            check_writers({n: writers[n] for n in (*writer_delta.added, *writer_delta.replaced)
                           if writers[n] is not self.writers.get(n)})
            restart, reschedule, stop = self._context_changes(wanted, reader_delta, writer_delta, writers)
            context_delta = Delta(tuple(c.id for c in restart if c.id not in self._contexts),
                                  tuple(c.id for c in restart if c.id in self._contexts), tuple(stop))
            new_plans = {c.id: self._plan(c, readers, writers) for c in [*restart, *reschedule]}  # may raise
            for context_id in stop:
                self.stop(context_id)
            for context_id in context_delta.replaced:
                if self._contexts[context_id].state is not ContextState.STOPPED:
                    self.stop(context_id)
            for context in reschedule:
                self._unschedule(context.id)
            self._swap_readers(reader_delta, readers)
            retired = self._swap_writers(writer_delta, writers, spools)
            for context in reschedule:
                self._plans[context.id] = new_plans[context.id]
                if self._contexts[context.id].state is ContextState.RUNNING:
                    self._schedule(self._contexts[context.id])
            for context in restart:
                self._start(context, new_plans[context.id])  # planned (and checked) above
        changes = Changes(reader_delta, writer_delta, context_delta, self._retire(retired))
        log.info("reconfigured: %s", changes.describe())
        return changes

    @staticmethod
    def _wanted(contexts: Iterable[Context]) -> dict[int, Context]:
        wanted: dict[int, Context] = {}
        for context in contexts:
            if context.id in wanted:
                raise ConfigError(f"context id {context.id} is given twice")
            wanted[context.id] = context
        return wanted

    def _context_changes(self, wanted: dict[int, Context], readers: Delta, writers: Delta,
                         new_writers: Mapping[str, Writer]) -> tuple[list[Context], list[Context], list[int]]:
        """(contexts to start anew, running ones to reschedule, ids to stop)."""
        changed_readers = {*readers.replaced, *readers.removed}
        changed_writers = {*writers.replaced, *writers.removed}
        writer_set_changed = set(new_writers) != set(self.writers)
        restart, reschedule = [], []
        for context_id, context in wanted.items():
            current = self._contexts.get(context_id)
            if current is None or self._configured[context_id] != context:
                restart.append(context)
            elif current.state is ContextState.STOPPED:
                continue  # unchanged and over (its duration ran out): leave it
            elif ({v.reader for v in context.variables} & changed_readers
                  or (context.writers is None and (writer_set_changed or changed_writers))
                  or set(context.writers or ()) & changed_writers):
                reschedule.append(self._configured[context_id])
        stop = [i for i, c in self._contexts.items() if i not in wanted and c.state is not ContextState.STOPPED]
        return restart, reschedule, stop

    def _worker(self, name: str, reader: Reader) -> ReaderWorker:
        return ReaderWorker(name, reader, self._fan_out, _min_interval_s(reader))

    def _swap_readers(self, delta: Delta, readers: dict[str, Reader]) -> None:
        workers = dict(self.workers)
        for name in (*delta.removed, *delta.replaced):
            workers.pop(name).stop()
        for name in (*delta.added, *delta.replaced):
            workers[name] = self._worker(name, readers[name])
            workers[name].start()
        self.readers, self.workers = readers, workers

    def _swap_writers(self, delta: Delta, writers: dict[str, Writer], spools: dict[str, Spool]) -> list[Delivery]:
        """Start new and replaced writers' deliveries; return the removed ones (still to drain)."""
        deliveries, inlets = dict(self.deliveries), dict(self._inlets)
        for name in delta.replaced:
            old = deliveries[name]
            if not old.stop_now(self.flush_timeout_s):
                log.warning("writer %s did not finish its write within %.0f s; the batch it is writing may "
                            "be written again by its new instance", name, self.flush_timeout_s)
            spool = spools.get(name, old.spool)
            if spool is not old.spool:
                inlets[name].switch(spool)
            deliveries[name] = Delivery(name, writers[name], spool)
        for name in delta.added:
            deliveries[name] = Delivery(name, writers[name], spools.get(name) or MemorySpool())
            inlets[name] = _Inlet(deliveries[name].spool)
        retired = [deliveries.pop(name) for name in delta.removed]
        for name in delta.removed:
            del inlets[name]
        for name in (*delta.replaced, *delta.added):
            deliveries[name].start()
        self.writers, self.deliveries, self._inlets = writers, deliveries, inlets
        return retired

    def _retire(self, deliveries: list[Delivery]) -> dict[str, int]:
        for delivery in deliveries:
            delivery.request_stop(self.flush_timeout_s)
        left = {d.name: d.join() for d in deliveries}
        for delivery in deliveries:
            delivery.spool.close()
        return left

    # -- closing -----------------------------------------------------------------------

    def close(self, timeout: float | None = None) -> dict[str, int]:
        """Stop every context, the readers, then deliver what the writers will take within
        ``timeout`` s (default ``flush_timeout_s``); return the samples left per writer."""
        with self._lock:
            self._check_open()
        self._fire("before_close")
        for context in self.contexts():
            if context.state is not ContextState.STOPPED:
                self.stop(context.id)
        with self._lock:
            self._closed = True
        for worker in self.workers.values():
            worker.stop()
        self._spool(self.processing.close())  # what the processors still held (partial windows…)
        timeout = self.flush_timeout_s if timeout is None else timeout
        for delivery in self.deliveries.values():  # all writers drain at once, not one after another
            delivery.request_stop(timeout)
        left = {name: d.join() for name, d in self.deliveries.items()}
        for delivery in self.deliveries.values():
            delivery.spool.close()
        self._fire("after_close")
        return left

    def __enter__(self) -> Collector:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._closed:
            self.close()


def _delta(current: Mapping[str, Any], wanted: Mapping[str, Any], also_replaced=lambda name: False) -> Delta:
    """Names added, replaced (another object, or ``also_replaced``) and removed going ``current`` → ``wanted``."""
    return Delta(tuple(n for n in wanted if n not in current),
                 tuple(n for n in wanted if n in current and (wanted[n] is not current[n] or also_replaced(n))),
                 tuple(n for n in current if n not in wanted))


def check_writers(writers: Mapping[str, Writer]) -> None:
    """Every writer's start-up check (``Writer.check``); ``ConfigError`` naming the first that cannot work."""
    for name, writer in writers.items():
        try:
            writer.check()
        except (ValueError, OSError) as exc:
            raise ConfigError(f"writers.{name}: {exc}") from None


def _min_interval_s(reader: Reader) -> float:
    return max(0.0, float(getattr(reader, "min_interval_ms", 0.0) or 0.0)) / 1000.0

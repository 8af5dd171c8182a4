"""The collector: variables_collector's DataCollector, done right.

Several contexts run at once; each can be started, paused, resumed and
stopped by id, and stops by itself when its duration runs out. Every reader
instance is read by its own worker (``scheduler.ReaderWorker``) and every
writer is fed by its own delivery worker and spool (``delivery.Delivery``), so
a slow device or a dead database never holds anything else up.

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
        self.workers = {name: ReaderWorker(name, r, self._fan_out, _min_interval_s(r))
                        for name, r in self.readers.items()}
        self._contexts: dict[int, Context] = {}
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
        with self._lock:
            self._check_open()
            current = self._contexts.get(context.id)
            if current is not None and current.state in (ContextState.RUNNING, ContextState.PAUSED):
                return current
            plan = self._plan(context)
            self.processing.add(context, context.writers if context.writers is not None else self.writers)
            self._fire("before_start", context=context)
            running = attrs.evolve(context, state=ContextState.RUNNING, start_date=_now(), end_date=None)
            self._contexts[context.id], self._plans[context.id] = running, plan
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

    def _plan(self, context: Context) -> dict[str, dict[float, list[Variable]]]:
        """reader name -> interval (s) -> variables, after checks and the interval policy."""
        unknown = sorted({w for w in context.writers or () if w not in self.writers})
        if unknown:
            raise ConfigError(f"context {context.id} names unknown writer(s) {', '.join(unknown)}; "
                              f"writers are: {', '.join(self.writers) or 'none'}")
        for name in context.writers if context.writers is not None else self.writers:
            try:
                self.writers[name].check_context(context)
            except ValueError as exc:
                raise ConfigError(f"context {context.id} cannot be written by writer {name!r}: {exc}") from exc
        plan: dict[str, dict[float, list[Variable]]] = {}
        for variable in context.variables:
            reader = self.readers.get(variable.reader)
            if reader is None:
                raise ConfigError(f"variable {variable.codename!r} of context {context.id} names reader "
                                  f"{variable.reader!r}; readers are: {', '.join(self.readers) or 'none'}")
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
        for writer, batch in batches.items():
            if not batch:
                continue
            try:
                self.deliveries[writer].spool.put(batch)
            except Exception:
                log.exception("spool of writer %s refused %d sample(s)", writer, len(batch))
                continue
            errors = sum(1 for s in batch if s.error is not None)
            if errors:
                with self._errors_lock:
                    self._errors[writer] += errors

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every writer took every sample spooled so far; False on timeout."""
        timeout = self.flush_timeout_s if timeout is None else timeout
        return all(d.flush(timeout) for d in self.deliveries.values())

    def stats(self) -> dict[str, Any]:
        return {
            "readers": {n: attrs.asdict(w.stats, filter=lambda a, _: a.name != "lateness")
                        for n, w in self.workers.items()},
            "writers": {n: {**attrs.asdict(d.stats), **attrs.asdict(d.spool.stats()), "errors": self._errors[n]}
                        for n, d in self.deliveries.items()},
        }

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


def check_writers(writers: Mapping[str, Writer]) -> None:
    """Every writer's start-up check (``Writer.check``); ``ConfigError`` naming the first that cannot work."""
    for name, writer in writers.items():
        try:
            writer.check()
        except (ValueError, OSError) as exc:
            raise ConfigError(f"writers.{name}: {exc}") from None


def _min_interval_s(reader: Reader) -> float:
    return max(0.0, float(getattr(reader, "min_interval_ms", 0.0) or 0.0)) / 1000.0

"""Where jobs run: a bounded thread pool (default), a process pool, or a Dask cluster.

* :class:`ThreadExecutor` — plugins run in this process, at most ``max_workers``
  at a time; extra jobs wait in the queue (state ``starting``). Abort is
  cooperative and immediate (the plugin object is here).
* :class:`ProcessExecutor` — CPU-bound plugins in worker processes. The plugin
  class must be importable there (a module, or an installed distribution).
* :class:`DaskExecutor` — the same on a ``distributed.Client``: a LocalCluster
  on this machine or a scheduler address (``pip install 'lab-dahu[dask]'``).

Remote executors run the whole life cycle in the worker and send back a plain
dict (input and output must be picklable by the pool / Dask; JSON-friendly is best).
"""

from __future__ import annotations

import abc
import atexit
import concurrent.futures
import logging
import multiprocessing
import os
import queue
import threading
import uuid
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

from .lifecycle import plugin_reference

log = logging.getLogger(__name__)

EXECUTOR_KINDS = ("thread", "process", "dask")


class Executor(abc.ABC):
    """Runs callables for jobs and tells when they are done."""

    #: True when the plugin runs in another process (the job gets a result dict back)
    remote: ClassVar[bool] = False
    kind: ClassVar[str] = ""

    @abc.abstractmethod
    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Schedule ``fn(*args)``; return a future with ``add_done_callback``, ``cancel``, ``result``."""

    def run_soon(self, fn: Callable[[], Any]) -> None:
        """Run ``fn()`` soon, nothing returned (jobs use it: they track their own end)."""
        self.submit(fn)

    def add_done_callback(self, future: Any, fn: Callable[[Any], None]) -> None:
        future.add_done_callback(fn)

    def cancel(self, future: Any) -> bool:
        """Cancel ``future`` if it has not started; True if it will not run."""
        return bool(future.cancel())

    def plugin_payload(self, klass: type, name: str) -> Any:
        """What to send to a worker so that it can make the plugin (remote executors)."""
        return plugin_reference(klass)

    def abort_name(self) -> str | None:
        """A name under which a running remote job can be told to abort, if supported."""
        return None

    def signal_abort(self, name: str) -> None:  # noqa: B027 - optional hook
        """Tell the remote job registered under ``name`` to abort."""

    def release_abort(self, name: str) -> None:  # noqa: B027 - optional hook
        """The job behind ``name`` is over: forget its abort flag."""

    @property
    def workers(self) -> int:
        """How many jobs can run at once."""
        return 1

    @abc.abstractmethod
    def shutdown(self, wait: bool = True) -> None:
        """Stop accepting jobs and release the workers."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(workers={self.workers})"


def default_workers() -> int:
    return min(32, (os.cpu_count() or 1) + 4)


_PENDING, _RUNNING, _CANCELLED, _DONE = range(4)


class Task:
    """What :meth:`ThreadExecutor.submit` returns: ``cancel``, ``cancelled``, ``done``, ``result``,
    ``add_done_callback`` — a light future (no condition variable per task)."""

    __slots__ = ("_fn", "_args", "_state", "_value", "_error", "_callbacks", "_latch", "_lock")

    def __init__(self, fn: Callable[..., Any], args: tuple, lock: threading.Lock):
        self._fn, self._args = fn, args
        self._state = _PENDING
        self._value: Any = None
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[Task], Any]] | None = None
        self._latch = threading.Lock()
        self._latch.acquire()
        self._lock = lock

    def _run(self) -> None:
        with self._lock:
            if self._state != _PENDING:
                return
            self._state = _RUNNING
        try:
            self._value = self._fn(*self._args)
        except BaseException as exc:  # kept for result(), like concurrent.futures
            self._error = exc
        self._finish(_DONE)

    def _finish(self, state: int) -> None:
        with self._lock:
            self._state = state
            callbacks, self._callbacks = self._callbacks, None
        self._latch.release()
        for callback in callbacks or ():
            try:
                callback(self)
            except Exception:
                log.exception("task callback %r failed", callback)

    def cancel(self) -> bool:
        """Cancel the task if it has not started; True if it will not run."""
        with self._lock:
            if self._state == _PENDING:
                self._state = _CANCELLED
            elif self._state != _CANCELLED:
                return False
        self._finish(_CANCELLED)
        return True

    def cancelled(self) -> bool:
        return self._state == _CANCELLED

    def done(self) -> bool:
        return self._state in (_DONE, _CANCELLED)

    def result(self, timeout: float | None = None) -> Any:
        if not self.done():
            got = self._latch.acquire() if timeout is None else self._latch.acquire(True, max(0.0, timeout))
            if not got:
                raise TimeoutError(f"task not done within {timeout} s")
            self._latch.release()
        if self._state == _CANCELLED:
            raise concurrent.futures.CancelledError()
        if self._error is not None:
            raise self._error
        return self._value

    def add_done_callback(self, fn: Callable[[Task], Any]) -> None:
        with self._lock:
            if self._state not in (_DONE, _CANCELLED):
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(fn)
                return
        fn(self)


_live_pools: weakref.WeakSet = weakref.WeakSet()


class ThreadExecutor(Executor):
    """A bounded pool of threads in this process (the default; not one thread per job).

    Threads are started as needed up to ``max_workers`` and reused; extra work
    waits in a queue. Lighter than ``concurrent.futures.ThreadPoolExecutor``: the
    :class:`Task` it returns has no condition variable (jobs have their own latch).
    At interpreter exit the queued and running tasks are finished first (as with
    ``concurrent.futures`` and dahu's threads), so a script may start jobs and end.
    """

    kind = "thread"

    def __init__(self, max_workers: int | None = None, thread_name_prefix: str = "lab-dahu"):
        self._max_workers = max_workers or default_workers()
        if self._max_workers < 1:
            raise ValueError("max_workers must be >= 1")
        self._prefix = thread_name_prefix
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()  # Task, a bare callable, or None: stop
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()  # threads list and every task's state
        self._closed = False
        _live_pools.add(self)

    @property
    def workers(self) -> int:
        return self._max_workers

    def submit(self, fn: Callable[..., Any], *args: Any) -> Task:
        if self._closed:
            raise RuntimeError("this ThreadExecutor was shut down; make a new one")
        task = Task(fn, args, self._lock)
        self._queue.put(task)
        if len(self._threads) < self._max_workers:  # threads start on demand, then stay
            self._add_thread()
        return task

    def run_soon(self, fn: Callable[[], Any]) -> None:
        """Queue ``fn()`` without a :class:`Task` (the cheapest way in; exceptions are logged)."""
        if self._closed:
            raise RuntimeError("this ThreadExecutor was shut down; make a new one")
        self._queue.put(fn)
        if len(self._threads) < self._max_workers:
            self._add_thread()

    def _add_thread(self) -> None:
        with self._lock:
            if len(self._threads) >= self._max_workers:
                return
            thread = threading.Thread(target=self._work, daemon=True,
                                      name=f"{self._prefix}_{len(self._threads)}")
            self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        get = self._queue.get
        while True:
            item = get()
            if item is None:
                return
            if type(item) is Task:
                item._run()
            else:
                try:
                    item()
                except BaseException:
                    log.exception("%r failed in a lab-dahu worker thread", item)
            del item

    def shutdown(self, wait: bool = True) -> None:
        """Stop the threads after their current task; ``wait=False`` also cancels the queued tasks."""
        self._closed = True
        if not wait:
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if type(item) is Task:
                    item.cancel()
        with self._lock:
            threads = list(self._threads)
        for _ in threads:
            self._queue.put(None)
        if wait:
            for thread in threads:
                if thread is not threading.current_thread():
                    thread.join()


@atexit.register
def _stop_pools() -> None:
    for pool in list(_live_pools):
        pool.shutdown(wait=True)


class ProcessExecutor(Executor):
    """A pool of worker processes for CPU-bound plugins (``concurrent.futures.ProcessPoolExecutor``).

    ``mp_context`` defaults to ``"spawn"`` (safe with threads; the plugin class is
    imported in the worker by module name). An abort cancels a job that has not
    started; a running one is marked aborted at once and its result discarded.
    """

    remote = True
    kind = "process"

    def __init__(self, max_workers: int | None = None, mp_context: str | None = "spawn"):
        self._max_workers = max_workers or (os.cpu_count() or 1)
        context = multiprocessing.get_context(mp_context) if mp_context else None
        self._pool = concurrent.futures.ProcessPoolExecutor(self._max_workers, mp_context=context)

    @property
    def workers(self) -> int:
        return self._max_workers

    def submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future:
        return self._pool.submit(fn, *args)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=not wait)


class DaskExecutor(Executor):
    """Jobs on Dask distributed workers: ``DaskExecutor()`` (a LocalCluster here),
    ``DaskExecutor(address="tcp://scheduler:8786")`` or ``DaskExecutor(client=client)``.

    Plugin classes are sent with Dask's own serialization (cloudpickle), so a class
    defined in a script works too. ``abortable`` (default) lets an abort reach a
    running plugin through a ``distributed.Event`` its worker polls.
    ``cluster_options`` go to ``LocalCluster`` (``n_workers``, ``threads_per_worker``…).
    """

    remote = True
    kind = "dask"

    def __init__(self, client: Any = None, address: str | None = None, *, abortable: bool = True,
                 **cluster_options: Any):
        try:
            import distributed
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("the Dask executor needs the 'dask' extra: pip install 'lab-dahu[dask]'") from exc
        self._owned: list[Any] = []
        if client is None:
            if address is None:
                cluster_options.setdefault("processes", True)
                cluster_options.setdefault("threads_per_worker", 1)
                cluster_options.setdefault("dashboard_address", ":0")  # any free port: never "8787 in use"
                cluster = distributed.LocalCluster(**cluster_options)
                self._owned.append(cluster)
                address = cluster
            client = distributed.Client(address)
            self._owned.insert(0, client)
        self.client = client
        self.abortable = abortable
        self._lock = threading.Lock()

    @property
    def workers(self) -> int:
        try:
            info = self.client.scheduler_info()
            return max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))
        except Exception as exc:  # the scheduler is gone or busy: report one worker rather than fail a listing
            log.warning("cannot ask the Dask scheduler how many workers it has: %s", exc)
            return 1

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self.client.submit(fn, *args, pure=False, key=f"lab-dahu-{uuid.uuid4().hex}")

    def cancel(self, future: Any) -> bool:
        future.cancel()
        return True

    def plugin_payload(self, klass: type, name: str) -> Any:
        return klass  # cloudpickle: by reference when importable, else by value

    def abort_name(self) -> str | None:
        return f"lab-dahu-abort-{uuid.uuid4().hex}" if self.abortable else None

    def signal_abort(self, name: str) -> None:
        from distributed import Event

        try:
            Event(name, client=self.client).set()
        except Exception:
            log.warning("could not tell Dask job %s to abort", name, exc_info=True)

    def release_abort(self, name: str) -> None:
        """Forget the abort flag ``name`` once its job is over (the scheduler keeps set events)."""
        from distributed import Event

        try:
            Event(name, client=self.client).clear()
        except Exception:
            log.debug("could not clear Dask event %s", name, exc_info=True)

    def shutdown(self, wait: bool = True) -> None:
        for thing in self._owned:
            try:
                thing.close()
            except Exception:
                log.debug("closing %r failed", thing, exc_info=True)
        self._owned.clear()


def make_executor(kind: str = "thread", workers: int | None = None, scheduler: str | None = None) -> Executor:
    """An executor from command-line style options."""
    if kind == "thread":
        return ThreadExecutor(workers)
    if kind == "process":
        return ProcessExecutor(workers)
    if kind == "dask":
        if scheduler:
            return DaskExecutor(address=scheduler)
        return DaskExecutor(n_workers=workers or (os.cpu_count() or 1))
    raise ValueError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTOR_KINDS)}")


_default: Executor | None = None
_default_lock = threading.Lock()


def get_default_executor() -> Executor:
    """The executor jobs use when none is given (a :class:`ThreadExecutor`, made on first use)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = ThreadExecutor()
    return _default


def set_default_executor(executor: Executor | None) -> Executor | None:
    """Make ``executor`` the default (None: a fresh thread pool on next use); return the previous one."""
    global _default
    with _default_lock:
        previous, _default = _default, executor
    return previous

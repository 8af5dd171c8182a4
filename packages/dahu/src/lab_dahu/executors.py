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
import concurrent.futures
import logging
import multiprocessing
import os
import threading
import uuid
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


class ThreadExecutor(Executor):
    """A bounded pool of threads in this process (the default; not one thread per job)."""

    kind = "thread"

    def __init__(self, max_workers: int | None = None, thread_name_prefix: str = "lab-dahu"):
        self._max_workers = max_workers or default_workers()
        self._pool = concurrent.futures.ThreadPoolExecutor(self._max_workers, thread_name_prefix=thread_name_prefix)

    @property
    def workers(self) -> int:
        return self._max_workers

    def submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future:
        return self._pool.submit(fn, *args)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=not wait)


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
        except Exception:
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

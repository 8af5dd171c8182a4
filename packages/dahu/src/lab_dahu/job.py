"""Jobs: one run of one plugin on one input, with dahu's states, ids and class-level look-ups.

::

    job = Job("example.square", {"x": 3}).start()
    job.join()
    job.status, job.output_data["result"]          # ('success', 9)

A job is not a thread: ``start`` hands it to an executor (a bounded thread pool
by default, see :mod:`lab_dahu.executors`). The class keeps the jobs it knows by
id (``Job.get_status_from_id(5)``…), but forgets finished ones beyond
``max_finished`` or older than ``max_age`` seconds, so a server's memory stays
bounded; a job cleaned to disk stays readable from there.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from . import persistence
from .executors import Executor, get_default_executor, set_default_executor
from .factory import Factory, plugin_factory
from .lifecycle import error_lines, method_name, run_lifecycle, run_remote
from .persistence import isotime, read_input
from .states import (
    FINAL_STATES,
    STATE_ABORTED,
    STATE_FAILURE,
    STATE_INEXISTANT,
    STATE_RUNNING,
    STATE_STARTING,
    STATE_SUCCESS,
    STATE_UNINITIALIZED,
)
from .stats import statistics, stats_text
from .table import error_text, process_jobs

log = logging.getLogger(__name__)

__all__ = ["Job", "read_input"]


class Job:
    """One plugin run. ``Job(name="plugin.Plugin", input_data={})`` then ``start()``.

    ``executor`` (default: :func:`~lab_dahu.executors.get_default_executor`) and
    ``factory`` (default: the process-wide plugin factory) are optional.
    """

    STATE_INEXISTANT = STATE_INEXISTANT
    STATE_UNINITIALIZED = STATE_UNINITIALIZED
    STATE_STARTING = STATE_STARTING
    STATE_RUNNING = STATE_RUNNING
    STATE_SUCCESS = STATE_SUCCESS
    STATE_FAILURE = STATE_FAILURE
    STATE_ABORTED = STATE_ABORTED
    STATE = [STATE_UNINITIALIZED, STATE_STARTING, STATE_RUNNING, STATE_SUCCESS, STATE_FAILURE, STATE_ABORTED]

    #: the jobs of this process by id (dahu's class-level look-ups go through it)
    table = process_jobs

    # per-job state; class-level defaults are replaced on the instance when they change
    _plugin: Any = None
    _future: Any = None
    _used: Executor | None = None
    _remote = False
    _abort_name: str | None = None
    _abort_signalled = False
    _finalized = False
    _over = False
    _callbacks: list[Callable[[Job], Any]] | None = None
    _callback_thread: int | None = None
    _run_started: float | None = None
    _runtime: float | None = None
    _finished_at: float | None = None
    data_on_disk: str | bool = False

    def __init__(self, name: str = "plugin.Plugin", input_data: Any = None, *,
                 executor: Executor | None = None, factory: Factory | None = None):
        if type(name) is not str or not name or name[0].isspace() or name[-1].isspace():
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"a job needs a plugin name such as 'example.square', not {name!r}")
            name = name.strip()
        data = read_input(input_data)
        self._name = name
        self._executor = executor
        self._factory = factory or plugin_factory
        self._lk = threading.Lock()
        self._latch = threading.Lock()  # held until the job is over: a light one-shot "done" event
        self._latch.acquire()
        self._status = STATE_UNINITIALIZED
        self._output: dict[str, Any] = {}
        self._id = job_id = Job.table.new_id(self)
        data["plugin_name"] = name
        data["job_id"] = job_id
        self._input: dict[str, Any] | None = data

    def __repr__(self) -> str:
        return f"<lab_dahu Job #{self._id} {self._name} {self._status}>"

    # -- running ------------------------------------------------------------------

    def start(self) -> Job:
        """Make the plugin and hand the job to its executor; returns the job (not blocking).

        An unknown plugin (or one that fails to be made) ends the job at once in
        state ``failure``, with the reason in ``error`` — and runs the callbacks.
        """
        with self._lk:
            if self._status == STATE_ABORTED:
                return self
            if self._status != STATE_UNINITIALIZED:
                raise RuntimeError(f"job {self._id} was already started (state {self._status})")
            self._status = STATE_STARTING
        Job.table.started(self)
        try:
            klass = self._factory.get_class(self._name)
            executor = self._executor or get_default_executor()
            self._used = executor
            if executor.remote:
                self._remote = True
                payload = executor.plugin_payload(klass, self._name)
                self._abort_name = executor.abort_name()
                with self._lk:
                    if self._status == STATE_STARTING:
                        self._status = STATE_RUNNING  # remote: handed to the pool / cluster
                        self._run_started = time.time()
                future = executor.submit(run_remote, payload, self._name, dict(self._input), self._abort_name)
                self._future = future
                executor.add_done_callback(future, self._remote_done)
            else:
                self._plugin = klass()
                executor.run_soon(self._run_local)  # queued: an abort before it runs makes it a no-op
        except Exception as exc:
            self._fail(error_lines(f"plugin {self._name} failed to be instantiated: {exc}"))
        return self

    def run(self) -> Job:
        """Run the job in the calling thread (no executor); returns when it is over."""
        with self._lk:
            if self._status != STATE_UNINITIALIZED:
                raise RuntimeError(f"job {self._id} was already started (state {self._status})")
            self._status = STATE_STARTING
        Job.table.started(self)
        try:
            self._plugin = self._factory.get_class(self._name)()
        except Exception as exc:
            self._fail(error_lines(f"plugin {self._name} failed to be instantiated: {exc}"))
            return self
        self._run_local()
        return self

    def _run_local(self) -> None:
        with self._lk:
            if self._status != STATE_STARTING:  # aborted while queued: already finished
                return
            self._status = STATE_RUNNING
            self._run_started = time.time()
        plugin = self._plugin
        errors = run_lifecycle(plugin, self._input)
        self._runtime = time.time() - self._run_started
        self._complete(plugin.output, errors)

    def _remote_done(self, future: Any) -> None:
        result: dict[str, Any] | None = None
        errors: list[str] = []
        try:
            if future.cancelled():
                errors = ["the job was cancelled by its executor"]
            else:
                result = future.result()
        except BaseException as exc:  # the worker died, the result could not be sent back…
            errors = error_lines(f"job {self._id} ({self._name}) failed in its executor: "
                                 f"{type(exc).__name__}: {exc}")
        if self._abort_signalled and self._abort_name and self._used is not None:
            self._used.release_abort(self._abort_name)
        if result is not None:
            self._runtime = max(0.0, result["finished"] - result["started"])
            self._complete(result["output"], result["errors"])
        else:
            self._complete({}, errors)

    def _complete(self, output: dict[str, Any], errors: list[str]) -> None:
        with self._lk:
            if self._finalized:
                return
            if self._status == STATE_ABORTED:
                output.update(self._output)
            elif errors:
                self._status = STATE_FAILURE
                output["error"] = errors
            else:
                self._status = STATE_SUCCESS
            self._output = output
            self._finalized = True
            self._finished_at = time.time()
            callbacks, status = self._callbacks, self._status
        self._after(callbacks, status)

    def _fail(self, errors: list[str]) -> None:
        log.error("job %s (%s): %s", self._id, self._name, errors[0])
        with self._lk:
            if self._status != STATE_ABORTED:
                self._status = STATE_FAILURE
                self._output["error"] = errors
        self._finalize()

    def _finalize(self) -> None:
        """Once per job: run the callbacks, wake the waiters, hand the job to the finished list."""
        with self._lk:
            if self._finalized:
                return
            self._finalized = True
            self._finished_at = time.time()
            callbacks, status = self._callbacks, self._status
        self._after(callbacks, status)

    def _after(self, callbacks: list[Callable[[Job], Any]] | None, status: str) -> None:
        if callbacks:
            self._callback_thread = threading.get_ident()
            for callback in callbacks:
                self._call_back(callback)
            self._callback_thread = None
        self._over = True
        self._latch.release()
        Job.table.finished(self, status)

    def _call_back(self, callback: Callable[[Job], Any]) -> None:
        try:
            callback(self)
        except Exception:  # a callback's failure does not change the job's result
            log.exception("job %s (%s): callback %r raised; the job stays %s",
                          self._id, self._name, callback, self._status)

    def connect_callback(self, method: Callable[[Job], Any] | None = None) -> None:
        """Call ``method(job)`` when the job ends (success, failure or abort); at once if it has."""
        if method is None:
            return
        if not callable(method):
            raise TypeError(f"a job callback must be callable, not {method!r}")
        with self._lk:
            if not self._finalized:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(method)
                return
        self._call_back(method)

    def abort(self) -> bool:
        """Stop the job: state ``aborted``, ``output["aborted"]`` = ISO time; True if it was not over.

        A queued job never runs. A running plugin's ``abort()`` is called (it sets
        ``is_aborted``; :meth:`Plugin.sleep` and ``wait_for`` return at once) and
        ``join`` returns once its ``teardown`` has run. A remote job (process or
        Dask executor) is finished at once; Dask tells its plugin too.
        """
        with self._lk:
            if self._finalized or self._status in FINAL_STATES:
                return False
            previous = self._status
            self._status = STATE_ABORTED
            self._output["aborted"] = isotime()
            plugin, future, executor = self._plugin, self._future, self._used
        log.info("job %s (%s) aborted while %s", self._id, self._name, previous)
        if self._remote:
            if self._abort_name and executor is not None:
                self._abort_signalled = True
                executor.signal_abort(self._abort_name)
            elif future is not None and executor is not None:
                executor.cancel(future)
            self._finalize()
        elif previous == STATE_RUNNING and plugin is not None:
            method = getattr(plugin, method_name(plugin, "abort"), None)
            try:
                if callable(method):
                    method()
            except Exception:
                log.exception("job %s: %s.abort() raised", self._id, type(plugin).__name__)
        else:  # never started, or waiting in the executor's queue
            if future is not None and executor is not None:
                executor.cancel(future)
            self._finalize()
        return True

    # -- waiting ------------------------------------------------------------------

    def wait(self, timeout: float | None = None, abort: threading.Event | None = None) -> bool:
        """Wait until the job is over (success, failure, aborted); False on timeout.

        ``abort``: stop waiting early when this event is set (used by ``Plugin.wait_for``).
        """
        if self._over:
            return True
        if self._callback_thread == threading.get_ident():
            return True  # called from one of this job's own callbacks
        if abort is None:
            return self._wait_over(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._over:
            if abort.is_set():
                return False
            left = 0.05 if deadline is None else min(0.05, deadline - time.monotonic())
            if left <= 0:
                return False
            self._wait_over(left)
        return True

    def _wait_over(self, timeout: float | None) -> bool:
        latch = self._latch
        got = latch.acquire() if timeout is None else latch.acquire(True, max(0.0, timeout))
        if got:
            latch.release()  # let the next waiter through: the latch stays open
        return got or self._over

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the job is over (a thread-like name); returns False on timeout."""
        return self.wait(timeout)

    synchronize = join

    def is_alive(self) -> bool:
        """True while the job has been started and is not over."""
        return self._status in (STATE_STARTING, STATE_RUNNING) and not self._over

    # -- data ---------------------------------------------------------------------

    @property
    def id(self) -> int:
        return self._id

    @property
    def plugin(self) -> Any:
        """The plugin instance (None for remote jobs and after ``clean``)."""
        return self._plugin

    @property
    def status(self) -> str:
        return self._status

    @property
    def finished(self) -> bool:
        return self._over

    @property
    def input_data(self) -> dict[str, Any]:
        """The input given to the plugin (read back from disk after ``clean``)."""
        if self.data_on_disk:
            return persistence.parse_input(persistence.read_saved(self.data_on_disk, "inp"))
        return self._input

    @property
    def output_data(self) -> dict[str, Any]:
        """The plugin's output (``error``: traceback lines on failure; ``aborted``: ISO time)."""
        if self.data_on_disk:
            return persistence.parse_input(persistence.read_saved(self.data_on_disk, "out"))
        if not self._over and log.isEnabledFor(logging.DEBUG):
            log.debug("output of job %s read while %s", self._id, self._status)
        return self._output

    def get_output(self, wait: bool = True, timeout: float | None = None) -> dict[str, Any]:
        """The output, after waiting for the job (dahu's ``getOutput`` with ``_bWait``)."""
        if wait:
            self.wait(timeout)
        return self.output_data

    getOutput = get_output

    @property
    def error(self) -> str:
        """The error report (lines of ``output["error"]``) as one string; empty if none."""
        return error_text(self.output_data)

    @property
    def runtime(self) -> float | None:
        """Seconds the plugin ran (setup to teardown); None if it never ran."""
        return self._runtime

    def getName(self) -> str:  # noqa: N802 - dahu's name
        return self._name

    def setName(self, name: str) -> None:  # noqa: N802 - dahu's name
        log.error("Job.setName: a job cannot be renamed (job %s is %s)", self._id, self._name)

    name = property(getName, setName, doc="the plugin name the job was made with")

    def clean(self, force: bool = False, wait: bool = True) -> bool:
        """Write the job to ``<workdir>/NNNN/NNNNN_<name>.inp`` and ``.out`` (JSON) and free the memory.

        Later reads of ``input_data``/``output_data`` come from disk. ``wait``: wait
        for the job first; a job still running is not cleaned (returns False).
        ``force``: run the garbage collector afterwards.
        """
        if wait:
            self.wait()
        with self._lk:
            if not self._finalized:
                log.warning("job %s is %s: not cleaned", self._id, self._status)
                return False
            if self.data_on_disk:
                return True
            input_data = dict(self._input or {})
            if self._plugin is not None and isinstance(getattr(self._plugin, "input", None), dict):
                input_data.update(self._plugin.input)
            output = dict(self._output)
            output["job_runtime"] = self._runtime
            output["job_status"] = self._status
            base = persistence.write_job(self._id, self._name, input_data, output)
            self._plugin = None
            self._input = None
            self._output = {}
            self.data_on_disk = str(base)
        if force:
            gc.collect()
        return True

    @staticmethod
    def path_for(job_id: int, name: str) -> Any:
        """``<workdir>/NNNN/NNNNN_<name>`` (no suffix): where job ``job_id`` is cleaned to."""
        return persistence.path_for(job_id, name)

    @property
    def started_at(self) -> float | None:
        """When the plugin started (``time.time()``); None if it never ran."""
        return self._run_started

    @property
    def finished_at(self) -> float | None:
        """When the job ended (``time.time()``); None while it is not over."""
        return self._finished_at

    # -- the class: configuration -------------------------------------------------

    @classmethod
    def configure(cls, *, max_finished: int | None = None, max_age: float | None | str = "keep",
                  workdir: str | os.PathLike | None = None, executor: Executor | None = None) -> None:
        """Set how many finished jobs (and for how long, seconds) are remembered, where
        ``clean`` writes, and the default executor. Arguments left out keep their value."""
        Job.table.configure(max_finished, max_age)
        if workdir is not None:
            persistence.set_workdir(workdir)
        if executor is not None:
            set_default_executor(executor)

    @classmethod
    def jobs(cls) -> list[Job]:
        """The jobs remembered now (running, then finished), by id."""
        return Job.table.jobs()

    # -- class-level look-ups (snake_case, with dahu's camelCase aliases) --------

    @classmethod
    def _unknown(cls, job_id: Any) -> str:
        """What a look-up of an unknown id answers (lab: ``inexistant``)."""
        return STATE_INEXISTANT

    @classmethod
    def get_job_from_id(cls, job_id: int) -> Job | None:
        """The job with this id (negative: counted back from the last one), or None."""
        return Job.table.get(job_id)

    getJobFromId = get_job_from_id
    getJobFromID = get_job_from_id

    @classmethod
    def get_status_from_id(cls, job_id: int) -> str:
        """The job's state (a forgotten job cleaned to disk is read from there); ``inexistant`` if unknown."""
        status = Job.table.status(job_id)
        return cls._unknown(job_id) if status is None else status

    getStatusFromId = get_status_from_id
    getStatusFromID = get_status_from_id

    @classmethod
    def get_data_output_from_id(cls, job_id: int, as_JSON: bool = False) -> Any:  # noqa: N803 - dahu's name
        """The job's output (a dict, or a JSON string with ``as_JSON``); ``"No such job: N"`` if unknown."""
        data = Job.table.data(job_id, "out", as_JSON)
        return f"No such job: {job_id}" if data is None else data

    getDataOutputFromId = get_data_output_from_id
    getDataOutputFromID = get_data_output_from_id

    @classmethod
    def get_data_input_from_id(cls, job_id: int, as_JSON: bool = False) -> Any:  # noqa: N803 - dahu's name
        """The job's input (a dict, or a JSON string with ``as_JSON``); ``"No such job: N"`` if unknown."""
        data = Job.table.data(job_id, "inp", as_JSON)
        return f"No such job: {job_id}" if data is None else data

    getDataInputFromId = get_data_input_from_id
    getDataInputFromID = get_data_input_from_id

    @classmethod
    def get_error_from_id(cls, job_id: int) -> str:
        """The job's error report as one string (empty if none or unknown)."""
        return Job.table.error(job_id) or ""

    getErrorFromId = get_error_from_id
    getErrorFromID = get_error_from_id

    @classmethod
    def clean_job_from_id(cls, job_id: int, force_gc: bool = True) -> str:
        """Clean job ``job_id`` to disk (waiting for it); returns a message."""
        job = Job.table.get(job_id)
        if job is None:
            return f"No such job: {job_id}"
        job.clean(force=force_gc)
        return f"Job {job.id} cleaned"

    cleanJobfromId = clean_job_from_id
    cleanJobfromID = clean_job_from_id
    cleanJobFromId = clean_job_from_id
    cleanJobFromID = clean_job_from_id

    @classmethod
    def synchronize_job(cls, job_id: int, timeout: float | None = None) -> str:
        """Wait (up to ``timeout`` s) for job ``job_id``; return its state (``inexistant`` if unknown)."""
        job = Job.table.get(job_id)
        if job is None:
            return cls.get_status_from_id(job_id)
        job.wait(timeout)
        return job.status

    @classmethod
    def synchronize_all(cls, timeout: float | None = None) -> bool:
        """Wait for every started job; False if ``timeout`` s passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            active = Job.table.active()
            if not active:
                return True
            for job in active:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                if not job.wait(left):
                    return False

    # -- statistics ---------------------------------------------------------------

    @classmethod
    def statistics(cls) -> dict[str, Any]:
        """Figures over the jobs remembered now, plus state counts since the process started."""
        return statistics(Job.table)

    @classmethod
    def stats(cls) -> str:
        """A table (id, name, status, run time) with total times, speed-up and throughput; also logged."""
        return stats_text(Job.table)

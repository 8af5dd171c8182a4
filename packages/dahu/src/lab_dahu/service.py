"""dahu's server commands, independent of how they are reached (sockets or Tango).

:class:`JobService` keeps dahu's command names (``startJob``, ``waitJob``…) and
its server behaviour: jobs are started in order by a dispatcher (one at a time
when ``serialize`` is on), each finished job is cleaned to disk, and the ids of
the last successful and failed jobs are kept (``jobSuccess``/``jobFailure``)
and announced to listeners (the Tango server turns them into change events).

A job's input from a client is a JSON object (or its text). A file path is
read only inside the operator's ``input_dir``; any other path gets the same
refusal whether or not something exists there, so a client learns nothing
about the server's files.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from lab_core import LabError

from . import persistence
from .errors import UnknownJob
from .executors import Executor
from .factory import Factory, plugin_factory
from .job import Job
from .states import FINAL_STATES, STATE_INEXISTANT, STATE_SUCCESS
from .timers import Deadlines

log = logging.getLogger(__name__)

NO_STATISTICS = "No statistics collected yet, please use the 'collectStatistics' method first"


__all__ = ["NO_STATISTICS", "JobService", "RefusedInput", "UnknownJob", "client_input"]


class RefusedInput(LabError, ValueError):
    """A client's job input that the server will not take (a path outside the input directory…)."""


def client_input(value: Any, input_dir: Path | None) -> dict[str, Any]:
    """A job input sent by a client: a JSON object (a dict or its text), or a path inside ``input_dir``.

    Every path that is refused gets the same message, whatever exists there."""
    if isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, str):
        raise RefusedInput(f"input must be a JSON object such as {{\"x\": 3}}, not {type(value).__name__}")
    try:
        data = json.loads(value)
    except ValueError:
        data = None
    else:
        if not isinstance(data, dict):
            raise RefusedInput(f"input must be a JSON object such as {{\"x\": 3}}, not {type(data).__name__}")
        return data
    refused = RefusedInput(
        "input is not a JSON object, and no file path is accepted here; send the input itself, e.g. "
        "{\"x\": 3}" if input_dir is None else
        "input is neither a JSON object nor a JSON file inside the server's input directory; send the "
        "input itself, e.g. {\"x\": 3}, or the name of a file the operator put in that directory")
    if input_dir is None or "\0" in value:
        raise refused
    root = Path(os.path.realpath(input_dir))
    path = Path(os.path.realpath(root / value))  # symbolic links and ".." resolved before the check
    if root not in path.parents:
        raise refused
    try:
        return persistence.parse_input(path.read_bytes())
    except (OSError, ValueError):
        raise refused from None


Listener = Callable[[str, Any], None]


class JobService:
    """The commands of a dahu job server.

    ``executor``: where jobs run (None: the default thread pool). ``serialize``:
    run jobs one at a time, in order. ``clean``: write each finished job to the
    work directory and free its memory (as dahu's server does). ``max_wait``:
    the longest a ``waitJob`` blocks (seconds) before answering with the
    current state, so that one waiting client cannot hold the server.
    ``input_dir``: the directory whose JSON files clients may name as a job's
    input (None: clients send JSON objects only). ``max_jobs``: most jobs queued
    or running at once; more are refused (not queued), so no client can fill the
    server's memory with jobs.
    """

    def __init__(self, executor: Executor | None = None, factory: Factory | None = None, *,
                 serialize: bool = False, clean: bool = True, max_wait: float | None = 2.0,
                 input_dir: str | os.PathLike | None = None, max_jobs: int = 10_000):
        if max_jobs < 1:
            raise LabError(f"max_jobs must be at least 1, got {max_jobs}")
        self.max_jobs = max_jobs
        self.executor = executor
        self.factory = factory or plugin_factory
        self.serialize = serialize
        self.clean = clean
        self.max_wait = max_wait
        self.input_dir = None if input_dir is None else Path(input_dir)
        if self.input_dir is not None and not self.input_dir.is_dir():
            raise LabError(f"input directory {self.input_dir} does not exist; create it or give another one")
        self._deadlines = Deadlines()
        self.last_success = -1
        self.last_failure = -1
        self.last_stats = NO_STATISTICS
        self._listeners: list[Listener] = []
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._stats_lock = threading.Lock()
        self._stats_thread: threading.Thread | None = None
        self._closed = threading.Event()
        self._jobs: dict[int, Job] = {}  # started here and not over yet
        self._jobs_lock = threading.Lock()
        self._dispatcher = threading.Thread(target=self._dispatch, name="lab-dahu-dispatcher", daemon=True)
        self._dispatcher.start()

    # -- plumbing -----------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """``listener(attribute, value)`` is called on ``jobSuccess``, ``jobFailure``, ``statisticsCollected``."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _notify(self, attribute: str, value: Any) -> None:
        for listener in list(self._listeners):
            try:
                listener(attribute, value)
            except Exception:
                log.exception("listener %r failed on %s", listener, attribute)

    def _dispatch(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                job.start()
                if self.serialize:
                    job.wait()
            except Exception:  # start() reports its own failures; this is a last resort
                log.exception("job %s could not be started", job.id)

    def _finished(self, job: Job) -> None:
        with self._jobs_lock:
            self._jobs.pop(job.id, None)
        if self.clean:
            try:
                job.clean(wait=False)
            except OSError as exc:
                log.error("job %s could not be written to %s: %s", job.id, job.path_for(job.id, job.name), exc)
        if job.status == STATE_SUCCESS:
            self.last_success = job.id
            self._notify("jobSuccess", job.id)
        else:
            self.last_failure = job.id
            self._notify("jobFailure", job.id)

    def close(self, grace: float = 5.0, abort_wait: float = 5.0) -> bool:
        """Stop: queued jobs are aborted, running ones get ``grace`` s to finish, then are aborted
        and get ``abort_wait`` s to stop. True if every job of this service is over."""
        if self._closed.is_set():
            return not self.running_jobs()
        self._closed.set()
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job.abort()
        self._queue.put(None)
        self._deadlines.close()
        self._dispatcher.join(abort_wait)
        if not self._wait_jobs(grace):
            for job in self.running_jobs():
                log.info("shutting down: aborting job %s (%s)", job.id, job.name)
                job.abort()
            self._wait_jobs(abort_wait)
        left = self.running_jobs()
        if left:
            log.warning("shutting down: %d job(s) did not stop: %s", len(left),
                        ", ".join(f"{j.id} ({j.name})" for j in left))
        return not left

    def running_jobs(self) -> list[Job]:
        """Jobs started by this service that are not over."""
        with self._jobs_lock:
            return [job for job in self._jobs.values() if not job.finished]

    def _wait_jobs(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        return all(job.wait(max(0.0, deadline - time.monotonic())) for job in self.running_jobs())

    def _job(self, job_id: Any) -> Job:
        job = Job.get_job_from_id(self._id(job_id))
        if job is None:
            raise UnknownJob(f"No such job: {job_id}")
        return job

    @staticmethod
    def _id(job_id: Any) -> int:
        if isinstance(job_id, bool) or not isinstance(job_id, (int, str)):
            raise ValueError(f"a job id is an integer, not {job_id!r}")
        try:
            return int(job_id)
        except ValueError:
            raise ValueError(f"a job id is an integer, not {job_id!r}") from None

    # -- dahu's commands --------------------------------------------------------

    def startJob(self, plugin: str, input: Any = None) -> int:  # noqa: N802, A002 - dahu's names
        """Queue a job of ``plugin`` on ``input`` (a dict or JSON text); its id, or -1 if input is blank."""
        if self._closed.is_set():
            raise LabError("the job server is shutting down")
        if input is None or (isinstance(input, str) and not input.strip()):
            return -1
        with self._jobs_lock:
            if len(self._jobs) >= self.max_jobs:
                raise LabError(f"the job server already has {self.max_jobs} jobs queued or running (max_jobs); "
                               f"submit again once some are over")
        job = Job(plugin, client_input(input, self.input_dir), executor=self.executor, factory=self.factory)
        with self._jobs_lock:
            self._jobs[job.id] = job
        job.connect_callback(self._finished)
        self._queue.put(job)
        return job.id

    def abort(self, job_id: Any) -> bool:
        """Abort a job; False if it is unknown or already over."""
        job = Job.get_job_from_id(self._id(job_id))
        return job.abort() if job is not None else False

    def getJobState(self, job_id: Any) -> str:  # noqa: N802
        return Job.get_status_from_id(self._id(job_id))

    def _wait_limit(self, timeout: Any) -> float | None:
        limit = self.max_wait
        if timeout is not None:
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
                raise ValueError(f"timeout must be a number of seconds >= 0, not {timeout!r}")
            limit = timeout if limit is None else min(limit, timeout)
        return limit

    def waitJob(self, job_id: Any, timeout: float | None = None) -> str:  # noqa: N802
        """Wait for a job (at most ``timeout`` and ``max_wait`` s); return its state then."""
        limit = self._wait_limit(timeout)
        job = Job.get_job_from_id(self._id(job_id))
        if job is None:
            return Job.get_status_from_id(self._id(job_id))
        job.wait(limit)
        return job.status

    def when_over(self, job_id: Any, timeout: float | None, answer: Callable[[str], None]) -> bool:
        """``waitJob`` without blocking: ``answer(state)`` is called once, when the job ends or
        ``timeout`` (bounded by ``max_wait``) has passed. False when the answer is due now."""
        limit = self._wait_limit(timeout)
        job = Job.get_job_from_id(self._id(job_id))
        if job is None or job.finished or (limit is not None and limit <= 0):
            return False
        once = threading.Lock()

        def fire(_job: Any = None) -> None:
            if once.acquire(blocking=False):
                answer(job.status)

        job.connect_callback(fire)
        if limit is not None:
            self._deadlines.add(time.monotonic() + limit, fire)
        return True

    def initPlugin(self, plugin: str) -> str:  # noqa: N802
        """Load (and make once) plugin ``plugin``; a message saying whether it worked."""
        if not isinstance(plugin, str):
            raise ValueError(f"a plugin name is a string, not {plugin!r}")
        try:
            instance = self.factory(plugin)
        except Exception as exc:  # the client gets the reason in the reply
            log.warning("initPlugin %s: %s", plugin, exc)
            return f"Plugin not found: {plugin}, {exc}"
        doc = (type(instance).__doc__ or "").strip()
        return f"Plugin loaded: {plugin}{os.linesep}{doc}"

    def cleanJob(self, job_id: Any) -> str:  # noqa: N802
        job = self._job(job_id)
        if job.clean(wait=False):
            return f"Job {job.id} cleaned"
        return f"Job {job.id} is {job.status}: not cleaned (try again when it is over)"

    def getJobOutput(self, job_id: Any) -> dict[str, Any]:  # noqa: N802
        return self._data(job_id, Job.get_data_output_from_id)

    def getJobInput(self, job_id: Any) -> dict[str, Any]:  # noqa: N802
        return self._data(job_id, Job.get_data_input_from_id)

    def _data(self, job_id: Any, getter: Callable[[int], Any]) -> dict[str, Any]:
        data = getter(self._id(job_id))
        if not isinstance(data, dict):
            raise UnknownJob(str(data))
        return data

    def getJobError(self, job_id: Any) -> str:  # noqa: N802
        job_id = self._id(job_id)
        if Job.get_status_from_id(job_id) == STATE_INEXISTANT:
            raise UnknownJob(f"No such job: {job_id}")
        return Job.get_error_from_id(job_id)

    def collectStatistics(self) -> None:  # noqa: N802
        """Start collecting statistics in the background (``getStatistics`` returns them)."""
        with self._stats_lock:
            if self._stats_thread is not None and self._stats_thread.is_alive():
                return
            self._stats_thread = threading.Thread(target=self._collect, name="lab-dahu-statistics", daemon=True)
            self._stats_thread.start()

    def _collect(self) -> None:
        started = time.time()
        text = Job.stats()
        self.last_stats = (text + os.linesep + f"Statistics collected on {time.asctime()}, "
                           f"the collect took: {time.time() - started:.3f}s")
        self._notify("statisticsCollected", self.last_stats)

    def getStatistics(self) -> str:  # noqa: N802
        thread = self._stats_thread
        if thread is not None:
            thread.join(self.max_wait)
        return self.last_stats

    def listPlugins(self) -> list[dict[str, str]]:  # noqa: N802
        """``[{"name", "source", "doc"}]`` for every plugin this server can run."""
        return self.factory.describe()

    @staticmethod
    def plugins_text(rows: list[dict[str, str]]) -> str:
        """dahu's ``listPlugins`` text from :meth:`listPlugins`' rows."""
        lines = ["List of all plugin currently loaded (use initPlugin to loaded additional plugins):"]
        lines += [f" {row['name']} : {row['doc']}" for row in rows]
        return os.linesep.join(lines)

    @staticmethod
    def is_final(state: str) -> bool:
        return state in FINAL_STATES or state == STATE_INEXISTANT

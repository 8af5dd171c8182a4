"""Processing plugins: dahu's ``Plugin`` life cycle on top of ``lab_core.JobPlugin``.

A plugin is made with no arguments, gets its input as a dict, works in
``process`` and leaves its result in the ``output`` dict::

    class Square(Plugin):
        def process(self):
            self.output["result"] = self.input["x"] ** 2

``setup`` → ``process`` → ``teardown`` (always) is driven by a :class:`~lab_dahu.job.Job`;
``abort`` may come at any time from another thread and sets ``is_aborted``,
which a long ``process`` checks (or it sleeps with :meth:`Plugin.sleep`, which
an abort cuts short).
"""

from __future__ import annotations

import cProfile
import logging
import os
import threading
from collections.abc import Callable
from typing import Any, ClassVar

from lab_core import JobPlugin

from . import persistence, table
from .factory import plugin_factory

log = logging.getLogger(__name__)

_ABORT_LOCK = threading.Lock()  # guards the lazy creation of a plugin's abort event

#: Keys of the framework (added by the job, or switching profiling on); not given to a function plugin.
JOB_KEYS = ("job_id", "plugin_name", "do_profiling")


class Plugin(JobPlugin):
    """Base class of processing plugins (dahu's ``dahu.plugin.Plugin``).

    * gets its input parameters as a dictionary (``self.input``) before ``setup``;
    * performs its work in ``process``;
    * leaves its result in ``self.output`` (a dict; JSON-friendly values if the
      job is to be cleaned to disk or sent over the network);
    * ``teardown`` is always run, also after a failure, and records the
      messages of ``log_error``/``log_warning`` in ``output["logging"]``;
    * a long ``process`` stops early when ``is_aborted`` becomes true.
    """

    DEFAULT_SET_UP: ClassVar[str] = "setup"
    DEFAULT_PROCESS: ClassVar[str] = "process"
    DEFAULT_TEAR_DOWN: ClassVar[str] = "teardown"
    DEFAULT_ABORT: ClassVar[str] = "abort"
    #: input keys dropped when a saved job is reprocessed (``lab dahu reprocess``)
    REPROCESS_IGNORE: ClassVar[list[str]] = []
    #: seconds ``wait_for`` waits for another job by default
    TIMEOUT: ClassVar[float] = 10.0

    def __init__(self) -> None:
        super().__init__()
        self._logging: list[str] = []
        self._aborted = False
        self._abort_event: threading.Event | None = None  # made on first need (most jobs never wait)
        self._profiler: cProfile.Profile | None = None

    # -- abort ---------------------------------------------------------------------

    @property
    def is_aborted(self) -> bool:
        """True once the job was aborted; a long ``process`` should check it and return."""
        return self._aborted

    @is_aborted.setter
    def is_aborted(self, value: bool) -> None:
        with _ABORT_LOCK:
            self._aborted = bool(value)
            event = self._abort_event
        if event is not None:
            event.set() if value else event.clear()

    @property
    def abort_event(self) -> threading.Event:
        """A ``threading.Event`` set when the job is aborted (to wait on)."""
        with _ABORT_LOCK:
            if self._abort_event is None:
                self._abort_event = threading.Event()
                if self._aborted:
                    self._abort_event.set()
            return self._abort_event

    def abort(self) -> None:
        """Ask the running ``process`` to stop (called from another thread)."""
        self.is_aborted = True

    def sleep(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; return True at once if (or when) the job is aborted."""
        return self.abort_event.wait(max(0.0, float(seconds)))

    # -- life cycle ----------------------------------------------------------------

    def get_name(self) -> str:
        return self.__class__.__name__

    def setup(self, kwargs: dict[str, Any] | None = None) -> None:
        """Second constructor: takes more input; ``do_profiling`` in input turns cProfile on."""
        if kwargs is not None:
            self.input.update(kwargs)
        if self.input.get("do_profiling"):
            self._profiler = cProfile.Profile()
            self._profiler.enable()

    def process(self) -> None:
        """The main processing; the base class does nothing."""

    def teardown(self) -> None:
        """Always run, even if ``process`` failed: records the log messages in the output."""
        self.output["logging"] = self._logging
        if self._profiler is not None:
            self._profiler.disable()
            job_id = int(self.input.get("job_id") or 0)
            name = f"{job_id:05d}_{self.__class__.__module__}.{self.__class__.__name__}.profile"
            path = persistence.workdir() / name
            path.parent.mkdir(parents=True, exist_ok=True)
            self._profiler.dump_stats(str(path))  # cProfile's own marshal format, not pickle
            self._profiler = None
            self.log_warning(f"profiling information in {path}")

    def get_info(self) -> str:
        return os.linesep.join(self._logging)

    # -- messages ------------------------------------------------------------------

    def log_error(self, txt: str, do_raise: bool = True) -> None:
        """Record an error (in ``output["logging"]`` at teardown) and, by default, raise ``RuntimeError``."""
        if do_raise:
            message = f"ERROR in {self.get_name()}: {txt}"
            log.error("%s", message)
        else:
            message = f"Warning in {self.get_name()}: {txt}"
            log.warning("%s", message)
        self._logging.append(message)
        if do_raise:
            raise RuntimeError(message)

    def log_warning(self, txt: str) -> None:
        message = f"Warning in {self.get_name()}: {txt}"
        log.warning("%s", message)
        self._logging.append(message)

    # -- other jobs ----------------------------------------------------------------

    def wait_for(self, job_id: int, timeout: float | None = None) -> Any:
        """Wait (``TIMEOUT`` s by default) for job ``job_id`` of this process; return it.

        Fails (``log_error``, i.e. ``RuntimeError``) when there is no such job, it did
        not finish in time, or it did not succeed. Returns at once if this plugin is
        aborted meanwhile (then raises too). Only jobs of this process can be waited
        for: with the process or Dask executor, the plugin runs elsewhere.
        """
        job = table.process_jobs.get(job_id)
        if job is None:
            return self._no_such_job(job_id)
        limit = self.TIMEOUT if timeout is None else timeout
        if not job.wait(limit, abort=self.abort_event):
            if self.is_aborted:
                self.log_error(f"aborted while waiting for job {job_id}")
            self.log_error(f"job {job_id} did not finish within {limit} s (state {job.status})")
        if job.status != job.STATE_SUCCESS:
            self.log_error(f"job {job_id} ({job.name}) ended in state {job.status}")
        return job


    def _no_such_job(self, job_id: int) -> Any:
        """``wait_for`` of an unknown id: lab fails the job (the dahu name warns and returns None)."""
        self.log_error(f"wait_for: no job {job_id} in this process")


class PluginFromFunction(Plugin):
    """A plugin that calls ``function(**input)`` and stores its return value in ``output["result"]``.

    Made by :func:`plugin_from_function`; the framework's keys (``job_id``,
    ``plugin_name``, ``do_profiling``) are not passed to the function.
    """

    function: ClassVar[Callable[..., Any]]

    def __call__(self, **kwargs: Any) -> Any:
        """Behave like the function (for debugging)."""
        self.input.update(kwargs)
        self.process()
        self.teardown()
        return self.output["result"]

    def process(self) -> None:
        arguments = dict(self.input)
        for key in JOB_KEYS:
            arguments.pop(key, None)
        self.output["result"] = type(self).function(**arguments)


def function_plugin_class(function: Callable[..., Any], name: str | None = None,
                          module: str | None = None, qualname: str | None = None) -> type[PluginFromFunction]:
    """Make (without registering) a :class:`PluginFromFunction` subclass calling ``function``.

    ``name`` is the class name (dahu: ``module.function``). ``module``/``qualname``
    let a module expose the class under an importable name.
    """
    class_name = name or f"{function.__module__}.{function.__name__}"
    klass = type(class_name, (PluginFromFunction,), {
        "function": staticmethod(function),
        "__doc__": function.__doc__,
        "__module__": module or function.__module__,
        "_from_function": staticmethod(function),
    })
    if qualname:
        klass.__qualname__ = qualname
    return klass


def plugin_from_function(function: Callable[..., Any]) -> str:
    """Make a plugin class from ``function``, register it as ``module.function``; return that name.

    The name is found case-insensitively (``Job("mymodule.MyFunction")`` and
    ``Job("mymodule.myfunction")`` are the same plugin).
    """
    klass = function_plugin_class(function)
    name = klass.__name__
    plugin_factory.register(klass, name)
    return name

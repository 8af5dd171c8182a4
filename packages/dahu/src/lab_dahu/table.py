"""The job table: ids, and the jobs known by id, in memory (bounded) or in the work directory.

Ids are consecutive in a process and, in one work directory, follow the
highest id already written there, so a restarted server never reuses one.
Finished jobs are forgotten beyond ``max_finished`` or after ``max_age`` seconds
(a job cleaned to disk stays readable from there); jobs are held weakly until
they start, so a job made and dropped is not kept.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import weakref
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Any

from . import persistence
from .states import STATE_INEXISTANT, STATE_SUCCESS

log = logging.getLogger(__name__)


class JobTable:
    """Jobs by id. ``Job`` keeps one for the process (dahu's class-level look-ups)."""

    def __init__(self, max_finished: int = 1000, max_age: float | None = 24 * 3600.0):
        self.max_finished = max_finished
        self.max_age = max_age
        self._lock = threading.Lock()  # ids
        self._finished_lock = threading.Lock()  # the finished list (taken by workers, not by new jobs)
        self._last_id = 0
        self._numbered_in: Path | None = None  # the work directory the ids follow
        self._all: dict[int, weakref.ref] = {}
        self._active: dict[int, Any] = {}
        self._finished: OrderedDict[int, tuple[Any, float]] = OrderedDict()
        self.counts: Counter[str] = Counter()
        self._next_age_check = 0.0
        self.started_at = time.time()

    @property
    def last_id(self) -> int:
        return self._last_id

    def new_id(self, job: Any) -> int:
        """A fresh id for ``job``, after every id in the work directory; the job is held weakly."""
        folder = persistence.workdir()
        with self._lock:
            if folder is not self._numbered_in and folder != self._numbered_in:
                self._numbered_in = folder
                self._last_id = max(self._last_id, persistence.highest_id(folder))
            self._last_id += 1
            job_id = self._last_id
        self._all[job_id] = weakref.ref(job)
        if not job_id % 1024:
            self._housekeeping()
        return job_id

    def started(self, job: Any) -> None:
        self._active[job.id] = job  # one dict operation: atomic

    def finished(self, job: Any, status: str) -> None:
        now = time.monotonic()
        self._active.pop(job.id, None)
        with self._finished_lock:
            self._finished[job.id] = (job, now)
            self.counts[status] += 1
            self._prune_locked(now)

    def configure(self, max_finished: int | None = None, max_age: float | None | str = "keep") -> None:
        if max_finished is not None:
            if max_finished < 0:
                raise ValueError("max_finished must be >= 0")
            self.max_finished = max_finished
        if max_age != "keep":
            if max_age is not None and max_age < 0:
                raise ValueError("max_age must be >= 0 seconds or None")
            self.max_age = max_age
            self._next_age_check = 0.0
        with self._finished_lock:
            self._prune_locked(time.monotonic())

    def _housekeeping(self) -> None:
        """Sweep dead weak entries; forget finished jobs past their age even when none finish."""
        for job_id in [i for i, ref in list(self._all.items()) if ref() is None]:
            self._all.pop(job_id, None)
        with self._finished_lock:
            self._prune_locked(time.monotonic())

    def _prune_locked(self, now: float) -> None:
        finished = self._finished
        for _ in range(len(finished) - self.max_finished):
            finished.popitem(last=False)
        if self.max_age is not None and finished and now >= self._next_age_check:
            self._next_age_check = now + min(1.0, self.max_age / 10)  # an age scan at most every second
            limit = now - self.max_age
            while finished:
                job_id, (_, finished_at) = next(iter(finished.items()))
                if finished_at > limit:
                    break
                del finished[job_id]

    # -- look-ups -----------------------------------------------------------------

    def resolve(self, job_id: Any) -> int:
        """``job_id`` as an int; negative ids count back from the last job."""
        job_id = int(job_id)
        return self._last_id + 1 + job_id if job_id < 0 else job_id

    def get(self, job_id: Any) -> Any:
        """The job with this id in memory, or None."""
        ref = self._all.get(self.resolve(job_id))
        return ref() if ref is not None else None

    def jobs(self) -> list[Any]:
        """The jobs remembered now (running, then finished), by id."""
        with self._finished_lock:
            found = {**{i: j for i, (j, _) in self._finished.items()}, **self._active}
        return [found[i] for i in sorted(found)]

    def active(self) -> list[Any]:
        return list(self._active.values())

    def status(self, job_id: Any) -> str | None:
        """The job's state, from memory or its ``.out`` file; None if unknown."""
        job = self.get(job_id)
        if job is not None:
            return job.status
        base = persistence.find_on_disk(self.resolve(job_id))
        if base is None:
            return None
        try:
            return json.loads(persistence.read_saved(base, "out")).get("job_status", STATE_SUCCESS)
        except (OSError, ValueError) as exc:
            log.warning("job %s: unreadable %s.out (%s)", job_id, base, exc)
            return STATE_INEXISTANT

    def data(self, job_id: Any, suffix: str, as_json: bool) -> Any:
        """The job's input (``inp``) or output (``out``); None if the job is unknown."""
        job = self.get(job_id)
        if job is not None:
            data = job.input_data if suffix == "inp" else job.output_data
            return persistence.to_json(data) if as_json else data
        base = persistence.find_on_disk(self.resolve(job_id))
        if base is None:
            return None
        text = persistence.read_saved(base, suffix)
        return text if as_json else json.loads(text)

    def error(self, job_id: Any) -> str | None:
        """The job's error report as one string (empty if none); None if the job is unknown."""
        output = self.data(job_id, "out", False)
        if output is None:
            return None
        return error_text(output)


def error_text(output: dict[str, Any]) -> str:
    lines = output.get("error") or []
    return os.linesep.join(lines) if isinstance(lines, list) else str(lines)


#: the jobs of this process (``Job``'s class-level look-ups and ``Plugin.wait_for`` use it)
process_jobs = JobTable()

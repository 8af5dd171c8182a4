"""Re-run saved jobs (``.inp`` files written by ``Job.clean``) through their plugins.

The saved ``job_id``, ``plugin_name`` and the plugin's ``REPROCESS_IGNORE`` keys
are dropped; each file becomes a new job on the chosen executor, all in
parallel; each new job is cleaned to the work directory (new ``.inp``/``.out``
under a new id: an earlier run's files are never overwritten). The summary says
where each output is and gives each error whole.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

import attrs

from .executors import Executor
from .factory import Factory, plugin_factory
from .job import Job
from .persistence import workdir
from .states import STATE_FAILURE, STATE_SUCCESS

log = logging.getLogger(__name__)


@attrs.define
class Reprocessed:
    """One file's outcome."""

    path: str
    plugin: str = ""
    job: Job | None = None
    error: str = ""

    @property
    def status(self) -> str:
        return self.job.status if self.job is not None else STATE_FAILURE

    @property
    def ok(self) -> bool:
        return self.status == STATE_SUCCESS

    @property
    def output(self) -> str:
        """The new ``.out`` file ("" if the job was not written)."""
        if self.job is None or not self.job.data_on_disk:
            return ""
        return f"{self.job.data_on_disk}.out"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "plugin": self.plugin, "job_id": self.job.id if self.job else None,
                "status": self.status, "runtime": self.job.runtime if self.job else None,
                "output": self.output, "error": self.error or (self.job.error if self.job else "")}


def load_saved_input(path: str | Path, factory: Factory | None = None) -> tuple[str, dict[str, Any]]:
    """``(plugin name, input)`` from a saved ``.inp`` file, with the keys not to reprocess dropped."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a saved job input is a JSON object, not {type(data).__name__}")
    plugin = data.pop("plugin_name", None)
    if not isinstance(plugin, str) or not plugin:
        raise ValueError(f"{path}: no plugin_name in the saved input; cannot tell which plugin to run")
    data.pop("job_id", None)
    try:
        ignore = getattr((factory or plugin_factory).get_class(plugin), "REPROCESS_IGNORE", ()) or ()
    except Exception as exc:  # an unknown plugin fails its job, with the whole reason, below
        log.debug("%s: plugin %s not loaded (%s); no REPROCESS_IGNORE keys dropped", path, plugin, exc)
        ignore = ()
    for key in ignore:
        data.pop(key, None)
    return plugin, data


class Progress:
    """A one-line progress bar on a stream (stderr): ``[#####.....] 5/10 done, 1 failed``."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 30):
        self.total = max(total, 1)
        self.stream = stream
        self.width = width
        self.done = 0
        self.failed = 0
        self._lock = threading.Lock()
        self._draw()

    def update(self, ok: bool) -> None:
        with self._lock:
            self.done += 1
            self.failed += 0 if ok else 1
            self._draw()

    def _draw(self) -> None:
        if self.stream is None:
            return
        filled = int(self.width * self.done / self.total)
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} done"
                          + (f", {self.failed} failed" if self.failed else ""))
        self.stream.flush()

    def close(self) -> None:
        if self.stream is not None:
            self.stream.write("\n")
            self.stream.flush()


def reprocess(paths: list[str], executor: Executor | None = None, factory: Factory | None = None,
              progress: TextIO | None = None, clean: bool = True) -> list[Reprocessed]:
    """Run every saved input again, in parallel on ``executor``; one :class:`Reprocessed` per path.

    ``progress``: a stream for the progress bar (the command line gives stderr)."""
    results = [Reprocessed(str(p)) for p in paths]
    bar = Progress(len(results), progress)
    for result in results:
        try:
            result.plugin, data = load_saved_input(result.path, factory)
        except (OSError, ValueError) as exc:
            result.error = str(exc)
            bar.update(False)
            continue
        job = Job(result.plugin, data, executor=executor, factory=factory)
        job.connect_callback(lambda j: bar.update(j.status == STATE_SUCCESS))
        result.job = job
        job.start()
    for result in results:
        if result.job is not None:
            result.job.wait()
            if clean:
                try:
                    result.job.clean(wait=False)
                except OSError as exc:
                    log.error("job %s could not be written: %s", result.job.id, exc)
    bar.close()
    return results


def summary(results: list[Reprocessed], elapsed: float | None = None) -> str:
    """A table (file, plugin, new job id, status, run time, output file), a total line
    saying where the outputs are, then each failure's error report, whole."""
    rows = [("FILE", "PLUGIN", "JOB", "STATUS", "TIME (s)", "OUTPUT")]
    for r in results:
        d = r.to_dict()
        rows.append((Path(r.path).name, d["plugin"] or "-", str(d["job_id"] or "-"), d["status"],
                     "-" if d["runtime"] is None else f"{d['runtime']:.3f}", d["output"] or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    ok = sum(r.ok for r in results)
    total = f"{ok}/{len(results)} succeeded"
    if elapsed is not None:
        total += f" in {elapsed:.2f} s"
    lines.append(f"{total}; new .inp/.out files in {workdir()}")
    for r in results:
        error = r.to_dict()["error"]
        if error:
            lines.append(f"\n{Path(r.path).name} ({r.plugin or 'no plugin'}):")
            lines += [f"    {line}" for line in error.splitlines()]
    return "\n".join(lines)


def run_cli(paths: list[str], executor: Executor | None, progress: bool = True, as_json: bool = False,
            out: TextIO | None = None) -> int:
    out = out or sys.stdout
    started = time.monotonic()
    results = reprocess(paths, executor, progress=sys.stderr if progress else None)
    if as_json:
        out.write(json.dumps([r.to_dict() for r in results], indent=2) + "\n")
    else:
        out.write(summary(results, time.monotonic() - started) + "\n")
    return 0 if results and all(r.ok for r in results) else 1

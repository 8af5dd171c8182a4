"""Jobs on disk: the work directory, job inputs read from JSON, and the ``.inp``/``.out`` files.

A job cleaned to disk is ``<workdir>/NNNN/NNNNN_<name>.inp`` and ``.out`` (JSON),
``NNNN`` being the id's thousands. Files are created exclusively: a job never
overwrites another's, and :func:`highest_id` lets a new process number its jobs
after those already in the work directory.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

WORKDIR_ENV = "LAB_DAHU_WORKDIR"

_workdir: Path | None = None


def workdir() -> Path:
    """Where jobs are written: ``Job.configure(workdir=…)``, else ``$LAB_DAHU_WORKDIR``
    (or dahu's ``$DAHU_WORKDIR``), else ``<tmp>/lab-dahu``."""
    if _workdir is not None:
        return _workdir
    env = os.environ.get(WORKDIR_ENV) or os.environ.get("DAHU_WORKDIR")
    return Path(env) if env else Path(tempfile.gettempdir()) / "lab-dahu"


def set_workdir(path: str | os.PathLike | None) -> None:
    global _workdir
    _workdir = None if path is None else Path(path)


def isotime() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def jsonable(obj: Any) -> Any:
    """``json.dump`` fallback: arrays and numpy scalars become lists/numbers, the rest its repr."""
    for attribute in ("tolist", "item"):
        method = getattr(obj, attribute, None)
        if callable(method):
            try:
                return method()
            except (TypeError, ValueError) as exc:  # a method of that name, but not numpy's
                log.debug("%s.%s() failed (%s); trying the next conversion", type(obj).__name__, attribute, exc)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    log.debug("not JSON: %r stored as its repr", type(obj))
    return repr(obj)


def to_json(data: Any, indent: int | None = 4) -> str:
    return json.dumps(data, indent=indent, default=jsonable, allow_nan=True)


def parse_input(text: str | bytes) -> dict[str, Any]:
    """A job's input from JSON text (an object); never a file."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if not text.strip():
        raise ValueError("job input is blank; give a JSON object such as '{\"x\": 3}'")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"job input is not a JSON object: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"job input must be a JSON object (a dict), not {type(data).__name__}")
    return data


def read_input(input_data: Any) -> dict[str, Any]:
    """A job's input from a dict, a JSON string, or the path of a JSON file (local use, as dahu)."""
    if input_data is None:
        return {}
    if isinstance(input_data, Mapping):
        return dict(input_data)
    if isinstance(input_data, os.PathLike) or (
            isinstance(input_data, str) and input_data.strip()[:1] not in ("{", "") and os.path.isfile(input_data)):
        return read_input_file(Path(input_data))
    if isinstance(input_data, (str, bytes)):
        return parse_input(input_data)
    raise TypeError(f"job input must be a dict, a JSON string or a file path, not {type(input_data).__name__}")


def read_input_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"job input file {path} could not be read: {exc.strerror}") from None
    try:
        return parse_input(text)
    except ValueError as exc:
        raise ValueError(f"job input file {path}: {exc}") from None


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100] or "job"


def path_for(job_id: int, name: str) -> Path:
    """``<workdir>/NNNN/NNNNN_<name>`` (no suffix): where job ``job_id`` is cleaned to."""
    return workdir() / f"{job_id // 1000:04d}" / f"{job_id:05d}_{_file_name(name)}"


def write_job(job_id: int, name: str, input_data: dict[str, Any], output: dict[str, Any]) -> Path:
    """Write the job's ``.inp`` and ``.out``; return their common base path.

    Never overwrites: if another process wrote this id meanwhile, the files get a
    ``~2`` (``~3``…) suffix to the name, and a warning says so."""
    base = path_for(job_id, name)
    base.parent.mkdir(parents=True, exist_ok=True)
    inp, out = to_json(input_data), to_json(output)
    candidate, copy = base, 1
    while True:
        try:
            with open(f"{candidate}.inp", "x", encoding="utf-8") as handle:
                handle.write(inp)
            break
        except FileExistsError:
            copy += 1
            candidate = base.with_name(f"{base.name}~{copy}")
    if copy > 1:
        log.warning("job %s: %s.inp exists (another process uses this work directory); written as %s",
                    job_id, base, candidate)
    with open(f"{candidate}.out", "x", encoding="utf-8") as handle:
        handle.write(out)
    return candidate


def find_on_disk(job_id: int) -> Path | None:
    """The base path of job ``job_id``'s files in the work directory, or None."""
    folder = workdir() / f"{job_id // 1000:04d}"
    prefix = f"{job_id:05d}_"
    for path in sorted(folder.glob(f"{prefix}*.out")) if folder.is_dir() else ():
        if path.name.split("_", 1)[0] == prefix[:-1]:
            return path.with_suffix("")
    return None


def read_saved(base: Path, suffix: str) -> str:
    return Path(f"{base}.{suffix}").read_text(encoding="utf-8")


def highest_id(directory: Path) -> int:
    """The largest job id with files in ``directory`` (0 if none): new ids start after it."""
    if not directory.is_dir():
        return 0
    folders = sorted((p for p in directory.iterdir() if p.is_dir() and p.name.isdigit()), reverse=True)
    for folder in folders:
        ids = [int(p.name.split("_", 1)[0]) for p in folder.iterdir()
               if p.suffix in (".inp", ".out") and p.name.split("_", 1)[0].isdigit()]
        if ids:
            return max(ids)
    return 0

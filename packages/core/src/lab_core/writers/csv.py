"""The ``csv`` writer: one row per sample, ``time,iso_time,codename,value,error``.

Safe when several contexts feed it (one delivery worker writes) and when
several processes append to the same file (each batch is written under an
exclusive ``flock``). The header is written once, when the file is empty.
"""

from __future__ import annotations

import csv
import datetime as dt
import fcntl
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

from ..contracts import Writer
from ..model import Sample
from . import check_file_target

HEADER = ("time", "iso_time", "codename", "value", "error")


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat(timespec="microseconds")


class CsvWriter(Writer):
    """Appends samples to a CSV file (time, iso_time, codename, value, error), safe to share between processes."""

    def __init__(self, path: Annotated[str | os.PathLike, "file to append rows to (made if missing)"] = "lab.csv",
                 fsync: Annotated[bool, "fsync after every batch (safer on power loss, slower)"] = False):
        self.path = Path(path)
        self.fsync = fsync
        self._file = None

    def check(self) -> None:
        check_file_target(self.path, "lab.csv")

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", newline="", encoding="utf-8")  # noqa: SIM115

    def write(self, batch: Sequence[Sample]) -> None:
        buffer = io.StringIO()
        rows = csv.writer(buffer)
        for s in batch:
            rows.writerow((repr(s.time), iso(s.time), s.codename, "" if s.value is None else s.value, s.error or ""))
        fcntl.flock(self._file, fcntl.LOCK_EX)
        try:
            if self._file.tell() == 0 and self.path.stat().st_size == 0:
                csv.writer(self._file).writerow(HEADER)
            self._file.write(buffer.getvalue())
            self._file.flush()
            if self.fsync:
                os.fsync(self._file.fileno())
        finally:
            fcntl.flock(self._file, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

"""The ``console`` writer: prints each sample as it arrives (what ``lab run`` shows live)."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from typing import Annotated, TextIO

from ..contracts import Writer
from ..model import Sample


class ConsoleWriter(Writer):
    def __init__(self, stream: Annotated[TextIO | None, "file object to print to (default: standard output)"] = None):
        self.stream = stream

    def write(self, batch: Sequence[Sample]) -> None:
        out = self.stream or sys.stdout
        for s in batch:
            when = dt.datetime.fromtimestamp(s.time).strftime("%H:%M:%S.%f")[:-3]
            shown = f"ERROR {s.error}" if s.error else (f"{s.value:.6g}" if isinstance(s.value, float) else s.value)
            out.write(f"{when}  {s.codename:<24} {shown}\n")
        out.flush()


class NullWriter(Writer):
    """Takes everything and keeps nothing but a count (for benchmarks and dry runs)."""

    def __init__(self):
        self.count = 0

    def write(self, batch: Sequence[Sample]) -> None:
        self.count += len(batch)

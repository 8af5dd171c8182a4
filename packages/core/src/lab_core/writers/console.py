"""The ``console`` writer: prints each sample as it arrives (what ``lab run`` shows live)."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from typing import Annotated, TextIO

from ..contracts import Writer
from ..model import Aggregate, Sample


class ConsoleWriter(Writer):
    """Prints ``time  codename  value unit`` lines; a window's aggregates also show their sample count.

    A variable's description is printed once, as a ``# codename: description`` line before
    its first value.
    """

    def __init__(self, stream: Annotated[TextIO | None, "file object to print to (default: standard output)"] = None):
        self.stream = stream
        self._units: dict[str, str] = {}
        self._descriptions: dict[str, str] = {}  # codename -> description not printed yet

    def check_context(self, context) -> None:
        self._units.update({v.codename: v.unit for v in context.variables if v.unit})
        self._descriptions.update({v.codename: v.description for v in context.variables if v.description})

    def write(self, batch: Sequence[Sample]) -> None:
        out = self.stream or sys.stdout
        for s in batch:
            if self._descriptions and s.codename in self._descriptions:
                out.write(f"# {s.codename}: {self._descriptions.pop(s.codename)}\n")
            when = dt.datetime.fromtimestamp(s.time).strftime("%H:%M:%S.%f")[:-3]
            out.write(f"{when}  {s.codename:<24} {self.show(s)}\n")
        out.flush()

    def show(self, sample: Sample) -> str:
        """The value as a person reads it: ``21.5 degC``, ``ERROR …``, ``20.1 degC (12 samples)``."""
        if sample.error:
            return f"ERROR {sample.error}"
        value = f"{sample.value:.6g}" if isinstance(sample.value, float) else str(sample.value)
        unit = self._units.get(sample.codename)
        if unit is None and isinstance(sample, Aggregate):  # a window's x_mean has x's unit (x_count none)
            source, _, aggregate = sample.codename.rpartition("_")
            unit = None if aggregate == "count" else self._units.get(source)
        shown = f"{value} {unit}" if unit else value
        return f"{shown} ({sample.count} samples)" if isinstance(sample, Aggregate) else shown


class NullWriter(Writer):
    """Takes everything and keeps nothing but a count (for benchmarks and dry runs)."""

    def __init__(self):
        self.count = 0

    def write(self, batch: Sequence[Sample]) -> None:
        self.count += len(batch)

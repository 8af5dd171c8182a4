"""``window``: aggregates (mean, min, max, stdev, count, first, last) over clock-aligned windows.

Windows are ``seconds`` long and aligned to the clock: they start at whole multiples of
``seconds`` since 1970-01-01 UTC, so ``seconds = 60`` gives one value per minute on the
minute, whichever machine computes it. A window's results carry the window's END as their
time and its sample count (``Aggregate.count``). They are emitted when the first sample
of a later window arrives (the next read), or when the stream ends (its context stops or
the collector closes): then the open, partial window is emitted with the samples it has,
its count telling how many. Error samples pass through at once and are not counted.

One aggregate keeps the variable's codename; several give ``<codename>_<aggregate>``
(``codename = "…{codename}…{aggregate}…"`` chooses another pattern).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Literal

from ..contracts import DROP, StreamProcessor
from ..model import Aggregate, Sample, Variable, check_codename
from ..options import Example

AggregateName = Literal["mean", "min", "max", "stdev", "count", "first", "last"]
AGGREGATES = ("mean", "min", "max", "stdev", "count", "first", "last")
NUMERIC = {"mean", "min", "max", "stdev"}


class Window(StreamProcessor):
    """Aggregates over clock-aligned windows of ``seconds``, emitted at each window's end."""

    def __init__(self, *, seconds: Annotated[float, "window length; windows start on multiples of it", Example(60)],
                 aggregates: Annotated[tuple[AggregateName, ...], "what each window gives"] = ("mean",),
                 codename: Annotated[str | None, "codename pattern of the results, with {codename} "
                                                 "and {aggregate}"] = None):
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) \
                or seconds <= 0:
            raise ValueError(f"seconds must be a positive number, got {seconds!r}")
        aggregates = tuple(aggregates)
        unknown = [a for a in aggregates if a not in AGGREGATES]
        if not aggregates or unknown:
            raise ValueError(f"aggregates must be a non-empty list of {', '.join(AGGREGATES)}"
                             + (f"; {unknown[0]!r} is none of them" if unknown else ""))
        self.seconds = float(seconds)
        self.aggregates = aggregates
        self.pattern = codename or ("{codename}" if len(aggregates) == 1 else "{codename}_{aggregate}")
        self._names: tuple[str, ...] = ()
        self._index: int | None = None  # the open window: [index·seconds, (index+1)·seconds)
        self._reset()

    def bind(self, variable: Variable) -> None:
        numeric = NUMERIC.intersection(self.aggregates)
        if variable.value_type == "str" and numeric:
            raise ValueError(f"{', '.join(sorted(numeric))} of text values cannot be computed; "
                             f"use count, first or last")
        try:
            self._names = tuple(self.pattern.format(codename=variable.codename, aggregate=a)
                                for a in self.aggregates)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"codename pattern {self.pattern!r} may use only {{codename}} and {{aggregate}}: "
                             f"{exc}") from None
        for name in self._names:
            check_codename(name)
        if len(set(self._names)) != len(self._names):
            raise ValueError(f"codename pattern {self.pattern!r} gives the same codename to several aggregates; "
                             f"put {{aggregate}} in it")

    def _reset(self) -> None:
        self._count, self._mean, self._m2 = 0, 0.0, 0.0  # Welford's running mean and squares
        self._min = self._max = self._first = self._last = None

    def process(self, sample: Sample) -> Sequence[Sample]:
        if sample.error is not None:
            return (sample,)
        value = sample.value
        if value is None:
            return DROP
        index = math.floor(sample.time / self.seconds)
        out = DROP
        if self._index is None:
            self._index = index
        elif index > self._index:
            out = self._emit()
            self._index = index
        self._add(value)
        return out

    def _add(self, value) -> None:
        self._count += 1
        if self._first is None:
            self._first = value
        self._last = value
        if isinstance(value, str):
            return
        if self._min is None or value < self._min:
            self._min = value
        if self._max is None or value > self._max:
            self._max = value
        delta = value - self._mean
        self._mean += delta / self._count
        self._m2 += delta * (value - self._mean)

    def _value(self, aggregate: str):
        n = self._count
        if aggregate == "stdev":  # the sample standard deviation; 0 for a single value
            return math.sqrt(self._m2 / (n - 1)) if n > 1 else 0.0
        return {"mean": self._mean, "min": self._min, "max": self._max, "count": n,
                "first": self._first, "last": self._last}[aggregate]

    def _emit(self) -> list[Sample]:
        end = (self._index + 1) * self.seconds
        names = self._names or tuple(self.pattern.format(codename="?", aggregate=a) for a in self.aggregates)
        out = [Aggregate(name, end, self._value(aggregate), count=self._count)
               for name, aggregate in zip(names, self.aggregates)]
        self._reset()
        return out

    def finish(self) -> Sequence[Sample]:
        if self._index is None or not self._count:
            return DROP
        out = self._emit()
        self._index = None
        return out

"""The $name stream processor: drops values outside a plausible range (a spike filter)."""

from __future__ import annotations

import math
from typing import Annotated

from lab_core import DROP, Sample, StreamProcessor, Variable


class $cls(StreamProcessor):
    """Drop values that jumped more than ``max_step`` from the previous good value.

    One instance handles one variable's stream: keep per-stream state on ``self``.
    """

    def __init__(self, *, max_step: Annotated[float, "largest believable change between two readings"] = 10.0):
        if not math.isfinite(max_step) or max_step <= 0:
            raise ValueError(f"max_step must be a positive number, got {max_step!r}")
        self.max_step = max_step
        self._previous = None

    def bind(self, variable: Variable) -> None:
        if variable.value_type in ("str", "bool"):
            raise ValueError(f"needs numbers; the variable's type is {variable.value_type}")

    def process(self, sample: Sample):
        if sample.error is not None:  # errors always pass
            return (sample,)
        previous, value = self._previous, sample.value
        try:
            if previous is not None and abs(value - previous) > self.max_step:
                return DROP
        except TypeError:
            return (Sample.failed(sample.codename, f"{value!r} is not a number", sample.time),)
        self._previous = value
        return (sample,)

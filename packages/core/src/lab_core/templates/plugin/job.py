"""The $name job: statistics of a list of values (a dahu-style processing job plugin)."""

from __future__ import annotations

import statistics

from lab_core import JobPlugin


class $cls(JobPlugin):
    """Input ``{"values": [numbers]}``; output ``{"mean", "stdev", "count"}``."""

    def process(self) -> None:
        values = self.input.get("values")
        if not isinstance(values, list) or not values:
            raise ValueError("input 'values' must be a non-empty list of numbers")
        self.output.update(mean=statistics.fmean(values), count=len(values),
                           stdev=statistics.stdev(values) if len(values) > 1 else 0.0)

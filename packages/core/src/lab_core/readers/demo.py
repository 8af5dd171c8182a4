"""The ``demo`` reader: made-up values, so a collector runs with nothing attached.

The address chooses the signal and its parameters::

    sine                          sin wave, period 10 s, amplitude 1, offset 0
    sine:period=60,amplitude=5,offset=20
    ramp:period=30,low=0,high=100 saw tooth from low to high every period
    random:low=0,high=1,seed=7    uniform noise (seeded per variable if seed given)
    fail                          always an error sample (to try error handling)

Values are functions of time, so any two readers agree on them.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from typing import Annotated

from ..contracts import Reader
from ..model import Sample, Variable

SIGNALS = {
    "sine": {"period": 10.0, "amplitude": 1.0, "offset": 0.0},
    "ramp": {"period": 10.0, "low": 0.0, "high": 1.0},
    "random": {"low": 0.0, "high": 1.0, "seed": None},
    "fail": {},
}


def parse_address(address: str) -> tuple[str, dict[str, float]]:
    """``"sine:period=5"`` -> ``("sine", {"period": 5.0, ...defaults})``; ValueError if wrong."""
    kind, _, rest = address.partition(":")
    kind = kind.strip() or "sine"
    if kind not in SIGNALS:
        raise ValueError(f"demo signal {kind!r} is unknown; use one of {', '.join(SIGNALS)}")
    params = dict(SIGNALS[kind])
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or key not in params:
            raise ValueError(f"demo {kind} parameter {item!r} is not one of "
                             f"{', '.join(f'{k}=…' for k in params) or '(none)'}")
        try:
            params[key] = float(value)
        except ValueError:
            raise ValueError(f"demo {kind} parameter {key} must be a number, got {value!r}") from None
    if params.get("period", 1.0) <= 0:
        raise ValueError(f"demo {kind} period must be positive")
    return kind, params


class DemoReader(Reader):
    """Sine, ramp or random values chosen by each variable's address."""

    example_address = "sine"

    def __init__(self, min_interval_ms: Annotated[float, "shortest interval (ms) the collector may read it at"] = 0.0):
        self.min_interval_ms = min_interval_ms
        self._signals: dict[str, Callable[[float], float]] = {}

    def check_address(self, variable: Variable) -> None:
        try:
            parse_address(variable.address)
        except ValueError as exc:
            raise ValueError(f"variable {variable.codename!r}: {exc}") from None

    def _signal(self, variable: Variable) -> Callable[[float], float]:
        kind, p = parse_address(variable.address)
        if kind == "sine":
            return lambda t: p["offset"] + p["amplitude"] * math.sin(2 * math.pi * t / p["period"])
        if kind == "ramp":
            return lambda t: p["low"] + (p["high"] - p["low"]) * ((t % p["period"]) / p["period"])
        if kind == "random":
            rng = random.Random(p["seed"] if p["seed"] is not None else variable.codename)
            return lambda t: rng.uniform(p["low"], p["high"])

        def fail(t: float) -> float:
            raise RuntimeError(f"demo variable {variable.codename!r} always fails")
        return fail

    def read(self, variables: Sequence[Variable]) -> list[Sample]:
        now = time.time()
        samples = []
        for variable in variables:
            signal = self._signals.get(variable.address + "\0" + variable.codename)
            if signal is None:
                signal = self._signals[variable.address + "\0" + variable.codename] = self._signal(variable)
            try:
                samples.append(Sample(variable.codename, now, signal(now)))
            except Exception as exc:  # one variable's failure is its own error sample
                samples.append(Sample.failed(variable.codename, exc, now))
        return samples

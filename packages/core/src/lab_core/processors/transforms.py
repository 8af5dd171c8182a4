"""Transforms of single values: ``scale`` (and offset), ``convert`` (units), ``clamp``, ``cast``.

Error samples pass unchanged. A value the transform cannot handle becomes an error
sample that says why (the writer records it), never an exception in the collector.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Literal

from ..contracts import StreamProcessor
from ..model import Sample, Variable
from ..options import Example
from .units import linear_map


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return float(value)


def _numeric_only(variable: Variable, what: str) -> None:
    if variable.value_type in ("str", "bool"):
        raise ValueError(f"{what} needs numbers; the variable's type is {variable.value_type}")


class Linear(StreamProcessor):
    """``value · scale + offset`` (the shared body of ``scale`` and ``convert``)."""

    def __init__(self, scale: float, offset: float):
        self._scale, self._offset = scale, offset

    def bind(self, variable: Variable) -> None:
        _numeric_only(variable, type(self).__name__.lower())

    def process(self, sample: Sample) -> Sequence[Sample]:
        if sample.error is not None:
            return (sample,)
        try:
            return (Sample(sample.codename, sample.time, sample.value * self._scale + self._offset),)
        except TypeError:
            return (Sample.failed(sample.codename, f"{sample.value!r} is not a number", sample.time),)


class Scale(Linear):
    """Multiply by ``factor``, then add ``offset`` (a calibration)."""

    def __init__(self, *, factor: Annotated[float, "multiply each value by this"] = 1.0,
                 offset: Annotated[float, "then add this"] = 0.0):
        super().__init__(_number("factor", factor), _number("offset", offset))


class Convert(Linear):
    """Convert values from one unit to another (degC, K, mbar, Torr, …; see ``units.UNITS``)."""

    def __init__(self, *, from_unit: Annotated[str, "the unit values arrive in, e.g. K", Example("K")],
                 to_unit: Annotated[str, "the unit to convert them to, e.g. degC", Example("degC")]):
        super().__init__(*linear_map(from_unit, to_unit))
        self.from_unit, self.to_unit = from_unit, to_unit


class Clamp(StreamProcessor):
    """Limit values to ``[minimum, maximum]`` (either bound may be left out)."""

    def __init__(self, *, minimum: Annotated[float | None, "values below become this", Example(0.0)] = None,
                 maximum: Annotated[float | None, "values above become this"] = None):
        if minimum is None and maximum is None:
            raise ValueError("give minimum, maximum or both")
        self.minimum = -math.inf if minimum is None else _number("minimum", minimum)
        self.maximum = math.inf if maximum is None else _number("maximum", maximum)
        if self.minimum > self.maximum:
            raise ValueError(f"minimum {minimum!r} is above maximum {maximum!r}")

    def bind(self, variable: Variable) -> None:
        _numeric_only(variable, "clamp")

    def process(self, sample: Sample) -> Sequence[Sample]:
        value = sample.value
        try:
            if sample.error is not None or self.minimum <= value <= self.maximum:
                return (sample,)
        except TypeError:
            return (Sample.failed(sample.codename, f"{value!r} is not a number", sample.time),)
        if value != value:  # NaN stays NaN: clamping it would invent a value
            return (sample,)
        return (Sample(sample.codename, sample.time, self.minimum if value < self.minimum else self.maximum),)


_TRUE, _FALSE = {"true", "on", "yes", "1"}, {"false", "off", "no", "0"}


def _to_bool(value):
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE | _FALSE:
            return word in _TRUE
        raise ValueError(f"{value!r} is not one of {', '.join(sorted(_TRUE | _FALSE))}")
    return bool(value)


def _to_int(value):
    return int(value) if isinstance(value, (bool, int, str)) else round(value)


_CASTS = {"float": float, "int": _to_int, "bool": _to_bool, "str": str}


class Cast(StreamProcessor):
    """Change values' type: float, int (rounded to the nearest), bool (also from on/off, true/false), str."""

    def __init__(self, *, to: Annotated[Literal["float", "int", "bool", "str"], "the type to cast to"]):
        if to not in _CASTS:
            raise ValueError(f"to must be one of {', '.join(_CASTS)}, got {to!r}")
        self.to, self._cast = to, _CASTS[to]

    def process(self, sample: Sample) -> Sequence[Sample]:
        if sample.error is not None or sample.value is None:
            return (sample,)
        try:
            return (Sample(sample.codename, sample.time, self._cast(sample.value)),)
        except (TypeError, ValueError, OverflowError) as exc:
            return (Sample.failed(sample.codename, f"cannot cast {sample.value!r} to {self.to}: {exc}", sample.time),)

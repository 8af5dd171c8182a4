"""The data model: what is read (Variable), when (Context), and what came back (Sample).

All three are frozen, slotted attrs classes validated when they are made, so a
bad codename or interval is refused in the caller's thread with a message that
says what to fix, never later inside a worker.
"""

from __future__ import annotations

import enum
import math
import re
import time
from collections.abc import Iterable
from datetime import datetime

import attrs

#: Characters refused in codenames: the PyExpLabSys wire protocol uses them as
#: separators (``#`` command, ``,`` values, ``;`` points, ``:`` names, ``&`` lists).
BAD_CODENAME_CHARACTERS = "#,;:&"
_BAD_CODENAME = re.compile(r"[\s#,;:&]")

#: Value types a variable may declare, and how a raw reading is coerced to them.
VALUE_TYPES = {"float": float, "int": int, "bool": bool, "str": str}

DEFAULT_DURATION_S = 24 * 3600.0
DEFAULT_MIN_INTERVAL_MS = 100.0
DEFAULT_INTERVAL_MS = 1000.0


def check_codename(codename: object) -> str:
    """Return ``codename`` if it may be used on the wire and in tables; else raise ValueError."""
    if not isinstance(codename, str) or not codename:
        raise ValueError(f"codename must be a non-empty string, got {codename!r}")
    bad = _BAD_CODENAME.search(codename)
    if bad:
        raise ValueError(
            f"codename {codename!r} contains {bad.group()!r}: codenames may not contain "
            f"spaces or any of {' '.join(BAD_CODENAME_CHARACTERS)}"
        )
    return codename


def _codename(instance, attribute, value):
    check_codename(value)


def _positive_or_none(instance, attribute, value):
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{attribute.name} must be a number, got {value!r}")
    if value <= 0:
        raise ValueError(f"{attribute.name} must be positive, got {value!r}")


def _non_empty_name(instance, attribute, value):
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{attribute.name} must be a non-empty name, got {value!r}")


def _value_type(instance, attribute, value):
    if value not in VALUE_TYPES:
        raise ValueError(
            f"value type {value!r} of variable {instance.codename!r} is unknown; "
            f"use one of {', '.join(VALUE_TYPES)}"
        )


#: Longest unit and description accepted (the descriptions tables hold char(255)).
MAX_UNIT_LENGTH = 32
MAX_DESCRIPTION_LENGTH = 255


def _text(limit: int):
    def check(instance, attribute, value):
        if value is None:
            return
        name = attribute.name
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} of variable {instance.codename!r} must be a non-empty string, got {value!r}")
        if len(value) > limit:
            raise ValueError(f"{name} of variable {instance.codename!r} is {len(value)} characters long; "
                             f"at most {limit} fit")
        if not value.isprintable() or value != value.strip():
            raise ValueError(f"{name} of variable {instance.codename!r} must be printable text without "
                             f"leading or trailing spaces, got {value!r}")
    return check


def _names(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        raise TypeError(f"expected a list of names, got the string {value!r}")
    return tuple(value)


def _each_name(instance, attribute, names):
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{attribute.name} must be a list of names, got {names!r}")


@attrs.frozen
class Variable:
    """One value to collect: ``codename`` read by reader instance ``reader`` at ``address``.

    ``interval_ms`` is optional; without it the context's default interval applies.
    ``unit`` (e.g. ``"degC"``, ``"mbar"``) and ``description`` are shown on screens and
    stored where a store has a place for them. ``processors`` names the collector's stream
    processors applied, in order, to this variable's samples for every writer.
    """

    id: int = attrs.field(validator=attrs.validators.instance_of(int))
    codename: str = attrs.field(validator=_codename)
    address: str = attrs.field(validator=attrs.validators.instance_of(str))
    reader: str = attrs.field(validator=_non_empty_name)
    value_type: str = attrs.field(default="float", validator=_value_type)
    interval_ms: float | None = attrs.field(default=None, validator=_positive_or_none)
    unit: str | None = attrs.field(default=None, validator=_text(MAX_UNIT_LENGTH))
    description: str | None = attrs.field(default=None, validator=_text(MAX_DESCRIPTION_LENGTH))
    processors: tuple[str, ...] = attrs.field(default=(), converter=_names, validator=_each_name)


class ContextState(str, enum.Enum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


def _variables(value: Iterable[Variable]) -> tuple[Variable, ...]:
    return tuple(value)


def _check_variables(instance, attribute, variables):
    seen: dict[str, Variable] = {}
    for variable in variables:
        if not isinstance(variable, Variable):
            raise TypeError(f"context {instance.id}: {variable!r} is not a Variable")
        if variable.codename in seen:
            raise ValueError(f"context {instance.id}: codename {variable.codename!r} appears twice")
        seen[variable.codename] = variable


@attrs.frozen
class Context:
    """A data collection plan: variables read at intervals (ms) for a duration (s).

    The collector never mutates a context; it hands back evolved copies that
    carry the state and the start/end dates (see ``Collector.context``).
    """

    id: int = attrs.field(validator=attrs.validators.instance_of(int))
    variables: tuple[Variable, ...] = attrs.field(converter=_variables, validator=_check_variables)
    min_interval_ms: float = attrs.field(default=DEFAULT_MIN_INTERVAL_MS, validator=_positive_or_none)
    default_interval_ms: float = attrs.field(default=DEFAULT_INTERVAL_MS, validator=_positive_or_none)
    duration_s: float = attrs.field(default=DEFAULT_DURATION_S, validator=_positive_or_none)
    #: Names of the collector's writers this context feeds; ``None`` means all of them.
    writers: tuple[str, ...] | None = attrs.field(
        default=None, converter=attrs.converters.optional(tuple)
    )
    state: ContextState = attrs.field(default=ContextState.CREATED, converter=ContextState)
    start_date: datetime | None = None
    end_date: datetime | None = None

    def interval_ms(self, variable: Variable) -> float:
        """The interval the plan asks for ``variable`` (before any reader limit)."""
        return variable.interval_ms or self.default_interval_ms


def _finite_time(instance, attribute, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"sample time must be a finite unix time, got {value!r}")


@attrs.frozen
class Sample:
    """One reading: ``value`` of ``codename`` at unix ``time``; or an ``error`` saying why not."""

    codename: str = attrs.field(validator=_codename)
    time: float = attrs.field(validator=_finite_time)
    value: float | int | bool | str | None = None
    error: str | None = None

    @classmethod
    def failed(cls, codename: str, error: str | BaseException, at: float | None = None) -> Sample:
        """A sample that records why ``codename`` could not be read."""
        message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        return cls(codename, time.time() if at is None else at, None, message)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        return {"codename": self.codename, "time": self.time, "value": self.value, "error": self.error}

    @classmethod
    def from_dict(cls, data: dict) -> Sample:
        return cls(data["codename"], data["time"], data.get("value"), data.get("error"))


@attrs.frozen
class Aggregate(Sample):
    """A value computed over a time window (``window`` processor): ``count`` samples went into it."""

    count: int = 0

    def to_dict(self) -> dict:
        return {**Sample.to_dict(self), "count": self.count}

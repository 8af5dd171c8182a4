"""Payloads and topics: pure functions, no I/O (the tests call them directly).

The writer's payload is one JSON object per sample::

    {"time": 1764633600.25, "value": 21.5, "error": null, "unit": "degC"}

The reader takes a bare value (``21.5``, ``true``, ``"text"`` or plain text) or a JSON
object whose value (and optional time and error) sit at configurable field paths.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import string
from typing import Any

import attrs

from lab_core import Sample

WILDCARDS = ("+", "#")


def encode(sample: Sample, unit: str | None = None) -> bytes:
    value = sample.value
    if isinstance(value, float) and not math.isfinite(value):
        value = str(value)  # JSON has no NaN/inf: "nan", "inf", "-inf"
    return json.dumps({"time": sample.time, "value": value, "error": sample.error, "unit": unit},
                      separators=(",", ":")).encode()


@attrs.frozen
class Reading:
    """What one message says: a value or an error, and the time it carries (None: none)."""

    value: Any = None
    time: float | None = None
    error: str | None = None


@attrs.frozen
class FieldPath:
    """A key or dotted path into a JSON object (``value``, ``data.temp``, ``readings.0``)."""

    text: str

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.text, str) or any(not part for part in self.text.split(".")):
            raise ValueError(f"a field path is keys joined by dots, such as 'value' or 'data.temp', got {self.text!r}")

    def get(self, data: Any) -> Any:
        """The value at this path, or KeyError naming where the path stops."""
        for part in self.text.split("."):
            if isinstance(data, dict) and part in data:
                data = data[part]
            elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
                data = data[int(part)]
            else:
                raise KeyError(part)
        return data


@attrs.frozen
class PayloadFormat:
    """How the reader finds the value, time and error in a JSON object payload."""

    value: FieldPath = FieldPath("value")
    time: FieldPath | None = FieldPath("time")
    error: FieldPath | None = FieldPath("error")

    def decode(self, payload: bytes) -> Reading:
        try:
            text = payload.decode()
        except UnicodeDecodeError:
            return Reading(error="payload is not UTF-8 text")
        try:
            data = json.loads(text)
        except ValueError:
            return Reading(value=text.strip())  # plain text: the core coerces it to the variable's type
        if not isinstance(data, dict):
            return Reading(value=data) if not isinstance(data, list) else \
                Reading(error=f"payload is a JSON list; set value_field to pick the value (e.g. '0'): {_short(text)}")
        error = self._optional(self.error, data)
        if error is not None:
            return Reading(time=self._time(data), error=str(error))
        try:
            value = self.value.get(data)
        except KeyError as exc:
            return Reading(error=f"payload has no field {self.value.text!r} (missing {exc.args[0]!r}); set "
                                 f"value_field to where the value is: {_short(text)}")
        if isinstance(value, (dict, list)):
            return Reading(error=f"field {self.value.text!r} is not a single value: {_short(text)}")
        try:
            return Reading(value=value, time=self._time(data))
        except ValueError as exc:
            return Reading(error=str(exc))

    @staticmethod
    def _optional(path: FieldPath | None, data: dict) -> Any:
        if path is None:
            return None
        try:
            return path.get(data)
        except KeyError:
            return None

    def _time(self, data: dict) -> float | None:
        raw = self._optional(self.time, data)
        if raw is None:
            return None
        if isinstance(raw, (int, float)) and not isinstance(raw, bool) and math.isfinite(raw):
            return float(raw)
        if isinstance(raw, str):
            try:
                when = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
            except ValueError:
                pass
            else:  # a time without zone is UTC, as everywhere in lab
                return (when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)).timestamp()
        raise ValueError(f"field {self.time.text!r} is {raw!r}: expected a unix time in seconds or an ISO 8601 "
                         f"date; set time_field = \"\" to use the arrival time")


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def has_wildcard(topic: str) -> bool:
    return any(level in WILDCARDS for level in topic.split("/"))


def check_topic_filter(topic: str) -> str:
    """A valid subscription topic (wildcards only as whole levels, ``#`` last); else ValueError."""
    if not isinstance(topic, str) or not topic:
        raise ValueError("the address must be an MQTT topic, e.g. 'lab/oven_t'")
    levels = topic.split("/")
    for i, level in enumerate(levels):
        if ("+" in level or "#" in level) and level not in WILDCARDS:
            raise ValueError(f"topic {topic!r}: a wildcard must be a whole level, as in 'site/+/temp' or 'site/#'")
        if level == "#" and i != len(levels) - 1:
            raise ValueError(f"topic {topic!r}: '#' must be the last level")
    return topic


class TopicTemplate:
    """The writer's topic, e.g. ``lab/{codename}``; ``{codename}`` is the only field."""

    def __init__(self, template: str):
        if not isinstance(template, str) or not template:
            raise ValueError("topic must be a topic template such as 'lab/{codename}'")
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
        if set(fields) - {"codename"}:
            unknown = ", ".join(sorted(set(fields) - {"codename"}))
            raise ValueError(f"topic {template!r}: unknown field(s) {unknown}; the only field is {{codename}}")
        if has_wildcard(template.replace("{codename}", "x")) or "+" in template or "#" in template:
            raise ValueError(f"topic {template!r}: + and # are wildcards, not allowed in a topic to publish on")
        self.template = template
        self._constant = not fields

    def render(self, codename: str) -> str:
        """The topic of ``codename``; ValueError when the codename cannot be part of a topic."""
        if "+" in codename or "#" in codename:
            raise ValueError(f"codename {codename!r} contains + or #, which MQTT topic names may not contain")
        return self.template if self._constant else self.template.format(codename=codename)

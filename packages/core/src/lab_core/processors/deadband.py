"""``deadband``: store a value only when it moved out of a band, or when too long has passed.

PyExpLabSys's ValueLogger rule, the way labs keep years of data small:

* the first value always passes, an error sample always passes, and the first
  value after an error passes;
* a value passes when it lies outside the band around the last value passed:
  ``absolute`` (|new − last| > band), ``relative`` (> band · |last|) or
  ``logarithmic`` (|log10 |new| − log10 |last|| > band decades, for pressures);
  values of a ``bool`` or ``str`` variable pass when they change;
* ``max_interval_s`` is a heartbeat: no two stored values are further apart than
  that while values arrive (the value held back just before the limit is stored);
* ``keep_before_jump`` also stores the last value held back before a jump, so a
  step is drawn at the time it happened instead of as a ramp from the last stored
  value;
* when the stream ends (its context stops, the collector closes) the last value
  held back is stored, so the stored curve ends where the signal did.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated

from ..contracts import DROP, StreamProcessor
from ..model import Sample, Variable
from ..options import Example

#: Magnitudes below this compare as this in a logarithmic band (log10 of 0 is undefined).
LOG_FLOOR = 1e-300


def _band(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


class Deadband(StreamProcessor):
    """Store a value only when it left the band around the last stored one, or on the heartbeat."""

    def __init__(self, *,
                 absolute: Annotated[float | None, "band width in the variable's unit: |new - last| > absolute",
                                    Example(0.5)] = None,
                 relative: Annotated[float | None, "band as a fraction of the last stored value (0.01 = 1 %)"] = None,
                 logarithmic: Annotated[float | None, "band in decades: |log10 new - log10 last| > logarithmic"] = None,
                 max_interval_s: Annotated[float | None, "store a value at least this often (heartbeat)"] = None,
                 keep_before_jump: Annotated[bool, "also store the last value before a jump"] = False):
        bands = {"absolute": absolute, "relative": relative, "logarithmic": logarithmic}
        given = [name for name, value in bands.items() if value is not None]
        if len(given) != 1:
            raise ValueError("give exactly one band: absolute, relative or logarithmic"
                             + (f" (got {', '.join(given)})" if given else ""))
        self.kind = given[0]
        self.band = _band(self.kind, bands[self.kind])
        self.max_interval_s = _band("max_interval_s", max_interval_s)
        self.keep_before_jump = bool(keep_before_jump)
        self._moved = {"absolute": self._absolute, "relative": self._relative,
                       "logarithmic": self._logarithmic}[self.kind]
        self._last: Sample | None = None  # the last value passed (None: next one passes)
        self._held: Sample | None = None  # the newest value held back since

    def bind(self, variable: Variable) -> None:
        if variable.value_type in ("bool", "str"):
            self._moved = self._changed

    # -- the bands (``not <=`` so that NaN counts as moved) -----------------------------

    def _absolute(self, last, new) -> bool:
        try:
            return not abs(new - last) <= self.band
        except TypeError:
            return new != last

    def _relative(self, last, new) -> bool:
        try:
            return not abs(new - last) <= self.band * abs(last)
        except TypeError:
            return new != last

    def _logarithmic(self, last, new) -> bool:
        try:
            return not abs(math.log10(max(abs(new), LOG_FLOOR)) - math.log10(max(abs(last), LOG_FLOOR))) <= self.band
        except (TypeError, ValueError):  # ValueError: NaN
            return True

    @staticmethod
    def _changed(last, new) -> bool:
        return new != last

    # -- the stream --------------------------------------------------------------------

    def process(self, sample: Sample) -> Sequence[Sample]:
        last, held = self._last, self._held
        if sample.error is not None:
            self._last = self._held = None
            return (held, sample) if self.keep_before_jump and held is not None else (sample,)
        if last is None:
            self._last = sample
            return (sample,)
        before: tuple[Sample, ...] = ()
        limit = self.max_interval_s
        if limit is not None and sample.time - last.time > limit:
            if held is None or sample.time - held.time > limit:  # no value came for that long
                self._last, self._held = sample, None
                return (held, sample) if held is not None else (sample,)
            before, last, held = (held,), held, None  # the heartbeat: store the last value in time
            self._last = last
        if self._moved(last.value, sample.value):
            self._last, self._held = sample, None
            if self.keep_before_jump and held is not None:
                return (*before, held, sample)
            return (*before, sample) if before else (sample,)
        self._held = sample
        return before or DROP

    def finish(self) -> Sequence[Sample]:
        held, self._held, self._last = self._held, None, None
        return (held,) if held is not None else DROP

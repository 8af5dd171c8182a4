"""DateDataPullSocket's protocol: points are (unix time, value); a point is OLD_DATA when
``now - x > timeout`` (its own time says how old it is)."""

from __future__ import annotations

from numbers import Real
from typing import Any

from .pull import _NOT_SET_YET, PullProtocol

__all__ = ["DateDataPullProtocol"]


class DateDataPullProtocol(PullProtocol):
    kind = "date"

    def _initial_reference(self) -> float:
        x = self.default_x
        return float(x) if isinstance(x, Real) and not isinstance(x, bool) else _NOT_SET_YET

    def _age_reference(self, codename: str, x: Any, timestamp: float | None) -> float:
        if self._timeouts[codename] is None:
            return 0.0  # never old: the reference is not used
        if isinstance(x, bool) or not isinstance(x, Real):
            raise TypeError(
                f"x of a point for {codename!r} must be a unix time (a number) because the "
                f"codename has a timeout, got {x!r}"
            )
        return float(x)

    def set_point_now(self, codename: str, value: Any) -> None:
        self.set_point(codename, (self._clock(), value))

    def set_batch_now(self, values: dict[str, Any]) -> None:
        now = self._clock()
        self.set_batch({codename: (now, value) for codename, value in values.items()})

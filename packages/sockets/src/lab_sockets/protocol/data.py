"""DataPullSocket's protocol: points are any (x, y); a point is OLD_DATA when
``now - (time it was set) > timeout`` (``set_point(..., timestamp=)`` overrides the set time)."""

from __future__ import annotations

from numbers import Real
from typing import Any

from .pull import PullProtocol

__all__ = ["DataPullProtocol"]


class DataPullProtocol(PullProtocol):
    kind = "data"

    def _age_reference(self, codename: str, x: Any, timestamp: float | None) -> float:
        if timestamp is None:
            return self._clock()
        if isinstance(timestamp, bool) or not isinstance(timestamp, Real):
            raise TypeError(f"timestamp for {codename!r} must be a unix time (a number), got {timestamp!r}")
        return float(timestamp)

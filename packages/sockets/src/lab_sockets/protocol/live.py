"""LiveSocket's messages: what is sent, fire-and-forget, to a live server (one UDP datagram each).

``{"host": "<hostname>", "data": {"a": [x, y], "b": [x, y]}}`` for points and
``{"host": "<hostname>", "data": {"a": "RESET"}}`` for a reset; UTF-8 JSON with
NaN/Infinity sent as ``null``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import UnknownLiveCodename
from .common import MAX_UDP_PAYLOAD, encode_json
from .pull import as_point

RESET = "RESET"


class LiveProtocol:
    """Encodes LiveSocket messages for ``host`` (the sending machine's name) and checks codenames."""

    kind = "live"

    def __init__(self, name: str, codenames: Sequence[str], host: str, max_message: int = MAX_UDP_PAYLOAD):
        self.name = name
        self.codenames = list(codenames)
        self.host = host
        self.max_message = max_message
        self._known = set(self.codenames)

    def check(self, codenames: Iterable[str]) -> None:
        for codename in codenames:
            if codename not in self._known:
                raise UnknownLiveCodename(
                    f"codename {codename!r} is not one of the LiveSocket {self.name!r}'s codenames: "
                    f"{', '.join(self.codenames) or '(none)'}"
                )

    def _message(self, data: dict[str, Any]) -> bytes:
        message = encode_json({"host": self.host, "data": data}).encode()
        if len(message) > self.max_message:
            raise ValueError(
                f"a live message of {len(message)} bytes does not fit in one datagram "
                f"(at most {self.max_message}); send fewer or smaller values per call"
            )
        return message

    def points(self, points: Mapping[str, Any]) -> bytes:
        """``{codename: (x, y)}`` → the datagram."""
        self.check(points)
        return self._message({codename: list(as_point(codename, point)) for codename, point in points.items()})

    def reset(self, codenames: Iterable[str]) -> bytes:
        codenames = list(codenames)
        self.check(codenames)
        return self._message({codename: RESET for codename in codenames})

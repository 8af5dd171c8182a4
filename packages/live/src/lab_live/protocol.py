"""The wire formats lab-live consumes, without any I/O (bytes in, parsed values out).

* LiveSocket datagrams (PyExpLabSys ``LiveSocket``, fire-and-forget UDP, UTF-8 JSON)::

      {"host": "rasppi42", "data": {"temp": [1795245744.05, 21.5], "pressure": "RESET"}}

  each value of ``data`` is an ``[x, y]`` point or the string ``"RESET"``.
* Pull-socket replies to ``json_wn`` (DateDataPullSocket / DataPullSocket)::

      {"temp": [1795245643.0, 21.5], "stale": "OLD_DATA"}

Whole-message problems (not UTF-8, not JSON, not an object, ...) raise ``BadMessage``;
a bad entry inside an otherwise good message is skipped and reported in ``errors``,
so one wrong codename never hides the others.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import attrs

from lab_sockets.protocol.common import DEFAULT_PORTS, LIVE_SERVER_PORT, OLD_DATA, UNKNOWN_COMMAND, parse_host_port
from lab_sockets.protocol.live import RESET

__all__ = ["OLD_DATA", "RESET", "UNKNOWN_COMMAND", "parse_address"]
#: The request lab-live sends to pull sockets.
PULL_REQUEST = b"json_wn"
#: Longest codename accepted (PyExpLabSys sets none; a dashboard needs one).
MAX_CODENAME = 200
#: Longest text value kept (longer ones are cut, with an ellipsis).
MAX_TEXT = 1000
#: Default ports: the customary live-server port, DateDataPullSocket's (lab-sockets' constants).
DEFAULT_LIVE_PORT = LIVE_SERVER_PORT
DEFAULT_PULL_PORT = DEFAULT_PORTS["date"]
#: Default HTTP port of the dashboard (the live-server UDP port + 1).
DEFAULT_HTTP_PORT = 9768

Point = tuple[float, Any]


class BadMessage(ValueError):
    """A datagram or reply that cannot be used at all; the message says why."""


@attrs.frozen
class LiveMessage:
    """A parsed LiveSocket datagram."""

    host: str | None
    points: dict[str, Point]
    resets: tuple[str, ...]
    errors: tuple[str, ...] = ()


@attrs.frozen
class PullReply:
    """A parsed ``json_wn`` reply: fresh points and the codenames the socket calls ``OLD_DATA``."""

    points: dict[str, Point]
    old: tuple[str, ...]
    errors: tuple[str, ...] = ()


def check_codename(codename: object) -> str:
    """Codenames as senders use them: non-empty strings, no control characters, at most 200 characters.

    Laxer than ``lab_core.check_codename`` on purpose: PyExpLabSys senders in the
    field use spaces, and a dashboard only displays names (never as HTML).
    """
    if not isinstance(codename, str) or not codename:
        raise ValueError(f"codename must be a non-empty string, got {_short(codename)}")
    if len(codename) > MAX_CODENAME:
        raise ValueError(f"codename {_short(codename)} is longer than {MAX_CODENAME} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in codename):
        raise ValueError(f"codename {_short(codename)} contains a control character")
    return codename


def check_point(value: object) -> Point:
    """An ``[x, y]`` point: x a finite number (a unix time or any x), y any JSON value (see ``_value``)."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"a point must be [x, y], got {_short(value)}")
    x, y = value
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        raise ValueError(f"x of a point must be a finite number, got {_short(x)}")
    return float(x), _value(y)


def _value(y: Any) -> Any:
    """Numbers, booleans and null stay as they are; lists and objects become their JSON text
    (shown in the table, never plotted); strings are cut at ``MAX_TEXT`` characters."""
    if isinstance(y, (list, dict)):
        try:
            y = json.dumps(y, separators=(",", ":"))
        except (ValueError, RecursionError):
            raise ValueError("y of a point is a structure too deep to show") from None
    if isinstance(y, str) and len(y) > MAX_TEXT:
        y = y[:MAX_TEXT] + "\u2026"
    return y


def _decode(data: bytes, what: str) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadMessage(f"{what} is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if text.strip() == UNKNOWN_COMMAND:
        raise BadMessage(f"{what} is {UNKNOWN_COMMAND}: the peer does not understand json_wn (is it a pull socket?)")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise BadMessage(f"{what} is not JSON ({_short(str(exc))}): {_short(text)}") from None


def parse_live_datagram(data: bytes) -> LiveMessage:
    """Parse one LiveSocket datagram. Raises ``BadMessage`` if nothing in it can be used."""
    message = _decode(data, "datagram")
    if not isinstance(message, dict):
        raise BadMessage(f"datagram must be a JSON object with 'host' and 'data', got {_short(message)}")
    if "data" not in message:
        raise BadMessage(f"datagram has no 'data' member: {_short(message)}")
    entries = message["data"]
    if not isinstance(entries, dict):
        raise BadMessage(f"'data' must be an object codename -> [x, y] or \"RESET\", got {_short(entries)}")
    host = message.get("host")
    host = host if isinstance(host, str) and host else None
    points: dict[str, Point] = {}
    resets: list[str] = []
    errors: list[str] = []
    for codename, value in entries.items():
        try:
            check_codename(codename)
            if value == RESET:
                resets.append(codename)
            else:
                points[codename] = check_point(value)
        except ValueError as exc:
            errors.append(str(exc))
    if not points and not resets and errors:
        raise BadMessage("; ".join(errors))
    return LiveMessage(host=host, points=points, resets=tuple(resets), errors=tuple(errors))


def parse_pull_reply(data: bytes) -> PullReply:
    """Parse a pull socket's reply to ``json_wn``. Raises ``BadMessage`` if nothing in it can be used."""
    reply = _decode(data, "reply")
    if not isinstance(reply, dict):
        raise BadMessage(f"a json_wn reply must be a JSON object codename -> [t, v] or \"OLD_DATA\", "
                         f"got {_short(reply)}")
    points: dict[str, Point] = {}
    old: list[str] = []
    errors: list[str] = []
    for codename, value in reply.items():
        try:
            check_codename(codename)
            if value == OLD_DATA:
                old.append(codename)
            else:
                points[codename] = check_point(value)
        except ValueError as exc:
            errors.append(str(exc))
    if not points and not old and errors:
        raise BadMessage("; ".join(errors))
    return PullReply(points=points, old=tuple(old), errors=tuple(errors))


def parse_address(text: str, default_port: int = DEFAULT_PULL_PORT) -> tuple[str, int]:
    """``"host:port"``, ``"host"`` (default port), ``"[::1]:9000"`` -> ``(host, port)``."""
    return parse_host_port(text, default_port)


def jsonable(value: Any) -> Any:
    """``value`` made safe for strict JSON: NaN/Infinity become the strings "NaN"/"Infinity"/"-Infinity"."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """Strict, compact, single-line, ASCII JSON (safe inside a server-sent event, even with lone surrogates)."""
    return json.dumps(jsonable(value), separators=(",", ":"), allow_nan=False)


def _short(value: object, limit: int = 80) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."

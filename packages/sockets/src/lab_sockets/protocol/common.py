"""What every socket kind shares on the wire: constants and the two encodings.

Pure code: no sockets, no threads, no clock.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

#: Characters that may not appear in codenames (separators of the raw encoding).
BAD_CHARS = ("#", ",", ";", ":", "&")
#: The reply to a command a server does not know. Three M's: existing clients compare with it.
UNKNOWN_COMMAND = "UNKNOWN_COMMMAND"
#: Served instead of a point older than its codename's timeout.
OLD_DATA = "OLD_DATA"
PUSH_ERROR = "ERROR"
PUSH_ACK = "ACK"
PUSH_EXCEP = "EXCEP"
PUSH_RET = "RET"

#: PyExpLabSys's default port per socket kind (``live`` is LiveSocket's internal pull socket).
DEFAULT_PORTS = {"date": 9000, "data": 9010, "push": 8500, "live": 8000}
#: The customary port of the live server a LiveSocket sends to.
LIVE_SERVER_PORT = 9767
#: The largest UDP payload over IPv4; requests this long are read whole.
MAX_UDP_PAYLOAD = 65507

UNKNOWN_COMMAND_BYTES = UNKNOWN_COMMAND.encode()

StatusProvider = Callable[[], dict]


def no_status() -> dict:
    """The status of a protocol driven without a server (tests, other transports)."""
    return {"system_status": {}, "socket_server_status": {}}


# -- addresses -----------------------------------------------------------------------------


def parse_host_port(text: str, default_port: int | None = None, default_host: str | None = None) -> tuple[str, int]:
    """``"host:port"``, ``"host"`` (``default_port``, when given), ``":port"`` (``default_host``, when
    given), ``"[::1]:9000"`` -> ``(host, port)``; ``ValueError`` saying what is wrong.

    The one parser of addresses for lab-sockets' client, the LiveSocket's live server and lab-live.
    """
    text = text.strip()
    if not text:
        raise ValueError("empty address: use HOST:PORT, e.g. rasppi42:9000")
    host, port_text = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"address {text!r}: missing ']' after an IPv6 address")
        host, rest = text[1:end], text[end + 1:]
        if rest and not rest.startswith(":"):
            raise ValueError(f"address {text!r}: expected ':PORT' after ']'")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    if not host:
        if default_host is None:
            raise ValueError(f"address {text!r} has no host: use HOST:PORT")
        host = default_host
    if not port_text:
        if default_port is None:
            raise ValueError(f"address {text!r} has no port: use HOST:PORT, e.g. localhost:9000 or [::1]:9000")
        return host, default_port
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"address {text!r}: port {port_text!r} is not a number") from None
    if not 0 < port < 65536:
        raise ValueError(f"address {text!r}: port {port} is outside 1..65535")
    return host, port


# -- JSON ----------------------------------------------------------------------------------


def _default(obj: Any) -> Any:
    """``json`` fallback: numpy scalars and arrays (anything with ``tolist``/``item``)."""
    for method in ("tolist", "item"):
        convert = getattr(obj, method, None)
        if callable(convert):
            try:
                return convert()
            except Exception:  # noqa: S112 - try the next way, then refuse below
                continue
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


_STRICT = json.JSONEncoder(allow_nan=False, default=_default)


def _finite(obj: Any) -> Any:
    """``obj`` with every NaN/Infinity replaced by None (JSON ``null``)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: _finite(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(value) for value in obj]
    if isinstance(obj, (str, int)) or obj is None:
        return obj
    try:
        return _finite(_default(obj))
    except TypeError:
        return obj  # let the encoder report it


def encode_json(obj: Any) -> str:
    """``json.dumps`` with its default separators (as PyExpLabSys), but always valid JSON.

    NaN and ±Infinity become ``null`` (JSON has no spelling for them; Python's
    ``NaN`` extension breaks most other decoders). numpy scalars and arrays are
    converted with ``tolist()``. Non-ASCII text is escaped (``ensure_ascii``) as
    PyExpLabSys did, so ASCII clients see the same bytes.
    """
    try:
        return _STRICT.encode(obj)
    except ValueError:  # NaN or Infinity somewhere
        return _STRICT.encode(_finite(obj))


# -- raw encoding ---------------------------------------------------------------------------


def raw_item(value: Any) -> str:
    """One value in the raw encoding: Python's ``str`` (floats as repr, ``True``, ``nan``…)."""
    return str(value)


def bool_translate(string: str) -> bool:
    """``'True'`` → True, ``'False'`` → False; anything else is a ValueError (as PyExpLabSys)."""
    if string == "True":
        return True
    if string == "False":
        return False
    raise ValueError(
        f"Cannot translate the string '{string}' to a boolean. Only the strings 'True' or 'False' are allowed"
    )


#: Raw type names and their conversions, in PyExpLabSys's order (used in error messages).
TYPE_FROM_STRING: dict[str, Callable[[str], Any]] = {
    "int": int,
    "float": float,
    "str": str,
    "bool": bool_translate,
}


def parse_raw_item(text: str) -> Any:
    """Best-effort decoding of one raw value: int, float, bool, None, else the text itself."""
    if text in ("True", "False"):
        return text == "True"
    if text == "None":
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text

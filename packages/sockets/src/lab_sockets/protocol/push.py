"""DataPushSocket's protocol: request bytes in, either a reply or a received data set out.

Commands (UTF-8)::

    name                      RET#<name>
    commands                  RET#["json_wn#", "raw_wn#", "name", "status", "commands"]
    status                    the status JSON (no prefix)
    json_wn#{"a": 1}          a data set (the driver acts on it, then replies ACK#/RET#/…)
    raw_wn#a:int:1;b:str:x    a data set
    anything else             ERROR#UNKNOWN_COMMMAND

The command is split from its data on the *first* ``#`` only, so a ``#`` inside
the data is kept (PyExpLabSys refused it). Replies for a data set are made with
``ack``, ``error``, ``ret`` and ``excep``; ``ret`` encodes a callback's return
value in the protocol's return format (json, raw or string).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .common import (
    BAD_CHARS,
    PUSH_ACK,
    PUSH_ERROR,
    PUSH_EXCEP,
    PUSH_RET,
    TYPE_FROM_STRING,
    UNKNOWN_COMMAND,
    StatusProvider,
    _default,
    encode_json,
    no_status,
)

COMMANDS = ["json_wn#", "raw_wn#", "name", "status", "commands"]
RETURN_FORMATS = ("json", "raw", "string")
_RAW_TYPES = {int: "int", float: "float", str: "str", bool: "bool"}
#: PyExpLabSys's text for a return value that is neither a dict, a list of lists nor None.
RAW_RETURN_REFUSED = "Return value must be a dict or list with return format 'raw'"


@attrs.frozen
class DataSet:
    """A valid data set received with ``json_wn`` or ``raw_wn``; the driver decides the reply."""

    data: dict[str, Any]
    encoding: str  # "json" or "raw"


class ProtocolError(ValueError):
    """A data part that cannot be decoded; the message is sent back after ``ERROR#``."""


# -- decoding requests ------------------------------------------------------------------


def parse_json_wn(payload: str) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        raise ProtocolError(f"The string '{payload}' could not be decoded as JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError(f"The object '{data}' returned after decoding the JSON string is not a dict")
    return data


def parse_raw_wn(payload: str) -> dict[str, Any]:
    """``name:type:v1,v2;…`` → ``{name: value or [values]}`` (PyExpLabSys's raw_wn)."""
    data: dict[str, Any] = {}
    for part in payload.split(";"):
        pieces = part.split(":")
        if len(pieces) != 3:
            raise ProtocolError(f"The data part '{part}' did not match the expected format of 3 parts divided by ':'")
        name, type_name, values = pieces
        convert = TYPE_FROM_STRING.get(type_name)
        if convert is None:
            # PyExpLabSys formats the dict's keys as they are: on Python 3 that reads dict_keys([...])
            raise ProtocolError(
                f"The data type '{type_name}' is unknown. Only {TYPE_FROM_STRING.keys()} are allowed"
            )
        try:
            converted = [convert(value) for value in values.split(",")]
        except ValueError as exc:
            raise ProtocolError(f"Unable to convert values to '{type_name}'. Error is: {exc}") from None
        data[name] = converted[0] if len(converted) == 1 else converted
    return data


# -- encoding return values -----------------------------------------------------------------


def _plain(value: Any) -> Any:
    if type(value) in _RAW_TYPES or value is None:
        return value
    try:
        return _default(value)  # numpy scalars → Python
    except TypeError:
        return value


def _raw_values(values: list[Any], what: str) -> tuple[str, str]:
    """``(type name, "v1,v2")`` for values that all have the same raw type."""
    if not values:
        raise ValueError(f"{what} is empty; the raw format needs at least one value to name its type")
    values = [_plain(v) for v in values]
    kind = type(values[0])
    if kind not in _RAW_TYPES:
        raise ValueError(f"{what} holds a {kind.__name__}; the raw format only carries int, float, str and bool")
    for value in values:
        if type(value) is not kind:
            raise ValueError(
                f"{what} mixes {kind.__name__} and {type(value).__name__}; raw values of one name must share a type"
            )
        if kind is str and any(char in value for char in BAD_CHARS):
            raise ValueError(f"{what} has the string {value!r}, which contains one of {' '.join(BAD_CHARS)}")
    return _RAW_TYPES[kind], ",".join(str(v) for v in values)


def format_raw(value: Any) -> str:
    """A callback's return value in the raw format: a dict, a list of lists, or None."""
    if value is None:
        return "None"
    if isinstance(value, Mapping):
        parts = []
        for name, item in value.items():
            item = _plain(item)  # a numpy array becomes a list
            if not isinstance(name, str) or not name or any(char in name for char in BAD_CHARS):
                raise ValueError(f"the key {name!r} cannot be a raw name (a non-empty string without # , ; : &)")
            items = list(item) if isinstance(item, (list, tuple)) else [item]
            type_name, joined = _raw_values(items, f"the value of {name!r}")
            parts.append(f"{name}:{type_name}:{joined}")
        return ";".join(parts)
    value = _plain(value)  # a 2-d numpy array becomes a list of lists
    if isinstance(value, (list, tuple)) and value and all(isinstance(row, (list, tuple)) for row in value):
        type_name, _ = _raw_values([item for row in value for item in row], "the list of lists")
        return type_name + ":" + "&".join(",".join(str(_plain(item)) for item in row) for row in value)
    raise ValueError(RAW_RETURN_REFUSED)


# -- the protocol -------------------------------------------------------------------------------


class PushProtocol:
    """Decodes push requests and encodes their replies (state-free but for the name)."""

    kind = "push"

    def __init__(self, name: str, return_format: str = "json", *, status: StatusProvider = no_status):
        if not isinstance(name, str):
            raise TypeError(f"name must be a string, got {name!r}")
        if return_format not in RETURN_FORMATS:
            raise ValueError(f"return_format {return_format!r} is unknown; use one of {', '.join(RETURN_FORMATS)}")
        self.name = name
        self.return_format = return_format
        self._status = status
        self._fixed = {
            b"name": f"{PUSH_RET}#{name}".encode(),
            b"commands": f"{PUSH_RET}#{encode_json(COMMANDS)}".encode(),
        }

    def receive(self, request: bytes) -> bytes | DataSet:
        """The reply to ``request``, or the ``DataSet`` it carries (never raises)."""
        fixed = self._fixed.get(request)
        if fixed is not None:
            return fixed
        if request == b"status":
            return encode_json(self._status()).encode()
        try:
            text = request.decode("utf-8")
        except UnicodeDecodeError as exc:
            return self.error(f"The request is not valid UTF-8 (byte {exc.start}: {exc.reason}); send UTF-8 text")
        command, sep, payload = text.partition("#")
        try:
            if sep and command == "json_wn":
                return DataSet(parse_json_wn(payload), "json")
            if sep and command == "raw_wn":
                return DataSet(parse_raw_wn(payload), "raw")
        except ProtocolError as exc:
            return self.error(str(exc))
        return self.error(UNKNOWN_COMMAND)

    # -- replies ----------------------------------------------------------------------------

    @staticmethod
    def ack(data: Mapping[str, Any]) -> bytes:
        """``ACK#`` and Python's ``str`` of the data (not JSON: PyExpLabSys clients expect this)."""
        return f"{PUSH_ACK}#{dict(data)}".encode()

    @staticmethod
    def error(message: str) -> bytes:
        return f"{PUSH_ERROR}#{message}".encode()

    @staticmethod
    def excep(error: BaseException | str) -> bytes:
        return f"{PUSH_EXCEP}#{error}".encode()

    def ret(self, value: Any) -> bytes:
        """A callback's return value in this protocol's return format, or EXCEP# if it cannot be."""
        if self.return_format == "json":
            try:
                return f"{PUSH_RET}#{encode_json(value)}".encode()
            except (TypeError, ValueError, RecursionError) as exc:
                return self.excep(exc)  # the json error's own message, as PyExpLabSys sends it
        if self.return_format == "raw":
            try:
                return f"{PUSH_RET}#{format_raw(value)}".encode()
            except (TypeError, ValueError, RecursionError) as exc:
                return self.excep(f"Raw conversion failed with message:{exc}")
        try:
            return f"{PUSH_RET}#{value}".encode()
        except Exception as exc:  # a broken __str__
            return self.excep(f"String conversion failed with message:{exc}")


class StateFull(ValueError):
    """A data set would make the push socket keep more names or bytes than its caps allow."""


def _size(name: str, value: Any) -> int:
    """What keeping ``name: value`` costs, roughly as sent on the wire."""
    return len(name) + len(repr(value))


class PushState:
    """``last`` and ``updated`` of a push socket (store_last, always kept).

    ``updated`` keeps the newest value of every name ever received, so it is capped:
    at most ``max_names`` names and ``max_bytes`` (names and values as sent). Names
    already kept are always updated; a data set that would go past a cap with new
    names is refused whole (``StateFull``) and nothing of it is stored.
    """

    def __init__(self, max_names: int | None = 10_000, max_bytes: int | None = 16 * 2**20) -> None:
        self.max_names, self.max_bytes = max_names, max_bytes
        self._lock = threading.Lock()
        self._last: dict[str, Any] | None = None
        self._last_time: float | None = None
        self._updated: dict[str, Any] = {}
        self._sizes: dict[str, int] = {}
        self._bytes = 0
        self._updated_time: float | None = None

    def record(self, data: Mapping[str, Any], now: float, admit: Callable[[], None] | None = None) -> None:
        """Keep ``data``; ``admit`` (e.g. a put on a queue) runs once there is room, and if it
        raises nothing is stored."""
        sizes = {name: _size(name, value) for name, value in data.items()}
        with self._lock:
            self._check_room(sizes)
            if admit is not None:
                admit()
            for name, size in sizes.items():
                self._bytes += size - self._sizes.get(name, 0)
                self._sizes[name] = size
            self._last = dict(data)
            self._last_time = now
            self._updated.update(data)
            self._updated_time = now

    def _check_room(self, sizes: Mapping[str, int]) -> None:
        new = sum(name not in self._sizes for name in sizes)
        if self.max_names is not None and len(self._sizes) + new > self.max_names:
            raise StateFull(f"The socket keeps at most {self.max_names} names and the data set has {new} new "
                            f"one(s); it was not stored. Names already known are still accepted")
        grown = self._bytes + sum(size - self._sizes.get(name, 0) for name, size in sizes.items())
        if self.max_bytes is not None and grown > self.max_bytes:
            raise StateFull(f"The socket keeps at most {self.max_bytes} bytes of names and values and the data set "
                            f"would make it {grown}; it was not stored")

    @property
    def names(self) -> int:
        """How many names ``updated`` keeps."""
        return len(self._sizes)

    @property
    def last(self) -> tuple[float | None, dict[str, Any] | None]:
        with self._lock:
            return self._last_time, (None if self._last is None else dict(self._last))

    @property
    def updated(self) -> tuple[float | None, dict[str, Any]]:
        with self._lock:
            return self._updated_time, dict(self._updated)

    def set_last_to_none(self) -> None:
        with self._lock:
            self._last = self._last_time = None

    def clear_updated(self) -> None:
        with self._lock:
            self._updated, self._sizes, self._bytes = {}, {}, 0
            self._updated_time = None

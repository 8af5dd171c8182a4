"""Clients for pull and push sockets, over any transport, with timeouts and retries.

::

    from lab_sockets import PullClient, PushClient

    with PullClient("rasppi250", 9000) as moon:
        print(moon.name(), moon.json_wn())          # {'moon_laser_power': (1414150015.6, 47.0), ...}
    PushClient("rasppi250", 8500).push({"number": 42})   # PushReply(kind='ACK', ...)

Both encodings are decoded: ``json_wn()``/``raw_wn()`` give the same dict (raw
values are parsed back to int, float, bool or str). A point older than its
timeout is the string ``OLD_DATA``.
"""

from __future__ import annotations

import ast
import json
import logging
import threading
from collections.abc import Mapping
from typing import Any

import attrs

from .errors import NoReply, OldData, RemoteError
from .protocol.common import (
    OLD_DATA,
    PUSH_ACK,
    PUSH_ERROR,
    PUSH_EXCEP,
    PUSH_RET,
    TYPE_FROM_STRING,
    UNKNOWN_COMMAND,
    parse_host_port,
    parse_raw_item,
)
from .protocol.push import RETURN_FORMATS, format_raw, parse_raw_wn
from .transports import transport_class

__all__ = ["DateDataPullClient", "PullClient", "PushClient", "PushReply", "decode_raw", "decode_raw_return",
           "decode_raw_wn", "parse_address"]

log = logging.getLogger("lab_sockets.client")


def parse_address(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``"host:port"``, ``"[::1]:port"`` or ``":port"`` → ``(host, port)``; ValueError saying the form."""
    try:
        return parse_host_port(text, None, default_host)
    except ValueError as exc:
        raise ValueError(f"{exc} (HOST:PORT, e.g. localhost:9000 or [::1]:9000)") from None


# -- decoding -------------------------------------------------------------------------------------


def _raw_point(text: str) -> Any:
    if text == OLD_DATA:
        return OLD_DATA
    x, sep, y = text.partition(",")
    if not sep:
        raise ValueError(f"{text!r} is not a raw point x,y")
    return (parse_raw_item(x), parse_raw_item(y))


def decode_raw(text: str) -> list[Any]:
    """``"x1,y1;OLD_DATA"`` → ``[(x1, y1), "OLD_DATA"]``."""
    return [_raw_point(part) for part in text.split(";")] if text else []


def decode_raw_wn(text: str) -> dict[str, Any]:
    """``"a:x1,y1;b:OLD_DATA"`` → ``{"a": (x1, y1), "b": "OLD_DATA"}``."""
    result = {}
    for part in text.split(";") if text else ():
        codename, sep, point = part.partition(":")
        if not sep:
            raise ValueError(f"{part!r} is not a raw codename:x,y")
        result[codename] = _raw_point(point)
    return result


def _json_point(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def decode_raw_return(text: str) -> Any:
    """A push socket's raw ``RET#`` value: ``None``, ``type:v,v&v,v`` (list of lists) or ``name:type:v;…`` (dict)."""
    if text == "None":
        return None
    pieces = text.split(":")
    if len(pieces) == 2:
        type_name, rows = pieces
        convert = TYPE_FROM_STRING.get(type_name)
        if convert is None:
            raise ValueError(f"unknown raw type {type_name!r} in {text!r}")
        return [[convert(item) for item in row.split(",")] for row in rows.split("&")]
    return parse_raw_wn(text)


@attrs.frozen
class PushReply:
    """A push socket's reply: ``kind`` ACK, RET, ERROR or EXCEP; ``text`` after the ``#``;
    ``value`` decoded (ACK: the data as the server stored it; RET: the callback's return value)."""

    kind: str
    text: str
    value: Any = None

    @property
    def ok(self) -> bool:
        return self.kind in (PUSH_ACK, PUSH_RET)


# -- clients --------------------------------------------------------------------------------------


class _Client:
    def __init__(self, host: str, port: int, transport: Any, timeout: float, retries: int):
        if retries < 0 or timeout <= 0:
            raise ValueError("timeout must be positive and retries at least 0")
        self.address = (host, int(port))
        self.timeout = timeout
        self.retries = retries
        self._cls = transport_class(transport)
        self.transport_name = getattr(self._cls, "name", str(transport))
        self._connection: Any = None
        self._lock = threading.Lock()

    def request_bytes(self, payload: bytes) -> bytes:
        """Send ``payload``, return the reply; retried ``retries`` times on a timeout, then ``NoReply``."""
        with self._lock:
            for attempt in range(self.retries + 1):
                try:
                    if hasattr(self._cls, "connect"):
                        if self._connection is None:
                            self._connection = self._cls.connect(self.address, self.timeout)
                        return self._connection.request(payload)
                    return self._cls.request(self.address, payload, self.timeout)
                except TimeoutError as exc:
                    log.debug("try %d of %d: %s", attempt + 1, self.retries + 1, exc)
            raise NoReply(
                f"no reply from {self.transport_name} {self.address[0]}:{self.address[1]} to "
                f"{payload[:40]!r} after {self.retries + 1} tries of {self.timeout} s; is the server running "
                "and the port right?"
            )

    def request(self, command: str | bytes) -> str:
        payload = command.encode() if isinstance(command, str) else command
        return self.request_bytes(payload).decode("utf-8", errors="replace")

    def status(self) -> dict[str, Any]:
        """The server machine's ``status``: ``{"system_status": …, "socket_server_status": …}``."""
        return json.loads(self.request("status"))

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PullClient(_Client):
    """Ask a DateDataPullSocket / DataPullSocket (or a LiveSocket's internal socket) for its data."""

    def __init__(self, host: str = "127.0.0.1", port: int = 9000, *, transport: Any = "udp",
                 timeout: float = 1.0, retries: int = 2):
        super().__init__(host, port, transport, timeout, retries)

    def _checked(self, command: str) -> str:
        reply = self.request(command)
        if reply == UNKNOWN_COMMAND or reply.startswith(PUSH_ERROR + "#"):
            raise RemoteError(f"{self.address[0]}:{self.address[1]} answered {reply!r} to {command!r}")
        return reply

    def name(self) -> str:
        return self._checked("name")

    def codenames(self) -> list[str]:
        return json.loads(self._checked("codenames_json"))

    def json_wn(self) -> dict[str, Any]:
        """``{codename: (x, y) or "OLD_DATA"}`` in the server's order."""
        return {k: _json_point(v) for k, v in json.loads(self._checked("json_wn")).items()}

    def json(self) -> list[Any]:
        return [_json_point(v) for v in json.loads(self._checked("json"))]

    def raw_wn(self) -> dict[str, Any]:
        return decode_raw_wn(self._checked("raw_wn"))

    def raw(self) -> list[Any]:
        return decode_raw(self._checked("raw"))

    def get(self, codename: str, encoding: str = "json") -> Any:
        """One codename's ``(x, y)`` or ``"OLD_DATA"``."""
        if encoding == "json":
            return _json_point(json.loads(self._checked(f"{codename}#json")))
        if encoding == "raw":
            return _raw_point(self._checked(f"{codename}#raw"))
        raise ValueError(f"encoding must be 'json' or 'raw', got {encoding!r}")


class PushClient(_Client):
    """Push data sets to a DataPushSocket. ``return_format`` must match the server's (to decode RET#).

    UDP may lose a datagram; ``retries`` is 0 by default because a retried push that did
    arrive the first time is received twice.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 8500, *, transport: Any = "udp",
                 timeout: float = 2.0, retries: int = 0, return_format: str = "json"):
        super().__init__(host, port, transport, timeout, retries)
        if return_format not in RETURN_FORMATS:
            raise ValueError(f"return_format must be one of {', '.join(RETURN_FORMATS)}, got {return_format!r}")
        self.return_format = return_format

    def parse(self, reply: str) -> PushReply:
        kind, sep, text = reply.partition("#")
        if not sep or kind not in (PUSH_ACK, PUSH_RET, PUSH_ERROR, PUSH_EXCEP):
            return PushReply("", reply, None)
        value = None
        try:
            if kind == PUSH_ACK:
                value = ast.literal_eval(text)
            elif kind == PUSH_RET:
                if self.return_format == "json":
                    value = json.loads(text)
                elif self.return_format == "raw":
                    value = decode_raw_return(text)
                else:
                    value = text
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
            log.debug("could not decode %s# reply %r: %s", kind, text[:80], exc)
        return PushReply(kind, text, value)

    def push(self, data: Mapping[str, Any], encoding: str = "json") -> PushReply:
        """Send ``data`` (``json_wn#…`` or ``raw_wn#…``); raise ``RemoteError`` on ERROR#/EXCEP#."""
        if not isinstance(data, Mapping):
            raise TypeError(f"a push sends a dict of name -> value, got {type(data).__name__}")
        if encoding == "json":
            from .protocol.common import encode_json

            command = "json_wn#" + encode_json(dict(data))
        elif encoding == "raw":
            command = "raw_wn#" + format_raw(dict(data))
        else:
            raise ValueError(f"encoding must be 'json' or 'raw', got {encoding!r}")
        reply = self.parse(self.request(command))
        if not reply.ok:
            raise RemoteError(f"{self.address[0]}:{self.address[1]} answered {reply.kind or 'with'}: {reply.text}",
                              reply)
        return reply

    def name(self) -> str:
        reply = self.parse(self.request("name"))
        if reply.kind != PUSH_RET:
            raise RemoteError(f"unexpected reply to name: {reply.text!r}", reply)
        return reply.text

    def commands(self) -> list[str]:
        return json.loads(self.parse(self.request("commands")).text)


class DateDataPullClient:
    """PyExpLabSys's ``DateDataPullClient``: read a DateDataPullSocket field by field::

        client = DateDataPullClient("rasppi250", "moon laser", port=9000)
        client.get_field("moon_laser_power")   # [1414150015.69, 47.0]
        client.moon_laser_power                # the same (unknown attributes are codenames)
        client.get_all_fields()                # {"moon_laser_power": [...], ...}

    The constructor checks that the server's ``name`` is ``expected_socket_name`` (a
    ``ValueError`` naming both otherwise) and reads its codenames. A field the server
    serves as ``OLD_DATA`` raises ``OldData`` (a ``ValueError``) when
    ``exception_on_old_data``, else ``"OLD_DATA"`` is returned. ``timeout=None`` waits
    5 s per request (PyExpLabSys waited forever), with one retry.
    """

    def __init__(self, host: str, expected_socket_name: str, port: int = 9000, exception_on_old_data: bool = True,
                 timeout: float | None = None, *, transport: Any = "udp"):
        self.host, self.port = host, port
        self.exception_on_old_data = exception_on_old_data
        self._client = PullClient(host, port, transport=transport, timeout=timeout or 5.0, retries=1)
        self.name = self._client.name()
        if self.name != expected_socket_name:
            raise ValueError(f"the socket at {host}:{port} is named {self.name!r}, not {expected_socket_name!r}")
        self.codenames = self._client.codenames()

    def get_field(self, codename: str) -> Any:
        """The point ``[x, y]`` of ``codename`` (JSON-decoded, as PyExpLabSys)."""
        if codename not in self.codenames:
            raise ValueError(f"{codename!r} is not a codename of {self.name!r}: {', '.join(self.codenames)}")
        return self._checked(codename, json.loads(self._client._checked(f"{codename}#json")))

    def get_all_fields(self) -> dict[str, Any]:
        """``{codename: [x, y]}`` of every codename (one ``json_wn`` request)."""
        return {k: self._checked(k, v) for k, v in json.loads(self._client._checked("json_wn")).items()}

    def get_status(self) -> dict[str, Any]:
        return self._client.status()

    def _checked(self, codename: str, point: Any) -> Any:
        if point == OLD_DATA and self.exception_on_old_data:
            raise OldData(f"{self.name!r} serves OLD_DATA for {codename!r}: its value is older than its timeout")
        return point

    def close(self) -> None:
        self._client.close()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in ("codenames", "name"):
            raise AttributeError(name)
        return self.get_field(name)

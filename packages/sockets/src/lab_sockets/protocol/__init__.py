"""The data-socket protocols as pure code: bytes in, bytes out, no sockets (h11's "sans-io" style).

One module per socket kind: ``date`` (DateDataPullSocket), ``data`` (DataPullSocket),
``push`` (DataPushSocket), ``live`` (LiveSocket's messages); ``pull`` holds what the
two pull kinds share and ``common`` the constants and encodings. Any transport can
drive them: call ``receive(request_bytes)`` and send back what it returns.
"""

from .common import (
    BAD_CHARS,
    DEFAULT_PORTS,
    LIVE_SERVER_PORT,
    MAX_UDP_PAYLOAD,
    OLD_DATA,
    PUSH_ACK,
    PUSH_ERROR,
    PUSH_EXCEP,
    PUSH_RET,
    TYPE_FROM_STRING,
    UNKNOWN_COMMAND,
    bool_translate,
    encode_json,
)
from .data import DataPullProtocol
from .date import DateDataPullProtocol
from .live import LiveProtocol
from .pull import PullProtocol
from .push import DataSet, PushProtocol, PushState, format_raw, parse_json_wn, parse_raw_wn

__all__ = [
    "BAD_CHARS", "DEFAULT_PORTS", "LIVE_SERVER_PORT", "MAX_UDP_PAYLOAD", "OLD_DATA", "PUSH_ACK", "PUSH_ERROR",
    "PUSH_EXCEP", "PUSH_RET", "TYPE_FROM_STRING", "UNKNOWN_COMMAND", "DataPullProtocol", "DataSet",
    "DateDataPullProtocol", "LiveProtocol", "PullProtocol", "PushProtocol", "PushState", "bool_translate",
    "encode_json", "format_raw", "parse_json_wn", "parse_raw_wn",
]

"""PyExpLabSys-compatible data sockets, transports and client.

::

    from lab_sockets import DateDataPullSocket

    with DateDataPullSocket("moon laser", ["moon_laser_power"], timeouts=1.0) as sock:
        sock.set_point_now("moon_laser_power", 47.0)

Names are imported on first use, so ``import lab_sockets`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "1.0.0"

_EXPORTS = {
    "DateDataPullSocket": "pull", "DataPullSocket": "pull", "CommonDataPullSocket": "pull",
    "DataPushSocket": "push", "CallBackThread": "push", "LiveSocket": "live",
    "SocketServer": "server",
    "PullClient": "client", "DateDataPullClient": "client", "PushClient": "client", "PushReply": "client",
    "MethodDispatcher": "callbacks", "allow_methods": "callbacks", "DispatchError": "callbacks",
    "SocketReader": "collect", "SocketWriter": "collect",
    "UdpTransport": "transports.udp", "TcpTransport": "transports.tcp",
    "socket_server_status": "status", "system_status": "status",
    "SocketError": "errors", "PortInUse": "errors", "PortStillReserved": "errors", "UnknownCodename": "errors",
    "NoReply": "errors", "UnknownLiveCodename": "errors", "OldData": "errors", "RemoteError": "errors",
    "BAD_CHARS": "protocol.common", "UNKNOWN_COMMAND": "protocol.common", "OLD_DATA": "protocol.common",
    "PUSH_ERROR": "protocol.common", "PUSH_ACK": "protocol.common", "PUSH_EXCEP": "protocol.common",
    "PUSH_RET": "protocol.common", "TYPE_FROM_STRING": "protocol.common", "bool_translate": "protocol.common",
    "DEFAULT_PORTS": "protocol.common",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lab_sockets' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__

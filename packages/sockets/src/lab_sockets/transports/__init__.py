"""Transports for the data sockets, found through the registry (``lab_transports``).

``udp`` (default, PyExpLabSys's wire) and ``tcp`` (framed) ship here; any other
distribution may add one. ``make_transport`` / ``transport_class`` resolve a name
through ``lab_core.default_registry()``, so a socket class takes ``transport="tcp"``
or a third party's name the same way.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("lab_sockets.transports")

BUILTIN = {
    "udp": "lab_sockets.transports.udp:UdpTransport",
    "tcp": "lab_sockets.transports.tcp:TcpTransport",
}


def transport_class(spec: Any) -> type:
    """The Transport class for a name (through the registry) or a class (as is)."""
    from lab_core import Transport, UnknownPlugin, default_registry
    from lab_core.registry import resolve

    if isinstance(spec, type):
        if not issubclass(spec, Transport):
            raise TypeError(f"transport {spec!r} is not a lab_core.Transport subclass")
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"transport must be a name such as 'udp' or 'tcp', or a Transport class; got {spec!r}")
    try:
        return default_registry().get_class("transport", spec)
    except UnknownPlugin:
        if spec not in BUILTIN:
            raise
        # lab-sockets imported from a source tree without its entry point installed
        log.debug("transport %r not found through the registry; using lab-sockets' own", spec)
        return resolve(BUILTIN[spec])


def make_transport(spec: Any, handler: Any, host: str, port: int, **options: Any) -> Any:
    """A transport instance serving ``handler`` on ``host:port``."""
    return transport_class(spec)(handler, host=host, port=port, **options)

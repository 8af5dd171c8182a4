"""lab-live: a live web dashboard for LiveSocket datagrams and PyExpLabSys pull sockets.

``lab live`` on the command line; ``LiveServer`` from Python::

    from lab_live import LiveServer
    with LiveServer(udp_port=9767, pull=["rasppi42:9000"], http_port=0) as server:
        print(server.url)

Names are imported on first use, so ``import lab_live`` (and ``lab`` listing plugins) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "1.0.0"

_EXPORTS = {"LiveConfig": "server", "LiveServer": "server", "Hub": "hub"}
__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lab_live' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__

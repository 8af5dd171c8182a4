"""systemd's notify protocol, without a dependency: one datagram to ``$NOTIFY_SOCKET``.

Under ``Type=notify`` the service manager waits for ``READY=1`` before it calls
the service started, and with ``WatchdogSec=`` it restarts a service that stops
sending ``WATCHDOG=1`` (``$WATCHDOG_USEC`` says how often it must; we ping at
half of that). Outside systemd ``$NOTIFY_SOCKET`` is unset and every call here
does nothing. See sd_notify(3).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)

__all__ = ["notify", "watchdog_interval_s"]


def notify(*fields: str, env: Mapping[str, str] | None = None) -> bool:
    """Send ``fields`` (e.g. ``"READY=1"``, ``"STATUS=collecting"``) to the service manager.

    Returns True when a datagram was sent, False outside systemd or when the socket
    is gone (logged; the collector carries on either way).
    """
    env = os.environ if env is None else env
    path = env.get("NOTIFY_SOCKET", "")
    if not path:
        return False
    if path.startswith("@"):  # an abstract socket
        path = "\0" + path[1:]
    elif not path.startswith("/"):
        log.warning("NOTIFY_SOCKET=%r is neither a path nor an abstract socket; not notifying systemd", path)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.setblocking(False)  # a manager that does not read must never stall the collector
            sock.connect(path)
            sock.sendall("\n".join(fields).encode())
    except OSError as exc:
        log.warning("could not notify systemd at %s (%s): %s", env["NOTIFY_SOCKET"], ", ".join(fields), exc)
        return False
    return True


def watchdog_interval_s(env: Mapping[str, str] | None = None) -> float | None:
    """How often to send ``WATCHDOG=1`` (half of ``$WATCHDOG_USEC``), or None without a watchdog.

    ``$WATCHDOG_PID``, when set, must be this process: the watchdog is meant for it alone.
    """
    env = os.environ if env is None else env
    try:
        usec = int(env.get("WATCHDOG_USEC", "0"))
        pid = int(env.get("WATCHDOG_PID", str(os.getpid())))
    except ValueError:
        log.warning("WATCHDOG_USEC=%r / WATCHDOG_PID=%r are not integers; no watchdog pings",
                    env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID"))
        return None
    if usec <= 0 or pid != os.getpid():
        return None
    return usec / 2 / 1_000_000

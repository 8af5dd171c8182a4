"""Errors raised by lab-sockets, each with a message that says what to do about it."""

from __future__ import annotations

import errno

from lab_core import LabError


class SocketError(LabError):
    """Base of lab-sockets' errors."""


class PortInUse(SocketError, OSError):
    """The port a server asked for is taken (by another server, in this process or another)."""

    def __init__(self, message: str):
        SocketError.__init__(self, message)
        self.errno = errno.EADDRINUSE
        self.strerror = message

    def __str__(self) -> str:
        return self.strerror


#: PyExpLabSys's name for the same situation.
PortStillReserved = PortInUse


class UnknownCodename(SocketError, KeyError):
    """A codename that the socket was not made with."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class UnknownLiveCodename(UnknownCodename, RuntimeError):
    """A LiveSocket codename it was not made with: a ``RuntimeError`` as in PyExpLabSys, and lab's
    ``UnknownCodename`` (a ``KeyError``) as for the other sockets."""


class OldData(SocketError, ValueError):
    """``DateDataPullClient``: the server serves ``OLD_DATA`` for a field (``exception_on_old_data``)."""


class NoReply(SocketError, TimeoutError):
    """A client got no reply in time (after its retries)."""


class RemoteError(SocketError):
    """A push socket answered ``ERROR#…`` or ``EXCEP#…``; ``reply`` holds the parsed reply."""

    def __init__(self, message: str, reply=None):
        super().__init__(message)
        self.reply = reply

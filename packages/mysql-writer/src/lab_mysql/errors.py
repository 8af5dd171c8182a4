"""Errors of lab-mysql; each message says what was wrong and how to fix it."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence

from lab_core import LabError


def init_command(*flags: str) -> str:
    """The ``lab mysql init`` command line with ``flags``, quoted for a POSIX shell."""
    return shlex.join(["lab", "mysql", "init", *flags])


class MySQLSetupError(LabError, ValueError):
    """The database is reachable but not set up for what was asked (tables, codenames).

    ``fix``: the command that sets it up, when there is one (``lab doctor`` prints it).
    """

    def __init__(self, message: str, fix: str | None = None):
        super().__init__(message)
        self.fix = fix


class SchemaError(MySQLSetupError):
    """A table is missing or does not have the columns lab-mysql writes."""


class UnknownCodenames(MySQLSetupError):
    """Codenames that are not (exactly once) in the descriptions table.

    ``init``: the ``lab mysql init`` flags of the writer's tables and server (``--setup`` or
    ``--table``, connection flags); ``fix`` is the command that registers the codenames
    (``lab doctor`` prints it).
    """

    def __init__(self, codenames: Iterable[str], table: str, init: Sequence[str] = (),
                 ambiguous: Iterable[str] = ()):
        self.codenames = tuple(codenames)
        self.ambiguous = tuple(ambiguous)
        self.fix: str | None = None
        parts = []
        if self.ambiguous:
            names = ", ".join(repr(c) for c in self.ambiguous)
            parts.append(f"codename(s) {names} appear more than once in {table}; "
                         f"delete the extra rows so that each codename has exactly one id")
        if self.codenames:
            names = ", ".join(repr(c) for c in self.codenames)
            self.fix = init_command(*init, *[f for c in self.codenames for f in ("--codename", c)])
            parts.append(f"codename(s) {names} not found in {table}; register them (or ask your database "
                         f"admin) with: {self.fix}")
        super().__init__("; ".join(parts), self.fix)


class MySQLUnavailable(LabError, ConnectionError):
    """The server could not be reached (down, network, too many connections): try again later."""

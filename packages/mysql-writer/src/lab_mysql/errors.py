"""Errors of lab-mysql; each message says what was wrong and how to fix it."""

from __future__ import annotations

from collections.abc import Iterable

from lab_core import LabError


class MySQLSetupError(LabError, ValueError):
    """The database is reachable but not set up for what was asked (tables, codenames)."""


class SchemaError(MySQLSetupError):
    """A table is missing or does not have the columns lab-mysql writes."""


class UnknownCodenames(MySQLSetupError):
    """Codenames that are not (exactly once) in the descriptions table."""

    def __init__(self, codenames: Iterable[str], table: str, setup_hint: str = "", ambiguous: Iterable[str] = ()):
        self.codenames = tuple(codenames)
        self.ambiguous = tuple(ambiguous)
        parts = []
        if self.codenames:
            names = ", ".join(repr(c) for c in self.codenames)
            hint = setup_hint or "SETUP"
            flags = " ".join(f"--codename {c}" for c in self.codenames)
            parts.append(f"codename(s) {names} not found in {table}; register them with "
                         f"`lab mysql init --setup {hint} {flags}` (or ask your database admin)")
        if self.ambiguous:
            names = ", ".join(repr(c) for c in self.ambiguous)
            parts.append(f"codename(s) {names} appear more than once in {table}; "
                         f"delete the extra rows so that each codename has exactly one id")
        super().__init__("; ".join(parts))


class MySQLUnavailable(LabError, ConnectionError):
    """The server could not be reached (down, network, too many connections): try again later."""

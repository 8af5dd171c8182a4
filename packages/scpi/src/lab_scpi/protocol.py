"""SCPI message text, without I/O: joining queries, splitting replies, error-queue answers.

A joined message asks several queries at once (SCPI compound messages, IEEE 488.2
7.4): ``*OPC?;:MEAS:VOLT?;:MEAS:CURR?;:SYST:ERR?``. The instrument answers with one
line, the answers separated by ``;``: ``1;+1.23E+00;+4.56E-03;+0,"No error"``.
``*OPC?`` (always ``1``) comes first so that every joined message gets an answer even
when its first query is refused; the error query comes last so that one round trip
also says whether anything went wrong.
"""

from __future__ import annotations

import re

import attrs

SENTINEL = "*OPC?"
ERROR_REPLY = re.compile(r'\s*([+-]?\d+)\s*,\s*"(.*)"\s*', re.S)


@attrs.frozen
class InstrumentError:
    """One entry of the instrument's error queue (``-113,"Undefined header"``)."""

    code: int
    text: str

    def __str__(self) -> str:
        return f'{self.code},"{self.text}"'


def join(queries: list[str], error_query: str = "") -> str:
    """The one message that asks every query in ``queries`` (and the error query, if any)."""
    if not error_query:
        return ";:".join(_root(q) for q in queries)
    return ";:".join([SENTINEL, *(_root(q) for q in queries), _root(error_query)])


def _root(query: str) -> str:
    """A query that starts at the root of the command tree once joined (``;:`` already adds the colon)."""
    return query[1:] if query.startswith(":") else query


def split(reply: str) -> list[str]:
    """The answers in ``reply``: split at every ``;`` outside a double-quoted string."""
    parts, start, quoted = [], 0, False
    for i, char in enumerate(reply):
        if char == '"':
            quoted = not quoted  # "" inside a string toggles twice: still right
        elif char == ";" and not quoted:
            parts.append(reply[start:i])
            start = i + 1
    parts.append(reply[start:])
    return [p.strip() for p in parts] if reply.strip() else []


def error_entry(answer: str) -> InstrumentError | None:
    """``answer`` read as an error-queue entry (``+0,"No error"``), or None if it is not one."""
    match = ERROR_REPLY.fullmatch(answer)
    return InstrumentError(int(match.group(1)), match.group(2)) if match else None

"""What the job server answers ``ERROR#`` for: a wrong request, an unknown job, a refused input."""

from __future__ import annotations

from lab_core import LabError


class BadRequest(LabError, ValueError):
    """The request is not one the server understands (the message says what to fix)."""


class UnknownJob(LabError, KeyError):
    """No job with this id is known (in memory or in the work directory)."""

    def __str__(self) -> str:
        return str(self.args[0])

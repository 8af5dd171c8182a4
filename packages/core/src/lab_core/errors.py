"""Exceptions a user or a plugin author meets, each with a message that says what to fix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import Sample


class LabError(Exception):
    """Base of every error raised by lab-core."""


class ConfigError(LabError, ValueError):
    """A configuration file or mapping is wrong; the message names the key."""


class PluginError(LabError):
    """A plugin is unknown, broken, disabled, in conflict or incompatible."""


class UnknownPlugin(PluginError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class PluginConflict(PluginError):
    """Two distributions claim the same name for the same kind of plugin."""


class CollectorClosed(LabError, RuntimeError):
    """The collector was closed; make a new one."""


class UnknownContext(LabError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


class RejectedSamples(LabError):
    """Raised by ``Writer.write`` for samples it can *never* accept (e.g. NaN for a column
    that refuses it). Nothing of the batch may have been handed off when it is raised.

    The delivery worker sets ``samples`` aside (reported and counted, kept in the
    spool's rejected store), then retries the rest of the batch at once.
    """

    def __init__(self, samples: Sequence[Sample], reason: str):
        super().__init__(f"{len(samples)} sample(s) rejected: {reason}")
        self.samples = tuple(samples)
        self.reason = reason

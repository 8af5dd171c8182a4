"""The example plugins shipped with lab-dahu (dahu's ``example`` module).

Published as ``example.square``, ``example.cube``, ``example.noop`` and
``example.sleep`` through lab-dahu's ``lab_jobs`` hook.
"""

from __future__ import annotations

import logging

from .base import Plugin, function_plugin_class

log = logging.getLogger(__name__)


def square(x=0):
    """Square of x: {"x": 3} -> {"result": 9}."""
    return x * x


def noop(x=None):
    """Returns its input x unchanged: {"x": 3} -> {"result": 3}."""
    return x


Square = function_plugin_class(square, "example.square", module=__name__, qualname="Square")
Noop = function_plugin_class(noop, "example.noop", module=__name__, qualname="Noop")


class Cube(Plugin):
    """Cube of x: {"x": 3} -> {"result": 27}."""

    def process(self):
        x = self.input.get("x", 0)
        self.output["result"] = x * x * x


class Sleep(Plugin):
    """Sleeps t seconds (default 10); an abort wakes it up: {"t": 1} -> {"slept": 1.0}."""

    def process(self):
        t = float(self.input.get("t", 10))
        if self.sleep(t):
            self.log_warning(f"aborted before the {t} s were over")
            self.output["slept"] = None
        else:
            self.output["slept"] = t

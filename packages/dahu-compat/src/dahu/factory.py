"""dahu's ``dahu.factory``: ``plugin_factory``, ``register``, ``Factory``, ``load_source``.

The same registry and plugin directories as lab-dahu's factory (a plugin
registered through either name is found through both), with dahu's answer to
an unknown name: ``plugin_factory("nosuch")`` logs an error and returns None.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any

from lab_core import UnknownPlugin
from lab_dahu import factory

__all__ = ["Factory", "load_source", "plugin_factory", "register"]

log = logging.getLogger("dahu.factory")

load_source = factory.load_source


class Factory(factory.Factory):
    """Makes plugin instances from their names; None (and an error logged) for an unknown one.

    ``Factory(workdir=None, plugin_path=None)`` as dahu: ``plugin_path`` directories
    are added to those searched (after ``$DAHU_PLUGINS``)."""

    def __init__(self, workdir: str | None = None, plugin_path: Iterable[str | os.PathLike] | None = None):
        super().__init__()
        self.workdir = workdir or "."
        for directory in plugin_path or ():
            self.add_directory(directory)

    def __call__(self, plugin_name: str) -> Any:
        try:
            return self.get_class(plugin_name)()
        except UnknownPlugin as exc:
            log.error("%s", exc)
            return None


plugin_factory = Factory()
register = plugin_factory.register

"""dahu's ``dahu.plugin``: ``Plugin``, ``PluginFromFunction``, ``plugin_from_function``.

As lab-dahu's, except that ``wait_for`` of an unknown job id logs a warning
and returns None, as dahu does (lab-dahu fails the waiting job).
"""

from __future__ import annotations

import logging
from typing import Any

from lab_dahu import base

__all__ = ["Plugin", "PluginFromFunction", "plugin_from_function"]

log = logging.getLogger("dahu.plugin")


class _DahuWaitFor:
    """dahu's ``wait_for`` of an unknown id."""

    def _no_such_job(self, job_id: int) -> Any:
        log.warning("wait_for: unable to retrieve such job: %s", job_id)
        return None


class Plugin(_DahuWaitFor, base.Plugin):
    __doc__ = base.Plugin.__doc__


class PluginFromFunction(_DahuWaitFor, base.PluginFromFunction):
    __doc__ = base.PluginFromFunction.__doc__


plugin_from_function = base.plugin_from_function

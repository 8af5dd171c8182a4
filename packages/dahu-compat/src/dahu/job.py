"""dahu's ``dahu.job``: ``Job``, as lab-dahu's, with dahu's answers for unknown ids.

``Job.getStatusFromId(unknown)`` is ``"Unable to retrieve such job: N"`` (and a
warning), as dahu says it; lab-dahu answers ``inexistant``. The job table is
the same: jobs made through either name are found through both.
"""

from __future__ import annotations

import logging
from typing import Any

from lab_dahu import job

from .factory import plugin_factory

__all__ = ["Job"]

log = logging.getLogger("dahu.job")


class Job(job.Job):
    __doc__ = job.Job.__doc__

    def __init__(self, name: str = "plugin.Plugin", input_data: Any = None, **options: Any):
        options.setdefault("factory", plugin_factory)
        super().__init__(name, {} if input_data is None else input_data, **options)

    @classmethod
    def _unknown(cls, job_id: Any) -> str:
        message = f"Unable to retrieve such job: {job_id}"
        log.warning("%s", message)
        return message

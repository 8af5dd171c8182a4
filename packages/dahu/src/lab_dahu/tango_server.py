"""DahuDS: the Tango device server with dahu's commands and attributes (``pip install 'lab-dahu[tango]'``).

Runs with or without a Tango database::

    lab dahu tango INSTANCE --nodb --port 10000 --device id00/dahu/1
    python -m lab_dahu.tango_server INSTANCE -nodb -port 10000 -dlist id00/dahu/1

and a client: ``tango.DeviceProxy("tango://localhost:10000/id00/dahu/1#dbase=no")``.

Commands: ``startJob([plugin, json]) → id`` (-1 if the JSON is blank),
``abort(id) → bool``, ``getJobState``, ``waitJob`` (blocks at most ``max_wait``
seconds, then answers the current state), ``initPlugin``, ``cleanJob``,
``getJobOutput``, ``getJobInput``, ``getJobError``, ``collectStatistics``,
``getStatistics``, ``listPlugins``. Attributes: ``jobSuccess``/``jobFailure``
(last job id, with change events), ``statisticsCollected`` (with change events),
``serialize`` (read/write: run jobs one at a time). SIGTERM stops it cleanly.

``allow`` (``lab dahu tango --allow NETWORK``) answers only clients in those
networks: any other client's command or attribute access fails with "access
denied", and refusals are logged at most once a minute with a count.
"""

from __future__ import annotations

import json
import logging
import queue
import sys
import threading
from collections.abc import Sequence

import tango
from tango import AttrWriteType, DevState
from tango.server import Device, attribute, command, run

from lab_core.netaccess import AllowList, RefusalLog

from .persistence import jsonable
from .service import JobService, UnknownJob

log = logging.getLogger(__name__)

SERVER_NAME = "DahuDS"


class DahuDS(Device):
    """Data analysis server: runs lab-dahu processing jobs (dahu-compatible)."""

    #: the service every device of this process uses (set by :func:`main`)
    service: JobService | None = None
    #: the client networks answered (set by :func:`main`; everyone by default, as dahu)
    allow: AllowList = AllowList(None)
    refusals = RefusalLog(log, "DahuDS")

    def init_device(self) -> None:
        super().init_device()
        if DahuDS.service is None:
            DahuDS.service = JobService(max_wait=2.5)
        self.service = DahuDS.service
        for name in ("jobSuccess", "jobFailure", "statisticsCollected"):
            self.set_change_event(name, True, False)
        self._events: queue.Queue = queue.Queue()
        self._publisher = threading.Thread(target=self._publish, name="lab-dahu-tango-events", daemon=True)
        self._publisher.start()
        self.service.add_listener(self._on_event)
        self.set_state(DevState.ON)
        self.set_status("ready: lab-dahu job server")

    def always_executed_hook(self) -> None:
        """Tango calls this before every command and attribute read: refuse clients outside ``allow``."""
        if self.allow.open:
            return
        ip = client_ip(self.get_client_ident())
        if ip is None or not self.allow.allows(ip):
            self.refusals.refused(ip or "an unknown client", f"not in allow ({self.allow})")
            tango.Except.throw_exception("DahuDS_AccessDenied", "access denied", "DahuDS")

    def delete_device(self) -> None:
        """Called before a re-``Init`` and at shutdown: stop this device's event thread."""
        self.service.remove_listener(self._on_event)
        self._events.put(None)

    def _on_event(self, attribute_name: str, value: object) -> None:
        self._events.put((attribute_name, value))

    def _publish(self) -> None:
        """Push change events from one Tango-aware thread (jobs end in executor threads)."""
        with tango.EnsureOmniThread():
            while True:
                item = self._events.get()
                if item is None:
                    return
                try:
                    self.push_change_event(*item)
                except Exception:
                    log.exception("could not push %s", item[0])

    # -- attributes ---------------------------------------------------------------

    @attribute(dtype=tango.DevLong, doc="id of the last job that succeeded (-1: none yet)")
    def jobSuccess(self) -> int:  # noqa: N802 - dahu's name
        return self.service.last_success

    @attribute(dtype=tango.DevLong, doc="id of the last job that failed or was aborted (-1: none yet)")
    def jobFailure(self) -> int:  # noqa: N802
        return self.service.last_failure

    @attribute(dtype=str, doc="the statistics text of the last collectStatistics")
    def statisticsCollected(self) -> str:  # noqa: N802
        return self.service.last_stats

    serialize = attribute(dtype=bool, access=AttrWriteType.READ_WRITE,
                          doc="run jobs one at a time, in order")

    def read_serialize(self) -> bool:
        return self.service.serialize

    def write_serialize(self, value: bool) -> None:
        self.service.serialize = bool(value)

    # -- commands -----------------------------------------------------------------

    @command(dtype_in=(str,), doc_in="[plugin name, JSON object]", dtype_out=tango.DevLong, doc_out="job id")
    def startJob(self, argin: Sequence[str]) -> int:  # noqa: N802
        if len(argin) < 2:
            raise ValueError("startJob takes [plugin name, JSON input]")
        return self.service.startJob(argin[0], argin[1])

    @command(dtype_in=tango.DevLong, dtype_out=bool)
    def abort(self, job_id: int) -> bool:
        return self.service.abort(job_id)

    @command(dtype_in=tango.DevLong, dtype_out=str)
    def getJobState(self, job_id: int) -> str:  # noqa: N802
        return self.service.getJobState(job_id)

    @command(dtype_in=tango.DevLong, dtype_out=str, doc_out="job state (after at most max_wait s)")
    def waitJob(self, job_id: int) -> str:  # noqa: N802
        return self.service.waitJob(job_id)

    @command(dtype_in=str, dtype_out=str)
    def initPlugin(self, name: str) -> str:  # noqa: N802
        return self.service.initPlugin(name)

    @command(dtype_in=tango.DevLong, dtype_out=str)
    def cleanJob(self, job_id: int) -> str:  # noqa: N802
        try:
            return self.service.cleanJob(job_id)
        except UnknownJob as exc:
            return str(exc)

    @command(dtype_in=tango.DevLong, dtype_out=str, doc_out="JSON object")
    def getJobOutput(self, job_id: int) -> str:  # noqa: N802
        return self._json(self.service.getJobOutput, job_id)

    @command(dtype_in=tango.DevLong, dtype_out=str, doc_out="JSON object")
    def getJobInput(self, job_id: int) -> str:  # noqa: N802
        return self._json(self.service.getJobInput, job_id)

    @staticmethod
    def _json(getter, job_id: int) -> str:
        try:
            return json.dumps(getter(job_id), default=jsonable, indent=4)
        except UnknownJob as exc:
            return str(exc)

    @command(dtype_in=tango.DevLong, dtype_out=str)
    def getJobError(self, job_id: int) -> str:  # noqa: N802
        try:
            return self.service.getJobError(job_id)
        except UnknownJob as exc:
            return str(exc)

    @command
    def collectStatistics(self) -> None:  # noqa: N802
        self.service.collectStatistics()

    @command(dtype_out=str)
    def getStatistics(self) -> str:  # noqa: N802
        return self.service.getStatistics()

    @command(dtype_out=str)
    def listPlugins(self) -> str:  # noqa: N802
        return JobService.plugins_text(self.service.listPlugins())


def client_ip(ident) -> str | None:
    """The client's IP address from Tango's client identity (``giop:tcp:10.0.0.5:43210`` or an address)."""
    text = getattr(ident, "client_ip", "") if ident is not None else ""
    if text.startswith("giop:"):
        text = text.split(":", 2)[2].rsplit(":", 1)[0].strip("[]")  # giop:tcp:HOST:PORT, HOST may be [v6]
    return text or None


def main(args: Sequence[str] | None = None, service: JobService | None = None, grace: float = 5.0,
         allow: Sequence[str] | None = None) -> int:
    """Run the device server: ``args`` as Tango takes them (``INSTANCE [-nodb -port N -dlist d/f/m]``).

    Returns when Tango stops (SIGTERM, SIGINT): 0 if every job is over, 1 if some
    plugin ignored its abort (its thread still runs; exit with ``os._exit``).
    ``allow``: the client networks answered (None: everyone).
    """
    args = list(sys.argv[1:] if args is None else args)
    DahuDS.allow = AllowList(allow)
    DahuDS.service = service or JobService(max_wait=2.5)
    stopped = False
    try:
        run((DahuDS,), args=[SERVER_NAME, *args])
    finally:
        log.info("DahuDS stopping")
        stopped = DahuDS.service.close(grace)
    return 0 if stopped else 1


if __name__ == "__main__":  # pragma: no cover
    import os

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    code = main()
    if code:
        logging.shutdown()
        os._exit(code)

"""A Python client for the job server (see :mod:`lab_dahu.protocol` for the bytes).

::

    client = DahuClient(("127.0.0.1", 8770))            # udp by default
    job_id = client.start_job("example.square", {"x": 3})
    client.wait_job(job_id, timeout=10)                 # 'success'
    client.get_job_output(job_id)["result"]             # 9
"""

from __future__ import annotations

import time
from typing import Any

from lab_core import LabError, Registry, default_registry

from .protocol import decode_reply, encode_request
from .states import FINAL_STATES, STATE_INEXISTANT


class DahuError(LabError):
    """The server answered ``ERROR#`` (a bad request) or ``EXCEP#`` (a server-side failure)."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


class DahuClient:
    """Calls a lab-dahu job server at ``address`` over ``transport`` (from ``lab_transports``)."""

    def __init__(self, address: tuple[str, int], transport: str = "udp", timeout: float = 5.0,
                 registry: Registry | None = None):
        self.address = (address[0], int(address[1]))
        self.timeout = timeout
        self._transport = (registry or default_registry()).get_class("transport", transport)

    def call(self, command: str, /, *, reply_timeout: float | None = None, **arguments: Any) -> Any:
        """Send one command with its arguments by name; its result, or :class:`DahuError`.

        ``TimeoutError`` if no reply comes within ``reply_timeout`` (default: the client's timeout).
        """
        reply = self._transport.request(self.address, encode_request(command, **arguments),
                                        timeout=self.timeout if reply_timeout is None else reply_timeout)
        kind, value = decode_reply(reply)
        if kind != "RET":
            raise DahuError(kind, value)
        return value

    # -- dahu's commands ------------------------------------------------------------------

    def start_job(self, plugin: str, input: dict[str, Any] | str) -> int:  # noqa: A002
        return self.call("startJob", plugin=plugin, input=input)

    def abort(self, job_id: int) -> bool:
        return self.call("abort", job_id=job_id)

    def get_job_state(self, job_id: int) -> str:
        return self.call("getJobState", job_id=job_id)

    def wait_job(self, job_id: int, timeout: float | None = None) -> str:
        """Wait for the job and return its state (``timeout`` None: until it is over).

        The server answers each ``waitJob`` within its own bound (``max_wait``), so
        this asks again until the job is over or ``timeout`` has passed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            state = self.call("waitJob", job_id=job_id, timeout=left,
                              reply_timeout=self.timeout + (left or 0.0))
            if state in FINAL_STATES or state == STATE_INEXISTANT:
                return state
            if deadline is not None and time.monotonic() >= deadline:
                return state

    def init_plugin(self, plugin: str) -> str:
        return self.call("initPlugin", plugin=plugin)

    def clean_job(self, job_id: int) -> str:
        return self.call("cleanJob", job_id=job_id)

    def get_job_output(self, job_id: int) -> dict[str, Any]:
        return self.call("getJobOutput", job_id=job_id)

    def get_job_input(self, job_id: int) -> dict[str, Any]:
        return self.call("getJobInput", job_id=job_id)

    def get_job_error(self, job_id: int) -> str:
        return self.call("getJobError", job_id=job_id)

    def collect_statistics(self) -> None:
        return self.call("collectStatistics")

    def get_statistics(self) -> str:
        return self.call("getStatistics")

    def list_plugins(self) -> list[dict[str, str]]:
        return self.call("listPlugins")

    def commands(self) -> dict[str, list[str]]:
        return self.call("commands")

    # dahu's names
    startJob = start_job
    getJobState = get_job_state
    waitJob = wait_job
    initPlugin = init_plugin
    cleanJob = clean_job
    getJobOutput = get_job_output
    getJobInput = get_job_input
    getJobError = get_job_error
    collectStatistics = collect_statistics
    getStatistics = get_statistics
    listPlugins = list_plugins

"""Plugins used by the lab-dahu tests (importable by worker processes too)."""

from __future__ import annotations

import time

from lab_dahu import Plugin, register

TORN_DOWN: list[int] = []


class Tracking(Plugin):
    """Records its teardown in its output and in TORN_DOWN."""

    def teardown(self):
        super().teardown()
        self.output["torn_down"] = True
        TORN_DOWN.append(self.input.get("job_id"))


@register(fqn="test.fail_setup")
class FailSetup(Tracking):
    def setup(self, kwargs=None):
        super().setup(kwargs)
        raise ValueError("setup broke")

    def process(self):
        self.output["processed"] = True


@register(fqn="test.fail_process")
class FailProcess(Tracking):
    def process(self):
        self.output["partial"] = 1
        raise ZeroDivisionError("process broke")


@register(fqn="test.fail_teardown")
class FailTeardown(Plugin):
    def process(self):
        self.output["result"] = 1

    def teardown(self):
        super().teardown()
        raise OSError("teardown broke")


@register(fqn="test.fail_init")
class FailInit(Plugin):
    def __init__(self):
        raise RuntimeError("cannot be made")


@register(fqn="test.ok")
class Ok(Tracking):
    """Succeeds: result = x + 1."""

    def process(self):
        self.output["result"] = self.input.get("x", 0) + 1


@register(fqn="test.busy")
class Busy(Tracking):
    """Loops until aborted (checks is_aborted), at most `t` seconds."""

    def process(self):
        self.output["started"] = True
        deadline = time.monotonic() + self.input.get("t", 30)
        while not self.is_aborted and time.monotonic() < deadline:
            time.sleep(0.01)
        self.output["saw_abort"] = self.is_aborted


@register(fqn="test.stubborn")
class Stubborn(Plugin):
    """Sleeps `t` seconds and ignores aborts."""

    def process(self):
        time.sleep(self.input.get("t", 1))


@register(fqn="test.wait_for")
class WaitFor(Plugin):
    """Waits for job `other` and returns its result + 1."""

    def process(self):
        job = self.wait_for(self.input["other"], timeout=self.input.get("timeout", 10))
        self.output["result"] = job.output_data["result"] + 1


@register(fqn="test.ignore")
class Ignoring(Plugin):
    """Reports which input keys it got; `cached` is not reprocessed."""

    REPROCESS_IGNORE = ["cached"]

    def process(self):
        self.output["keys"] = sorted(self.input)
        if self.input.get("fail"):
            raise ValueError("asked to fail")


def spin(n: int = 200_000) -> int:
    """A CPU-bound function: sum of i*i for i < n."""
    return sum(i * i for i in range(n))

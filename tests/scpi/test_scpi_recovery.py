"""Recovery, against `lab scpi simulate` in its own process: killed and restarted, frozen with SIGSTOP."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from scpi_helpers import variables

from lab_core import Collector, Context, Variable, Writer
from lab_scpi.reader import ScpiReader


class ListWriter(Writer):
    """Keeps what it is handed, for the test to look at."""

    def __init__(self):
        self.samples = []
        self.lock = threading.Lock()

    def write(self, batch):
        with self.lock:
            self.samples.extend(batch)

    def of(self, codename, since=0.0, until=float("inf")):
        with self.lock:
            return [s for s in self.samples if s.codename == codename and since <= s.time < until]


def test_killed_and_restarted(sim_process):
    process = sim_process()
    reader = ScpiReader(process.resource, timeout_s=0.5, idn="SIM-DMM")
    reader.open()
    vs = variables("MEAS:VOLT?", "MEAS:CURR?")
    try:
        assert all(s.error is None for s in reader.read(vs))
        process.kill()  # SIGKILL: the connection goes with it
        gone = reader.read(vs) + reader.read(vs)
        assert all(s.error for s in gone)
        assert "cannot open" in gone[-1].error and "Connection refused" in gone[-1].error
        process.start()  # the same port again
        back = reader.read(vs)  # the first scan after it is back reads it
        assert all(s.error is None for s in back), [s.error for s in back]
        assert reader.stats.opens == 2
    finally:
        reader.close()


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


@pytest.mark.slow
def test_frozen_instrument_times_out_without_delaying_the_other(sim_process):
    frozen, healthy = sim_process(), sim_process()
    readers = {"frozen": ScpiReader(frozen.resource, timeout_s=0.4),
               "healthy": ScpiReader(healthy.resource, timeout_s=0.4)}
    writer = ListWriter()
    context = Context(1, [Variable(1, "frozen_volt", "MEAS:VOLT?", reader="frozen"),
                          Variable(2, "healthy_volt", "MEAS:VOLT?", reader="healthy")], default_interval_ms=100)
    with Collector(readers, {"mem": writer}) as collector:
        collector.start(context)
        wait_for(lambda: writer.of("frozen_volt") and writer.of("healthy_volt"))
        os.kill(frozen.proc.pid, signal.SIGSTOP)
        stopped = time.time()
        time.sleep(2.0)
        os.kill(frozen.proc.pid, signal.SIGCONT)
        resumed = time.time()
        wait_for(lambda: any(s.error is None for s in writer.of("frozen_volt", since=resumed)))
        collector.flush(5)
    during = slice(stopped + 0.5, resumed - 0.5)  # a sample is stamped when its scan starts
    frozen_during = writer.of("frozen_volt", during.start, during.stop)
    healthy_during = writer.of("healthy_volt", during.start, during.stop)
    assert frozen_during and all("no answer" in (s.error or "") for s in frozen_during)
    # 100 ms interval over 1 s: ~10 readings; had the frozen reader delayed this one, its 0.4 s timeouts
    # would have left at most 3
    assert sum(s.error is None for s in healthy_during) >= 6, len(healthy_during)

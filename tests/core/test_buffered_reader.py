"""A buffered reader (``Reader.buffered = True``) returns zero or more samples per variable per read."""

from __future__ import annotations

import threading

from lab_core import Collector, Context, Reader, Sample, Variable, Writer


class QueueReader(Reader):
    """Hands out what was pushed to it since the previous read (as lab-mqtt's mode "every")."""

    buffered = True

    def __init__(self):
        self.queue: list[Sample] = []
        self.lock = threading.Lock()

    def read(self, variables):
        with self.lock:
            taken, self.queue = self.queue, []
        return taken


class ListWriter(Writer):
    def __init__(self):
        self.samples: list[Sample] = []

    def write(self, batch):
        self.samples += batch


def test_a_buffered_reader_delivers_every_pushed_sample_coerced_and_none_invented():
    reader, writer = QueueReader(), ListWriter()
    context = Context(1, [Variable(1, "a", "x", "q", "int"), Variable(2, "b", "y", "q")], default_interval_ms=20,
                      min_interval_ms=10)
    with Collector({"q": reader}, {"w": writer}) as collector:
        collector.start(context)
        with reader.lock:
            reader.queue += [Sample("a", 1.0, 1.0), Sample("a", 2.0, 2.0), Sample("a", 3.0, 3.0)]
        collector.flush(5)
        threading.Event().wait(0.2)  # several empty reads: they add nothing
        with reader.lock:
            reader.queue += [Sample("b", 4.0, 4.5), Sample("zz", 5.0, 0.0)]  # zz: not a variable asked
        threading.Event().wait(0.2)
        collector.flush(5)
        stats = collector.stats()["readers"]["q"]
    good, failed = writer.samples[:3], writer.samples[3:]
    assert [(s.codename, s.time, s.value) for s in good] == [("a", 1.0, 1), ("a", 2.0, 2), ("a", 3.0, 3)]
    assert all(type(s.value) is int for s in good)
    # a read that returned a sample of no variable asked fails as any broken read: error samples
    assert sorted(s.codename for s in failed) == ["a", "b"] and all(s.error for s in failed)
    assert stats["failures"] >= 1 and "not a Sample of the variables asked" in stats["last_error"]

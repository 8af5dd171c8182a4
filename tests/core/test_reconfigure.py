"""Collector.reconfigure: what changed restarts, the rest keeps running, no spooled sample is lost."""

import collections
import threading
import time

import pytest

from lab_core import Collector, ConfigError, Context, ContextState, DiskSpool, MemorySpool, Variable, Writer
from lab_core.readers.demo import DemoReader


class StoreWriter(Writer):
    """Writes into a shared list (the "database"); refuses every write while ``down``."""

    def __init__(self, store, down=False):
        self.store, self.down = store, down
        self.lock = threading.Lock()

    def write(self, batch):
        if self.down:
            raise ConnectionError("database is down")
        with self.lock:
            self.store.extend(batch)


def var(i, codename, reader="r"):
    return Variable(i, codename, "ramp", reader)


def context(*variables, id=1, **kwargs):
    return Context(id, list(variables), default_interval_ms=20, min_interval_ms=10, **kwargs)


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def no_duplicates(samples):
    counts = collections.Counter((s.codename, s.time) for s in samples)
    return [key for key, n in counts.items() if n > 1]


def test_adding_a_variable_restarts_its_context_and_keeps_the_rest_running():
    store = []
    reader, writer = DemoReader(), StoreWriter(store)
    collector = Collector({"r": reader}, {"w": writer})
    collector.start(context(var(1, "a")))
    worker, delivery = collector.workers["r"], collector.deliveries["w"]
    assert wait_for(lambda: len(store) >= 3)

    changes = collector.reconfigure({"r": reader}, {"w": writer}, [context(var(1, "a"), var(2, "b"))])
    assert changes.contexts.replaced == (1,) and not changes.readers and not changes.writers
    assert collector.workers["r"] is worker and collector.deliveries["w"] is delivery  # untouched
    assert wait_for(lambda: any(s.codename == "b" for s in store))
    assert collector.context(1).state is ContextState.RUNNING
    collector.close()
    stats = collector.stats()["writers"]["w"]
    assert stats["accepted"] == stats["delivered"] == len(store) and not no_duplicates(store)


def test_a_replaced_writer_with_a_disk_spool_delivers_its_pending_samples_once(tmp_path):
    old_store, new_store = [], []
    spool = DiskSpool(tmp_path / "w.spool")
    reader, dead = DemoReader(), StoreWriter(old_store, down=True)
    collector = Collector({"r": reader}, {"w": dead}, spools={"w": spool})
    collector.start(context(var(1, "a")))
    assert wait_for(lambda: len(spool) >= 10)  # the database is down: samples wait on disk

    changes = collector.reconfigure({"r": reader}, {"w": StoreWriter(new_store)}, [context(var(1, "a"))])
    assert changes.writers.replaced == ("w",) and not changes.contexts
    assert collector.deliveries["w"].spool is spool  # the same file: nothing moved, nothing dropped
    time.sleep(0.2)
    left = collector.close()
    stats = collector.stats()["writers"]["w"]
    assert left == {"w": 0} and old_store == []
    assert stats["accepted"] == stats["delivered"] == len(new_store) and stats["dropped"] == 0
    assert not no_duplicates(new_store)
    ramp = sorted(s.time for s in new_store)
    assert ramp[0] < ramp[-1]


def test_a_writer_given_another_spool_moves_its_pending_samples_into_it(tmp_path):
    store = []
    writer = StoreWriter(store, down=True)
    collector = Collector({"r": DemoReader()}, {"w": writer}, spools={"w": MemorySpool()})
    collector.start(context(var(1, "a")))
    assert wait_for(lambda: len(collector.deliveries["w"].spool) >= 5)
    disk = DiskSpool(tmp_path / "moved.spool")

    writer.down = False  # same writer instance, only the spool changes: still restarted
    changes = collector.reconfigure(collector.readers, {"w": writer}, [context(var(1, "a"))], spools={"w": disk})
    assert changes.writers.replaced == ("w",)
    collector.close()
    moved = collector.stats()["writers"]["w"]
    assert moved["accepted"] == moved["delivered"] == len(store) and not no_duplicates(store)
    assert moved["accepted"] >= 5


def test_a_replaced_reader_carries_on_the_unchanged_contexts_that_read_it():
    store = []
    writer = StoreWriter(store)
    collector = Collector({"r": DemoReader()}, {"w": writer})
    plan = context(var(1, "a"))
    started = collector.start(plan)
    old_worker = collector.workers["r"]
    changes = collector.reconfigure({"r": DemoReader()}, {"w": writer}, [plan])
    assert changes.readers.replaced == ("r",) and not changes.contexts  # rescheduled, not restarted
    assert collector.workers["r"] is not old_worker and not old_worker.alive
    assert collector.context(1).start_date == started.start_date
    reads = collector.workers["r"].stats.reads
    assert wait_for(lambda: collector.workers["r"].stats.reads > reads + 2)
    collector.close()


def test_adding_and_removing_writers_readers_and_contexts():
    first, second = [], []
    reader = DemoReader()
    collector = Collector({"r": reader}, {"one": StoreWriter(first)})
    collector.start(context(var(1, "a")))
    collector.start(context(var(2, "x"), id=2))
    assert wait_for(lambda: len(first) >= 2)

    two = StoreWriter(second)
    changes = collector.reconfigure({"r": reader, "s": DemoReader()}, {"two": two},
                                    [context(var(1, "a")), context(var(3, "y", reader="s"), id=3)])
    assert changes.writers.added == ("two",) and changes.writers.removed == ("one",)
    assert changes.readers.added == ("s",) and changes.contexts.added == (3,) and changes.contexts.removed == (2,)
    assert changes.left == {"one": 0}
    assert collector.context(2).state is ContextState.STOPPED
    assert wait_for(lambda: {"a", "y"} <= {s.codename for s in second})  # context 1 now feeds writer two
    collector.close()


def test_a_bad_reconfiguration_is_refused_and_changes_nothing():
    store = []
    reader, writer = DemoReader(), StoreWriter(store)
    collector = Collector({"r": reader}, {"w": writer})
    collector.start(context(var(1, "a")))
    worker = collector.workers["r"]
    with pytest.raises(ConfigError, match="names reader 'nope'"):
        collector.reconfigure({"r": DemoReader()}, {"w": StoreWriter([])}, [context(var(1, "a"), var(2, "b", "nope"))])
    with pytest.raises(ConfigError, match="given twice"):
        collector.reconfigure({"r": reader}, {"w": writer}, [context(var(1, "a")), context(var(1, "a"))])
    assert collector.workers["r"] is worker and collector.writers["w"] is writer
    count = len(store)
    assert wait_for(lambda: len(store) > count)  # still collecting
    collector.close()

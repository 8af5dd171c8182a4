"""The collector with real threads: life cycle, events, schedules, failures."""

import math
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

import lab_core
from lab_core import (
    Collector,
    CollectorClosed,
    ConfigError,
    Context,
    ContextState,
    DataCollectionListener,
    Reader,
    RejectedSamples,
    Sample,
    UnknownContext,
    Variable,
    Writer,
)
from lab_core.readers.demo import DemoReader
from lab_core.scheduler import Timer


class RecordingReader(DemoReader):
    """The demo reader, remembering when it was asked for what."""

    def __init__(self, min_interval_ms=0.0):
        super().__init__(min_interval_ms)
        self.calls = []

    def read(self, variables):
        self.calls.append((time.monotonic(), [v.codename for v in variables]))
        return super().read(variables)

    def reads_of(self, codename):
        return [t for t, names in self.calls if codename in names]


class MemoryWriter(Writer):
    def __init__(self):
        self.samples = []
        self.event = threading.Event()

    def write(self, batch):
        self.samples.extend(batch)
        self.event.set()


class Listener(DataCollectionListener):
    def __init__(self):
        self.events = []

    def before_start(self, context): self.events.append(("before_start", context.id, context.state))
    def after_start(self, context): self.events.append(("after_start", context.id, context.state))
    def before_stop(self, context): self.events.append(("before_stop", context.id, context.state))
    def after_stop(self, context): self.events.append(("after_stop", context.id, context.state))
    def before_close(self): self.events.append(("before_close",))
    def after_close(self): self.events.append(("after_close",))


def var(codename, interval_ms=None, reader="r", address="sine"):
    return Variable(abs(hash(codename)) % 10_000, codename, address, reader, interval_ms=interval_ms)


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def parts():
    reader, writer, listener = RecordingReader(), MemoryWriter(), Listener()
    collector = Collector({"r": reader}, {"w": writer}, listeners=[listener])
    yield collector, reader, writer, listener
    if not collector._closed:
        collector.close()


def test_full_life_cycle_and_events(parts):
    collector, reader, writer, listener = parts
    context = Context(1, [var("a")], default_interval_ms=50, min_interval_ms=10)
    running = collector.start(context)
    assert running.state is ContextState.RUNNING and running.start_date is not None
    assert collector.start(context) is running  # starting a running context returns it
    assert wait_for(lambda: len(writer.samples) >= 3)

    paused = collector.pause(1)
    assert paused.state is ContextState.PAUSED
    time.sleep(0.1)
    reads = len(reader.calls)
    time.sleep(0.25)
    assert len(reader.calls) == reads  # pause really stops reads

    assert collector.resume(1).state is ContextState.RUNNING
    assert wait_for(lambda: len(reader.calls) > reads)

    stopped = collector.stop(1)
    assert stopped.state is ContextState.STOPPED and stopped.end_date >= stopped.start_date
    assert collector.stop(1) is stopped
    collector.close()
    assert [e[0] for e in listener.events] == [
        "before_start", "after_start", "before_stop", "after_stop", "before_close", "after_close"]
    assert listener.events[1][2] is ContextState.RUNNING and listener.events[3][2] is ContextState.STOPPED
    with pytest.raises(CollectorClosed):
        collector.start(context)
    with pytest.raises(CollectorClosed):
        collector.resume(1)


def test_unknown_ids_and_unknown_readers_are_clear_errors(parts):
    collector = parts[0]
    with pytest.raises(UnknownContext, match="no context with id 9"):
        collector.resume(9)
    with pytest.raises(ConfigError, match="names reader 'nope'.*readers are: r"):
        collector.start(Context(2, [var("x", reader="nope")]))
    with pytest.raises(ConfigError, match="unknown writer"):
        collector.start(Context(3, [var("x")], writers=["nowhere"]))
    with pytest.raises(ValueError, match="'x'"):
        collector.start(Context(4, [var("x", address="bogus")]))
    assert collector.contexts() == []


def test_context_stops_by_itself_at_its_duration(parts):
    collector, _, writer, listener = parts
    collector.start(Context(5, [var("a")], default_interval_ms=20, min_interval_ms=10, duration_s=0.3))
    assert wait_for(lambda: collector.context(5).state is ContextState.STOPPED, timeout=3)
    assert ("after_stop", 5, ContextState.STOPPED) in listener.events
    count = len(writer.samples)
    time.sleep(0.1)
    assert len(writer.samples) == count


def test_a_variable_shared_by_contexts_is_read_once_per_instant_of_the_union(parts):
    collector, reader, writer, _ = parts
    shared = var("shared")
    collector.start(Context(1, [shared, var("a_only")], default_interval_ms=300, min_interval_ms=50))
    collector.start(Context(2, [shared], default_interval_ms=200, min_interval_ms=50))
    time.sleep(1.25)
    collector.close()
    # union of {0,300,600,900,1200} and {0,200,…,1200} = 9 instants (the gcd tick would be 13,
    # one read per context 12); starting the second context may add one instant at its start.
    assert 9 <= len(reader.reads_of("shared")) <= 10
    assert 5 <= len(reader.reads_of("a_only")) <= 6
    times = reader.reads_of("shared")
    steady = times[2:]  # after the two start instants
    assert all(b - a > 0.05 for a, b in zip(steady, steady[1:]))  # never two reads for one instant
    assert len([s for s in writer.samples if s.codename == "shared"]) == len(times)  # fanned out once


def test_same_interval_contexts_share_their_reads(parts):
    collector, reader, _, _ = parts
    shared = var("s")
    collector.start(Context(1, [shared], default_interval_ms=100, min_interval_ms=10))
    time.sleep(0.05)
    collector.start(Context(2, [shared, var("t")], default_interval_ms=100, min_interval_ms=10))
    time.sleep(0.52)
    collector.close()
    assert 5 <= len(reader.reads_of("s")) <= 7  # one grid, not two


def test_a_plan_change_is_read_from_the_next_instant_on(parts):
    """The worker keeps each merged plan between reads; adding or removing a context replaces it."""
    collector, reader, _, _ = parts
    collector.start(Context(1, [var("a")], default_interval_ms=20, min_interval_ms=10))
    assert wait_for(lambda: len(reader.calls) >= 3)
    collector.start(Context(2, [var("b")], default_interval_ms=20, min_interval_ms=10))
    assert wait_for(lambda: reader.calls[-1][1] == ["a", "b"])
    collector.stop(1)
    stopped = len(reader.calls)
    assert wait_for(lambda: len(reader.calls) >= stopped + 3)
    assert all(names == ["b"] for _, names in reader.calls[stopped + 1:])


def test_a_reader_may_keep_the_list_it_is_given(parts):
    collector, _, writer, _ = parts

    class Hoarding(RecordingReader):
        def read(self, variables):
            samples = super().read(variables)
            variables.clear()  # a reader changing its argument must not change the plan
            return samples

    collector.close()
    reader = Hoarding()
    with Collector({"r": reader}, {"w": writer}) as collector:
        collector.start(Context(1, [var("a"), var("b")], default_interval_ms=20, min_interval_ms=10))
        assert wait_for(lambda: len(reader.calls) >= 3)
    assert all(names == ["a", "b"] for _, names in reader.calls)
    assert writer.samples and all(s.error is None for s in writer.samples)


@given(lateness=st.lists(st.floats(min_value=0.0, max_value=0.2), min_size=1, max_size=200))
def test_due_instants_stay_on_the_grid_however_late_the_reads(lateness):
    """Drift-free: a late read moves the next instant to the grid's next point, never to now + interval."""
    timer = Timer(interval=0.02, origin=100.0)
    skipped = reads = 0
    for late in lateness:
        now = timer.due + late
        skipped += timer.advance(now)
        reads += 1
        assert timer.due > now
        assert math.isclose((timer.due - 100.0) / 0.02, timer.k, abs_tol=1e-6)
    assert timer.k == reads + skipped  # every instant was either read or counted as skipped


def test_a_running_collector_reads_on_its_grid(parts):
    collector, reader, _, _ = parts
    started = time.monotonic()
    collector.start(Context(1, [var("a")], default_interval_ms=20, min_interval_ms=10))
    time.sleep(1.0)
    stats = collector.workers["r"].stats
    instants, elapsed = stats.reads + stats.skipped, time.monotonic() - started
    collector.close()
    assert len(reader.reads_of("a")) >= 10
    # one instant per 20 ms of wall time, whatever the load: late instants are skipped, not shifted
    assert abs(instants - elapsed / 0.020) <= 3


def test_reader_minimum_interval_is_honoured_with_the_clamp_policy(caplog):
    reader, writer = RecordingReader(min_interval_ms=100), MemoryWriter()
    with Collector({"r": reader}, {"w": writer}) as collector:
        collector.start(Context(1, [var("fast", interval_ms=10)], min_interval_ms=1))
        time.sleep(0.55)
    times = reader.reads_of("fast")
    assert 5 <= len(times) <= 7
    assert all(b - a >= 0.099 for a, b in zip(times, times[1:]))
    assert "read every 100 ms instead" in caplog.text


def test_interval_policies_error_and_ignore():
    reader = RecordingReader(min_interval_ms=100)
    with Collector({"r": reader}, {"w": MemoryWriter()}, interval_policy="error") as collector, \
            pytest.raises(ConfigError, match="below the minimum interval of 100 ms"):
        collector.start(Context(1, [var("fast", interval_ms=10)]))
    with Collector({"r": reader}, {"w": MemoryWriter()}, interval_policy="ignore") as collector:
        collector.start(Context(1, [var("fast", interval_ms=10), var("ok", interval_ms=100)]))
        time.sleep(0.25)
    assert reader.reads_of("ok") and not reader.reads_of("fast")


def test_contexts_feed_only_their_writers():
    a, b = MemoryWriter(), MemoryWriter()
    with Collector({"r": RecordingReader()}, {"a": a, "b": b}) as collector:
        collector.start(Context(1, [var("to_a"), var("both")], default_interval_ms=50, writers=["a"]))
        collector.start(Context(2, [var("both")], default_interval_ms=50, writers=["b"]))
        time.sleep(0.3)
    assert {s.codename for s in a.samples} == {"to_a", "both"}
    assert {s.codename for s in b.samples} == {"both"}


class FlakyReader(Reader):
    def __init__(self):
        self.calls = 0
        self.opens = 0

    def open(self):
        self.opens += 1

    def read(self, variables):
        self.calls += 1
        if self.calls % 2:
            raise ConnectionError("device gone")
        return [Sample(v.codename, time.time(), 1.0) for v in variables]


def test_a_raising_reader_gives_error_samples_and_is_reopened_never_stopping_the_collector():
    reader, writer = FlakyReader(), MemoryWriter()
    with Collector({"r": reader}, {"w": writer}) as collector:
        collector.start(Context(1, [var("x")], default_interval_ms=30, min_interval_ms=10))
        assert wait_for(lambda: len(writer.samples) >= 6)
    errors = [s for s in writer.samples if s.error]
    assert errors and errors[0].error == "ConnectionError: device gone"
    assert any(s.ok for s in writer.samples)
    assert reader.opens >= 2
    assert collector.stats()["readers"]["r"]["failures"] >= 2


class WrongReader(Reader):
    def read(self, variables):
        return [Sample("other", time.time(), 1.0)]


def test_a_reader_breaking_the_contract_gives_error_samples():
    writer = MemoryWriter()
    with Collector({"r": WrongReader()}, {"w": writer}) as collector:
        collector.start(Context(1, [var("x"), var("y")], default_interval_ms=50))
        assert wait_for(lambda: writer.samples)
    assert "one Sample per variable" in writer.samples[0].error


class TypedReader(Reader):
    def read(self, variables):
        return [Sample(v.codename, time.time(), "12") for v in variables]


def test_values_are_coerced_to_the_variable_type():
    writer = MemoryWriter()
    variables = [Variable(1, "f", "x", "r", value_type="float"), Variable(2, "i", "x", "r", value_type="int"),
                 Variable(3, "b", "x", "r", value_type="bool"), Variable(4, "s", "x", "r", value_type="str")]
    with Collector({"r": TypedReader()}, {"w": writer}) as collector:
        collector.start(Context(1, variables, default_interval_ms=50))
        assert wait_for(lambda: len(writer.samples) >= 4)
    by_name = {s.codename: s for s in writer.samples[:4]}
    assert by_name["f"].value == 12.0 and by_name["i"].value == 12 and by_name["s"].value == "12"
    assert "cannot make '12' a bool" in by_name["b"].error


class DownWriter(Writer):
    """Fails until ``up`` is set, then stores."""

    def __init__(self):
        self.up = threading.Event()
        self.samples = []
        self.attempts = 0

    def write(self, batch):
        self.attempts += 1
        if not self.up.is_set():
            raise ConnectionError("database down")
        self.samples.extend(batch)


def test_a_dead_writer_delays_only_itself_and_loses_nothing_once_back():
    down, healthy = DownWriter(), MemoryWriter()
    reader = RecordingReader()
    with Collector({"r": reader}, {"down": down, "ok": healthy}) as collector:
        collector.start(Context(1, [var("x")], default_interval_ms=20, min_interval_ms=10))
        time.sleep(0.5)
        assert len(healthy.samples) >= 15 and not down.samples
        assert down.attempts < 15  # backoff, not a busy loop
        down.up.set()
        collector.stop(1)
        assert collector.flush(10)
    assert [s.time for s in down.samples] == [s.time for s in healthy.samples]


class PickyWriter(Writer):
    def __init__(self):
        self.samples = []

    def write(self, batch):
        bad = [s for s in batch if isinstance(s.value, float) and math.isnan(s.value)]
        if bad:
            raise RejectedSamples(bad, "NaN is not allowed")
        self.samples.extend(batch)


class NanReader(Reader):
    def __init__(self):
        self.n = 0

    def read(self, variables):
        self.n += 1
        return [Sample(v.codename, time.time(), math.nan if self.n == 2 else float(self.n)) for v in variables]


def test_a_value_the_writer_never_accepts_is_set_aside_and_does_not_block_the_rest():
    writer = PickyWriter()
    with Collector({"r": NanReader()}, {"w": writer}) as collector:
        collector.start(Context(1, [var("x")], default_interval_ms=30, min_interval_ms=10))
        assert wait_for(lambda: len(writer.samples) >= 5)
        stats = collector.stats()["writers"]["w"]
        rejected = collector.deliveries["w"].spool.rejected()
    assert stats["set_aside"] == 1
    assert rejected[0][1] == "NaN is not allowed" and math.isnan(rejected[0][0].value)
    assert [s.value for s in writer.samples[:3]] == [1.0, 3.0, 4.0]


def test_a_raising_listener_or_hook_does_not_stop_the_collector(caplog):
    class Bad:
        def after_start(self, context):
            raise RuntimeError("listener bug")

    writer = MemoryWriter()
    registry = lab_core.Registry()

    class Plugin:
        @lab_core.hookimpl
        def lab_before_start(self, collector, context):
            raise RuntimeError("hook bug")

    registry.register(Plugin(), "buggy")
    with Collector({"r": RecordingReader()}, {"w": writer}, listeners=[Bad()], registry=registry) as collector:
        collector.start(Context(1, [var("x")], default_interval_ms=30))
        assert wait_for(lambda: writer.samples)
    assert "listener bug" in caplog.text and "hook bug" in caplog.text


def test_events_fire_through_installed_hooks():
    seen = []
    registry = lab_core.Registry()

    class Plugin:
        @lab_core.hookimpl
        def lab_after_start(self, collector, context):
            seen.append(("after_start", context.id))

        @lab_core.hookimpl
        def lab_after_close(self, collector):
            seen.append(("after_close",))

    registry.register(Plugin(), "watcher")
    with Collector({"r": RecordingReader()}, {"w": MemoryWriter()}, registry=registry) as collector:
        collector.start(Context(3, [var("x")]))
    assert seen == [("after_start", 3), ("after_close",)]


def test_close_reports_what_a_memory_spool_could_not_deliver():
    down = DownWriter()
    collector = Collector({"r": RecordingReader()}, {"down": down}, flush_timeout_s=0.3)
    collector.start(Context(1, [var("x")], default_interval_ms=20, min_interval_ms=10))
    time.sleep(0.2)
    started = time.monotonic()
    left = collector.close()
    assert left["down"] > 0
    assert time.monotonic() - started < 6  # never hangs on a dead writer


class LateWriter(Writer):
    """Cannot open until ``up`` is set (a database that comes back while the collector stops)."""

    def __init__(self):
        self.up = threading.Event()
        self.samples = []

    def open(self):
        if not self.up.is_set():
            raise ConnectionError("database down")

    def write(self, batch):
        self.samples.extend(batch)


def test_closing_keeps_trying_to_open_a_writer_that_comes_back_within_the_timeout():
    writer = LateWriter()
    collector = Collector({"r": RecordingReader()}, {"w": writer}, flush_timeout_s=10)
    collector.start(Context(1, [var("x")], default_interval_ms=20, min_interval_ms=10))
    time.sleep(0.3)
    threading.Timer(0.5, writer.up.set).start()
    left = collector.close()
    assert left == {"w": 0} and len(writer.samples) >= 10

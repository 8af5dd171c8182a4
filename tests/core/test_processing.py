"""The processing stage in a real collector (threads, spools, writers) and its configuration."""

import logging
import threading

import pytest

from lab_core import Collector, ConfigError, Context, Reader, Registry, Sample, Variable, Writer, config
from lab_core.processors.deadband import Deadband
from lab_core.processors.transforms import Scale
from lab_core.processors.window import Window
from lab_core.testing import make_distribution


class ScriptedReader(Reader):
    """Gives the next value of a fixed script per read (then repeats the last one)."""

    def __init__(self, script):
        self.script = list(script)
        self.reads = 0
        self.done = threading.Event()

    def read(self, variables):
        value = self.script[min(self.reads, len(self.script) - 1)]
        self.reads += 1
        if self.reads >= len(self.script):
            self.done.set()
        at = 1_000_000.0 + self.reads  # one "second" per read: windows and heartbeats in sample time
        return [Sample.failed(v.codename, value, at) if isinstance(value, str) else Sample(v.codename, at, value)
                for v in variables]


class MemoryWriter(Writer):
    def __init__(self):
        self.samples = []

    def write(self, batch):
        self.samples.extend(batch)


SCRIPT = [1.0, 1.1, 1.2, 5.0, 5.1, "device gone", 5.2, 5.3, 9.0, 9.1]


def collect(script, variable, writers, **processing):
    reader = ScriptedReader(script)
    collector = Collector({"r": reader}, writers, **processing)
    collector.start(Context(1, [variable], default_interval_ms=5, min_interval_ms=1))
    assert reader.done.wait(10)
    collector.stop(1)
    collector.close()
    return reader


def test_each_writer_gets_its_own_chain_with_its_own_state():
    live, db, minute = MemoryWriter(), MemoryWriter(), MemoryWriter()
    collect(SCRIPT, Variable(1, "x", "a", "r"), {"live": live, "db": db, "minute": minute},
            processors={"changes": lambda: Deadband(absolute=0.5), "win": lambda: Window(seconds=4)},
            writer_processors={"db": ["changes"], "minute": ["win"]})
    raw = [s.value if s.ok else s.error for s in live.samples]
    assert raw[:len(SCRIPT)] == SCRIPT  # the live writer gets every value
    stored = [s.value if s.ok else s.error for s in db.samples]
    assert stored[:6] == [1.0, 5.0, "device gone", 5.2, 9.0, 9.1][:6]  # 9.1: held back, stored at the end
    assert all(s.time % 4 == 0 and s.count >= 1 for s in minute.samples if s.ok)
    assert sum(s.count for s in minute.samples if s.ok) == len(live.samples) - 1  # every value, once


def test_a_variables_chain_runs_in_order_before_every_writers_chain():
    one, two = MemoryWriter(), MemoryWriter()
    variable = Variable(1, "x", "a", "r", processors=("double", "changes"))
    collect([1.0, 1.2, 1.4, 3.0, 3.1], variable, {"one": one, "two": two},
            processors={"double": lambda: Scale(factor=2), "changes": lambda: Deadband(absolute=0.5),
                        "plus": lambda: Scale(offset=100)},
            writer_processors={"two": ["plus"]})
    # doubled first (2.0, 2.4, 2.8, 6.0, 6.2), then the band: 2.8 left it after doubling
    assert [s.value for s in one.samples][:3] == [2.0, 2.8, 6.0]
    assert [s.value for s in two.samples][:3] == [102.0, 102.8, 106.0]


def test_collector_refuses_unknown_processor_names_at_start():
    with pytest.raises(ConfigError, match="writer 'db' lists processor 'nope'"):
        Collector({}, {"db": MemoryWriter()}, writer_processors={"db": ["nope"]})
    collector = Collector({"r": ScriptedReader([1.0])}, {"db": MemoryWriter()})
    with collector, pytest.raises(ConfigError, match="variable 'x' of context 1 lists processor 'nope'"):
        collector.start(Context(1, [Variable(1, "x", "a", "r", processors=("nope",))]))


def test_a_processor_that_cannot_process_a_variable_is_a_start_up_error():
    collector = Collector({"r": ScriptedReader([1.0])}, {"db": MemoryWriter()},
                          processors={"mean": lambda: Window(seconds=60)}, writer_processors={"db": ["mean"]})
    with collector, pytest.raises(ConfigError, match="processor 'mean' .* cannot process variable 'label'"):
        collector.start(Context(1, [Variable(1, "label", "a", "r", value_type="str")]))


# -- configuration ------------------------------------------------------------------------


def configuration(tmp_path, **changes):
    data = {
        "readers": {"demo": {}},
        "processors": {"slow": {"plugin": "deadband", "absolute": 0.5, "max_interval_s": 600}},
        "writers": {"db": {"plugin": "sqlite", "path": str(tmp_path / "lab.sqlite"), "processors": ["slow"]},
                    "live": {"plugin": "null"}},
        "contexts": [{"id": 1, "variables": [
            {"id": 1, "codename": "t", "reader": "demo", "address": "sine", "unit": "degC",
             "description": "a sine", "processors": ["slow"]}]}],
    }
    for key, value in changes.items():
        data[key] = value
    return data


def test_configuration_shape_of_the_issue(tmp_path):
    plan = config.plan(configuration(tmp_path))
    assert plan.writer_processors == {"db": ("slow",)}
    variable = plan.contexts[0].variables[0]
    assert (variable.unit, variable.description, variable.processors) == ("degC", "a sine", ("slow",))
    made = plan.processors["slow"]()
    assert isinstance(made, Deadband) and made.band == 0.5 and made.max_interval_s == 600
    assert made is not plan.processors["slow"]()  # a fresh instance per stream


@pytest.mark.parametrize("change, message", [
    ({"writers": {"db": {"plugin": "null", "processors": ["fast"]}}},
     r"writers.db.processors: no processor named 'fast'; define it in a \[processors.fast\] table"),
    ({"processors": {"slow": {"plugin": "deadband"}}}, "processors.slow: .*exactly one band"),
    ({"processors": {"slow": {"plugin": "deadbnd", "absolute": 1}}},
     r"processors\.slow\.plugin: no processor named 'deadbnd'; did you mean 'deadband'\?"),
    ({"processors": {"slow": {"plugin": "deadband", "absolut": 1}}},
     r"processors\.slow\.absolut: unknown key 'absolut'; did you mean 'absolute'\?"),
    ({"processors": {"slow": {"plugin": "deadband", "absolute": "half"}}}, r"processors\.slow\.absolute: "),
    ({"processors": {"minute": {"plugin": "window", "seconds": 60, "agregates": ["max"]}}},
     r"processors\.minute\.agregates: unknown key 'agregates'; did you mean 'aggregates'\?"),
    ({"contexts": [{"id": 1, "variables": [{"id": 1, "codename": "t", "reader": "demo", "address": "sine",
                                            "processors": ["slw"]}]}]},
     r"contexts\[0\]\.variables\[0\]\.processors: no processor named 'slw'; .*did you mean 'slow'\?"),
])
def test_configuration_errors_name_the_key(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        config.plan(configuration(tmp_path, **change))


def test_variable_units_are_validated_with_the_key(tmp_path):
    bad = configuration(tmp_path)
    bad["contexts"][0]["variables"][0]["unit"] = " degC"
    with pytest.raises(ConfigError, match=r"contexts\[0\].variables\[0\].unit: .*without leading or trailing"):
        config.plan(bad)


# -- the two kinds' names, and the deprecated one --------------------------------------------

OLD_STYLE = '''
from lab_core import hookimpl, JobPlugin

class Half(JobPlugin):
    def process(self):
        self.output["half"] = self.input["x"] / 2

@hookimpl
def lab_processors():
    return {"old.half": "oldstyle_plugin:Half"}
'''


def test_the_old_lab_processors_hook_still_gives_jobs_with_a_logged_deprecation(tmp_path, monkeypatch, caplog):
    make_distribution(tmp_path, "oldstyle", source=OLD_STYLE)
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry()
    with caplog.at_level(logging.WARNING, logger="lab_core.registry"):
        assert "old.half" in registry.components("job")
    assert "the hook lab_processors is deprecated" in caplog.text and "rename it lab_jobs" in caplog.text
    assert "old.half" not in registry.components("processor")
    assert "deadband" in registry.components("processor")
    with caplog.at_level(logging.WARNING, logger="lab_core.registry"):
        job = registry.get_class("processor", "old.half")  # kind "processor" meant jobs before
    assert job.__name__ == "Half" and "ask for kind 'job'" in caplog.text


# -- units and descriptions on the way out ----------------------------------------------------


def test_sqlite_stores_descriptions_and_console_shows_units(tmp_path):
    import io
    import sqlite3

    from lab_core.writers.console import ConsoleWriter
    from lab_core.writers.sqlite import SqliteWriter

    path = tmp_path / "lab.sqlite"
    screen = io.StringIO()
    variables = [Variable(1, "oven_t", "a", "r", unit="degC", description="Oven temperature"),
                 Variable(2, "oven_n", "a", "r")]
    reader = ScriptedReader([20.5, 21.0, 21.5])
    collector = Collector({"r": reader}, {"db": SqliteWriter(path), "screen": ConsoleWriter(screen)},
                          processors={"win": lambda: Window(seconds=2, aggregates=["mean", "count"])},
                          writer_processors={"screen": ["win"]})
    with collector:
        collector.start(Context(1, variables, default_interval_ms=5, min_interval_ms=1))
        assert reader.done.wait(10)
    with sqlite3.connect(path) as db:
        rows = dict(db.execute("SELECT codename, description FROM dateplots_descriptions"))
    assert rows == {"oven_t": "Oven temperature", "oven_n": None}
    shown = screen.getvalue()
    assert " degC (" in shown and "samples)" in shown
    count_lines = [line for line in shown.splitlines() if "oven_t_count" in line]
    assert count_lines and all("degC" not in line for line in count_lines)

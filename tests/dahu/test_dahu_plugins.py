"""Plugins: names, register, plugin_from_function, discovery through the lab entry points."""

from __future__ import annotations

import sys

import pytest

import lab_core
from lab_core import Registry, UnknownPlugin
from lab_core.testing import make_distribution
from lab_dahu import Factory, Job, Plugin, PluginFromFunction, plugin_factory, plugin_from_function, register
from lab_dahu.examples import Cube, Sleep, Square


def test_examples_are_published_through_lab_dahu_hook():
    registry = Registry()
    components = registry.components("job")
    for name in ("example.square", "example.cube", "example.noop", "example.sleep"):
        assert components[name][0].plugin.distribution == "lab-dahu"
    assert registry.get_class("job", "example.cube") is Cube


def test_names_are_case_insensitive():
    assert plugin_factory.get_class("Example.Square") is Square
    assert plugin_factory.get_class("EXAMPLE.SLEEP") is Sleep
    assert isinstance(plugin_factory("example.cube"), Cube)


def test_unknown_name_says_what_is_installed():
    with pytest.raises(UnknownPlugin) as info:
        plugin_factory.get_class("nope.nothing")
    assert "example.square" in str(info.value)
    assert isinstance(info.value, KeyError)


def test_register_as_decorator_with_and_without_name():
    @register
    class Doubler(Plugin):
        """Doubles x."""

        def process(self):
            self.output["result"] = 2 * self.input["x"]

    @register(fqn="My.Triple")
    class Triple(Plugin):
        def process(self):
            self.output["result"] = 3 * self.input["x"]

    try:
        name = f"{__name__}.Doubler"
        assert plugin_factory.get_class(name) is Doubler
        assert plugin_factory.get_class(name.upper()) is Doubler
        assert plugin_factory.get_class("my.triple") is Triple
        job = Job("MY.TRIPLE", {"x": 2}).run()
        assert job.output_data["result"] == 6
        assert f"{__name__}.doubler".lower() in plugin_factory.names()
    finally:
        Factory.unregister(f"{__name__}.Doubler")
        Factory.unregister("my.triple")


def AddOne(x, y=1):  # noqa: N802 - a capitalised name, on purpose
    """Adds y to x."""
    return x + y


def test_plugin_from_function_with_capitals_is_found():
    name = plugin_from_function(AddOne)
    assert name == f"{__name__}.AddOne"
    try:
        klass = plugin_factory.get_class(name)
        assert issubclass(klass, PluginFromFunction)
        assert klass.__doc__ == "Adds y to x."
        job = Job(name, {"x": 1, "y": 5}).run()  # job_id / plugin_name are not passed on
        assert job.status == "success", job.error
        assert job.output_data["result"] == 6
        assert Job(name.lower(), {"x": 1}).run().output_data["result"] == 2
        assert klass()(x=2) == 3  # callable like the function
    finally:
        Factory.unregister(name)


def test_plugin_life_cycle_helpers(caplog):
    plugin = Cube()
    plugin.setup({"x": 2})
    plugin.process()
    plugin.log_warning("careful")
    with pytest.raises(RuntimeError, match="ERROR in Cube: bad"):
        plugin.log_error("bad")
    plugin.log_error("soft", do_raise=False)
    plugin.teardown()
    assert plugin.output["result"] == 8
    assert plugin.output["logging"] == ["Warning in Cube: careful", "ERROR in Cube: bad", "Warning in Cube: soft"]
    assert "careful" in plugin.get_info()
    assert plugin.get_name() == "Cube"
    assert not plugin.is_aborted
    plugin.abort()
    assert plugin.is_aborted and plugin.sleep(10) is True
    assert Plugin.REPROCESS_IGNORE == [] and Plugin.DEFAULT_PROCESS == "process"
    assert isinstance(plugin, lab_core.Processor)


def test_profiling_dumps_into_workdir(workdir):
    job = Job("example.square", {"x": 3, "do_profiling": True}).run()
    assert job.status == "success", job.error
    assert list(workdir.glob("*.profile"))
    assert any("profiling information" in line for line in job.output_data["logging"])


PLUGIN_SOURCE = '''
from lab_core import hookimpl

@hookimpl
def lab_processors():
    return {"Thirdparty.Half": "thirdparty_half:Half"}
'''

CLASS_SOURCE = '''
from lab_dahu import Plugin

class Half(Plugin):
    """Halves x."""
    def process(self):
        self.output["result"] = self.input["x"] / 2
'''


def test_discovery_through_entry_points(tmp_path, monkeypatch):
    make_distribution(tmp_path, "lab-thirdparty", plugin="thirdparty", source=PLUGIN_SOURCE,
                      requires=("lab-core>=1.0,<2", "lab-dahu"))
    (tmp_path / "thirdparty_half.py").write_text(CLASS_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry()
    info = {p.name: p for p in registry.plugins()}
    assert info["thirdparty"].distribution == "lab-thirdparty"
    assert "thirdparty_half" not in sys.modules  # listing imports nothing
    factory = Factory(registry)
    assert "thirdparty.half" in factory.names()
    assert "thirdparty_half" not in sys.modules  # naming imports nothing either
    job = Job("thirdparty.HALF", {"x": 5}, factory=factory).start()
    assert job.join(10)
    assert job.status == "success", job.error
    assert job.output_data["result"] == 2.5
    rows = {row["name"]: row for row in factory.describe()}
    assert rows["thirdparty.half"]["doc"] == "Halves x."
    assert rows["thirdparty.half"]["source"] == "lab-thirdparty"
    assert rows["example.square"]["source"] == "lab-dahu"
    sys.modules.pop("thirdparty_half", None)
    sys.modules.pop("lab_thirdparty_plugin", None)


def test_broken_third_party_plugin_does_not_hide_the_others(tmp_path, monkeypatch):
    make_distribution(tmp_path, "lab-broken", plugin="broken", source="raise ImportError('no numpy here')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    factory = Factory(Registry())
    assert factory.get_class("example.square") is Square
    with pytest.raises(UnknownPlugin, match="broken"):
        factory.get_class("broken.thing")

"""dahu-style plugin modules, written as for dahu, run unchanged through the ``dahu`` name (lab-dahu-compat).

Each test writes a plugins directory: modules doing ``from dahu.plugin import Plugin`` and
``from dahu.factory import register``, found by the first part of a plugin's name on first use.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid

import dahu
import pytest
from dahu.cache import DataCache
from dahu.factory import Factory, plugin_factory
from dahu.job import Job
from dahu.plugin import Plugin
from dahu.utils import NumpyEncoder, fully_qualified_name, get_isotime, get_workdir
from dahu.version import strictversion, version

from lab_core import UnknownPlugin
from lab_dahu import factory as lab_factory
from lab_dahu import plugin_factory as lab_plugin_factory

TIMEOUT = 10

HELLO = '''
"""A dahu plugin module, as dahu's users write them."""
from dahu.plugin import Plugin
from dahu.factory import register
from dahu.cache import DataCache


@register
class Hello(Plugin):
    """Greets; counts calls per detector in the shared cache (dahu's setdefault idiom)."""

    def process(self):
        geometry = DataCache().get("geometry-" + self.input["detector"], {"calls": 0})
        geometry["calls"] += 1
        self.output["result"] = "hello %s (%d)" % (self.input["name"], geometry["calls"])


@register
class WaitOther(Plugin):
    """Waits for job `other`; reports what wait_for gave."""

    def process(self):
        job = self.wait_for(self.input["other"])
        self.output["found"] = None if job is None else job.output_data.get("result")
'''


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    """A plugins directory with a uniquely named module; everything loaded from it is forgotten after."""
    module = f"mymod_{uuid.uuid4().hex[:8]}"
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / f"{module}.py").write_text(HELLO)
    monkeypatch.setenv("DAHU_PLUGINS", str(folder))
    yield folder, module
    lab_factory.Factory.modules.pop(module, None)
    lab_factory.Factory.plugin_dirs.pop(str(folder), None)
    sys.modules.pop(module, None)
    for name in [n for n in lab_factory.Factory.registry.local if n.startswith(module)]:
        lab_factory.Factory.unregister(name)


def run(name, data):
    job = Job(name, data).start()
    assert job.join(TIMEOUT), f"{job} did not finish"
    return job


def test_a_plugin_module_in_DAHU_PLUGINS_is_found_by_its_first_name_part(plugins):
    folder, module = plugins
    assert module not in sys.modules
    job = run(f"{module}.hello", {"name": "world", "detector": "d1"})
    assert job.status == "success", job.error
    assert job.output_data["result"] == "hello world (1)"
    assert isinstance(job.plugin, Plugin)
    assert module in sys.modules  # imported on first use, under its own name (as dahu)
    assert run(f"{module}.Hello", {"name": "again", "detector": "d1"}).output_data["result"] == "hello again (2)"
    assert f"{module}.hello" in plugin_factory.registry
    assert "(plugin directory" in lab_plugin_factory.names()[f"{module}.hello"]


def test_add_directory_and_a_package_module(tmp_path, monkeypatch):
    monkeypatch.delenv("DAHU_PLUGINS", raising=False)
    name = f"pkg_{uuid.uuid4().hex[:8]}"
    package = tmp_path / "more" / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent('''
        from dahu.plugin import Plugin
        from dahu.factory import register

        @register
        class Double(Plugin):
            def process(self):
                self.output["result"] = 2 * self.input["x"]
    '''))
    assert plugin_factory.add_directory(tmp_path / "nowhere") == []  # logged, ignored (as dahu)
    try:
        assert name in plugin_factory.add_directory(tmp_path / "more")
        assert run(f"{name}.double", {"x": 21}).output_data["result"] == 42
    finally:
        lab_factory.Factory.plugin_dirs.pop(str(tmp_path / "more"), None)
        lab_factory.Factory.modules.pop(name, None)
        sys.modules.pop(name, None)
        lab_factory.Factory.unregister(f"{name}.double")


def test_a_module_that_fails_to_import_says_why(plugins):
    folder, module = plugins
    (folder / "broken_mod.py").write_text("import no_such_dependency_here\n")
    job = run("broken_mod.thing", {})
    assert job.status == "failure"
    assert "broken_mod" in job.error and "No module named 'no_such_dependency_here'" in job.error
    assert "broken_mod" not in sys.modules


def test_a_plugin_name_cannot_name_a_file_outside_the_plugin_directories(plugins, tmp_path):
    folder, _ = plugins
    (tmp_path / "outside.py").write_text("raise SystemExit('must never be imported')\n")
    for name in ("../outside.x", "..", "/tmp/outside.x", "outside/../x.y"):
        assert plugin_factory(name) is None
    assert "outside" not in sys.modules


def test_the_factory_answers_None_for_an_unknown_name_as_dahu(plugins):
    assert plugin_factory("nosuch.plugin") is None
    assert Factory(plugin_path=[])("nosuch") is None
    with pytest.raises(UnknownPlugin, match="no job named 'nosuch.plugin'"):
        lab_plugin_factory("nosuch.plugin")  # lab-dahu keeps its error


def test_the_registry_lists_installed_plugins():
    assert "example.square" in plugin_factory.registry
    assert "example.square" in list(plugin_factory.registry)
    assert plugin_factory.registry["example.square"]().__class__.__name__ == "example.square"
    assert plugin_factory("example.square") is not None


def test_wait_for_an_unknown_id_warns_and_gives_None(plugins, caplog):
    _, module = plugins
    job = run(f"{module}.waitother", {"other": 10**9})
    assert job.status == "success", job.error
    assert job.output_data["found"] is None
    assert "unable to retrieve such job" in caplog.text.lower()
    other = run("example.square", {"x": 7})
    assert run(f"{module}.waitother", {"other": other.id}).output_data["found"] == 49


def test_unknown_job_status_is_dahus_sentence():
    assert Job.getStatusFromId(10**9) == f"Unable to retrieve such job: {10**9}"
    assert Job.getStatusFromID(10**9) == f"Unable to retrieve such job: {10**9}"
    from lab_dahu import Job as LabJob

    assert LabJob.getStatusFromId(10**9) == "inexistant"


def test_datacache_idioms():
    key = uuid.uuid4().hex
    first = DataCache(10)
    for i in range(10):
        first[f"{key}-{i}"] = i
    later = DataCache(3)  # does not shrink what the first one filled (dahu keeps 10)
    assert later.max_size == first.max_size and all(f"{key}-{i}" in later for i in range(10))
    assert later.get(f"{key}-new", [1]) == [1]  # stored, as dahu's setdefault-like get
    assert first[f"{key}-new"] == [1]
    assert later.get(f"{key}-none") is None and f"{key}-none" not in later
    private = DataCache(2, borg=False)
    private["a"] = 1
    assert "a" in private and ("a" not in first or first["a"] != 1 or private is not first)
    assert f"{key}-new" not in private
    for k in list(first.keys()):
        if k.startswith(key):
            first.pop(k)


def test_utils_and_version(tmp_path):
    assert dahu.__version__ == version == strictversion
    assert get_isotime(0, for_path=True).startswith(("1970-01-01T", "1969-12-31T"))
    assert get_isotime()[-6] in "+-"
    assert json.dumps({"a": (1, 2)}, cls=NumpyEncoder) == '{"a": [1, 2]}'
    assert fully_qualified_name(Plugin) == "dahu.plugin.plugin"
    made = get_workdir(str(tmp_path))
    assert os.path.isdir(made) and os.path.basename(made).startswith("dahu_")
    assert os.path.isdir(get_workdir())


def test_unchanged_inp_files_are_reprocessed_twice_without_overwriting(plugins, tmp_path):
    """.inp files as dahu writes them, reprocessed by `lab dahu reprocess` (a real subprocess), twice."""
    _, module = plugins
    saved = tmp_path / "saved"
    saved.mkdir()
    files = []
    for job_id, name in ((12, "world"), (13, "moon")):
        path = saved / f"{job_id:05d}_{module}.Hello.inp"
        path.write_text(json.dumps({"name": name, "detector": name, "job_id": job_id,
                                    "plugin_name": f"{module}.Hello"}, indent=4))
        files.append(str(path))
    work = tmp_path / "work"
    env = {**os.environ, "DAHU_PLUGINS": os.environ["DAHU_PLUGINS"]}
    command = [sys.executable, "-m", "lab_core.cli", "dahu", "reprocess", *files, "--workdir", str(work),
               "--no-progress"]
    runs = [subprocess.run(command, capture_output=True, text=True, env=env, timeout=60) for _ in range(2)]
    for done in runs:
        assert done.returncode == 0, done.stdout + done.stderr
        assert "2/2 succeeded" in done.stdout and f"new .inp/.out files in {work}" in done.stdout
    outs = sorted(work.rglob("*.out"))
    assert len(outs) == 4  # the second run wrote new files: nothing overwritten
    ids = sorted(int(p.name.split("_", 1)[0]) for p in outs)
    assert len(set(ids)) == 4  # ids follow those already in the work directory
    for path in outs:
        assert str(path) in runs[0].stdout + runs[1].stdout  # the summary says where each output is
    results = sorted(json.loads(p.read_text())["result"] for p in outs)
    assert results == ["hello moon (1)", "hello moon (1)", "hello world (1)", "hello world (1)"]

"""Configuration discoverable from one source: `lab plugins NAME`, `lab config sample`, the docs' tables."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lab_core import ConfigError, LabError, Registry, hookimpl
from lab_core.catalog import find_plugin, markdown, plugin_commands
from lab_core.cli import main
from lab_core.config import SECTIONS, expand, load, plan
from lab_core.options import declared_options, markdown_table
from lab_core.optiontables import documents, refresh, stale
from lab_core.sample import sample
from lab_core.testing import make_distribution

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
LAB = [sys.executable, "-m", "lab_core.cli"]
THIRD_PARTY = """
    import time
    from typing import Annotated
    from lab_core import Reader, Sample, hookimpl
    from lab_core.options import Example

    class Thermo(Reader):
        '''Reads a thermometer.'''
        example_address = "channel:1"

        def __init__(self, host: Annotated[str, "thermometer address", Example("10.0.0.9")],
                     gain: Annotated[float, "multiplies every value"] = 1.0):
            self.gain = gain

        def read(self, variables):
            return [Sample(v.codename, time.time(), 21.5 * self.gain) for v in variables]

    def cmd(args):
        print("calibrated")

    @hookimpl
    def lab_readers():
        return {"thermo": Thermo}

    @hookimpl
    def lab_subcommands(subparsers):
        thermo = subparsers.add_parser("thermo", help="thermometer tools")
        what = thermo.add_subparsers()
        what.add_parser("calibrate", help="calibrate a probe").set_defaults(func=cmd)
    """


def run(*args, **kw):
    return subprocess.run([*LAB, *args], capture_output=True, text=True, timeout=60, **kw)


@pytest.fixture
def thermo(tmp_path):
    """A third-party plugin with a reader and a sub-command, installed for subprocesses."""
    make_distribution(tmp_path, "lab-thermo", plugin="thermo", module="tp_thermo_discover", source=THIRD_PARTY)
    return {**os.environ, "PYTHONPATH": str(tmp_path)}


# -- lab plugins [NAME] -------------------------------------------------------------------


def test_plugin_detail_shows_distribution_options_and_commands(capsys):
    assert main(["plugins", "core"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("plugin core: lab-core ")
    assert "provides: reader: demo; writer: csv, sqlite, console, null; processor: deadband" in out
    assert re.search(r"^  lab config sample +print a commented configuration", out, re.M)
    assert re.search(r"^  lab doctor +check what would fail", out, re.M)
    assert re.search(r"^writer sqlite: ", out, re.M)
    assert re.search(r"^  path +a path \(a string\) +\"lab.sqlite\" +SQLite database file", out, re.M)
    assert re.search(r"^  to +one of \"float\", \"int\", \"bool\", \"str\" +yes +the type to cast to", out, re.M)


def test_a_component_name_shows_only_that_component(capsys):
    assert main(["plugins", "deadband"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("plugin core: lab-core") and "processor deadband: " in out
    assert "writer sqlite" not in out and "max_interval_s" in out


def test_an_unknown_name_says_what_was_meant(capsys):
    assert main(["plugins", "sqlit"]) == 2
    err = capsys.readouterr().err
    assert "no plugin or component named 'sqlit'; did you mean 'sqlite'?" in err
    assert "The plugins are: " in err and "core" in err


def test_markdown_is_the_readme_block():
    registry = Registry()
    _, entries = find_plugin(registry, "csv")
    table = markdown_table(declared_options(registry.get_class("writer", "csv")))
    assert markdown(entries) == f"<!-- options: csv writer -->\n{table}<!-- /options -->\n"
    result = run("plugins", "csv", "--markdown")
    assert result.returncode == 0 and result.stdout == markdown(entries) + "\n"


def test_a_third_party_plugin_its_options_and_commands(thermo):
    listing = run("plugins", env=thermo)
    row = next(line for line in listing.stdout.splitlines() if line.startswith("thermo "))
    assert "reader: thermo" in row and "lab-thermo" in row and row.rstrip().endswith("thermo")
    core = next(line for line in listing.stdout.splitlines() if line.startswith("core "))
    assert "new, doctor, config, status" in core
    listed = {p["name"]: p for p in json.loads(run("plugins", "--json", env=thermo).stdout)}
    assert listed["thermo"]["commands"] == ["thermo", "thermo calibrate"]

    detail = run("plugins", "thermo", env=thermo)
    assert detail.returncode == 0, detail.stderr
    assert detail.stdout.startswith("plugin thermo: lab-thermo 1.0, loaded")
    assert re.search(r"^  lab thermo calibrate +calibrate a probe$", detail.stdout, re.M)
    assert "reader thermo: Reads a thermometer." in detail.stdout
    assert re.search(r"^  host +a string +yes +thermometer address$", detail.stdout, re.M)
    as_json = json.loads(run("plugins", "thermo", "--json", env=thermo).stdout)
    assert as_json["components"][0]["options"][1] == {
        "name": "gain", "type": "a number", "required": False, "default": "1.0",
        "description": "multiplies every value"}


class BrokenCommands:
    @staticmethod
    @hookimpl
    def lab_subcommands(subparsers):
        raise RuntimeError("no argparse today")


def test_plugin_commands_survive_a_broken_hook():
    registry = Registry()
    registry.register(BrokenCommands, "broken")
    commands = plugin_commands(registry)
    assert "broken" not in commands and "config sample" in [c.name for c in commands["core"]]


# -- lab config sample ---------------------------------------------------------------------


def test_sample_of_a_third_party_reader_loads_and_runs_once(thermo, tmp_path):
    result = run("config", "sample", "thermo", "csv", env=thermo)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert '[readers.thermo]\n## which reader plugin (default: the instance name) — a string\nplugin = "thermo"' in text
    assert '## thermometer address — a string\nhost = "10.0.0.9"' in text
    assert "## multiplies every value — a number\n# gain = 1.0" in text
    assert 'address = "channel:1"' in text and 'codename = "thermo_1"' in text
    assert '\n# spool_dir = "var/spool"' in text  # [collector]: everything commented at its default
    (tmp_path / "lab.toml").write_text(text)
    once = run("run", "--once", "lab.toml", cwd=tmp_path, env=thermo)
    assert once.returncode == 0, once.stdout + once.stderr
    assert "thermo_1" in once.stdout and "21.5" in once.stdout


def test_a_sample_without_reader_or_writer_gets_the_embedded_ones():
    data = tomllib.loads(sample(Registry(), ["deadband"]))
    assert data["readers"] == {"demo": {"plugin": "demo"}}
    assert data["writers"] == {"sqlite": {"plugin": "sqlite"}}
    assert data["processors"] == {"deadband": {"plugin": "deadband", "absolute": 0.5}}
    plan(data)


def test_config_sample_of_an_unknown_plugin_says_what_was_meant(capsys):
    assert main(["config", "sample", "modbsu_x"]) == 2
    assert "no plugin, reader, writer or processor named 'modbsu_x'" in capsys.readouterr().err


def installed():
    registry = Registry()
    names = [info.name for info in registry.load()]
    names += [n for kind in ("reader", "writer", "processor") for n in registry.components(kind)]
    return sorted(set(names))


@pytest.mark.parametrize("name", installed())
def test_the_sample_of_every_installed_plugin_loads(name, tmp_path):
    registry = Registry()
    try:
        text = sample(registry, [name])
    except Exception as exc:  # a plugin with nothing to configure says so
        assert "has nothing to put in a configuration" in str(exc)
        return
    path = tmp_path / "lab.toml"
    path.write_text(text)
    checked = load(path, registry, check_only=True)
    assert checked.readers and checked.writers and checked.contexts


# -- the documents' tables ------------------------------------------------------------------

REGENERATE = ".venv/bin/python -m lab_core.optiontables"


def test_every_options_table_in_the_docs_is_the_declared_one():
    paths = documents(ROOT)
    assert ROOT / "docs" / "config.md" in paths and ROOT / "packages" / "modbus-reader" / "README.md" in paths
    out_of_date = stale(paths, Registry())
    assert not out_of_date, (f"options tables out of date in {', '.join(str(p.relative_to(ROOT)) for p in out_of_date)}"
                             f"; regenerate them from the workspace root: {REGENERATE}")


def test_no_hand_made_options_table_is_left():
    for path in documents(ROOT):
        outside = re.sub(r"<!-- options: .*?<!-- /options -->", "", path.read_text(), flags=re.S)
        for header in ("| option | type | default | description |", "| option | description |",
                       "| option | default | meaning |"):
            assert header not in outside, f"{path}: a hand-made options table; mark it (see lab_core.optiontables)"


def test_refresh_rewrites_a_stale_table_and_knows_the_sections():
    stale_text = "intro\n<!-- options: collector section -->\n| old |\n<!-- /options -->\nafter\n"
    table = markdown_table(SECTIONS["collector"])
    expected = f"intro\n<!-- options: collector section -->\n{table}<!-- /options -->\nafter\n"
    assert refresh(stale_text, Registry()) == expected
    assert set(SECTIONS) == {"configuration", "collector", "readers", "writers", "processors", "contexts",
                             "variables"}


def test_the_rewrite_command(tmp_path):
    doc = tmp_path / "README.md"
    doc.write_text("<!-- options: demo reader -->\n<!-- /options -->\n")
    check = subprocess.run([sys.executable, "-m", "lab_core.optiontables", "--check", str(doc)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 1 and "out of date" in check.stdout
    write = subprocess.run([sys.executable, "-m", "lab_core.optiontables", str(doc)], capture_output=True,
                           text=True, timeout=60)
    assert write.returncode == 0 and "| `min_interval_ms` | a number | `0.0` |" in doc.read_text()
    doc.write_text("<!-- options: nosuch reader -->\n<!-- /options -->\n")
    bad = subprocess.run([sys.executable, "-m", "lab_core.optiontables", str(doc)], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "no reader named 'nosuch'" in bad.stderr


# -- docs/config.md ------------------------------------------------------------------------

CONFIG_MD = (ROOT / "docs" / "config.md").read_text()
EXAMPLES = re.findall(r"```toml\n(.*?)```", CONFIG_MD, re.S)


def test_config_md_covers_every_section():
    for heading in ("## `[collector]`", "## `[readers.NAME]`", "## `[processors.NAME]`", "## `[writers.NAME]`",
                    "## `[[contexts]]`", "## `[[contexts.variables]]`"):
        assert heading in CONFIG_MD
    for name in SECTIONS:
        assert f"<!-- options: {name} section -->" in CONFIG_MD
    assert "disabled_plugins" in CONFIG_MD and "${VAR:-default}" in CONFIG_MD


@pytest.mark.parametrize("number", range(len(EXAMPLES)))
def test_config_md_examples_load(number, monkeypatch):
    """Each example is a whole configuration, or a [collector] table that the first example completes."""
    monkeypatch.setenv("LAB_DB_PASSWORD", "secret")
    base = tomllib.loads(EXAMPLES[0])
    checked = plan({**base, **expand(tomllib.loads(EXAMPLES[number]))})
    assert checked.contexts


def test_config_md_environment_example_expands(tmp_path, monkeypatch):
    (example,) = [e for e in EXAMPLES if "${LAB_DB_PASSWORD}" in e]
    path = tmp_path / "lab.toml"
    path.write_text(example)
    monkeypatch.delenv("LAB_DB_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match=r"writers\.db\.password: environment variable LAB_DB_PASSWORD is not set"):
        load(path, check_only=True)
    monkeypatch.setenv("LAB_DB_PASSWORD", "s3cret")
    assert load(path, check_only=True).writers["db"] is not None


def test_the_plugin_authors_example_declares_what_it_says(tmp_path):
    guide = (ROOT / "docs" / "plugin-authors.md").read_text()
    section = guide.split("## Options: declared once", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    namespace: dict = {}
    exec(compile(code, "plugin-authors.md", "exec"), namespace)
    options = {o.name: o for o in declared_options(namespace["ThermoReader"])}
    assert (options["host"].required, options["host"].example, options["port"].default) == (True, "10.0.0.9", 4000)
    markers = "\n".join(line.strip() for line in section.splitlines() if line.strip().startswith("<!--")) + "\n"
    doc = tmp_path / "README.md"
    doc.write_text(markers.replace("thermo reader", "demo reader"))
    assert refresh(doc.read_text(), Registry()).count("| `min_interval_ms` |") == 1


def test_a_command_table_is_the_commands_own_help():
    text = "<!-- options: config.sample command -->\n<!-- /options -->\n"
    assert refresh(text, Registry()) == (
        "<!-- options: config.sample command -->\n| option | description |\n|---|---|\n"
        "| `PLUGIN` | a plugin (modbus) or a reader, writer or processor (sqlite, deadband) |\n<!-- /options -->\n")
    with pytest.raises(LabError, match=r"no command 'lab config sampel'; did you mean 'lab config sample'\?"):
        refresh(text.replace("config.sample", "config.sampel"), Registry())

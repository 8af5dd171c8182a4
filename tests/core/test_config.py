"""Configurations: good ones build, bad ones say which key is wrong and why."""

import subprocess
import sys
from pathlib import Path

import pytest

from lab_core import ConfigError
from lab_core.config import build, load

ROOT = Path(__file__).resolve().parents[2]


def config(**overrides):
    data = {
        "readers": {"demo": {}},
        "writers": {"out": {"plugin": "null"}},
        "contexts": [{"id": 1, "variables": [{"id": 1, "codename": "c_a", "reader": "demo", "address": "sine"}]}],
    }
    data.update(overrides)
    return data


def variable(**kw):
    return {"id": 1, "codename": "c_a", "reader": "demo", "address": "sine", **kw}


def test_a_good_config_builds(tmp_path):
    setup = build(config(writers={"db": {"plugin": "sqlite", "path": str(tmp_path / "x.sqlite"), "spool": "disk"}},
                         collector={"spool_dir": str(tmp_path / "spool")}))
    try:
        assert set(setup.collector.writers) == {"db"} and setup.contexts[0].id == 1
        assert type(setup.collector.deliveries["db"].spool).__name__ == "DiskSpool"
    finally:
        setup.collector.close()


V = "contexts[0].variables[0]"


@pytest.mark.parametrize("overrides, message", [
    ({"contexts": []}, "contexts: expected at least one [[contexts]] table"),
    ({"contexts": [{"id": 1, "variables": []}]},
     "contexts[0].variables: a context needs at least one [[contexts.variables]]"),
    ({"contexts": [{"id": 1, "variables": [variable(codename="bad name")]}]},
     f"{V}.codename: codename 'bad name' contains ' ': codenames may not contain spaces or any of # , ; : &"),
    ({"contexts": [{"id": 1, "variables": [variable(interval_ms=-5)]}]},
     f"{V}.interval_ms: interval_ms must be positive, got -5"),
    ({"contexts": [{"id": 1, "variables": [variable(id="one")]}]},
     f'{V}.id: expected a whole number, got the string "one"; for example id = 1'),
    ({"contexts": [{"id": 1, "variables": [variable(type="double")]}]},
     f'{V}.type: expected one of "float", "int", "bool", "str", got the string "double"; for example type = "float"'),
    ({"contexts": [{"id": 1, "variables": [variable(colour="red")]}]},
     f"{V}.colour: unknown key 'colour'. The keys of a variable are: address, codename, description, id, "
     "interval_ms, processors, reader, type, unit"),
    ({"contexts": [{"id": 1, "variables": [variable(codenam="x")]}]},
     f"{V}.codenam: unknown key 'codenam'; did you mean 'codename'? The keys of a variable are: address, "
     "codename, description, id, interval_ms, processors, reader, type, unit"),
    ({"contexts": [{"id": 1, "variables": [{"id": 1, "codename": "x", "reader": "demo"}]}]},
     f"{V}: address is missing (where the reader finds it, in the reader's own syntax); add address = \"...\""),
    ({"contexts": [{"id": 1, "variables": [variable(reader="dmeo")]}]},
     f"{V}.reader: no reader named 'dmeo'; did you mean 'demo'? The readers are: demo"),
    ({"contexts": [{"id": 1, "variables": [variable(address="square")]}]},
     f"{V}.address: variable 'c_a': demo signal 'square' is unknown; use one of sine, ramp, random, fail"),
    ({"contexts": [{"id": 1, "duration_s": -1, "variables": [variable()]}]},
     "contexts[0].duration_s: duration_s must be positive, got -1"),
    ({"contexts": [{"id": 1, "writers": "out", "variables": [variable()]}]},
     'contexts[0].writers: expected a list of strings, got the string "out"; for example writers = []'),
    ({"contexts": [{"id": 1, "writers": ["db"], "variables": [variable()]}]},
     "contexts[0].writers: no writer named 'db'. The writers are: out"),
    ({"contexts": [{"id": 1, "variables": [variable()]}, {"id": 1, "variables": [variable()]}]},
     "contexts[1].id: context id 1 is used twice"),
    ({"contexts": [{"id": 1, "variables": [variable(), variable(id=2, codename="c_b"), variable(id=3)]}]},
     "contexts[0].variables[2].codename: 'c_a' is also contexts[0].variables[0]; a codename appears once per context"),
    ({"contexts": [{"id": 1, "variables": [variable(), variable(id=2, codename="c_b"), variable(id=3, codename="c_c")]},
                   {"id": 2, "variables": [variable(id=3, codename="c_c", address="ramp")]}]},
     "contexts[1].variables[0]: codename 'c_c' is also contexts[0].variables[2], with another address sine there, "
     "ramp here; give one of them another codename, or read both the same way"),
    ({"readers": {"demo": {"plugin": "dmeo"}}},
     "readers.demo.plugin: no reader named 'dmeo'; did you mean 'demo'? Installed readers: "),
    ({"readers": {"demo": {"speed": 3}}},
     "readers.demo.speed: unknown key 'speed'. The options of the demo reader are: min_interval_ms"),
    ({"readers": {"demo": {"min_interval_ms": "fast"}}},
     'readers.demo.min_interval_ms: expected a number, got the string "fast"; for example min_interval_ms = 0.0'),
    ({"writers": {}}, "writers: at least one [writers.NAME] table is needed"),
    ({"writers": {"out": {"plugin": "null", "spool": "cloud"}}},
     'writers.out.spool: expected one of "memory", "disk" or a table, got the string "cloud"; '
     'for example spool = "memory"'),
    ({"collector": {"spool_dirr": "x"}},
     "collector.spool_dirr: unknown key 'spool_dirr'; did you mean 'spool_dir'? The keys of [collector] are: "
     "disabled_plugins, flush_timeout_s, health_reader_stale_s, health_skipped_ratio, health_window_s, "
     "health_writer_stale_s, interval_policy, spool_dir, stats_interval_s, status, status_allow"),
    ({"collector": {"interval_policy": "maybe"}},
     'collector.interval_policy: expected one of "clamp", "ignore", "error", got the string "maybe"; '
     'for example interval_policy = "clamp"'),
    ({"collector": {"flush_timeout_s": "ten"}},
     'collector.flush_timeout_s: expected a number, got the string "ten"; for example flush_timeout_s = 10.0'),
    ({"collector": {"disabled_plugins": "core"}},
     'collector.disabled_plugins: expected a list of strings, got the string "core"; '
     "for example disabled_plugins = []"),
    ({"extra": 1}, "configuration.extra: unknown key 'extra'. The sections of a configuration are: collector, "
                   "contexts, processors, readers, writers"),
    ({"readers": ["demo"]}, 'configuration.readers: expected a table, got the list ["demo"]; for example readers = {}'),
])
def test_bad_configs_name_the_key(overrides, message):
    with pytest.raises(ConfigError) as caught:
        build(config(**overrides))
    if message.endswith("Installed readers: "):  # the rest lists what is installed here
        assert str(caught.value).startswith(message)
    else:
        assert str(caught.value) == message
    for python_text in ("<class", "Attribute(", "__init__", "IntervalPolicy", "Error:"):
        assert python_text not in str(caught.value)


def test_the_same_codename_read_the_same_way_in_two_contexts_is_fine():
    setup = build(config(contexts=[{"id": 1, "variables": [variable()]},
                                   {"id": 2, "variables": [variable(interval_ms=500)]}]))
    setup.collector.close()


def test_a_mysql_writer_without_database_names_only_database():
    pytest.importorskip("lab_mysql")
    with pytest.raises(ConfigError) as caught:
        build(config(writers={"db": {"plugin": "mysql", "setup": "lab", "hots": "x"}}))
    assert str(caught.value).startswith("writers.db.hots: unknown key 'hots'; did you mean 'host'?")
    with pytest.raises(ConfigError) as caught:
        build(config(writers={"db": {"plugin": "mysql", "setup": "lab", "port": 3306}}))
    assert str(caught.value) == 'writers.db: database is missing (database name); add database = "cinfdata"'


def test_load_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[readers\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load(bad)


def test_example_demo_config_is_valid():
    setup = load(ROOT / "examples" / "demo.toml")
    setup.collector.close()
    assert [v.codename for v in setup.contexts[0].variables] == ["demo_sine", "demo_ramp", "demo_noise"]


def test_cli_reports_config_errors_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[readers.demo]\n[writers.x]\nplugin="null"\n[[contexts]]\nid=1\n'
                   '[[contexts.variables]]\nid=1\ncodename="a b"\nreader="demo"\naddress="sine"\n')
    result = subprocess.run([sys.executable, "-m", "lab_core.cli", "run", str(bad)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "lab: error:" in result.stderr and "codename 'a b'" in result.stderr
    assert "Traceback" not in result.stderr


def test_environment_references_are_expanded(tmp_path, monkeypatch):
    from lab_core.config import expand, read_toml

    monkeypatch.setenv("LAB_T_HOST", "plc7")
    monkeypatch.setenv("LAB_T_PORT", "5020")
    monkeypatch.delenv("LAB_T_UNSET", raising=False)
    assert expand({"a": "${LAB_T_HOST}:${LAB_T_PORT}", "p": "${LAB_T_PORT}", "d": "${LAB_T_UNSET:-1.5}",
                   "l": ["x${LAB_T_HOST}"], "n": 3}) == {"a": "plc7:5020", "p": 5020, "d": 1.5, "l": ["xplc7"], "n": 3}
    path = tmp_path / "e.toml"
    path.write_text('[writers.db]\npassword = "${LAB_T_UNSET}"\n')
    with pytest.raises(ConfigError, match=r"configuration\.writers\.db\.password: environment variable LAB_T_UNSET"):
        read_toml(path)

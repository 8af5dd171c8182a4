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


@pytest.mark.parametrize("overrides, message", [
    ({"contexts": []}, r"contexts: expected at least one"),
    ({"contexts": [{"id": 1, "variables": []}]}, r"contexts\[0\]\.variables: a context needs"),
    ({"contexts": [{"id": 1, "variables": [variable(codename="bad name")]}]},
     r"contexts\[0\]\.variables\[0\]\.codename: codename 'bad name' contains ' '"),
    ({"contexts": [{"id": 1, "variables": [variable(interval_ms=-5)]}]},
     r"contexts\[0\]\.variables\[0\]\.interval_ms: interval_ms must be positive"),
    ({"contexts": [{"id": 1, "variables": [variable(type="double")]}]},
     r"variables\[0\]\.type: value type 'double'"),
    ({"contexts": [{"id": 1, "variables": [variable(colour="red")]}]},
     r"variables\[0\]\.colour: unknown key; allowed keys are address, codename"),
    ({"contexts": [{"id": 1, "variables": [{"id": 1, "codename": "x", "reader": "demo"}]}]},
     r"variables\[0\]\.address: missing"),
    ({"contexts": [{"id": 1, "variables": [variable(reader="plc")]}]},
     r"variables\[0\]\.reader: no reader named 'plc'; readers are demo"),
    ({"contexts": [{"id": 1, "variables": [variable(address="square")]}]},
     r"variables\[0\]\.address: variable 'c_a': demo signal 'square' is unknown"),
    ({"contexts": [{"id": 1, "duration_s": -1, "variables": [variable()]}]}, r"contexts\[0\]: duration_s"),
    ({"contexts": [{"id": 1, "writers": ["db"], "variables": [variable()]}]},
     r"contexts\[0\]\.writers: no writer named 'db'"),
    ({"contexts": [{"id": 1, "variables": [variable()]}, {"id": 1, "variables": [variable()]}]},
     r"contexts\[1\]\.id: context id 1 is used twice"),
    ({"readers": {"demo": {"plugin": "modbus2"}}}, r"readers\.demo: no reader named 'modbus2'"),
    ({"readers": {"demo": {"speed": 3}}}, r"readers\.demo\.speed: unknown key 'speed'\. The options of the demo"),
    ({"writers": {}}, r"writers: at least one"),
    ({"writers": {"out": {"plugin": "null", "spool": "cloud"}}}, r"writers\.out\.spool: spool kind 'cloud'"),
    ({"collector": {"spool_dirr": "x"}}, r"collector\.spool_dirr: unknown key"),
    ({"collector": {"interval_policy": "maybe"}}, r"collector: 'maybe' is not a valid IntervalPolicy"),
    ({"extra": 1}, r"configuration\.extra: unknown key"),
    ({"readers": ["demo"]}, r"readers: expected a table"),
])
def test_bad_configs_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        build(config(**overrides))


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

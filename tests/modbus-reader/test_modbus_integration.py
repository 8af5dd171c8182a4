"""End to end: simulator -> collector (built from a TOML configuration) -> the core's sqlite writer.

Also: the plugin is published through the ``lab`` entry point without importing pymodbus,
and a bad address is a configuration error naming the variable."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab_core import ConfigError, Registry
from lab_core.config import build
from lab_modbus.address import parse_address
from lab_modbus.simulator import Simulator

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


def config(port: int, db, extra_variables=(), reader_options=None) -> dict:
    variables = [
        {"id": 1, "codename": "plc_sine", "reader": "plc", "address": "hr:0:float32"},
        {"id": 2, "codename": "plc_sine_scaled", "reader": "plc", "address": "hr:2:int16*0.01"},
        {"id": 3, "codename": "plc_seconds", "reader": "plc", "address": "40004", "type": "int"},
        {"id": 4, "codename": "plc_temperature", "reader": "plc", "address": "ir:0:float32"},
        {"id": 5, "codename": "plc_toggle", "reader": "plc", "address": "co:0", "type": "int"},
        {"id": 6, "codename": "plc_setpoint", "reader": "plc", "address": "hr:100:float32:cdab*0.1+3"},
        *extra_variables,
    ]
    return {
        "readers": {"plc": {"plugin": "modbus", "host": "127.0.0.1", "port": port, "timeout": 1.0,
                            **(reader_options or {})}},
        "writers": {"db": {"plugin": "sqlite", "path": str(db), "setup": "modbus"}},
        "contexts": [{"id": 1, "default_interval_ms": 100, "min_interval_ms": 50, "variables": variables}],
    }


def rows(db) -> dict[str, list[float]]:
    with sqlite3.connect(db) as con:
        found: dict[str, list[float]] = {}
        query = ("SELECT d.codename, t.value FROM dateplots_modbus t JOIN dateplots_descriptions d "
                 "ON d.id = t.type ORDER BY t.time")
        for codename, value in con.execute(query):
            found.setdefault(codename, []).append(value)
        return found


def test_simulator_to_sqlite(tmp_path):
    db = tmp_path / "lab.sqlite"
    with Simulator() as sim:
        sim.set("hr:100:float32:cdab*0.1+3", 21.5)
        setup = build(config(sim.port, db))
        collector = setup.collector
        try:
            collector.start(setup.contexts[0])
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                time.sleep(0.1)
                collector.flush(1.0)
                if all(len(v) >= 5 for v in rows(db).values()) and len(rows(db)) == 6:
                    break
        finally:
            left = collector.close()
        assert left == {"db": 0}
        stats = collector.stats()["readers"]["plc"]
        reader = collector.readers["plc"]
    stored = rows(db)
    assert set(stored) == {"plc_sine", "plc_sine_scaled", "plc_seconds", "plc_temperature", "plc_toggle",
                           "plc_setpoint"}
    assert all(len(v) >= 5 for v in stored.values()), {k: len(v) for k, v in stored.items()}
    assert all(-10 <= v <= 10 for v in stored["plc_sine"])
    assert all(15 <= v <= 25 for v in stored["plc_temperature"])
    assert set(stored["plc_toggle"]) <= {0.0, 1.0}
    assert stored["plc_setpoint"][0] == pytest.approx(21.5)
    assert stats["errors"] == 0
    # hr 0..3 and hr 100..101 are 96 registers apart: hr, ir and co take 4 requests per scan
    assert reader.stats.requests == 4 * reader.stats.scans


def test_device_that_vanishes_under_the_collector(tmp_path):
    db = tmp_path / "lab.sqlite"
    sim = Simulator().start()
    try:
        setup = build(config(sim.port, db))
        collector = setup.collector
        try:
            collector.start(setup.contexts[0])
            time.sleep(0.4)
            sim.stop()
            time.sleep(0.5)  # error samples (not stored by sqlite), no crash
            errors_while_down = collector.stats()["readers"]["plc"]["errors"]
            sim.start()
            collector.flush(2.0)
            before = len(rows(db).get("plc_seconds", []))
            deadline = time.monotonic() + 10
            while len(rows(db).get("plc_seconds", [])) <= before and time.monotonic() < deadline:
                time.sleep(0.1)
                collector.flush(1.0)
            after = len(rows(db).get("plc_seconds", []))
        finally:
            collector.close()
    finally:
        sim.stop()
    assert errors_while_down > 0
    assert after > before  # values again once the device came back
    assert collector.stats()["readers"]["plc"]["failures"] == 0  # read() never raised


def test_bad_address_is_a_config_error_naming_the_variable(tmp_path):
    bad = {"id": 9, "codename": "plc_typo", "reader": "plc", "address": "hr:12:flaot32"}
    with pytest.raises(ConfigError, match=r"contexts\[0\]\.variables\[6\]\.address: variable 'plc_typo'.*flaot32"):
        build(config(1502, tmp_path / "x.sqlite", [bad]))


def test_bad_reader_option_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"readers\.plc.*protocol 'udp' is unknown"):
        build(config(1502, tmp_path / "x.sqlite", reader_options={"protocol": "udp"}))


def test_published_through_the_lab_entry_point():
    registry = Registry()
    from lab_modbus.reader import ModbusReader

    assert registry.get_class("reader", "modbus") is ModbusReader
    reader = registry.make("reader", "modbus", host="127.0.0.1", port=1502)
    assert isinstance(reader, ModbusReader)


def test_listing_and_the_cli_parser_do_not_import_pymodbus():
    code = ("import sys\n"
            "import lab_modbus.plugin\n"
            "from lab_core.cli import make_parser\n"
            "from lab_core import Registry\n"
            "r = Registry()\n"
            "r.load(); r.components('reader')\n"
            "make_parser(r)\n"
            "assert 'pymodbus' not in sys.modules, sorted(m for m in sys.modules if 'modbus' in m)\n"
            "print('ok')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_readme_examples_build(tmp_path, monkeypatch):
    readme = Path(__file__).parents[2] / "packages" / "modbus-reader" / "README.md"
    blocks = re.findall(r"```toml\n(.*?)```", readme.read_text(), re.S)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)  # the example's relative sqlite path lands here
    example = tomllib.loads(blocks[0])
    assert len(blocks[0].strip().splitlines()) <= 10
    setup = build(example)
    setup.collector.close()
    devices = tomllib.loads(blocks[1])
    registry = Registry()
    for name, options in devices["readers"].items():
        options = dict(options)
        reader = registry.make("reader", options.pop("plugin"), **options)
        assert reader.where, name
    table = readme.read_text().split("| address | reads |", 1)[1].split("\n\n", 1)[0]
    examples = re.findall(r"^\| `([^`]+)`(?:, `([^`]+)`)? \|", table, re.M)
    assert len(examples) >= 10
    for texts in examples:
        for text in filter(None, texts):
            parse_address(text)  # every address in the examples table parses

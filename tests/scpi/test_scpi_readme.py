"""Every example in packages/scpi/README.md runs as written."""

from __future__ import annotations

import re
import sqlite3
import sys
import time
from pathlib import Path

from lab_core import Registry
from lab_core.config import build
from lab_scpi.address import parse_address

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

README = (Path(__file__).parents[2] / "packages" / "scpi" / "README.md").read_text()
TOML = re.findall(r"```toml\n(.*?)```", README, re.S)


def test_the_example_runs(sim, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the example's relative sqlite path lands here
    example = TOML[0].replace("127.0.0.1::5025", f"127.0.0.1::{sim.port}")  # the simulator's free port
    assert example != TOML[0]
    setup = build(tomllib.loads(example))
    with setup.collector as collector:
        for context in setup.contexts:
            collector.start(context)
        time.sleep(1.5)
    with sqlite3.connect(tmp_path / "var" / "dmm.sqlite") as con:
        names = {name for (name,) in con.execute("SELECT d.codename FROM dateplots_lab t JOIN "
                                                 "dateplots_descriptions d ON d.id = t.type")}
    assert names == {"dmm_volt", "dmm_curr_ma"}


def test_the_several_instruments_example_builds():
    registry = Registry()
    readers = tomllib.loads(TOML[1])["readers"]
    assert {options["plugin"] for options in readers.values()} == {"scpi", "serial-line"}
    for options in readers.values():
        options = dict(options)
        registry.make("reader", options.pop("plugin"), **options)  # options are valid (nothing is opened)


def test_every_address_in_the_tables_parses():
    table = README.split("| address | reads |", 1)[1].split("\n\n", 1)[0]
    addresses = [a.replace("\\|", "|") for a in re.findall(r"^\| `([^`]+)` \|", table, re.M)]
    assert len(addresses) >= 12
    addresses += re.findall(r'address = "([^"]+)"', README)
    for address in addresses:
        parse_address(address)
    assert parse_address("*IDN?|str|re=,([\\w-]+),").value("LAB,SIM-DMM,0001,1.0") == "SIM-DMM"


def test_the_python_example_runs():
    (block,) = re.findall(r"```python\n(.*?)```", README, re.S)
    exec(compile(block, "README.md", "exec"), {})

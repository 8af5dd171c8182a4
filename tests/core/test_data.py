"""`lab data tail|export|codenames` on what the sqlite writer stored through a real collector run."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lab_core import Sample
from lab_core.cli import main
from lab_core.data import parse_when
from lab_core.writers.sqlite import SqliteWriter

LAB = [sys.executable, "-m", "lab_core.cli"]
CONFIG = """
[collector]
spool_dir = "{dir}/spool"

[readers.demo]

[writers.db]
plugin = "sqlite"
path = "{dir}/lab.sqlite"

[writers.csv]
path = "{dir}/lab.csv"

[[contexts]]
id = 1
default_interval_ms = 100
  [[contexts.variables]]
  id = 1
  codename = "demo_sine"
  reader = "demo"
  address = "sine:period=2"
  [[contexts.variables]]
  id = 2
  codename = "demo_ramp"
  reader = "demo"
  address = "ramp:period=2"
  interval_ms = 200
  [[contexts.variables]]
  id = 3
  codename = "other_noise"
  reader = "demo"
  address = "random:low=0,high=1"
"""


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """A configuration and the sqlite file its collector filled (setup not given: dateplots_lab)."""
    root = tmp_path_factory.mktemp("collected")
    config = root / "lab.toml"
    config.write_text(CONFIG.format(dir=root))
    result = subprocess.run([*LAB, "run", str(config), "--duration", "1.2"], capture_output=True, text=True,
                            timeout=60, cwd=root)
    assert result.returncode == 0, result.stderr
    return config, root / "lab.sqlite"


def stored(path: Path, codenames=None) -> list[tuple[str, str, float]]:
    """``(time text, codename, value)`` in time order, straight from the tables."""
    rows = sqlite3.connect(path).execute(
        "SELECT t.time, d.codename, t.value FROM dateplots_lab AS t JOIN dateplots_descriptions AS d "
        "ON d.id = t.type ORDER BY t.time, t.id").fetchall()
    return [r for r in rows if codenames is None or r[1] in codenames]


def lab(capsys, *args) -> tuple[int, str, str]:
    status = main(["data", *map(str, args)])
    out, err = capsys.readouterr()
    return status, out, err


def as_text(record: dict) -> tuple[str, str, float]:
    return record["iso_time"].replace("T", " ").removesuffix("+00:00"), record["codename"], record["value"]


def test_tail_prints_the_last_points_as_a_table(collected, capsys):
    _, db = collected
    status, out, _ = lab(capsys, "tail", db, "-n", "5")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["TIME", "(UTC)", "CODENAME", "VALUE"]
    expected = stored(db)[-5:]
    assert [line.split()[:3] for line in lines[1:]] == [[*t.split(), c] for t, c, _ in expected]
    assert [float(line.split()[3]) for line in lines[1:]] == [v for _, _, v in expected]


def test_export_by_codename_glob_and_time_range_in_json_csv_and_jsonl(collected, capsys):
    config, db = collected
    sines = stored(db, {"demo_sine", "demo_ramp"})
    since, until = sines[3][0], sines[-3][0]  # inclusive, exclusive
    expected = [r for r in sines if since <= r[0] < until]
    assert expected
    args = ["export", config, "--codename", "demo_*", "--since", since.replace(" ", "T"), "--until",
            until + "Z"]
    status, out, _ = lab(capsys, *args, "--format", "json")
    assert status == 0
    records = json.loads(out)
    assert [as_text(r) for r in records] == expected
    first = records[0]
    assert abs(first["time"] - parse_when(first["iso_time"], "t")) < 1e-6
    status, out, _ = lab(capsys, *args)  # csv is export's default
    assert status == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["time", "iso_time", "codename", "value"]
    assert [(r["iso_time"], r["codename"], float(r["value"])) for r in rows] == [
        (r["iso_time"], r["codename"], r["value"]) for r in records]
    status, out, _ = lab(capsys, *args, "--format", "jsonl")
    assert [json.loads(line) for line in out.splitlines()] == records


def test_tail_by_codename_in_every_format(collected, capsys):
    _, db = collected
    expected = stored(db, {"other_noise"})[-3:]
    for fmt in ("table", "csv", "json", "jsonl"):
        status, out, _ = lab(capsys, "tail", db, "--codename", "other_noise", "-n", "3", "--format", fmt)
        assert status == 0, fmt
        if fmt == "json":
            assert [as_text(r) for r in json.loads(out)] == expected
        elif fmt == "jsonl":
            assert [as_text(json.loads(line)) for line in out.splitlines()] == expected
        elif fmt == "csv":
            assert [r["codename"] for r in csv.DictReader(io.StringIO(out))] == ["other_noise"] * 3
        else:
            assert len(out.splitlines()) == 4 and all("other_noise" in line for line in out.splitlines()[1:])


def test_relative_times(collected, capsys):
    _, db = collected
    status, out, _ = lab(capsys, "export", db, "--since", "1h", "--format", "json")
    assert status == 0 and len(json.loads(out)) == len(stored(db))
    status, out, _ = lab(capsys, "export", db, "--until", "1h", "--format", "json")
    assert status == 0 and out == "[]\n"
    status, _, err = lab(capsys, "export", db, "--since", "yesterday")
    assert status == 2 and "--since 'yesterday' is not a time" in err and "15m" in err


def test_parse_when():
    assert parse_when("2026-12-02T06:00:00Z", "x") == parse_when("2026-12-02 07:00:00+01:00", "x") == 1796191200.0
    assert parse_when("2026-12-02", "x") == 1796169600.0
    assert parse_when("1796191200.5", "x") == 1796191200.5
    assert parse_when("90s", "x", now=1000.0) == 910.0 and parse_when("2d", "x", now=200000.0) == 27200.0


def test_codenames_lists_what_the_store_knows(collected, capsys):
    config, _ = collected
    status, out, _ = lab(capsys, "codenames", config, "--json")
    assert status == 0
    assert sorted(r["codename"] for r in json.loads(out)) == ["demo_ramp", "demo_sine", "other_noise"]


def test_an_unknown_codename_names_the_near_ones_and_the_listing_command(collected, capsys):
    _, db = collected
    status, _, err = lab(capsys, "tail", db, "--codename", "demo_sin")
    assert status == 2
    assert "--codename demo_sin is not a codename" in err and "did you mean demo_sine" in err
    listing = err.rsplit(": ", 1)[1].strip()
    assert listing == f"lab data codenames {db}"
    assert main(listing.split()[1:]) == 0
    status, _, err = lab(capsys, "tail", db, "--codename", "plc_*")
    assert status == 2 and "matches no codename" in err


def test_a_missing_table_says_the_default_and_how_to_pick_one(tmp_path, capsys):
    db = tmp_path / "other.sqlite"
    for setup in ("alpha", "beta"):
        writer = SqliteWriter(db, setup=setup)
        writer.open()
        writer.write([Sample(f"{setup}_x", 1_700_000_000.0, 1.0)])
        writer.close()
    status, _, err = lab(capsys, "tail", db)
    assert status == 2
    assert "no table dateplots_lab" in err and 'default is setup = "lab"' in err
    assert "dateplots_alpha, dateplots_beta" in err
    hint = err.rsplit("read one with: ", 1)[1].strip()
    assert hint == f"lab data tail {db} --setup alpha"
    assert main(hint.split()[1:]) == 0
    assert "alpha_x" in capsys.readouterr().out
    status, _, err = lab(capsys, "tail", db, "--setup", "gamma")
    assert status == 2 and "no table dateplots_gamma" in err


def test_the_only_table_is_read_without_setup(tmp_path, capsys):
    db = tmp_path / "one.sqlite"
    writer = SqliteWriter(db, setup="demo")
    writer.open()
    writer.write([Sample("a", 1_700_000_000.25, 2.5)])
    writer.close()
    status, out, _ = lab(capsys, "export", db, "--format", "jsonl")
    assert status == 0
    assert json.loads(out) == {"time": 1700000000.25, "iso_time": "2023-11-14T22:13:20.250000+00:00",
                               "codename": "a", "value": 2.5}


def test_which_writer_of_a_configuration(collected, tmp_path, capsys):
    config, _ = collected
    status, _, err = lab(capsys, "tail", config, "--writer", "csv")
    assert status == 2 and "its plugin csv cannot be read back" in err and "sqlite" in err
    status, _, err = lab(capsys, "tail", config, "--writer", "dbb")
    assert status == 2 and "did you mean db?" in err
    two = tmp_path / "two.toml"
    two.write_text(config.read_text().replace("[writers.csv]\npath", "[writers.backup]\nplugin = \"sqlite\"\npath"))
    status, _, err = lab(capsys, "tail", two)
    assert status == 2 and "2 writers that can be read back (db, backup)" in err
    hint = err.rsplit("pick one: ", 1)[1].strip()
    assert hint == f"lab data tail {two} --writer db"
    assert main(hint.split()[1:]) == 0


def test_what_is_not_a_store(tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    status, _, err = lab(capsys, "tail", text)
    assert status == 2 and "is not a store lab can read" in err and "an SQLite file" in err
    status, _, err = lab(capsys, "tail", tmp_path / "missing.sqlite")
    assert status == 2 and "no file" in err
    status, _, err = lab(capsys, "tail", "nosuch://x/y")
    assert status == 2 and "no installed store reads nosuch:// addresses" in err
    status, _, err = lab(capsys, "tail", tmp_path / "missing.toml")
    assert status == 2 and "does not exist" in err


def test_command_line_mistakes_exit_2(collected, capsys):
    config, db = collected
    for args, message in ((["tail", db, "-f", "--format", "json"], "use --format jsonl"),
                          (["tail", db, "-f", "--until", "1h"], "leave out --until"),
                          (["tail", db, "--writer", "db"], "is a store, not a configuration"),
                          (["tail", config, "--setup", "lab"], "pick the writer with --writer NAME"),
                          (["export", db, "--since", "1m", "--until", "1h"], "the range is empty"),
                          (["tail", db, "--setup", "a", "--table", "b"], "not both")):
        status, _, err = lab(capsys, *args)
        assert status == 2 and message in err, (args, err)
    assert main(["data"]) == 2


# -- as a person runs it: follow, a terminal, a pipe ------------------------------------------


def _writer(path: Path, setup: str = "lab") -> SqliteWriter:
    writer = SqliteWriter(path, setup=setup)
    writer.open()
    return writer


def test_follow_prints_new_points_until_ctrl_c(tmp_path):
    db = tmp_path / "f.sqlite"
    writer = _writer(db)
    writer.write([Sample("a", 1_700_000_000.0 + i, float(i)) for i in range(5)])
    child = subprocess.Popen([*LAB, "data", "tail", str(db), "-n", "2", "-f", "--interval", "0.1",
                              "--format", "jsonl"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert [json.loads(child.stdout.readline())["value"] for _ in range(2)] == [3.0, 4.0]
        writer.write([Sample("a", 1_600_000_000.0, 10.0), Sample("b", 1_700_000_100.0, 11.0)])  # late and new
        assert [json.loads(child.stdout.readline()) for _ in range(2)] == [
            {"time": 1600000000.0, "iso_time": "2020-09-13T12:26:40.000000+00:00", "codename": "a", "value": 10.0},
            {"time": 1700000100.0, "iso_time": "2023-11-14T22:15:00.000000+00:00", "codename": "b", "value": 11.0}]
    finally:
        child.send_signal(signal.SIGINT)
        assert child.wait(10) == 0, child.stderr.read()
        writer.close()


def test_export_shows_progress_on_a_terminal_and_stops_quietly_on_a_closed_pipe(tmp_path):
    db = tmp_path / "big.sqlite"
    writer = _writer(db)
    writer.write([Sample(f"c{i % 7}", 1_700_000_000.0 + i / 10, float(i)) for i in range(30_000)])
    writer.close()
    main_fd, child_fd = pty.openpty()
    result = subprocess.run([*LAB, "data", "export", str(db)], stdout=subprocess.PIPE, stderr=child_fd,
                            timeout=60)
    os.close(child_fd)
    err = os.read(main_fd, 4096).decode()
    os.close(main_fd)
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 30_001
    assert "30,000 points in" in err
    child = subprocess.Popen([*LAB, "data", "export", str(db)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout.readline() == b"time,iso_time,codename,value\n"
    child.stdout.close()  # as `| head -1` does
    assert child.wait(30) == 0
    assert child.stderr.read() == b""


def test_the_store_of_a_config_not_run_yet(tmp_path, capsys):
    config = tmp_path / "lab.toml"
    config.write_text(textwrap.dedent(f"""
        [readers.demo]
        [writers.db]
        plugin = "sqlite"
        path = "{tmp_path / 'never.sqlite'}"
        setup = "x"
        [[contexts]]
        id = 1
        [[contexts.variables]]
        id = 1
        codename = "a"
        reader = "demo"
        address = "sine"
    """))
    status, _, err = lab(capsys, "tail", config)
    assert status == 2 and "no file" in err and "has the collector run yet" in err
    _writer(tmp_path / "never.sqlite", setup="y").close()
    status, _, err = lab(capsys, "tail", config)
    assert status == 2 and "no table dateplots_x" in err and "lab run" in err


# -- the README's "Reading your data back", as written ---------------------------------------


def test_the_readme_commands_sql_and_pandas_line_run_as_written(tmp_path, monkeypatch):
    from readme import ROOT, blocks, run_pandas_line

    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "demo.toml").write_text((ROOT / "examples" / "demo.toml").read_text())
    found = dict(blocks("packages/core/README.md", "Reading your data back"))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for line in found["sh"].splitlines():
        result = subprocess.run(line, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, (line, result.stderr)
        if "--format json" in line:
            assert [r["codename"] for r in json.loads(result.stdout)] == ["demo_sine"] * 3
        if line.startswith("lab data tail examples/demo.toml"):
            assert len(result.stdout.splitlines()) == 11
    assert (tmp_path / "demo.csv").read_text().startswith("time,iso_time,codename,value\n")
    db = sqlite3.connect(tmp_path / "var" / "demo.sqlite")
    by_sql = db.execute(found["sql"]).fetchall()
    exported = subprocess.run([*LAB, "data", "export", "var/demo.sqlite", "--codename", "demo_sine", "--since",
                               "2026-01-01", "--format", "json"], cwd=tmp_path, capture_output=True, text=True)
    assert by_sql and [as_text(r) for r in json.loads(exported.stdout)] == by_sql
    monkeypatch.chdir(tmp_path)  # the pandas line names var/demo.sqlite
    frame = run_pandas_line(found["python"], {})
    everything = db.execute("SELECT d.codename, t.value FROM dateplots_demo t JOIN dateplots_descriptions d "
                            "ON d.id = t.type ORDER BY t.time, t.id").fetchall()
    assert [tuple(row[1:]) for row in frame] == everything

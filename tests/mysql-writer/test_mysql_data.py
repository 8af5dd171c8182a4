"""`lab data` on real MariaDB tables written by the real mysql writer, in every layout lab-mysql writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pymysql
import pytest
from mysql_helpers import execute, free_port, legacy_table, query

from lab_core import Sample
from lab_core.cli import main
from lab_mysql import schema
from lab_mysql.writer import MySQLWriter

LAB = [sys.executable, "-m", "lab_core.cli"]
CODENAMES = ("a_one", "a_two", "b_three")
T0 = 1_700_000_000.25
POINTS = [Sample(CODENAMES[k % 3], T0 + k * 0.5, float(k)) for k in range(12)]


def address(settings: dict, **query_options) -> str:
    password = f":{settings['password']}" if settings["password"] else ""
    text = f"mysql://{settings['user']}{password}@{settings['host']}:{settings['port']}/{settings['database']}"
    return text + ("?" + "&".join(f"{k}={v}" for k, v in query_options.items()) if query_options else "")


def init(settings: dict, setup: str, *flags: str) -> None:
    args = ["mysql", "init", "--host", settings["host"], "--port", str(settings["port"]), "--user", settings["user"],
            "--password", settings["password"], "--database", settings["database"], "--setup", setup, *flags]
    assert main([*args, *(f"--codename={c}" for c in CODENAMES)]) == 0


def write(settings: dict, setup: str, points=POINTS, **options) -> None:
    writer = MySQLWriter(**settings, setup=setup, codenames=CODENAMES, **options)
    writer.open()
    writer.write(points)
    writer.close()


def export(capsys, *args) -> tuple[int, list[dict], str]:
    capsys.readouterr()  # what came before
    status = main(["data", "export", *map(str, args), "--format", "json"])
    out, err = capsys.readouterr()
    return status, (json.loads(out) if status == 0 else []), err


def stored_time(t: float, precision: int) -> float:
    whole, fraction = divmod(round(t * 1e6), 1_000_000)  # the test's times have at most 2 decimals
    return whole + (fraction / 1e6 if precision else 0.0)


LAYOUTS = {  # setup -> (how it is made, time precision)
    "lab_ts": ((), 6),  # lab's own: TIMESTAMP(6), unique key
    "lab_dt": (("--time-type", "datetime"), 6),  # DATETIME(6) holding UTC (marked lab:time=utc)
    "pyx_dt": (("--pyexplabsys", "--time-type", "datetime"), 6),  # MyISAM, wall time of the server's zone
    "legacy": (None, 0),  # PyExpLabSys's own: TIMESTAMP, 1-second times, no unique key
    "offset": ("lab:time=+01:00", 6),  # DATETIME(6) in a +01:00 wall time, as its comment says
}


def make_layout(settings: dict, setup: str) -> None:
    how = LAYOUTS[setup][0]
    if isinstance(how, tuple):
        init(settings, setup, *how)
        return
    init(settings, "scratch")  # the descriptions table and the codenames
    table = f"dateplots_{setup}"
    execute(settings, legacy_table(table) if how is None else schema.continuous_ddl(table, "datetime", comment=how))


@pytest.mark.parametrize("setup", list(LAYOUTS))
def test_export_reads_every_layout_back_in_utc(mariadb, capsys, setup):
    make_layout(mariadb, setup)
    write(mariadb, setup)
    precision = LAYOUTS[setup][1]
    status, records, err = export(capsys, address(mariadb), "--setup", setup)
    assert status == 0, err
    assert [(r["codename"], r["time"], r["value"]) for r in records] == [
        (s.codename, stored_time(s.time, precision), s.value) for s in POINTS]
    since, until = T0 + 1.0, T0 + 3.0  # inclusive, exclusive
    status, records, _ = export(capsys, address(mariadb), "--setup", setup, "--codename", "a_*",
                                "--since", since, "--until", until)
    expected = [(s.codename, stored_time(s.time, precision)) for s in POINTS if s.codename.startswith("a_")
                and since <= stored_time(s.time, precision) < until]
    assert status == 0 and expected and [(r["codename"], r["time"]) for r in records] == expected


def test_a_wall_time_table_is_converted_both_ways(mariadb, capsys):
    make_layout(mariadb, "offset")
    write(mariadb, "offset", [Sample("a_one", T0, 1.0)])
    assert str(query(mariadb, "SELECT time FROM dateplots_offset")[0][0]) == "2023-11-14 23:13:20.250000"  # +01:00
    status, records, _ = export(capsys, address(mariadb), "--setup", "offset", "--since", "2023-11-14T22:13:20Z")
    assert status == 0 and [r["iso_time"] for r in records] == ["2023-11-14T22:13:20.250000+00:00"]
    status, records, _ = export(capsys, address(mariadb), "--setup", "offset", "--until", "2023-11-14T22:13:20Z")
    assert status == 0 and records == []
    status, records, _ = export(capsys, address(mariadb, time_zone="utc"), "--setup", "offset")  # told otherwise
    assert [r["iso_time"] for r in records] == ["2023-11-14T23:13:20.250000+00:00"]
    status, records, _ = export(capsys, address(mariadb, time_zone="+01:00"), "--setup", "offset")  # told outright
    assert [r["iso_time"] for r in records] == ["2023-11-14T22:13:20.250000+00:00"]


def test_tail_in_every_format(mariadb, capsys):
    init(mariadb, "lab_ts")
    write(mariadb, "lab_ts")
    where = address(mariadb, setup="lab_ts")
    last = POINTS[-2:]
    capsys.readouterr()
    for fmt in ("table", "csv", "json", "jsonl"):
        assert main(["data", "tail", where, "-n", "2", "--format", fmt]) == 0
        out = capsys.readouterr().out
        lines = out.splitlines()
        if fmt == "json":
            assert [(r["codename"], r["value"]) for r in json.loads(out)] == [(s.codename, s.value) for s in last]
        elif fmt == "jsonl":
            assert [json.loads(line)["time"] for line in lines] == [s.time for s in last]
        elif fmt == "csv":
            assert lines[0] == "time,iso_time,codename,value" and lines[2].endswith(",b_three,11.0")
        else:
            assert lines[0].split() == ["TIME", "(UTC)", "CODENAME", "VALUE"]
            assert lines[2].split() == ["2023-11-14", "22:13:25.750000", "b_three", "11.0"]


def test_errors_name_the_fix(mariadb, capsys):
    init(mariadb, "lab_ts")
    init(mariadb, "lab_dt", "--time-type", "datetime")
    where = address(mariadb)
    capsys.readouterr()
    assert main(["data", "tail", where]) == 2  # two tables, none named
    err = capsys.readouterr().err
    assert "has several data tables" in err and "dateplots_lab_dt, dateplots_lab_ts" in err
    assert main(["data", "tail", where, "--setup", "nope"]) == 2
    err = capsys.readouterr().err
    assert f"no table dateplots_nope in database {mariadb['database']}" in err
    hint = err.rsplit("read one with: ", 1)[1].strip()
    assert hint == f"lab data tail {where} --setup lab_dt"
    assert main(hint.split()[1:]) == 0
    capsys.readouterr()
    assert main(["data", "tail", where, "--setup", "lab_ts", "--codename", "a_on"]) == 2
    assert "did you mean a_one" in capsys.readouterr().err
    assert main(["data", "tail", where + "?colour=red"]) == 2
    assert "unknown option(s) colour" in capsys.readouterr().err


def test_an_unreachable_server_exits_1(capsys):
    status = main(["data", "tail", f"mysql://root@127.0.0.1:{free_port()}/test?connect_timeout=2", "--setup", "x"])
    assert status == 1 and "cannot reach MySQL/MariaDB" in capsys.readouterr().err


def test_a_collector_run_read_back_through_its_configuration(mariadb, tmp_path, capsys):
    init(mariadb, "demo")
    config = tmp_path / "lab.toml"
    config.write_text(textwrap.dedent(f"""
        [readers.demo]
        [writers.db]
        plugin = "mysql"
        host = "{mariadb['host']}"
        port = {mariadb['port']}
        user = "{mariadb['user']}"
        password = "{mariadb['password']}"
        database = "{mariadb['database']}"
        setup = "demo"
        [[contexts]]
        id = 1
        default_interval_ms = 100
        [[contexts.variables]]
        id = 1
        codename = "a_one"
        reader = "demo"
        address = "sine:period=2"
        [[contexts.variables]]
        id = 2
        codename = "b_three"
        reader = "demo"
        address = "ramp:period=2"
    """))
    run = subprocess.run([*LAB, "run", str(config), "--duration", "1"], capture_output=True, text=True, timeout=60,
                         cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    rows = query(mariadb, "SELECT d.codename, t.value FROM dateplots_demo t JOIN dateplots_descriptions d "
                          "ON d.id = t.type WHERE d.codename = 'b_three' ORDER BY t.time, t.id")
    capsys.readouterr()
    assert main(["data", "export", str(config), "--codename", "b_three", "--format", "jsonl"]) == 0
    assert [(r["codename"], r["value"]) for r in map(json.loads, capsys.readouterr().out.splitlines())] == rows
    assert len(rows) >= 5


def test_follow_sees_rows_committed_after_it_started(mariadb):
    init(mariadb, "lab_ts")
    write(mariadb, "lab_ts", POINTS[:3])
    child = subprocess.Popen([*LAB, "data", "tail", address(mariadb, setup="lab_ts"), "-n", "1", "-f",
                              "--interval", "0.1", "--format", "jsonl"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert json.loads(child.stdout.readline())["value"] == 2.0
        write(mariadb, "lab_ts", POINTS[3:5])
        assert [json.loads(child.stdout.readline())["value"] for _ in range(2)] == [3.0, 4.0]
    finally:
        child.send_signal(signal.SIGINT)
        assert child.wait(10) == 0, child.stderr.read()


def test_the_readme_commands_sql_and_pandas_line_run(mariadb, tmp_path, capsys):
    """The README's "Reading your data back" with its server (db.lab, user dummy, database cinfdata)
    replaced by the test's; lab.toml is the README's own collector example, likewise."""
    from readme import blocks, run_pandas_line

    here = {"mysql://dummy@db.lab/cinfdata": address(mariadb), 'host="db.lab"': f'host="{mariadb["host"]}", '
            f'port={mariadb["port"]}', 'user="dummy"': f'user="{mariadb["user"]}"',
            'password="dummy"': f'password="{mariadb["password"]}"', 'database="cinfdata"':
            f'database="{mariadb["database"]}"', 'host = "db.lab"': f'host = "{mariadb["host"]}"\nport = '
            f'{mariadb["port"]}', 'user = "dummy"': f'user = "{mariadb["user"]}"', 'database = "cinfdata"':
            f'database = "{mariadb["database"]}"'}

    def ours(text: str) -> str:
        for theirs, mine in here.items():
            text = text.replace(theirs, mine)
        return text

    example = dict(blocks("packages/mysql-writer/README.md", "Example"))["toml"]
    (tmp_path / "lab.toml").write_text(ours(example))
    main(["mysql", "init", "--host", mariadb["host"], "--port", str(mariadb["port"]), "--user", mariadb["user"],
          "--password", mariadb["password"], "--database", mariadb["database"], "--setup", "dummy",
          "--codename", "dummy_sine_one", "--codename", "dummy_cos"])
    write(mariadb, "dummy", [Sample("dummy_sine_one", 1_796_191_200.5 + i, i / 2) for i in range(4)]
          + [Sample("dummy_cos", 1_796_191_200.5, 9.0), Sample("dummy_sine_one", 1_700_000_000.0, -1.0)])
    found = dict(blocks("packages/mysql-writer/README.md", "Reading your data back"))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "LAB_DB_PASSWORD": mariadb["password"], "LAB_MYSQL_PASSWORD": mariadb["password"]}
    for line in found["sh"].splitlines():
        result = subprocess.run(ours(line), shell=True, cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 0, (line, result.stderr)
    assert "dummy_sine_one" in result.stdout and "dummy_cos" in result.stdout  # lab data codenames
    statements = [s.strip() for s in found["sql"].split(";") if s.strip()]
    conn = pymysql.connect(**mariadb)
    with conn.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
        by_sql = [(str(t), c, v) for t, c, v in cursor.fetchall()]
    conn.close()
    capsys.readouterr()
    assert main(["data", "export", address(mariadb), "--setup", "dummy", "--codename", "dummy_sine_one",
                 "--since", "2026-01-01", "--format", "json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert len(by_sql) == 4
    assert [(r["iso_time"].replace("T", " ").removesuffix("+00:00"), r["codename"], r["value"])
            for r in exported] == by_sql
    frame = run_pandas_line(ours(found["python"]), {})
    assert [tuple(row[1:]) for row in frame] == [(c, v) for _, c, v in query(
        mariadb, "SELECT t.time, d.codename, t.value FROM dateplots_dummy t JOIN dateplots_descriptions d "
                 "ON d.id = t.type ORDER BY t.time, t.id")]


def test_an_export_cut_short_by_a_closed_pipe_ends_quietly(mariadb):
    init(mariadb, "lab_ts")
    write(mariadb, "lab_ts", [Sample(CODENAMES[k % 3], T0 + k / 100, float(k)) for k in range(20_000)])
    child = subprocess.Popen([*LAB, "data", "export", address(mariadb, setup="lab_ts")], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    assert child.stdout.readline() == b"time,iso_time,codename,value\n"
    child.stdout.close()  # as `| head -1` does: the rest of the result is left unread, the connection dropped
    assert child.wait(30) == 0
    assert child.stderr.read() == b""

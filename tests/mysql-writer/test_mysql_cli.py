"""`lab mysql init` / `lab mysql codenames`, the plugin's publication, and `lab run` with a mysql writer."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from mysql_helpers import LEGACY_DESCRIPTIONS, execute, legacy_table, query, read_points

from lab_core import Sample
from lab_core.cli import main
from lab_mysql.writer import MySQLWriter


def connection_args(settings: dict) -> list[str]:
    return ["--host", settings["host"], "--port", str(settings["port"]), "--user", settings["user"],
            "--password", settings["password"], "--database", settings["database"]]


def test_init_creates_tables_and_registers_codenames(mariadb, capsys):
    args = ["mysql", "init", *connection_args(mariadb), "--setup", "dummy",
            "--codename", "dummy_sine_one:A sine", "--codename", "dummy_cos"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "table dateplots_dummy: created" in out and "codename dummy_cos: id 2 (registered)" in out
    assert query(mariadb, "SELECT id, codename, description FROM dateplots_descriptions ORDER BY id") == [
        (1, "dummy_sine_one", "A sine"), (2, "dummy_cos", None)]
    columns = dict(query(mariadb, "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
                                  "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'dateplots_dummy'"))
    assert columns["time"] == "timestamp(6)"
    unique = query(mariadb, "SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) FROM information_schema.STATISTICS "
                            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'dateplots_dummy' AND NON_UNIQUE = 0 "
                            "AND INDEX_NAME <> 'PRIMARY' GROUP BY INDEX_NAME")
    assert unique == [("type,time",)]
    # again: nothing changes, the same ids come back
    assert main([*args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["tables"]["dateplots_dummy"].startswith("exists")
    assert result["codenames"]["dummy_cos"] == {"id": 2, "created": False, "filled": []}


def test_init_datasets_and_datetime(mariadb, capsys):
    assert main(["mysql", "init", *connection_args(mariadb), "--setup", "xps", "--datasets",
                 "--time-type", "datetime"]) == 0
    tables = {r[0] for r in query(mariadb, "SHOW TABLES")}
    assert tables == {"dateplots_descriptions", "dateplots_xps", "measurements_xps", "xy_values_xps"}
    assert query(mariadb, "SELECT DATA_TYPE, DATETIME_PRECISION FROM information_schema.COLUMNS WHERE "
                          "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'measurements_xps' AND COLUMN_NAME = 'time'") == [
        ("datetime", 6)]


def test_init_on_an_existing_pyexplabsys_database(mariadb, capsys):
    """Existing tables and their rows are left alone; new codenames get max(id) + 1; the writer writes there."""
    execute(mariadb, LEGACY_DESCRIPTIONS, legacy_table("dateplots_old"),
            "INSERT INTO dateplots_descriptions VALUES (1, 'old_a', 'x'), (5, 'old_b', NULL)",
            "INSERT INTO dateplots_old (time, type, value) VALUES ('2020-01-01 10:00:00', 1, 1.5), "
            "('2020-01-01 10:00:01', 5, 2.5)")
    before = query(mariadb, "CHECKSUM TABLE dateplots_old")
    create_before = query(mariadb, "SHOW CREATE TABLE dateplots_old")
    assert main(["mysql", "init", *connection_args(mariadb), "--setup", "old", "--codename", "old_a",
                 "--codename", "new_c"]) == 0
    captured = capsys.readouterr()
    assert "table dateplots_old: exists (left as it is)" in captured.out
    assert "codename old_a: id 1 (already registered)" in captured.out
    assert "codename new_c: id 6 (registered)" in captured.out
    assert "no unique key on (type, time)" in captured.err and "1-second resolution" in captured.err
    assert query(mariadb, "CHECKSUM TABLE dateplots_old") == before
    assert query(mariadb, "SHOW CREATE TABLE dateplots_old") == create_before
    writer = MySQLWriter(**mariadb, setup="old", codenames=["old_a", "new_c"])
    writer.open()
    writer.write([Sample("new_c", 1_700_000_000.7, 3.5)])
    writer.close()
    assert read_points(mariadb, "dateplots_old")[-1] == ("new_c", 1_700_000_000.0, 3.5)


def test_codenames_command(mariadb, capsys):
    main(["mysql", "init", *connection_args(mariadb), "--setup", "s", "--codename", "one:The first"])
    capsys.readouterr()
    assert main(["mysql", "codenames", *connection_args(mariadb), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"id": 1, "codename": "one", "description": "The first"}]


@pytest.mark.parametrize("bad", [["--setup", "a;b"], ["--setup", "ok", "--codename", "has space"]])
def test_init_refuses_bad_names(mariadb, capsys, bad):
    assert main(["mysql", "init", *connection_args(mariadb), *bad]) == 2
    assert "lab: error:" in capsys.readouterr().err
    assert query(mariadb, "SHOW TABLES") == []


def test_init_unreachable_server(capsys):
    from mysql_helpers import free_port

    code = main(["mysql", "init", "--host", "127.0.0.1", "--port", str(free_port()), "--user", "root",
                 "--database", "x", "--setup", "s"])
    assert code == 2
    assert "cannot reach" in capsys.readouterr().err


def test_listing_and_loading_the_plugin_does_not_import_pymysql():
    code = textwrap.dedent("""
        import sys
        from lab_core import Registry
        from lab_core.cli import make_parser
        registry = Registry()
        names = registry.components("writer")
        make_parser(registry)
        print(sorted(names), "pymysql" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "'mysql'" in out and out.strip().endswith("False")


def test_lab_run_with_a_mysql_writer(mariadb, tmp_path, capsys):
    """The README's collector example: demo reader -> disk spool -> mysql writer."""
    assert main(["mysql", "init", *connection_args(mariadb), "--setup", "demo",
                 "--codename", "demo_sine", "--codename", "demo_ramp"]) == 0
    config = tmp_path / "lab.toml"
    config.write_text(textwrap.dedent(f"""
        [collector]
        spool_dir = "{tmp_path / 'spool'}"

        [readers.demo]

        [writers.db]
        plugin = "mysql"
        spool = "disk"
        host = "{mariadb['host']}"
        port = {mariadb['port']}
        user = "{mariadb['user']}"
        password = "{mariadb['password']}"
        database = "{mariadb['database']}"
        setup = "demo"
        codenames = ["demo_sine", "demo_ramp"]

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
        address = "ramp"
    """))
    assert main(["run", str(config), "--duration", "1"]) == 0
    stored = read_points(mariadb, "dateplots_demo")
    assert {c for c, _, _ in stored} == {"demo_sine", "demo_ramp"}
    assert len(stored) >= 4
    assert len({(c, t) for c, t, _ in stored}) == len(stored)


def test_init_offers_the_descriptions_of_a_configuration(mariadb, capsys, tmp_path):
    config = tmp_path / "lab.toml"
    config.write_text(textwrap.dedent("""
        [readers.demo]
        [writers.db]
        plugin = "null"
        [[contexts]]
        id = 1
          [[contexts.variables]]
          id = 1
          codename = "oven_t"
          reader = "demo"
          address = "sine"
          unit = "degC"
          description = "Oven temperature"
          [[contexts.variables]]
          id = 2
          codename = "oven_p"
          reader = "demo"
          address = "random"
    """))
    args = ["mysql", "init", *connection_args(mariadb), "--setup", "oven", "--codename", "oven_p:Given here",
            "--from-config", str(config)]
    assert main(args) == 0
    assert query(mariadb, "SELECT codename, description FROM dateplots_descriptions ORDER BY id") == [
        ("oven_p", "Given here"), ("oven_t", "Oven temperature")]

"""Onboarding with a MySQL writer: `lab mysql init --config`, `--create-database`, and the hints.

Every hint is taken from a real failure, run in a shell exactly as printed, and the failure must
then be gone. Databases made here have throwaway names and are dropped afterwards.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from mysql_helpers import execute, query

from lab_core.cli import main
from lab_core.exitcodes import ExitCode
from lab_mysql.connection import PASSWORD_ENV, ConnectionSettings

LAB = [sys.executable, "-m", "lab_core.cli"]
PASSWORD_VARIABLE = "LAB_TEST_ONBOARDING_PASSWORD"  # what the configurations' password_env names


def shell_env(settings: dict) -> dict:
    """The environment of a user's shell: `lab` on PATH, the passwords where the commands look."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            PASSWORD_ENV: settings["password"], PASSWORD_VARIABLE: settings["password"]}


def lab(settings: dict, *args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([*LAB, *args], cwd=cwd, env=shell_env(settings), capture_output=True, text=True,
                          timeout=120)


def run_hint(settings: dict, output: str, marker: str, cwd) -> str:
    """Run, in a shell, the command that follows ``marker`` on the line of ``output`` that has it."""
    line = next((line for line in output.splitlines() if marker in line), None)
    assert line is not None, f"no {marker!r} in:\n{output}"
    command = line.split(marker, 1)[1].strip()
    assert command.startswith("lab "), command
    done = subprocess.run(command, shell=True, cwd=cwd, env=shell_env(settings), capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{command}\n{done.stdout}{done.stderr}"
    return command


@pytest.fixture
def new_database(mariadb_server):
    """A database name that does not exist yet (dropped afterwards, if something made it)."""
    name = f"labnew_{uuid.uuid4().hex[:12]}"
    yield name
    execute({k: v for k, v in mariadb_server.items()}, f"DROP DATABASE IF EXISTS `{name}`")


def writer_table(name: str, settings: dict, database: str, setup: str, extra: str = "") -> str:
    return textwrap.dedent(f"""
        [writers.{name}]
        plugin = "mysql"
        host = "{settings['host']}"
        port = {settings['port']}
        user = "{settings['user']}"
        password_env = "{PASSWORD_VARIABLE}"
        database = "{database}"
        setup = "{setup}"
        connect_timeout = 2
        """) + extra


def variable(i: int, codename: str, extra: str = "") -> str:
    return textwrap.dedent(f"""
          [[contexts.variables]]
          id = {i}
          codename = "{codename}"
          reader = "demo"
          address = "sine"
        """) + extra


def connection_flags(settings: dict) -> list[str]:
    return ["--host", settings["host"], "--port", str(settings["port"]), "--user", settings["user"]]


def test_init_config_registers_what_each_writer_writes(mariadb, new_database, tmp_path, monkeypatch, capsys):
    """Two writers, two databases (one made by --create-database); each gets the codenames of the
    contexts it writes, with descriptions, and units where its descriptions table has a unit column
    (filled in where an existing row has none, never overwritten)."""
    monkeypatch.setenv(PASSWORD_VARIABLE, mariadb["password"])
    execute(mariadb, "CREATE TABLE dateplots_descriptions (id SMALLINT UNSIGNED NOT NULL PRIMARY KEY, "
                     "codename CHAR(255) NOT NULL UNIQUE, description CHAR(255) NULL, unit CHAR(32) NULL)",
            "INSERT INTO dateplots_descriptions VALUES (5, 'everywhere', NULL, NULL), (6, 'kept', 'Kept', 'K')")
    config = tmp_path / "lab.toml"
    config.write_text("[readers.demo]\n" + writer_table("here", mariadb, mariadb["database"], "here")
                      + writer_table("there", mariadb, new_database, "there")
                      + "[[contexts]]\nid = 1\nwriters = [\"here\"]\n"
                      + variable(1, "only_here", 'description = "Only here"\n')
                      + variable(2, "kept", 'description = "Not this"\nunit = "V"\n')
                      + "[[contexts]]\nid = 2\n"
                      + variable(1, "everywhere", 'unit = "degC"\ndescription = "Oven temperature"\n'))
    assert main(["mysql", "init", "--config", str(config), "--create-database"]) == 0
    assert "codename everywhere: id 5 (already registered; its empty description and unit filled)" \
        in capsys.readouterr().out
    there = {**mariadb, "database": new_database}
    assert query(mariadb, "SELECT id, codename, description, unit FROM dateplots_descriptions ORDER BY id") == [
        (5, "everywhere", "Oven temperature", "degC"), (6, "kept", "Kept", "K"), (7, "only_here", "Only here", None)]
    assert query(there, "SELECT codename, description FROM dateplots_descriptions") == [
        ("everywhere", "Oven temperature")]
    assert {r[0] for r in query(there, "SHOW TABLES")} == {"dateplots_descriptions", "dateplots_there"}
    assert "dateplots_here" in {r[0] for r in query(mariadb, "SHOW TABLES")}

    doctor = lab(mariadb, "doctor", str(config), cwd=tmp_path)
    assert doctor.returncode == ExitCode.OK and "no problems found" in doctor.stdout, doctor.stdout


def test_flags_given_win_over_the_writers_options(mariadb, tmp_path, monkeypatch, capsys):
    """`--config` with `--setup` and `--database`: the writer's server, those tables; `--from-config`
    is the same option."""
    monkeypatch.setenv(PASSWORD_VARIABLE, mariadb["password"])
    config = tmp_path / "lab.toml"
    config.write_text("[readers.demo]\n" + writer_table("db", mariadb, "not_this_one", "lab")
                      + "[[contexts]]\nid = 1\n" + variable(1, "oven_t"))
    assert main(["mysql", "init", "--from-config", str(config), "--database", mariadb["database"],
                 "--setup", "other", "--json"]) == 0
    result = capsys.readouterr().out
    assert '"dateplots_other": "created"' in result and '"writers"' in result
    assert query(mariadb, "SELECT codename FROM dateplots_descriptions") == [("oven_t",)]


def test_a_missing_database_is_named_with_the_command_that_creates_it(mariadb_server, new_database, tmp_path):
    args = ["mysql", "init", *connection_flags(mariadb_server), "--database", new_database, "--setup", "s",
            "--codename", "x_one:First x"]
    done = lab(mariadb_server, *args, cwd=tmp_path)
    assert done.returncode == ExitCode.CONFIG
    assert f"database {new_database} does not exist on {mariadb_server['host']}:{mariadb_server['port']}" \
        in done.stderr
    command = run_hint(mariadb_server, done.stderr, "with: ", tmp_path)
    assert command.endswith("--create-database") and "'x_one:First x'" in command
    created = {**mariadb_server, "database": new_database}
    assert query(created, "SELECT codename, description FROM dateplots_descriptions") == [("x_one", "First x")]


def test_the_hint_of_an_unregistered_codename_at_start_up_runs(mariadb, tmp_path):
    main(["mysql", "init", *connection_flags(mariadb), "--database", mariadb["database"], "--setup", "lab",
          "--codename", "known"])
    config = tmp_path / "lab.toml"
    config.write_text("[readers.demo]\n" + writer_table("db", mariadb, mariadb["database"], "lab")
                      + "[[contexts]]\nid = 1\n" + variable(1, "known") + variable(2, "not_registered"))
    refused = lab(mariadb, "run", str(config), "--duration", "1", cwd=tmp_path)
    assert refused.returncode == ExitCode.CONFIG and "'not_registered' not found" in refused.stderr
    command = run_hint(mariadb, refused.stderr, "with: ", tmp_path)
    assert f"--password-env {PASSWORD_VARIABLE}" in command and "--codename not_registered" in command
    ran = lab(mariadb, "run", str(config), "--duration", "1", cwd=tmp_path)
    assert ran.returncode == ExitCode.OK, ran.stderr
    assert query(mariadb, "SELECT COUNT(DISTINCT type) FROM dateplots_lab") == [(2,)]


def test_following_the_doctors_fixes_sets_up_an_empty_database(mariadb, tmp_path):
    """No tables, then no codenames: each `fix:` run as printed, until `lab doctor` finds nothing."""
    config = tmp_path / "lab.toml"
    config.write_text("[readers.demo]\n" + writer_table("db", mariadb, mariadb["database"], "lab")
                      + "[[contexts]]\nid = 1\n" + variable(1, "oven_t") + variable(2, "oven_p"))
    fixes = []
    for _ in range(3):
        doctor = lab(mariadb, "doctor", str(config), cwd=tmp_path)
        if doctor.returncode == ExitCode.OK:
            break
        assert doctor.returncode == ExitCode.FAILED, doctor.stdout + doctor.stderr
        fixes.append(run_hint(mariadb, doctor.stdout, "fix: ", tmp_path))
    assert doctor.returncode == ExitCode.OK and "no problems found" in doctor.stdout, doctor.stdout
    assert len(fixes) == 2 and "--codename oven_t --codename oven_p" in fixes[1], fixes


def test_the_flags_of_a_hint_connect_as_the_writer_does():
    settings = ConnectionSettings.from_options(database="lab", user="ann", password="secret", host="db.lab",
                                               port=3307, ssl_ca="/etc/my certs/ca.pem", ssl_verify_cert=True)
    assert settings.command_flags() == ["--host", "db.lab", "--port", "3307", "--user", "ann", "-p", "--ssl-ca",
                                        "/etc/my certs/ca.pem", "--ssl-verify-cert", "--database", "lab"]
    on_socket = ConnectionSettings.from_options(database="lab", unix_socket="/run/mysqld/mysqld.sock")
    assert on_socket.command_flags() == ["--socket", "/run/mysqld/mysqld.sock", "--database", "lab"]


def test_the_readme_example_init_from_the_configuration(mariadb_server, new_database, tmp_path):
    """The README's configuration, pointed at the test server and a new database: `lab mysql init
    --config lab.toml --create-database` (as the README gives it, without the admin login) makes
    all it needs, and `lab doctor` then finds nothing."""
    from readme import ROOT

    readme = (ROOT / "packages/mysql-writer/README.md").read_text()
    command = next(line.strip() for line in readme.splitlines() if line.startswith("    lab mysql init --config"))
    toml = re.search(r"```toml\n(.*?)```", readme.split("\n## Example\n", 1)[1], re.S)[1]
    settings = {"host": mariadb_server["host"], "user": mariadb_server["user"], "database": new_database}
    for key, value in settings.items():
        toml = re.sub(rf'^{key} = "[^"]*"', f'{key} = "{value}"', toml, count=1, flags=re.M)
    toml = toml.replace("[writers.db]", f"[writers.db]\nport = {mariadb_server['port']}")
    (tmp_path / "lab.toml").write_text(toml)
    env = {**shell_env(mariadb_server), "LAB_DB_PASSWORD": mariadb_server["password"]}
    command = command.replace(" --user admin -p", "")
    done = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "codename dummy_sine_one: id 1 (registered)" in done.stdout
    doctor = subprocess.run([*LAB, "doctor", "lab.toml"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert doctor.returncode == ExitCode.OK and "no problems found" in doctor.stdout, doctor.stdout

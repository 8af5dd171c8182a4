"""`lab doctor` with a mysql writer: an unregistered codename is an error, a database down a warning."""

import subprocess
import sys
import textwrap

from lab_core.cli import main
from lab_core.exitcodes import ExitCode
from services import free_port

LAB = [sys.executable, "-m", "lab_core.cli"]


def write_config(tmp_path, settings: dict, codenames=("known",)):
    variables = "".join(textwrap.dedent(f"""
          [[contexts.variables]]
          id = {i}
          codename = "{name}"
          reader = "demo"
          address = "sine"
        """) for i, name in enumerate(codenames, 1))
    path = tmp_path / "lab.toml"
    path.write_text(textwrap.dedent(f"""
        [readers.demo]
        [writers.db]
        plugin = "mysql"
        host = "{settings['host']}"
        port = {settings['port']}
        user = "{settings['user']}"
        database = "{settings['database']}"
        setup = "lab"
        connect_timeout = 2
        [[contexts]]
        id = 1
        """) + variables)
    return path


def doctor(config, tmp_path):
    return subprocess.run([*LAB, "doctor", str(config)], cwd=tmp_path, capture_output=True, text=True, timeout=60)


def test_doctor_finds_an_unregistered_codename(mariadb, tmp_path):
    assert main(["mysql", "init", "--host", mariadb["host"], "--port", str(mariadb["port"]), "--user",
                 mariadb["user"], "--database", mariadb["database"], "--setup", "lab", "--codename", "known"]) == 0
    config = write_config(tmp_path, mariadb, ("known", "not_registered"))
    result = doctor(config, tmp_path)
    assert result.returncode == ExitCode.FAILED, result.stdout + result.stderr
    assert f"ERROR: writers.db in {config}: codename(s) 'not_registered' not found in dateplots_descriptions" \
        in result.stdout
    assert "'known'" not in result.stdout

    registered = doctor(write_config(tmp_path, mariadb, ("known",)), tmp_path)
    assert registered.returncode == ExitCode.OK and "no problems found" in registered.stdout


def test_an_unreachable_database_is_a_warning(tmp_path):
    settings = {"host": "127.0.0.1", "port": free_port(), "user": "root", "database": "lab"}
    result = doctor(write_config(tmp_path, settings), tmp_path)
    assert result.returncode == ExitCode.OK, result.stdout + result.stderr
    assert "WARNING: writers.db" in result.stdout and "cannot be reached now" in result.stdout
    assert "0 error(s), 1 warning(s)" in result.stdout

"""`lab run` against a MySQL server that cannot be reached: the exit status says whether samples were lost."""

import subprocess
import sys
import textwrap

from lab_core.exitcodes import ExitCode
from services import free_port

LAB = [sys.executable, "-m", "lab_core.cli"]


def run_against_a_closed_port(tmp_path, spool: str):
    config = tmp_path / "lab.toml"
    config.write_text(textwrap.dedent(f"""
        [collector]
        flush_timeout_s = 1
        spool_dir = "spool"
        [readers.demo]
        [writers.db]
        plugin = "mysql"
        host = "127.0.0.1"
        port = {free_port()}          # nothing listens there
        user = "root"
        database = "lab"
        setup = "lab"
        connect_timeout = 1
        spool = {spool}
        [[contexts]]
        id = 1
        default_interval_ms = 100
          [[contexts.variables]]
          id = 1
          codename = "v1"
          reader = "demo"
          address = "sine"
        """))
    return subprocess.run([*LAB, "run", str(config), "--duration", "1"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


def test_samples_left_in_a_memory_spool_exit_lost(tmp_path):
    result = run_against_a_closed_port(tmp_path, '"memory"')
    assert result.returncode == ExitCode.LOST, result.stderr
    line = next(x for x in result.stderr.splitlines() if "writer db:" in x and " accepted: " in x)
    accepted = int(line.split("writer db: ")[1].split()[0])
    assert accepted > 0 and f"0 delivered, {accepted} left," in line
    assert f"samples were lost: writer db: {accepted}" in result.stderr


def test_a_full_memory_spool_exits_lost(tmp_path):
    result = run_against_a_closed_port(tmp_path, '{ kind = "memory", capacity = 2 }')
    assert result.returncode == ExitCode.LOST, result.stderr
    line = next(x for x in result.stderr.splitlines() if "writer db:" in x and " accepted: " in x)
    assert "2 left" in line and " 0 dropped" not in line


def test_samples_kept_in_a_disk_spool_are_not_lost(tmp_path):
    result = run_against_a_closed_port(tmp_path, '"disk"')
    assert result.returncode == ExitCode.OK, result.stderr
    assert "left (kept in the disk spool)" in result.stderr and "samples were lost" not in result.stderr

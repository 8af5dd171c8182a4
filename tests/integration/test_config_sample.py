"""`lab config sample modbus mysql` is a configuration `lab doctor` accepts, against a real PLC and MariaDB."""

from __future__ import annotations

import re
import subprocess
import sys

from lab_core.cli import main
from lab_core.exitcodes import ExitCode

LAB = [sys.executable, "-m", "lab_core.cli"]


def lab(*args, cwd):
    return subprocess.run([*LAB, *args], cwd=cwd, capture_output=True, text=True, timeout=90)


def set_option(text: str, section: str, key: str, value: str) -> str:
    """``text`` with ``key`` (set or commented out) of ``[section]`` set to ``value``, as a person edits it."""
    head, rest = text.split(f"[{section}]\n", 1)
    body, tail = rest.split("\n\n", 1)
    body, count = re.subn(rf"^(# )?{key} = .*$", f"{key} = {value}", body, count=1, flags=re.M)
    assert count == 1, f"{key} is not in [{section}]"
    return f"{head}[{section}]\n{body}\n\n{tail}"


def test_the_modbus_mysql_sample_passes_doctor(mariadb, tmp_path):
    from lab_modbus.simulator import Simulator

    sample = lab("config", "sample", "modbus", "mysql", cwd=tmp_path)
    assert sample.returncode == 0, sample.stderr
    text = sample.stdout
    assert '[readers.modbus]\n## which reader plugin (default: the instance name) — a string\nplugin = "modbus"' in text
    assert 'database = "cinfdata"' in text and 'setup = "lab"' in text and 'address = "hr:0"' in text
    assert "\n# port = 502\n" in text and "\n# port = 3306\n" in text  # optional: commented, at the default

    as_printed = tmp_path / "as-printed.toml"
    as_printed.write_text(text)
    loads = lab("doctor", str(as_printed), "--json", cwd=tmp_path)
    assert loads.returncode != ExitCode.CONFIG, loads.stdout + loads.stderr  # valid as printed

    with Simulator(live=False) as plc:
        plc.set("hr:0", 7)
        for key, value in (("port", str(plc.port)), ("timeout", "1.0")):
            text = set_option(text, "readers.modbus", key, value)
        for key, value in (("host", f'"{mariadb["host"]}"'), ("port", str(mariadb["port"])),
                           ("user", f'"{mariadb["user"]}"'), ("database", f'"{mariadb["database"]}"')):
            text = set_option(text, "writers.mysql", key, value)
        assert main(["mysql", "init", "--host", mariadb["host"], "--port", str(mariadb["port"]), "--user",
                     mariadb["user"], "--database", mariadb["database"], "--setup", "lab",
                     "--codename", "modbus_1"]) == 0
        config = tmp_path / "lab.toml"
        config.write_text(text)
        doctor = lab("doctor", str(config), cwd=tmp_path)
        assert doctor.returncode == ExitCode.OK, doctor.stdout + doctor.stderr
        assert f"checked configuration {config}: 1 reader, 1 variable (one trial read each), 1 writer" \
            in doctor.stdout
        assert "no problems found" in doctor.stdout

        once = lab("run", "--once", str(config), cwd=tmp_path)
        assert once.returncode == ExitCode.OK and re.search(r"^modbus_1 +7(\.0)? ", once.stdout, re.M), once.stdout


def test_the_sample_without_a_registered_codename_is_what_doctor_catches(mariadb, tmp_path):
    """The sample's mysql writer is really checked: its codename is not in the fresh database."""
    text = lab("config", "sample", "mysql", cwd=tmp_path).stdout
    for key, value in (("host", f'"{mariadb["host"]}"'), ("port", str(mariadb["port"])),
                       ("user", f'"{mariadb["user"]}"'), ("database", f'"{mariadb["database"]}"')):
        text = set_option(text, "writers.mysql", key, value)
    assert main(["mysql", "init", "--host", mariadb["host"], "--port", str(mariadb["port"]), "--user",
                 mariadb["user"], "--database", mariadb["database"], "--setup", "lab"]) == 0
    config = tmp_path / "lab.toml"
    config.write_text(text)
    doctor = lab("doctor", str(config), cwd=tmp_path)
    assert doctor.returncode == ExitCode.FAILED, doctor.stdout + doctor.stderr
    assert "codename(s) 'demo_1' not found" in doctor.stdout

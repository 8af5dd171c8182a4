"""`lab run`'s exit status and summary tell what became of the samples (real runs, as a user makes them)."""

import json
import subprocess
import sys
import textwrap

import pytest

from lab_core.exitcodes import ExitCode

LAB = [sys.executable, "-m", "lab_core.cli"]


def lab_run(tmp_path, writers: str, *, address="sine", value_type="float", seconds="1.0"):
    config = tmp_path / "lab.toml"
    config.write_text(textwrap.dedent("""
        [collector]
        flush_timeout_s = 1
        [readers.demo]
        """) + textwrap.dedent(writers) + textwrap.dedent(f"""
        [[contexts]]
        id = 1
        default_interval_ms = 100
          [[contexts.variables]]
          id = 1
          codename = "v1"
          reader = "demo"
          address = "{address}"
          type = "{value_type}"
        """))
    return subprocess.run([*LAB, "run", str(config), "--duration", seconds], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


def test_a_clean_run_exits_0_and_counts_values(tmp_path):
    result = lab_run(tmp_path, '[writers.out]\nplugin = "csv"\npath = "out.csv"\n')
    assert result.returncode == ExitCode.OK, result.stderr
    line = next(x for x in result.stderr.splitlines() if "writer out:" in x and " accepted: " in x)
    accepted = int(line.split("writer out: ")[1].split()[0])
    assert accepted > 0 and f"{accepted} accepted: {accepted} values, 0 errors; {accepted} delivered" in line


def test_error_samples_are_counted_apart_from_values(tmp_path):
    result = lab_run(tmp_path, '[writers.out]\nplugin = "csv"\npath = "out.csv"\n', address="fail")
    assert result.returncode == ExitCode.OK, result.stderr
    line = next(x for x in result.stderr.splitlines() if "writer out:" in x and " accepted: " in x)
    accepted = int(line.split("writer out: ")[1].split()[0])
    assert accepted > 0 and f"{accepted} accepted: 0 values, {accepted} errors" in line


def test_samples_set_aside_make_the_exit_status_lost(tmp_path):
    # text values: the sqlite value column is a double, so the writer refuses them for good
    result = lab_run(tmp_path, '[writers.db]\nplugin = "sqlite"\npath = "db.sqlite"\n', value_type="str")
    assert result.returncode == ExitCode.LOST, result.stderr
    assert "samples were lost: writer db:" in result.stderr and " 0 set aside" not in result.stderr


def test_a_csv_path_that_is_a_directory_fails_at_start_up(tmp_path):
    (tmp_path / "out.csv").mkdir()
    result = lab_run(tmp_path, '[writers.out]\nplugin = "csv"\npath = "out.csv"\n')
    assert result.returncode == ExitCode.CONFIG
    assert "writers.out: path out.csv is a directory; give the path of a file in it, e.g. out.csv/lab.csv" \
        in result.stderr
    assert "context 1 started" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("path, reason", [
    ("blocker/db.sqlite", "cannot be created: blocker is a file, not a directory"),
    ("notes.txt", "is not an SQLite database this process can write (file is not a database)"),
    ("/proc/db.sqlite", "cannot be created: no file can be made in /proc"),  # even root cannot write there
])
def test_an_unwritable_sqlite_path_fails_at_start_up(tmp_path, path, reason):
    (tmp_path / "blocker").write_text("a file")
    (tmp_path / "notes.txt").write_text("not a database\n" * 100)
    result = lab_run(tmp_path, f'[writers.db]\nplugin = "sqlite"\npath = "{path}"\n')
    assert result.returncode == ExitCode.CONFIG
    assert f"writers.db: path {path} {reason}" in result.stderr, result.stderr
    assert "context 1 started" not in result.stderr and (tmp_path / "notes.txt").read_text().startswith("not")


def once(tmp_path, *variables: tuple[str, str], extra=()):
    config = tmp_path / "once.toml"
    config.write_text('[readers.demo]\n[writers.db]\nplugin = "sqlite"\npath = "db.sqlite"\n[[contexts]]\nid = 1\n'
                      + "".join(f'[[contexts.variables]]\nid = {i}\ncodename = "{c}"\nreader = "demo"\n'
                                f'address = "{a}"\n' for i, (c, a) in enumerate(variables, 1)))
    return subprocess.run([*LAB, "run", "--once", str(config), *extra], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)


def test_once_reads_every_variable_writes_nothing_and_exits_0(tmp_path):
    result = once(tmp_path, ("s", "sine"), ("r", "ramp"))
    assert result.returncode == ExitCode.OK, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["CODENAME", "VALUE", "UNIT", "ERROR", "READ", "TIME", "DESCRIPTION"]
    assert [line.split()[0] for line in lines[1:]] == ["s", "r"]
    assert all(line.endswith(" ms") for line in lines[1:])  # no description: nothing after READ TIME
    assert "2 variable(s) read once, 0 failed; nothing written" in result.stderr
    assert not (tmp_path / "db.sqlite").exists()


def test_once_exits_1_when_a_variable_fails(tmp_path):
    result = once(tmp_path, ("s", "sine"), ("bad", "fail"), extra=["--json"])
    assert result.returncode == ExitCode.FAILED
    readings = {r["codename"]: r for r in json.loads(result.stdout)}
    assert readings["s"]["error"] is None and isinstance(readings["s"]["value"], float)
    assert readings["bad"]["value"] is None and "always fails" in readings["bad"]["error"]


UNITS = ('[readers.demo]\n[writers.db]\nplugin = "sqlite"\npath = "db.sqlite"\n[[contexts]]\nid = 1\n'
         'default_interval_ms = 100\n[[contexts.variables]]\nid = 1\ncodename = "oven_t"\nreader = "demo"\n'
         'address = "sine:offset=150"\nunit = "degC"\ndescription = "Oven temperature"\n')


def test_once_shows_units_and_descriptions(tmp_path):
    (tmp_path / "units.toml").write_text(UNITS)
    table = subprocess.run([*LAB, "run", "--once", "units.toml"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=60)
    assert table.returncode == ExitCode.OK, table.stderr
    row = table.stdout.splitlines()[1].split()
    assert row[0] == "oven_t" and row[2] == "degC" and row[-2:] == ["Oven", "temperature"]
    as_json = subprocess.run([*LAB, "run", "--once", "units.toml", "--json"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=60)
    (reading,) = json.loads(as_json.stdout)
    assert (reading["unit"], reading["description"]) == ("degC", "Oven temperature")


def test_show_prints_units_and_each_description_once(tmp_path):
    (tmp_path / "units.toml").write_text(UNITS)
    shown = subprocess.run([*LAB, "run", "units.toml", "--duration", "0.5", "--show"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == ExitCode.OK, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "# oven_t: Oven temperature"
    assert len(lines) >= 3 and all(line.split()[1:4:2] == ["oven_t", "degC"] for line in lines[1:])
    assert "Oven temperature" not in "".join(lines[1:])


def test_show_prints_live_values_and_is_off_on_a_pipe_by_default(tmp_path):
    writers = '[writers.out]\nplugin = "csv"\npath = "out.csv"\n'
    quiet = lab_run(tmp_path, writers, seconds="0.5")
    assert quiet.returncode == ExitCode.OK and quiet.stdout == ""  # stdout is a pipe here
    shown = subprocess.run([*LAB, "run", str(tmp_path / "lab.toml"), "--duration", "0.5", "--show"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert shown.returncode == ExitCode.OK, shown.stderr
    shown_lines = [line.split() for line in shown.stdout.splitlines()]
    assert len(shown_lines) >= 2 and all(words[1] == "v1" and float(words[2]) == float(words[2])
                                         for words in shown_lines)

"""`lab new` writes distributions that install, pass their contract tests and run;
`lab doctor` names every broken thing and how to fix it."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from lab_core.exitcodes import ExitCode
from lab_core.testing import make_distribution

LAB = [sys.executable, "-m", "lab_core.cli"]


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)


def install(source, site):
    """A real pip install (wheel built, dist-info written) into ``site``, which is then put on PYTHONPATH."""
    result = run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(source)])
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("kind", ["reader", "writer", "processor", "job"])
def test_a_generated_plugin_installs_passes_its_tests_and_is_listed(tmp_path, kind):
    made = run([*LAB, "new", "plugin", f"my{kind}", "--kind", kind], cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    root = tmp_path / f"lab-my{kind}"
    site = tmp_path / "site"
    install(root, site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    tests = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
                cwd=root, env=env)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "passed" in tests.stdout and "failed" not in tests.stdout
    listed = {p["name"]: p for p in json.loads(run([*LAB, "plugins", "--json"], env=env).stdout)}
    assert listed[f"my{kind}"]["status"] == "loaded"
    assert listed[f"my{kind}"]["provides"] == {kind: [f"my{kind}"]}
    assert listed[f"my{kind}"]["requires_core"] == "<2,>=1.0"


def test_a_generated_reader_reads_in_a_collector_without_edits(tmp_path):
    run([*LAB, "new", "plugin", "thermo", "--kind", "reader"], cwd=tmp_path)
    install(tmp_path / "lab-thermo", tmp_path / "site")
    (tmp_path / "lab.toml").write_text(textwrap.dedent("""
        [readers.oven]
        plugin = "thermo"
        gain = 2.0
        [writers.csv]
        path = "out.csv"
        [[contexts]]
        id = 1
        default_interval_ms = 100
          [[contexts.variables]]
          id = 1
          codename = "oven_t"
          reader = "oven"
          address = "channel:3"
    """))
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    result = run([*LAB, "run", "lab.toml", "--duration", "0.6"], cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    rows = (tmp_path / "out.csv").read_text().splitlines()[1:]
    assert len(rows) >= 3 and all(",oven_t," in r for r in rows)
    assert all(5.0 <= float(r.split(",")[3]) <= 7.0 for r in rows)  # gain 2 × (3 ± 0.5)


def test_a_generated_bundle_provides_the_default_config_and_claims_its_plugins(tmp_path):
    made = run([*LAB, "new", "bundle", "surface", "--with", "lab-core"], cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    site = tmp_path / "site"
    install(tmp_path / "lab-surface-bundle", site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    work = tmp_path / "work"
    work.mkdir()
    result = run([*LAB, "run", "--duration", "1.5"], cwd=work, env=env)  # no file: the bundle's
    assert result.returncode == 0, result.stderr
    assert (work / "var" / "surface.csv").exists() and (work / "var" / "surface.sqlite").exists()
    listed = {p["name"]: p for p in json.loads(run([*LAB, "plugins", "--json"], env=env).stdout)}
    assert listed["core"]["bundle"] == "lab-surface-bundle"
    assert "via lab-surface-bundle" in run([*LAB, "plugins"], env=env).stdout
    doctor = run([*LAB, "doctor"], cwd=work, env=env)
    assert doctor.returncode == 0 and "no problems found" in doctor.stdout, doctor.stdout + doctor.stderr


def test_new_refuses_bad_names_and_unpinnable_dists(tmp_path):
    bad = run([*LAB, "new", "plugin", "Bad-Name", "--kind", "reader"], cwd=tmp_path)
    assert bad.returncode == 2 and "lower-case letters" in bad.stderr
    missing = run([*LAB, "new", "bundle", "x", "--with", "lab-nosuch"], cwd=tmp_path)
    assert missing.returncode == 2 and "--with lab-nosuch==VERSION" in missing.stderr


READER = """
import lab_core
@lab_core.hookimpl
def lab_readers():
    return {{"{reader}": "lab_core.readers.demo:DemoReader"}}
"""
BUNDLE = """
import lab_core
@lab_core.hookimpl
def lab_bundle_config():
    return {config!r}
"""


def test_doctor_names_every_problem_and_how_to_fix_it(tmp_path):
    site = tmp_path / "site"
    make_distribution(site, "lab-broken", module="dr_broken", source="import no_such_driver\n")
    make_distribution(site, "lab-future", module="dr_future", source=READER.format(reader="f"),
                      requires=("lab-core>=2",))
    make_distribution(site, "lab-one", module="dr_one", source=READER.format(reader="probe"))
    make_distribution(site, "lab-two", module="dr_two", source=READER.format(reader="probe"))
    config = tmp_path / "lab.toml"
    (tmp_path / "blocker").write_text("")
    config.write_text(textwrap.dedent(f"""
        [readers.demo]
        [writers.db]
        plugin = "sqlite"
        path = "{tmp_path}/blocker/x.sqlite"
        [[contexts]]
        id = 1
          [[contexts.variables]]
          id = 1
          codename = "a"
          reader = "demo"
          address = "sine"
    """))
    make_distribution(site, "lab-mine-bundle", module="dr_bundle", source=BUNDLE.format(config=str(config)),
                      requires=("lab-core>=1.0,<2", "lab-one==2.0", "lab-absent==1.0"))
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = run([*LAB, "doctor"], cwd=tmp_path, env=env)
    out = result.stdout
    assert result.returncode == 1
    assert "plugin lab-broken" in out and "no_such_driver" in out and "LAB_DISABLE_PLUGINS=lab-broken" in out
    assert "plugin lab-future" in out and "needs lab-core >=2" in out
    assert "reader 'probe'" in out and "lab-one 1.0 and lab-two 1.0" in out
    assert "pins lab-one==2.0 but lab-one 1.0 is installed" in out
    assert "pins lab-absent==1.0 but lab-absent is not installed" in out and "pip install lab-absent==1.0" in out
    assert f"writers.db in {config}: path {tmp_path}/blocker/x.sqlite cannot be created" in out
    assert f"checked configuration {config}: 1 reader, 1 variable (one trial read each), 1 writer" in out
    disabled = run([*LAB, "--disable", "lab-broken", "doctor", "--json"], cwd=tmp_path, env=env)
    findings = json.loads(disabled.stdout)["findings"]
    assert {"level": "warning", "subject": "plugin lab-broken (lab-broken 1.0)", "problem": "disabled"}.items() \
        <= next(f for f in findings if "lab-broken" in f["subject"]).items()


def test_doctor_reports_a_bad_configuration(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("[readers.demo]\n[writers.x]\nplugin='null'\n")
    result = run([*LAB, "doctor", str(config)], cwd=tmp_path)
    assert result.returncode == ExitCode.CONFIG and "contexts: expected at least one" in result.stdout


def test_doctor_reports_two_bundles_instead_of_aborting(tmp_path):
    site = tmp_path / "site"
    config = tmp_path / "lab.toml"
    config.write_text(textwrap.dedent("""
        [readers.demo]
        [writers.out]
        plugin = "null"
        [[contexts]]
        id = 1
          [[contexts.variables]]
          id = 1
          codename = "a"
          reader = "demo"
          address = "sine"
    """))
    for name in ("one", "two"):
        make_distribution(site, f"lab-{name}-bundle", module=f"dr2_{name}", source=BUNDLE.format(config=str(config)),
                          requires=("lab-core>=1.0,<2",))
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = run([*LAB, "doctor"], cwd=tmp_path, env=env)
    assert result.returncode == ExitCode.FAILED, result.stdout + result.stderr
    assert "ERROR: bundles: several bundles are installed (lab-one-bundle, lab-two-bundle)" in result.stdout
    assert "checked 2 bundles" in result.stdout and "Traceback" not in result.stderr
    # with the file given, lab run does not need to choose: a warning, and the configuration is checked
    given = run([*LAB, "doctor", str(config)], cwd=tmp_path, env=env)
    assert given.returncode == ExitCode.OK, given.stdout
    assert "WARNING: bundles: several bundles" in given.stdout
    assert f"checked configuration {config}: 1 reader, 1 variable (one trial read each), 1 writer" in given.stdout

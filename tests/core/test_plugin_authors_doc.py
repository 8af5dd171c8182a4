"""The examples of docs/plugin-authors.md work as written: installed as a distribution, the
stream processor and the job are found by the registry, the configuration uses the processor,
and the contract tests pass."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lab_core import ConfigError, Registry, Sample, config

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

GUIDE = (Path(__file__).parents[2] / "docs" / "plugin-authors.md").read_text()
FILES = {m[1]: m[0] for m in re.findall(r"```python\n(# (\S+)\n.*?)```", GUIDE, re.S)}
(CONFIG,) = re.findall(r"```toml\n(.*?)```", GUIDE, re.S)


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """lab-spikes as the guide lays it out, installed (a .dist-info on sys.path)."""
    for path, text in FILES.items():
        target = tmp_path / path.removeprefix("src/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    (tmp_path / "lab_spikes" / "__init__.py").write_text("")
    info = tmp_path / "lab_spikes-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lab-spikes\nVersion: 0.1.0\n"
                                   "Requires-Dist: lab-core>=1.0,<2\n")
    (info / "entry_points.txt").write_text("[lab]\nspikes = lab_spikes.plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m.startswith("lab_spikes")]:
        del sys.modules[name]
    return tmp_path


def test_the_guide_shows_each_file_once():
    assert set(FILES) == {"src/lab_spikes/processor.py", "src/lab_spikes/plugin.py", "src/lab_spikes/job.py",
                          "tests/test_processor.py"}


def configuration(processors: dict) -> dict:
    return {"readers": {"demo": {}}, "processors": processors, "writers": {"null": {}},
            "contexts": [{"id": 1, "variables": [{"id": 1, "codename": "oven_t", "reader": "demo",
                                                  "address": "sine", "processors": list(processors)}]}]}


def test_the_registry_finds_both_kinds_apart(installed):
    registry = Registry()
    assert registry.get_class("processor", "spikes").__name__ == "SpikeFilter"
    assert "spikes" not in registry.components("job")
    job = registry.job("spikes.stats")
    job.setup({"values": [2, 4]})
    job.process()
    assert job.output == {"mean": 3.0, "count": 2, "stdev": pytest.approx(1.4142135)}


def test_the_configuration_example_does_what_its_comment_says(installed):
    plan = config.plan(configuration(tomllib.loads(CONFIG)["processors"]))
    spikes = plan.processors["no_spikes"]()
    spikes.bind(plan.contexts[0].variables[0])
    read, said = re.search(r"# read (.*?) -> (.*)$", CONFIG, re.M).groups()
    out = [s.value for k, v in enumerate(read.split(", ")) for s in spikes.process(Sample("oven_t", k, float(v)))]
    assert out == [float(v) for v in said.split(", ")]


def test_the_misspelled_option_error_quoted_is_the_real_one(installed):
    with pytest.raises(ConfigError) as error:
        config.plan(configuration({"no_spikes": {"plugin": "spikes", "max_stpe": 5.0}}))
    quoted = "processors.no_spikes.max_stpe: unknown key 'max_stpe'; did you mean 'max_step'?"
    assert quoted in str(error.value) and quoted in " ".join(GUIDE.split())


def test_the_contract_tests_pass(installed):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(installed), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             str(installed / "tests" / "test_processor.py")],
                            cwd=installed, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "13 passed" in result.stdout, result.stdout  # with test_config_sample_loads

"""The "Stream processors" examples of packages/core/README.md load and behave as described.

The full configuration runs as written; each ``[processors.NAME]`` example is loaded by the
config loader, run in a short real collector (demo reader → sqlite and console), and fed the
values its ``# read … -> …`` comment names, which must come out as the comment says.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from lab_core import Aggregate, ConfigError, Sample, Variable, config

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

README = (Path(__file__).parents[2] / "packages" / "core" / "README.md").read_text()
SECTION = README.split("\n## Stream processors\n", 1)[1].split("\n## ", 1)[0]
BLOCKS = re.findall(r"```toml\n(.*?)```", SECTION, re.S)
FULL, EXAMPLES = BLOCKS[0], BLOCKS[1:]
NUMBER = r"-?\d+(?:\.\d+)?(?:e-?\d+)?"


def stored(path: Path) -> dict[str, list[float]]:
    """codename -> values in time order, from an sqlite writer's tables."""
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT d.codename, p.value FROM dateplots_lab p "
                          "JOIN dateplots_descriptions d ON d.id = p.type ORDER BY p.time").fetchall()
    out: dict[str, list[float]] = {}
    for codename, value in rows:
        out.setdefault(codename, []).append(value)
    return out


def run_briefly(data: dict, seconds: float) -> None:
    setup = config.build(data)
    with setup.collector as collector:
        for context in setup.contexts:
            collector.start(context)
        time.sleep(seconds)


def screen_lines(text: str, codename: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.split()[1:2] == [codename]]


def test_there_are_examples_of_every_built_in():
    plugins = {table["plugin"] for block in EXAMPLES for table in tomllib.loads(block)["processors"].values()}
    assert plugins == {"deadband", "window", "scale", "convert", "clamp", "cast"}


def test_the_full_example_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run_briefly(tomllib.loads(FULL), 2.0)
    screen = capsys.readouterr().out
    db = stored(tmp_path / "var" / "processed.sqlite")
    assert set(db) == {"oven_t", "oven_p_mean", "oven_p_max"}
    # the screen gets every value of oven_t, with its unit and, once, its description
    shown = screen_lines(screen, "oven_t")
    assert screen.count("# oven_t: Oven temperature\n") == 1
    assert all(words[3] == "degC" for words in shown)
    values = [float(words[2]) for words in shown]
    # the database gets the changes: each value it left out is within 0.5 of the last one it stored
    assert 2 <= len(db["oven_t"]) < len(values)
    kept = iter(db["oven_t"])
    last = next(kept)
    upcoming = next(kept, None)
    for value in values[1:]:
        if upcoming is not None and value == pytest.approx(upcoming, abs=1e-3):
            last, upcoming = upcoming, next(kept, None)
        else:
            assert abs(value - last) <= 0.5 + 1e-3
    # oven_p: one mean and max per minute, for every writer, each with its sample count
    means = screen_lines(screen, "oven_p_mean")
    assert means and screen_lines(screen, "oven_p") == []
    assert all(words[3] == "mbar" and words[4].startswith("(") for words in means)
    assert 5 <= sum(int(words[4].strip("(")) for words in means) <= 15  # ~2 s of reads every 200 ms


def example_data(tmp_path: Path, block: str) -> dict:
    """The example's processors on the sqlite writer; the console writer shows every value read."""
    processors = tomllib.loads(block)["processors"]
    return {
        "readers": {"demo": {}},
        "processors": processors,
        "writers": {"db": {"plugin": "sqlite", "path": str(tmp_path / "lab.sqlite"), "processors": list(processors)},
                    "screen": {"plugin": "console"}},
        "contexts": [{"id": 1, "default_interval_ms": 20, "min_interval_ms": 1, "variables": [
            {"id": 1, "codename": "oven_t", "reader": "demo", "address": "sine:period=2,amplitude=5,offset=300",
             "unit": "K"}]}],
    }


@pytest.mark.parametrize("block", EXAMPLES, ids=lambda b: re.search(r"\[processors\.(\w+)\]", b)[1])
def test_each_example_loads_and_runs_in_a_collector(block, tmp_path, capsys):
    data = example_data(tmp_path, block)
    run_briefly(data, 0.5)
    read = [float(words[2]) for words in screen_lines(capsys.readouterr().out, "oven_t")]
    rows = stored(tmp_path / "lab.sqlite")
    assert len(read) >= 10
    _, processor = made(block)
    plugin = next(iter(data["processors"].values()))["plugin"]
    if plugin == "deadband":
        assert 1 <= len(rows["oven_t"]) < len(read)
    elif plugin == "window":
        names = {s.codename for s in feed(processor, [1.0])}
        assert set(rows) == names and all(1 <= len(v) <= 2 for v in rows.values())  # one window, or two
    else:  # a transform: every value, transformed
        assert rows["oven_t"] == pytest.approx([s.value for s in feed(processor, read)], abs=0.01)


def made(block: str, variable: Variable | None = None):
    """The example's processor as the config loader makes it, bound to a float variable."""
    data = {"readers": {"demo": {}}, "processors": tomllib.loads(block)["processors"], "writers": {"null": {}},
            "contexts": [{"id": 1, "variables": [{"id": 1, "codename": "oven_t", "reader": "demo",
                                                  "address": "sine"}]}]}
    ((name, factory),) = config.plan(data).processors.items()
    processor = factory()
    processor.bind(variable or Variable(1, "oven_t", "sine", "demo"))
    return name, processor


def feed(processor, values, start=1_000_000.0):
    out = [s for k, v in enumerate(values) for s in processor.process(Sample("oven_t", start + k, v))]
    return out + list(processor.finish())


def claims():
    """(example name, values read, values it says come out) from ``# read … -> …`` comments."""
    found = []
    for block in EXAMPLES:
        if '"window"' in block:
            continue  # their comments speak of times and counts: checked one by one below
        for line in block.splitlines():
            said = re.search(r"# read (.*?) -> (?:stored )?(.*)$", line)
            if said:
                read, out = (re.sub(r"\([^)]*\)", "", part) for part in said.groups())
                found.append((block, [float(x) for x in re.findall(NUMBER, read)],
                              [float(x) for x in re.findall(NUMBER, out)]))
    return found


@pytest.mark.parametrize("block, read, expected", claims(),
                         ids=lambda x: re.search(r"\[processors\.(\w+)\]", x)[1] if isinstance(x, str) else "")
def test_each_example_does_what_its_comment_says(block, read, expected):
    _, processor = made(block)
    assert [s.value for s in feed(processor, read)] == pytest.approx(expected)


def test_there_is_a_claim_for_every_non_window_example():
    named = {re.search(r"\[processors\.(\w+)\]", block)[1] for block, _, _ in claims()}
    assert named == {"slow", "flow", "pressure", "calibrate", "to_celsius", "valve_range", "whole"}


def example(name: str) -> str:
    (block,) = [b for b in EXAMPLES if f"[processors.{name}]" in b]
    return block


def test_the_slow_example_stores_a_heartbeat_within_max_interval():
    _, slow = made(example("slow"))
    times = [0, 300, 599, 700, 1000, 1400]
    out = [s for t in times for s in slow.process(Sample("oven_t", 1_000_000.0 + t, 20.0))] + list(slow.finish())
    stored_at = [s.time - 1_000_000.0 for s in out]
    assert stored_at == [0, 599, 1000, 1400]
    assert all(b - a <= 600 for a, b in zip(stored_at, stored_at[1:]))


def test_every_deadband_example_lets_errors_and_the_value_after_them_pass():
    for name in ("slow", "flow", "pressure"):
        _, band = made(example(name))
        samples = [Sample("oven_t", 1.0, 5.0), Sample.failed("oven_t", "gone", 2.0), Sample("oven_t", 3.0, 5.0)]
        out = [s for sample in samples for s in band.process(sample)]
        assert [(s.time, s.error) for s in out] == [(1.0, None), (2.0, "gone"), (3.0, None)], name


def utc(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc).timestamp()


def test_the_hourly_example_emits_at_the_hours_end_with_its_count():
    _, hourly = made(example("hourly"))
    assert list(hourly.process(Sample("oven_t", utc("2026-12-02 10:59:00"), 10.0))) == []
    assert list(hourly.process(Sample("oven_t", utc("2026-12-02 10:59:30"), 20.0))) == []
    (out,) = hourly.process(Sample("oven_t", utc("2026-12-02 11:00:10"), 99.0))  # the next hour's first
    assert out == Aggregate("oven_t_hourly", utc("2026-12-02 11:00:00"), 15.0, count=2)


def test_the_minute_example_gives_the_codenames_it_names():
    _, minute = made(example("minute"))
    out = feed(minute, [1.0, 2.0, 6.0])
    assert {s.codename: s.value for s in out} == {"oven_t_mean": 3.0, "oven_t_min": 1.0, "oven_t_max": 6.0,
                                                  "oven_t_count": 3}
    assert {s.count for s in out} == {3}


def test_numeric_processors_refuse_text_variables_when_their_context_starts():
    for name, why in [("calibrate", "needs numbers"), ("to_celsius", "needs numbers"),
                      ("valve_range", "needs numbers"), ("minute", "of text values cannot be computed")]:
        data = {"readers": {"demo": {}}, "processors": tomllib.loads(example(name))["processors"],
                "writers": {"null": {}}, "contexts": [{"id": 1, "variables": [
                    {"id": 1, "codename": "mode", "reader": "demo", "address": "sine", "type": "str",
                     "processors": [name]}]}]}
        setup = config.build(data)
        with setup.collector as collector, pytest.raises(ConfigError, match=f"processor '{name}'.*'mode'.*{why}"):
            collector.start(setup.contexts[0])


def test_the_error_messages_quoted_in_the_section_are_the_real_ones():
    base = {"readers": {"demo": {}}, "writers": {"db": {"plugin": "null", "processors": ["slow"]}},
            "processors": {"slow": {"plugin": "deadband", "absolut": 0.5}},
            "contexts": [{"id": 1, "variables": [{"id": 1, "codename": "t", "reader": "demo", "address": "sine"}]}]}
    with pytest.raises(ConfigError) as bad_key:
        config.plan(base)
    assert "processors.slow.absolut: unknown key 'absolut'; did you mean 'absolute'?" in str(bad_key.value)
    assert "processors.slow.absolut: unknown key 'absolut'; did you mean 'absolute'?" in " ".join(SECTION.split())
    base["processors"] = {"slow": {"plugin": "deadband", "absolute": 0.5}}
    base["writers"]["db"]["processors"] = ["fast"]
    with pytest.raises(ConfigError) as unknown:
        config.plan(base)
    assert str(unknown.value).startswith("writers.db.processors: no processor named 'fast'; ")
    assert "writers.db.processors: no processor named 'fast'; " in " ".join(SECTION.split())

"""``lab dahu reprocess`` and ``lab dahu plugins``; the example plugins against core's ProcessorContract."""

from __future__ import annotations

import json

import dahu_testplugins  # noqa: F401 - registers the test.* plugins
import pytest

from lab_core.cli import main
from lab_core.testing import ProcessorContract
from lab_dahu import Job
from lab_dahu.examples import Cube, Noop, Sleep, Square
from lab_dahu.reprocess import load_saved_input, reprocess


def saved_jobs(jobs):
    """Run and clean ``[(plugin, input)]``; the paths of their .inp files."""
    paths = []
    for name, data in jobs:
        job = Job(name, data).start()
        assert job.join(10)
        job.clean()
        paths.append(f"{job.data_on_disk}.inp")
    return paths


def test_load_saved_input_drops_job_keys_and_reprocess_ignore(workdir):
    [path] = saved_jobs([("test.ignore", {"x": 1, "cached": "big"})])
    plugin, data = load_saved_input(path)
    assert plugin == "test.ignore" and data == {"x": 1}


def test_reprocess_cli_all_succeed(workdir, tmp_path, capsys):
    paths = saved_jobs([("example.square", {"x": i}) for i in range(4)] + [("test.ignore", {"x": 1, "cached": 2})])
    capsys.readouterr()
    new_dir = tmp_path / "again"
    code = main(["dahu", "reprocess", *paths, "--workdir", str(new_dir), "--workers", "2"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "5/5 succeeded" in out and "example.square" in out
    assert "[" in err and "5/5 done" in err  # the progress bar
    outs = sorted(new_dir.rglob("*.out"))
    assert len(outs) == 5
    results = [json.loads(p.read_text()) for p in outs]
    assert sorted(r["result"] for r in results if "result" in r) == [0, 1, 4, 9]
    ignoring = [r for r in results if "keys" in r][0]
    assert "cached" not in ignoring["keys"] and "x" in ignoring["keys"]


def test_reprocess_cli_reports_failures_in_exit_code(workdir, tmp_path, capsys):
    paths = saved_jobs([("example.cube", {"x": 2}), ("test.ignore", {"fail": True})])
    broken = tmp_path / "broken.inp"
    broken.write_text("{not json")
    no_plugin = tmp_path / "noplugin.inp"
    no_plugin.write_text('{"x": 1}')
    unknown = tmp_path / "unknown.inp"
    unknown.write_text('{"plugin_name": "gone.away", "x": 1}')
    capsys.readouterr()
    code = main(["dahu", "reprocess", *paths, str(broken), str(no_plugin), str(unknown), "--json",
                 "--no-progress", "--workdir", str(tmp_path / "w")])
    out, err = capsys.readouterr()
    assert code == 1
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in json.loads(out)}
    assert [r["status"] for r in rows.values()] == ["success", "failure", "failure", "failure", "failure"]
    assert "asked to fail" in rows[paths[1].rsplit("/", 1)[-1]]["error"]
    assert "JSON" in rows["broken.inp"]["error"] or "Expecting" in rows["broken.inp"]["error"]
    assert "no plugin_name" in rows["noplugin.inp"]["error"]
    assert "gone.away" in rows["unknown.inp"]["error"]
    assert err == ""


def test_reprocess_on_a_process_pool(workdir, tmp_path):
    from lab_dahu import ProcessExecutor

    paths = saved_jobs([("example.square", {"x": i}) for i in range(3)])
    with ProcessExecutor(2) as pool:
        results = reprocess(paths, pool, progress=None)
    assert [r.job.output_data["result"] for r in results] == [0, 1, 4]


def test_reprocess_process_executor_from_the_command_line(workdir, tmp_path, capsys):
    paths = saved_jobs([("example.cube", {"x": 3})])
    code = main(["dahu", "reprocess", *paths, "--executor", "process", "--workers", "1", "--no-progress",
                 "--workdir", str(tmp_path / "p")])
    assert code == 0
    assert json.loads(next((tmp_path / "p").rglob("*.out")).read_text())["result"] == 27


def test_lab_dahu_plugins_lists_names_and_docs(capsys):
    assert main(["dahu", "plugins"]) == 0
    out = capsys.readouterr().out
    assert "example.square" in out and "Square of x" in out and "[lab-dahu]" in out
    assert "test.ignore" in out  # registered in this process


def test_lab_dahu_without_command_prints_help(capsys):
    assert main(["dahu"]) == 2
    assert "reprocess" in capsys.readouterr().out


def test_scheduler_needs_dask_executor():
    with pytest.raises(SystemExit, match="needs --executor dask"):
        main(["dahu", "reprocess", "x.inp", "--scheduler", "tcp://nowhere:1"])


# -- the example plugins keep core's processor contract -------------------------------------


class TestSquare(ProcessorContract):
    plugin_name = "example.square"

    @pytest.fixture
    def processor(self):
        return Square()

    @pytest.fixture
    def good_input(self):
        return {"x": 3}

    @pytest.fixture
    def bad_input(self):
        return {"x": "three"}


class TestCube(TestSquare):
    plugin_name = "example.cube"

    @pytest.fixture
    def processor(self):
        return Cube()


class TestNoop(TestSquare):
    plugin_name = "example.noop"

    @pytest.fixture
    def processor(self):
        return Noop()

    @pytest.fixture
    def bad_input(self):
        return {"y": 1}  # not an argument of noop(x)


class TestSleep(TestSquare):
    plugin_name = "example.sleep"

    @pytest.fixture
    def processor(self):
        return Sleep()

    @pytest.fixture
    def good_input(self):
        return {"t": 0.01}

    @pytest.fixture
    def bad_input(self):
        return {"t": "long"}

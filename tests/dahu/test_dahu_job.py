"""Job life cycle: success, failure in each step, teardown always, abort, unknown plugin, callbacks, wait_for."""

from __future__ import annotations

import json
import threading

import dahu_testplugins as tp
import pytest

from lab_dahu import Job, ThreadExecutor
from lab_dahu.job import read_input

TIMEOUT = 10


def run(name, data=None, **kwargs):
    job = Job(name, data or {}, **kwargs).start()
    assert job.join(TIMEOUT), f"{job} did not finish"
    return job


def test_success_sets_output_and_state():
    job = run("example.square", {"x": 4})
    assert job.status == Job.STATE_SUCCESS == "success"
    assert job.output_data["result"] == 16
    assert job.output_data["logging"] == []
    assert job.input_data == {"x": 4, "plugin_name": "example.square", "job_id": job.id}
    assert job.error == ""
    assert not job.is_alive()
    assert job.runtime is not None and job.runtime >= 0


def test_states_before_start_and_consecutive_ids():
    a = Job("example.cube", {"x": 2})
    b = Job("example.cube", '{"x": 3}')
    assert a.status == "uninitialized"
    assert b.id == a.id + 1
    a.start(), b.start()
    assert a.join(TIMEOUT) and b.join(TIMEOUT)
    assert (a.output_data["result"], b.output_data["result"]) == (8, 27)


def test_input_from_json_file(tmp_path):
    path = tmp_path / "in.json"
    path.write_text(json.dumps({"x": 5}))
    assert run("example.square", str(path)).output_data["result"] == 25
    with pytest.raises(ValueError, match="JSON object"):
        read_input("[1, 2]")
    with pytest.raises(ValueError, match="blank"):
        Job("example.square", "  ")


@pytest.mark.parametrize("name, kept", [
    ("test.fail_setup", {"torn_down": True}),
    ("test.fail_process", {"torn_down": True, "partial": 1}),
])
def test_failure_in_setup_or_process_still_tears_down(name, kept):
    job = run(name, {})
    assert job.status == "failure"
    for key, value in kept.items():
        assert job.output_data[key] == value
    assert "processed" not in job.output_data  # process is skipped when setup failed
    assert job.id in tp.TORN_DOWN
    error = Job.get_error_from_id(job.id)
    assert ("setup broke" if "setup" in name else "process broke") in error
    assert "Traceback" in error


def test_failure_in_teardown_fails_the_job():
    job = run("test.fail_teardown")
    assert job.status == "failure"
    assert job.output_data["result"] == 1
    assert "teardown broke" in job.error


def test_plugin_that_cannot_be_made_fails_and_runs_callbacks():
    seen = []
    job = Job("test.fail_init", {})
    job.connect_callback(seen.append)
    job.start()
    assert job.join(TIMEOUT)
    assert job.status == "failure" and seen == [job]
    assert "cannot be made" in job.error


def test_unknown_plugin_fails_the_job_and_runs_callbacks():
    seen = []
    job = Job("no.such_plugin", {"x": 1})
    job.connect_callback(lambda j: seen.append(j.status))
    job.start()
    assert job.join(TIMEOUT)
    assert job.status == "failure"
    assert seen == ["failure"]
    assert "no job named 'no.such_plugin'" in job.error


def test_callback_raising_does_not_turn_success_into_failure(caplog):
    after = []

    def broken(job):
        raise RuntimeError("callback broke")

    job = Job("example.square", {"x": 2})
    job.connect_callback(broken)
    job.connect_callback(lambda j: after.append(j.status))
    job.start()
    assert job.join(TIMEOUT)
    assert job.status == "success" and after == ["success"]
    assert "callback broke" in caplog.text
    with pytest.raises(TypeError):
        job.connect_callback("not callable")


def test_callback_connected_after_the_end_runs_at_once():
    job = run("example.noop", {"x": "a"})
    seen = []
    job.connect_callback(seen.append)
    assert seen == [job]


def test_callbacks_run_before_join_returns_and_may_join():
    order = []

    def callback(job):
        assert job.join(0)  # joining from one's own callback does not dead-lock
        order.append("callback")

    job = Job("example.square", {"x": 1})
    job.connect_callback(callback)
    job.start().join(TIMEOUT)
    order.append("joined")
    assert order == ["callback", "joined"]


def test_abort_running_plugin_that_checks_is_aborted():
    job = Job("test.busy", {"t": 30}).start()
    deadline = threading.Event()
    while job.status != "running" and not deadline.wait(0.01):
        pass
    assert job.abort() is True
    assert job.join(TIMEOUT), "abort must end the job's waiting"
    assert job.status == "aborted"
    output = job.output_data
    assert output["saw_abort"] is True and output["torn_down"] is True
    assert "aborted" in output  # ISO time
    assert job.abort() is False  # already over


def test_abort_cuts_a_sleep_short():
    job = Job("example.sleep", {"t": 60}).start()
    while job.status != "running":
        threading.Event().wait(0.01)
    job.abort()
    assert job.join(TIMEOUT)
    assert job.status == "aborted" and job.output_data["slept"] is None


def test_abort_queued_job_never_runs():
    with ThreadExecutor(1) as pool:
        blocker = Job("test.busy", {"t": 30}, executor=pool).start()
        queued = Job("test.ok", {"x": 1}, executor=pool).start()
        assert queued.status == "starting"
        assert queued.abort()
        assert queued.join(TIMEOUT) and queued.status == "aborted"
        assert "result" not in queued.output_data
        blocker.abort()
        assert blocker.join(TIMEOUT)
    assert queued.id not in tp.TORN_DOWN  # it never ran


def test_abort_before_start():
    seen = []
    job = Job("test.ok", {})
    job.connect_callback(seen.append)
    assert job.abort()
    assert job.join(0) and job.status == "aborted" and seen == [job]
    job.start()  # starting an aborted job does nothing
    assert job.status == "aborted"


def test_start_twice_is_refused():
    job = run("test.ok")
    with pytest.raises(RuntimeError, match="already started"):
        job.start()


def test_wait_for_another_job():
    first = Job("test.busy", {"t": 0.2}).start()
    other = run("test.ok", {"x": 41})
    waiter = run("test.wait_for", {"other": other.id})
    assert waiter.status == "success" and waiter.output_data["result"] == 43
    failed = run("test.fail_process")
    waiter2 = run("test.wait_for", {"other": failed.id})
    assert waiter2.status == "failure" and "ended in state failure" in waiter2.error
    missing = run("test.wait_for", {"other": 10**9})
    assert missing.status == "failure" and "no job" in missing.error
    first.join(TIMEOUT)


def test_wait_for_times_out_and_abort_ends_it():
    slow = Job("test.busy", {"t": 30}).start()
    waiter = run("test.wait_for", {"other": slow.id, "timeout": 0.2})
    assert waiter.status == "failure" and "did not finish" in waiter.error
    waiter = Job("test.wait_for", {"other": slow.id, "timeout": 60}).start()
    while waiter.status != "running":
        threading.Event().wait(0.01)
    waiter.abort()
    assert waiter.join(TIMEOUT) and waiter.status == "aborted"
    slow.abort()
    assert slow.join(TIMEOUT)


def test_run_in_calling_thread():
    job = Job("example.cube", {"x": 3}).run()
    assert job.status == "success" and job.output_data["result"] == 27


def test_clean_writes_json_and_reads_back(workdir):
    job = run("example.square", {"x": 3})
    assert job.clean()
    base = workdir / f"{job.id // 1000:04d}" / f"{job.id:05d}_example.square"
    assert json.loads(base.with_name(base.name + ".inp").read_text())["x"] == 3
    out = json.loads(base.with_name(base.name + ".out").read_text())
    assert out["result"] == 9 and out["job_status"] == "success" and "job_runtime" in out
    assert job.plugin is None and job.data_on_disk == str(base)
    assert job.output_data["result"] == 9 and job.input_data["x"] == 3
    assert Job.get_data_output_from_id(job.id)["result"] == 9
    assert json.loads(Job.get_data_input_from_id(job.id, as_JSON=True))["x"] == 3


def test_clean_refuses_a_running_job_when_not_waiting():
    job = Job("test.busy", {"t": 30}).start()
    assert job.clean(wait=False) is False
    job.abort()
    assert job.join(TIMEOUT)
    assert job.clean(wait=False) is True


def test_clean_name_cannot_escape_the_workdir(workdir):
    job = run("../../evil/name")
    assert job.status == "failure"
    job.clean()
    assert Job.path_for(job.id, job.name).parent.parent == workdir


def test_class_lookups_and_aliases():
    job = run("example.square", {"x": 2})
    for lookup in (Job.get_job_from_id, Job.getJobFromId, Job.getJobFromID):
        assert lookup(job.id) is job
    for lookup in (Job.get_status_from_id, Job.getStatusFromId, Job.getStatusFromID):
        assert lookup(job.id) == "success"
    for lookup in (Job.get_data_output_from_id, Job.getDataOutputFromId, Job.getDataOutputFromID):
        assert lookup(job.id)["result"] == 4
    for lookup in (Job.get_data_input_from_id, Job.getDataInputFromId, Job.getDataInputFromID):
        assert lookup(job.id)["x"] == 2
    for lookup in (Job.get_error_from_id, Job.getErrorFromId, Job.getErrorFromID):
        assert lookup(job.id) == ""
    assert Job.getStatusFromId(10**9) == "inexistant"
    assert Job.getDataOutputFromId(10**9) == f"No such job: {10**9}"
    assert Job.synchronize_job(job.id, 1) == "success"
    assert Job.synchronize_job(10**9) == "inexistant"
    assert Job.cleanJobfromId(job.id) == f"Job {job.id} cleaned"
    assert Job.cleanJobfromID(10**9) == f"No such job: {10**9}"


def test_negative_ids_count_back_from_the_last_job():
    job = Job("example.noop", {"x": 1})
    assert Job.get_job_from_id(-1) is job
    job.start().join(TIMEOUT)


def test_synchronize_all_and_statistics():
    jobs = [Job("example.square", {"x": i}).start() for i in range(5)]
    assert Job.synchronize_all(TIMEOUT)
    assert all(j.status == "success" for j in jobs)
    stats = Job.statistics()
    ids = {row["id"] for row in stats["jobs"]}
    assert {j.id for j in jobs} <= ids
    assert stats["counts_since_start"]["success"] >= 5
    table = Job.stats()
    assert "Run-time" in table and "speed-up" in table and str(jobs[0].id) in table


def test_finished_jobs_are_forgotten_by_count(monkeypatch, workdir):
    monkeypatch.setattr(Job, "max_finished", 3)
    jobs = [run("example.square", {"x": i}) for i in range(6)]
    jobs[0].clean()
    remembered = {j.id for j in Job.jobs()}
    assert {j.id for j in jobs[-3:]} <= remembered
    assert not {j.id for j in jobs[:3]} & remembered
    first_id = jobs[0].id
    del jobs[:3]
    import gc

    gc.collect()
    assert Job.get_job_from_id(first_id) is None
    # a forgotten job that was cleaned is still read from disk
    assert Job.get_status_from_id(first_id) == "success"
    assert Job.get_data_output_from_id(first_id)["result"] == 0
    assert Job.get_status_from_id(first_id + 1) == "inexistant"


def test_finished_jobs_are_forgotten_by_age(monkeypatch):
    monkeypatch.setattr(Job, "max_age", 0.0)
    monkeypatch.setattr(Job, "_next_age_check", 0.0)
    job = run("example.square", {"x": 1})
    run("example.noop", {})  # the next job to finish prunes by age
    assert job.id not in {j.id for j in Job.jobs()}


def test_unstarted_jobs_are_not_kept_alive():
    import gc

    job_id = Job("example.square", {"x": 1}).id
    gc.collect()
    assert Job.get_job_from_id(job_id) is None


def test_configure_validates():
    with pytest.raises(ValueError):
        Job.configure(max_finished=-1)
    with pytest.raises(ValueError):
        Job(123)


def test_default_pool_is_bounded_not_one_thread_per_job():
    with ThreadExecutor(3, thread_name_prefix="bounded-test") as pool:
        jobs = [Job("example.sleep", {"t": 0.02}, executor=pool).start() for _ in range(40)]
        peak = 0
        while not all(j.finished for j in jobs):
            peak = max(peak, sum(t.name.startswith("bounded-test") for t in threading.enumerate()))
            threading.Event().wait(0.005)
        assert all(j.status == "success" for j in jobs)
    assert 1 <= peak <= 3


def test_a_plain_lab_core_processor_runs_as_a_job():
    from lab_core import Processor
    from lab_dahu import Factory

    class Plain(Processor):
        def process(self):
            self.output["result"] = self.input["x"] * 10

    Factory.register(Plain, "test.plain")
    try:
        job = run("test.plain", {"x": 4})
        assert job.status == "success" and job.output_data == {"result": 40}
        slow = Job("test.plain", {"x": "a" * 10}).start()
        assert slow.join(TIMEOUT) and slow.status == "success"
    finally:
        Factory.unregister("test.plain")


def test_renamed_steps_with_dahu_default_attributes():
    from lab_dahu import Factory, Plugin

    class Renamed(Plugin):
        DEFAULT_SET_UP = "prepare"
        DEFAULT_PROCESS = "compute"
        DEFAULT_TEAR_DOWN = "close"

        def prepare(self):
            self.output["steps"] = ["prepare"]

        def compute(self):
            self.output["steps"].append("compute")
            self.output["result"] = self.input["x"] + 1

        def close(self):
            self.output["steps"].append("close")

    Factory.register(Renamed, "test.renamed")
    try:
        job = run("test.renamed", {"x": 1})
        assert job.status == "success", job.error
        assert job.output_data == {"steps": ["prepare", "compute", "close"], "result": 2}
    finally:
        Factory.unregister("test.renamed")

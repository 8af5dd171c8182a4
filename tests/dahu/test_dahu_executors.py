"""The process pool and the Dask executor (a real LocalCluster, processes=True, 2 workers)."""

from __future__ import annotations

import time

import dahu_testplugins
import pytest

from lab_dahu import DaskExecutor, Job, ProcessExecutor, ThreadExecutor, make_executor
from lab_dahu.base import function_plugin_class, plugin_from_function
from lab_dahu.factory import Factory

TIMEOUT = 30


def wait_until(predicate, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture(scope="module")
def processes():
    with ProcessExecutor(2) as pool:
        yield pool


@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    import cloudpickle

    cloudpickle.register_pickle_by_value(dahu_testplugins)  # workers cannot import the tests' modules
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", worker_dashboard_address=None)
    yield cluster
    cloudpickle.unregister_pickle_by_value(dahu_testplugins)
    cluster.close()


@pytest.fixture(scope="module")
def dask(dask_cluster):
    with DaskExecutor(address=dask_cluster.scheduler_address) as executor:  # a real scheduler address
        yield executor


def run(name, data, executor):
    job = Job(name, data, executor=executor).start()
    assert job.join(TIMEOUT), f"{job} did not finish"
    return job


@pytest.fixture(params=["process", "dask"])
def remote(request):
    return request.getfixturevalue("processes" if request.param == "process" else "dask")


def test_example_plugins_run_remotely(remote):
    jobs = [Job("example.square", {"x": i}, executor=remote).start() for i in range(8)]
    assert all(j.join(TIMEOUT) for j in jobs)
    assert [j.output_data["result"] for j in jobs] == [i * i for i in range(8)]
    assert all(j.status == "success" and j.plugin is None for j in jobs)
    assert all(j.runtime is not None for j in jobs)


def test_registered_test_plugin_and_failures_remotely(remote):
    ok = run("test.ok", {"x": 1}, remote)
    assert ok.status == "success" and ok.output_data["result"] == 2 and ok.output_data["torn_down"]
    bad = run("test.fail_process", {}, remote)
    assert bad.status == "failure" and "process broke" in bad.error
    assert bad.output_data["torn_down"] is True  # teardown ran in the worker
    assert run("test.fail_init", {}, remote).status == "failure"
    unknown = run("no.such", {}, remote)
    assert unknown.status == "failure" and "no job named" in unknown.error


def test_function_plugins_remotely(remote):
    name = plugin_from_function(dahu_testplugins.spin)
    try:
        job = run(name, {"n": 1000}, remote)
        assert job.status == "success", job.error
        assert job.output_data["result"] == sum(i * i for i in range(1000))
    finally:
        Factory.unregister(name)


def test_callbacks_and_wait_across_remote_jobs(remote):
    seen = []
    job = Job("example.cube", {"x": 3}, executor=remote)
    job.connect_callback(lambda j: seen.append((j.id, j.status)))
    job.start()
    assert Job.synchronize_job(job.id, TIMEOUT) == "success"
    assert seen == [(job.id, "success")]


def test_abort_queued_process_job_ends_at_once(processes):
    blockers = [Job("example.sleep", {"t": 1}, executor=processes).start() for _ in range(2)]
    queued = Job("test.ok", {"x": 1}, executor=processes).start()
    assert queued.abort()
    assert queued.join(1) and queued.status == "aborted"
    assert all(b.join(TIMEOUT) for b in blockers)
    assert "result" not in queued.output_data


def test_dask_abort_reaches_the_running_plugin(dask):
    job = Job("test.busy", {"t": 60}, executor=dask).start()
    time.sleep(0.5)  # let it start on a worker
    assert job.abort()
    assert job.join(1) and job.status == "aborted"  # the job's waiting ends at once
    assert "aborted" in job.output_data
    # the worker's plugin saw the abort and returned long before its 60 s
    assert wait_until(job._future.done, TIMEOUT)
    assert job._future.result()["aborted"] is True
    assert run("example.square", {"x": 2}, dask).output_data["result"] == 4


def test_dask_executor_counts_the_cluster_workers(dask):
    jobs = [Job("example.sleep", {"t": 0.5}, executor=dask).start() for _ in range(4)]
    assert all(j.join(TIMEOUT) for j in jobs)
    assert dask.workers == 2
    assert {j.status for j in jobs} == {"success"}


def test_dask_sends_classes_defined_at_run_time(dask):
    def triple(x):
        return 3 * x

    klass = function_plugin_class(triple, "local.triple")
    Factory.register(klass, "local.triple")
    try:
        assert run("local.triple", {"x": 5}, dask).output_data["result"] == 15
    finally:
        Factory.unregister("local.triple")


def test_make_executor():
    with make_executor("thread", 3) as executor:
        assert isinstance(executor, ThreadExecutor) and executor.workers == 3
        assert run("example.square", {"x": 3}, executor).output_data["result"] == 9
    with pytest.raises(ValueError, match="unknown executor"):
        make_executor("quantum")

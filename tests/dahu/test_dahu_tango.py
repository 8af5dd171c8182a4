"""The Tango device server (DahuDS), without a Tango database, driven by a real DeviceProxy."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

tango = pytest.importorskip("tango", reason="pytango is not installed (pip install 'lab-dahu[tango]')")

DEVICE = "test/dahu/{n}"


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(tmp_path, *extra):
    port = free_tcp_port()
    device = DEVICE.format(n=port)
    env = dict(os.environ, LAB_DAHU_WORKDIR=str(tmp_path / "work"))
    process = subprocess.Popen(
        [sys.executable, "-m", "lab_core.cli", "dahu", "tango", f"t{port}", "--nodb", "--port", str(port),
         "--device", device, "--workers", "2", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    proxy = tango.DeviceProxy(f"tango://127.0.0.1:{port}/{device}#dbase=no")
    deadline = time.monotonic() + 30
    while True:
        try:
            proxy.ping()
            return process, proxy
        except tango.DevFailed:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the Tango server did not start: {process.stdout.read()}")
            time.sleep(0.2)


def stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return None
    return process.returncode


@pytest.fixture(scope="module")
def dahu_ds(tmp_path_factory):
    process, proxy = start_server(tmp_path_factory.mktemp("tango"))
    yield proxy
    stop(process)


def wait_state(proxy, job_id, timeout=20):
    deadline = time.monotonic() + timeout
    state = proxy.waitJob(job_id)  # answers within the server's max_wait
    while state not in ("success", "failure", "aborted") and time.monotonic() < deadline:
        state = proxy.waitJob(job_id)
    return state


def test_start_wait_output(dahu_ds):
    job_id = dahu_ds.startJob(["example.square", json.dumps({"x": 6})])
    assert wait_state(dahu_ds, job_id) == "success"
    assert json.loads(dahu_ds.getJobOutput(job_id))["result"] == 36
    assert json.loads(dahu_ds.getJobInput(job_id))["x"] == 6
    assert dahu_ds.getJobState(job_id) == "success"
    assert dahu_ds.getJobError(job_id) == ""
    assert dahu_ds.jobSuccess == job_id
    assert dahu_ds.startJob(["example.square", "  "]) == -1
    assert dahu_ds.getJobState(10**6) == "inexistant"
    assert dahu_ds.getJobOutput(10**6) == f"No such job: {10**6}"


def test_a_client_naming_files_learns_nothing(dahu_ds, tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text('{"x": "tango-secret-77"}')
    messages = set()
    for name in (str(secret), str(tmp_path / "missing.json"), "/etc/passwd"):
        with pytest.raises(tango.DevFailed) as caught:
            dahu_ds.startJob(["example.noop", name])
        messages.add(caught.value.args[0].desc.strip())
    assert len(messages) == 1, messages  # one message whatever exists: no existence oracle
    assert "tango-secret-77" not in messages.pop()


def test_failure_and_change_events(dahu_ds):
    seen = []
    got = threading.Event()

    def on_event(event):
        if not event.err and event.attr_value is not None:
            seen.append(event.attr_value.value)
            got.set()

    event_id = dahu_ds.subscribe_event("jobFailure", tango.EventType.CHANGE_EVENT, on_event)
    try:
        got.wait(5)  # the first event carries the current value
        job_id = dahu_ds.startJob(["no.such_plugin", "{}"])
        assert wait_state(dahu_ds, job_id) == "failure"
        deadline = time.monotonic() + 10
        while job_id not in seen and time.monotonic() < deadline:
            time.sleep(0.05)
        assert job_id in seen
        assert dahu_ds.jobFailure == job_id
        assert "no job named 'no.such_plugin'" in dahu_ds.getJobError(job_id)
    finally:
        dahu_ds.unsubscribe_event(event_id)


def test_abort_clean_init_list(dahu_ds):
    job_id = dahu_ds.startJob(["example.sleep", '{"t": 60}'])
    deadline = time.monotonic() + 10
    while dahu_ds.getJobState(job_id) != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert dahu_ds.abort(job_id) is True
    assert wait_state(dahu_ds, job_id) == "aborted"
    assert dahu_ds.abort(job_id) is False
    assert dahu_ds.cleanJob(job_id) == f"Job {job_id} cleaned"
    assert dahu_ds.cleanJob(10**6) == f"No such job: {10**6}"
    assert dahu_ds.initPlugin("example.cube").startswith("Plugin loaded: example.cube")
    assert dahu_ds.initPlugin("nope.nothing").startswith("Plugin not found: nope.nothing")
    listing = dahu_ds.listPlugins()
    assert "example.square : Square of x" in listing and "example.sleep" in listing


def test_statistics_and_serialize(dahu_ds):
    dahu_ds.collectStatistics()
    text = dahu_ds.getStatistics()
    assert "Statistics collected on" in text
    assert dahu_ds.statisticsCollected == text
    assert dahu_ds.serialize is False
    dahu_ds.serialize = True
    try:
        assert dahu_ds.serialize is True
        ids = [dahu_ds.startJob(["example.cube", json.dumps({"x": i})]) for i in range(3)]
        assert [wait_state(dahu_ds, i) for i in ids] == ["success"] * 3
        assert [json.loads(dahu_ds.getJobOutput(i))["result"] for i in ids] == [0, 1, 8]
    finally:
        dahu_ds.serialize = False


def test_sigterm_stops_the_server_cleanly(tmp_path):
    process, proxy = start_server(tmp_path, "--grace", "0.2")
    job_id = proxy.startJob(["example.sleep", '{"t": 60}'])  # still running at SIGTERM: aborted after the grace
    deadline = time.monotonic() + 10
    while proxy.getJobState(job_id) != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stop(process) == 0, process.stdout.read()
    saved = list((tmp_path / "work").rglob(f"{job_id:05d}_example.sleep.out"))
    assert saved and json.loads(saved[0].read_text())["job_status"] == "aborted"


def test_init_command_does_not_duplicate_events(dahu_ds):
    dahu_ds.Init()  # Tango's standard re-initialisation: delete_device then init_device
    seen = []

    def on_event(event):
        if not event.err and event.attr_value is not None:
            seen.append(event.attr_value.value)

    event_id = dahu_ds.subscribe_event("jobSuccess", tango.EventType.CHANGE_EVENT, on_event)
    try:
        job_id = dahu_ds.startJob(["example.noop", '{"x": 1}'])
        assert wait_state(dahu_ds, job_id) == "success"
        deadline = time.monotonic() + 10
        while job_id not in seen and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        assert seen.count(job_id) == 1
    finally:
        dahu_ds.unsubscribe_event(event_id)


def test_allow_refuses_clients_outside_it_and_answers_those_inside(tmp_path):
    process, proxy = start_server(tmp_path / "closed", "--allow", "10.0.0.0/8")  # we are 127.0.0.1
    try:
        for call in (lambda: proxy.startJob(["example.square", '{"x": 2}']), lambda: proxy.jobSuccess,
                     lambda: proxy.getJobInput(1), lambda: proxy.listPlugins()):
            with pytest.raises(tango.DevFailed) as caught:
                call()
            assert caught.value.args[0].desc.strip() == "access denied"
    finally:
        stop(process)
    assert "not in allow (10.0.0.0/8)" in process.stdout.read()
    process, proxy = start_server(tmp_path / "open", "--allow", "127.0.0.1", "--allow", "10.0.0.0/8")
    try:
        job_id = proxy.startJob(["example.square", json.dumps({"x": 5})])
        assert wait_state(proxy, job_id) == "success"
        assert json.loads(proxy.getJobOutput(job_id))["result"] == 25
    finally:
        stop(process)

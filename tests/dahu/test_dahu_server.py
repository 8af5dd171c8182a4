"""The job server: the protocol without I/O, then over real sockets (udp, tcp, a third party's), and SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab_core import Registry
from lab_core.testing import make_distribution
from lab_dahu.client import DahuClient, DahuError
from lab_dahu.protocol import COMMANDS, DahuProtocol, decode_reply, encode_request
from lab_dahu.server import JobServer
from lab_dahu.service import JobService

HERE = Path(__file__).parent


@pytest.fixture
def service():
    svc = JobService(max_wait=1.0)
    yield svc
    svc.close()


def call(protocol, command, **arguments):
    return decode_reply(protocol(encode_request(command, **arguments), None))


# -- sans-io ----------------------------------------------------------------------------


def test_protocol_start_wait_output(service, workdir):
    protocol = DahuProtocol(service)
    kind, job_id = call(protocol, "startJob", plugin="example.square", input={"x": 5})
    assert kind == "RET" and isinstance(job_id, int)
    # waitJob right after startJob works (dahu's server failed here)
    assert call(protocol, "waitJob", job_id=job_id, timeout=10) == ("RET", "success")
    assert call(protocol, "getJobState", job_id=job_id) == ("RET", "success")
    assert call(protocol, "getJobOutput", job_id=job_id)[1]["result"] == 25
    assert call(protocol, "getJobInput", job_id=job_id)[1]["x"] == 5
    assert call(protocol, "getJobError", job_id=job_id) == ("RET", "")
    assert list(workdir.rglob(f"{job_id:05d}_example.square.out"))  # finished jobs are cleaned to disk
    assert service.last_success == job_id


def test_protocol_json_string_input_and_blank_input(service):
    protocol = DahuProtocol(service)
    assert call(protocol, "startJob", plugin="example.cube", input="   ") == ("RET", -1)
    kind, job_id = call(protocol, "startJob", plugin="example.cube", input='{"x": 2}')
    assert call(protocol, "waitJob", job_id=job_id, timeout=10) == ("RET", "success")
    assert call(protocol, "getJobOutput", job_id=-1)[1]["result"] == 8  # -1: the last job


def test_protocol_failure_abort_clean_statistics_plugins(service):
    protocol = DahuProtocol(service)
    _, bad = call(protocol, "startJob", plugin="no.such", input={})
    assert call(protocol, "waitJob", job_id=bad, timeout=10) == ("RET", "failure")
    assert "no job named 'no.such'" in call(protocol, "getJobError", job_id=bad)[1]
    assert service.last_failure == bad
    _, slow = call(protocol, "startJob", plugin="example.sleep", input={"t": 60})
    deadline = time.monotonic() + 10
    while call(protocol, "getJobState", job_id=slow)[1] != "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert call(protocol, "abort", job_id=slow) == ("RET", True)
    assert call(protocol, "waitJob", job_id=slow, timeout=10) == ("RET", "aborted")
    assert call(protocol, "abort", job_id=slow) == ("RET", False)
    assert call(protocol, "abort", job_id=10**9) == ("RET", False)
    assert call(protocol, "cleanJob", job_id=slow)[1] == f"Job {slow} cleaned"
    assert "Plugin loaded: example.cube" in call(protocol, "initPlugin", plugin="example.cube")[1]
    assert call(protocol, "initPlugin", plugin="nope.x")[1].startswith("Plugin not found: nope.x")
    plugins = call(protocol, "listPlugins")[1]
    assert {"example.square", "example.sleep"} <= {p["name"] for p in plugins}
    assert call(protocol, "collectStatistics") == ("RET", None)
    stats = call(protocol, "getStatistics")[1]
    assert "Statistics collected on" in stats and str(bad) in stats
    assert set(call(protocol, "commands")[1]) == set(COMMANDS)


@pytest.mark.parametrize("request_bytes, message", [
    (b"startJob", "json_wn#"),
    (b"json_wn#{bad", "not valid JSON"),
    (b"json_wn#[1, 2]", "JSON object"),
    (b'json_wn#{"command": "explode"}', "unknown command"),
    (b'json_wn#{"command": "getJobState"}', "missing: job_id"),
    (b'json_wn#{"command": "getJobState", "job_id": 1, "x": 2}', "unknown: x"),
    (b'json_wn#{"command": "getJobState", "job_id": "1"}', "job_id must be an integer"),
    (b'json_wn#{"command": "startJob", "plugin": 3, "input": {}}', "plugin must be a string"),
    (b'json_wn#{"command": "startJob", "plugin": "example.square", "input": [1]}', "input must be"),
    (b'json_wn#{"command": "startJob", "plugin": "example.square", "input": "{nope"}', "JSON"),
    (b'json_wn#{"command": "waitJob", "job_id": 1, "timeout": -1}', "timeout must be"),
    (b'json_wn#{"command": "getJobOutput", "job_id": 999999999}', "No such job"),
    (b"\xff\xfe", "json_wn#"),
])
def test_protocol_bad_requests_get_error_replies(service, request_bytes, message):
    kind, text = decode_reply(DahuProtocol(service)(request_bytes, None))
    assert kind == "ERROR" and message in text


def test_protocol_reply_too_large_for_the_transport(service):
    protocol = DahuProtocol(service, max_reply=200)
    _, job_id = call(DahuProtocol(service), "startJob", plugin="example.noop", input={"x": "y" * 1000})
    call(DahuProtocol(service), "waitJob", job_id=job_id, timeout=10)
    kind, text = call(protocol, "getJobOutput", job_id=job_id)
    assert kind == "ERROR" and "larger than this transport carries" in text


def test_protocol_server_side_failure_is_excep(service, monkeypatch):
    monkeypatch.setattr(service, "getStatistics", lambda: 1 / 0)
    assert call(DahuProtocol(service), "getStatistics")[0] == "EXCEP"


def test_serialized_service_runs_one_job_at_a_time():
    service = JobService(serialize=True, max_wait=5)
    try:
        protocol = DahuProtocol(service)
        ids = [call(protocol, "startJob", plugin="test.ok", input={"x": i})[1] for i in range(3)]
        import dahu_testplugins  # noqa: F401 - registers test.ok
        for job_id in ids:
            assert call(protocol, "waitJob", job_id=job_id, timeout=10)[1] == "success"
        from lab_dahu import Job

        jobs = [Job.get_job_from_id(i) for i in ids]
        for before, after in zip(jobs, jobs[1:], strict=False):
            assert before._finished_at <= after._run_started
    finally:
        service.close()


# -- real sockets -------------------------------------------------------------------------


@pytest.fixture(params=["udp", "tcp"])
def served(request, service):
    """A server on lab-sockets' udp or tcp transport (found through the registry), and a client."""
    registry = Registry()
    if request.param not in registry.components("transport"):
        pytest.fail(f"no {request.param!r} transport installed: install lab-sockets (packages/sockets)")
    with JobServer(service, transport=request.param, host="127.0.0.1", port=0, registry=registry) as server:
        yield server, DahuClient(server.address, transport=request.param, registry=registry, timeout=5)


def test_client_over_real_sockets(served):
    server, client = served
    job_id = client.start_job("example.square", {"x": 9})
    assert client.wait_job(job_id, timeout=10) == "success"
    assert client.get_job_output(job_id)["result"] == 81
    assert client.get_job_input(job_id)["x"] == 9
    assert client.get_job_state(job_id) == "success"
    assert client.getJobState(10**9) == "inexistant"
    assert client.wait_job(10**9) == "inexistant"
    assert "example.cube" in {p["name"] for p in client.list_plugins()}
    assert client.init_plugin("example.cube").startswith("Plugin loaded")
    with pytest.raises(DahuError, match="No such job"):
        client.get_job_output(10**9)
    client.collect_statistics()
    assert "Statistics collected" in client.get_statistics()
    assert "startJob" in client.commands()


def test_wait_longer_than_the_server_bound_and_abort_over_sockets(served):
    server, client = served
    job_id = client.start_job("example.sleep", {"t": 1.5})  # longer than max_wait (1 s)
    assert client.wait_job(job_id, timeout=10) == "success"
    slow = client.start_job("example.sleep", {"t": 60})
    assert client.wait_job(slow, timeout=0.2) in ("starting", "running")
    assert client.abort(slow) is True
    assert client.wait_job(slow, timeout=10) == "aborted"
    assert client.get_job_output(slow)["slept"] is None


def test_a_waiting_client_does_not_hold_up_others_on_udp():
    import threading

    service = JobService(max_wait=60)
    registry = Registry()
    try:
        with JobServer(service, transport="udp", host="127.0.0.1", port=0, registry=registry) as server:
            client = DahuClient(server.address, registry=registry, timeout=5)
            slow = client.start_job("example.sleep", {"t": 120})
            states = []
            waiter = threading.Thread(target=lambda: states.append(client.wait_job(slow, 50)))
            waiter.start()
            time.sleep(0.2)  # the waitJob request is in
            started = time.monotonic()
            assert client.get_job_state(slow) in ("starting", "running")  # answered while waitJob waits
            answered_in = time.monotonic() - started
            assert waiter.is_alive()
            assert client.abort(slow) is True  # the deferred waitJob reply goes out when the job ends
            waiter.join(10)
            assert states == ["aborted"]
    finally:
        service.close()
    assert answered_in < 10  # far below the 50 s the other client waits: not queued behind it


def test_third_party_transport_from_the_registry(registry, service):
    with JobServer(service, transport="test-udp", port=0, registry=registry) as server:
        client = DahuClient(server.address, transport="test-udp", registry=registry)
        job_id = client.start_job("example.cube", {"x": 3})
        assert client.wait_job(job_id, timeout=10) == "success"
        assert client.get_job_output(job_id)["result"] == 27


def test_close_aborts_running_jobs_after_the_grace_and_reports_stubborn_ones():
    import dahu_testplugins  # noqa: F401 - registers test.stubborn

    service = JobService()
    polite = service.startJob("example.sleep", {"t": 60})
    stubborn = service.startJob("test.stubborn", {"t": 1.0})
    from lab_dahu import Job

    deadline = time.monotonic() + 10
    while {Job.get_status_from_id(polite), Job.get_status_from_id(stubborn)} != {"running"}:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert service.close(grace=0.05, abort_wait=0.1) is False  # test.stubborn ignores its abort
    assert Job.get_status_from_id(polite) == "aborted"
    assert [j.id for j in service.running_jobs()] == [stubborn]
    assert Job.synchronize_job(stubborn, 10) == "aborted"
    assert service.close() is True
    with pytest.raises(Exception, match="shutting down"):
        service.startJob("example.square", {"x": 1})


def test_unknown_transport_is_a_clear_error(service):
    from lab_core import UnknownPlugin

    with pytest.raises(UnknownPlugin, match="no transport named 'pigeon'"):
        JobServer(service, transport="pigeon", port=0)


# -- the command, and SIGTERM -------------------------------------------------------------------


def _serve(tmp_path, *args):
    (tmp_path / "site").mkdir()
    make_distribution(tmp_path / "site", "lab-test-udp", plugin="testudp",
                      source="from lab_core import hookimpl\n\n@hookimpl\ndef lab_transports():\n"
                             "    return {'test-udp': 'dahu_udp_transport:LoopUdpTransport'}\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "site"), str(HERE)]),
               LAB_DAHU_WORKDIR=str(tmp_path / "work"))
    return subprocess.Popen([sys.executable, "-m", "lab_core.cli", "dahu", "serve", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.parametrize("transport", ["udp", "test-udp"])
def test_lab_dahu_serve_answers_and_stops_on_sigterm(tmp_path, transport):
    process = _serve(tmp_path, "--transport", transport, "--workers", "2", "--grace", "0.2")
    try:
        line = process.stdout.readline()
        assert "serving on" in line, line + process.stderr.read()
        port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
        registry = Registry()
        if transport == "test-udp":
            from dahu_udp_transport import TestTransports

            registry.register(TestTransports(), "t")
        client = DahuClient(("127.0.0.1", port), transport=transport, registry=registry)
        job_id = client.start_job("example.square", {"x": 12})
        assert client.wait_job(job_id, timeout=10) == "success"
        assert client.get_job_output(job_id)["result"] == 144
        saved = list((tmp_path / "work").rglob(f"{job_id:05d}_example.square.inp"))
        assert saved and json.loads(saved[0].read_text())["x"] == 12
        sleeper = client.start_job("example.sleep", {"t": 60})  # still running at SIGTERM
        assert client.wait_job(sleeper, timeout=0.3) in ("starting", "running")
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
        assert "stopped" in process.stdout.read()
        out = list((tmp_path / "work").rglob(f"{sleeper:05d}_example.sleep.out"))
        assert out and json.loads(out[0].read_text())["job_status"] == "aborted"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

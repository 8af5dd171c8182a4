"""Issue 11 item 1: a network client cannot make the job server read files, nor learn whether they exist.

Real transports (lab-sockets' udp and tcp on loopback) and a real client.
"""

from __future__ import annotations

import json

import pytest

from lab_dahu import Job
from lab_dahu.client import DahuClient, DahuError
from lab_dahu.server import JobServer
from lab_dahu.service import JobService, client_input

SECRET = "the-secret-value-4242"


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "private" / "secret.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"x": SECRET}))
    return path


def serve(transport, **service_options):
    return JobServer(JobService(max_wait=1.0, **service_options), transport=transport, host="127.0.0.1",
                     port=0).start()


def refusal(client, value):
    with pytest.raises(DahuError) as caught:
        client.start_job("example.noop", value)
    assert caught.value.kind == "ERROR"
    return caught.value.message


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_client_naming_a_secret_file_gets_neither_its_content_nor_a_hint(transport, secret, tmp_path):
    server = serve(transport)
    try:
        client = DahuClient(server.address, transport=transport)
        (tmp_path / "a-directory").mkdir()
        unreadable = tmp_path / "unreadable.json"
        unreadable.write_text("{}")
        unreadable.chmod(0)
        names = [str(secret), str(tmp_path / "missing.json"), str(tmp_path / "a-directory"), str(unreadable),
                 "/etc/passwd", "../../../../etc/hostname", "secret.json", "file:///etc/passwd"]
        messages = {refusal(client, name) for name in names}
        assert len(messages) == 1, messages  # one message, whatever exists there: no existence oracle
        [message] = messages
        assert SECRET not in message and str(secret) not in message
        assert "JSON object" in message
        assert all(SECRET not in json.dumps(j.input_data) for j in Job.jobs())
        # a JSON object (or its text) is what a client sends
        job_id = client.start_job("example.noop", {"x": 3})
        assert client.wait_job(job_id, timeout=10) == "success"
        assert client.get_job_output(job_id)["result"] == 3
    finally:
        server.stop()


def test_paths_only_inside_the_input_directory(secret, tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "ok.json").write_text(json.dumps({"x": 5}))
    (inputs / "link.json").symlink_to(secret)  # a link inside that points outside is refused too
    (inputs / "list.json").write_text("[1, 2]")
    server = serve("udp", input_dir=inputs)
    try:
        client = DahuClient(server.address, transport="udp")
        job_id = client.start_job("example.square", "ok.json")
        assert client.wait_job(job_id, timeout=10) == "success"
        assert client.get_job_output(job_id)["result"] == 25
        job_id = client.start_job("example.square", str(inputs / "ok.json"))  # absolute, inside: fine
        assert client.wait_job(job_id, timeout=10) == "success"
        names = ["link.json", "../private/secret.json", str(secret), "missing.json", "list.json", "/etc/passwd",
                 "x\x00y"]
        messages = {refusal(client, name) for name in names}
        assert len(messages) == 1, messages
        assert SECRET not in messages.pop()
    finally:
        server.stop()


def test_local_python_use_keeps_dahus_file_inputs(secret):
    job = Job("example.noop", str(secret)).start()
    assert job.join(10) and job.output_data["result"] == SECRET


def test_client_input_is_pure_and_refuses_the_same_way(secret, tmp_path):
    assert client_input({"x": 1}, None) == {"x": 1}
    assert client_input('{"x": 2}', None) == {"x": 2}
    with pytest.raises(ValueError) as a:
        client_input(str(secret), None)
    with pytest.raises(ValueError) as b:
        client_input(str(tmp_path / "nothing"), None)
    assert str(a.value) == str(b.value)


@pytest.mark.parametrize("transport", ["udp", "tcp", "test-udp"])  # test-udp takes no allow: the server filters
def test_the_server_answers_only_allowed_networks(transport, registry, caplog):
    server = JobServer(JobService(max_wait=1.0), transport=transport, host="127.0.0.1", port=0,
                       registry=registry, allow=["10.0.0.0/8"]).start()
    try:
        client = DahuClient(server.address, transport=transport, timeout=0.5, registry=registry)
        with pytest.raises(OSError):  # no reply (udp), or the connection is refused (tcp)
            client.start_job("example.noop", {"x": 1})
        assert "refused" in caplog.text and "127.0.0.1" in caplog.text
        assert not server.service.running_jobs() and server.service.last_success == -1
    finally:
        server.stop()
    allowed = JobServer(JobService(max_wait=1.0), transport=transport, host="127.0.0.1", port=0,
                        registry=registry, allow=["127.0.0.1"]).start()
    try:
        client = DahuClient(allowed.address, transport=transport, registry=registry)
        assert client.wait_job(client.start_job("example.noop", {"x": 1}), timeout=10) == "success"
    finally:
        allowed.stop()


def test_the_default_bind_is_loopback():
    server = JobServer(JobService(max_wait=1.0), transport="udp", port=0).start()
    try:
        assert server.address[0] == "127.0.0.1"
    finally:
        server.stop()



def test_jobs_past_max_jobs_are_refused_not_queued():
    server = serve("udp", max_jobs=2)
    try:
        client = DahuClient(server.address, transport="udp")
        running = [client.start_job("example.sleep", {"t": 30}) for _ in range(2)]
        with pytest.raises(DahuError) as caught:
            client.start_job("example.noop", {"x": 1})
        assert caught.value.message == ("the job server already has 2 jobs queued or running (max_jobs); "
                                        "submit again once some are over")
        assert client.abort(running[0])
        assert client.wait_job(running[0], timeout=10) == "aborted"
        job_id = client.start_job("example.noop", {"x": 1})  # room again
        assert client.wait_job(job_id, timeout=10) == "success"
    finally:
        server.stop(grace=0.1)

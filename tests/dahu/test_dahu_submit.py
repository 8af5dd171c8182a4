"""``lab dahu submit`` against a real ``lab dahu serve`` (subprocesses); job ids across a restart."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

LAB = str(Path(sys.executable).parent / "lab")


def start_server(workdir):
    server = subprocess.Popen([LAB, "dahu", "serve", "--port", "0", "--workdir", str(workdir)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    match = re.search(r"serving on udp 127\.0\.0\.1:(\d+)", line)
    assert match, line + server.stderr.read()
    return server, match.group(1)


def submit(port, *args):
    return subprocess.run([LAB, "dahu", "submit", *args, "--port", port], capture_output=True, text=True,
                          timeout=60)


def stop(server):
    server.send_signal(signal.SIGTERM)
    server.communicate(timeout=30)
    assert server.returncode == 0


def job_id(done):
    return int(re.search(r"^job (\d+)$", done.stdout, re.M).group(1))


def test_submit_wait_and_ids_unique_across_a_restart(tmp_path):
    work = tmp_path / "work"
    server, port = start_server(work)
    try:
        done = submit(port, "example.square", '{"x": 3}', "--wait")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "state success" in done.stdout and '"result": 9' in done.stdout
        first = job_id(done)
        failed = submit(port, "no.such", "{}", "--wait")
        assert failed.returncode == 1 and "state failure" in failed.stdout
        assert "no job named 'no.such'" in failed.stdout  # the whole error, not a cut
        bad = submit(port, "example.square", "[1, 2]")
        assert bad.returncode == 2 and "must be an object" in bad.stderr
        started = submit(port, "example.cube", '{"x": 2}')
        assert started.returncode == 0 and job_id(started) > first
    finally:
        stop(server)
    server, port = start_server(work)  # the same work directory: ids follow those on disk
    try:
        again = submit(port, "example.square", '{"x": 4}', "--wait")
        assert again.returncode == 0 and job_id(again) > job_id(started)
    finally:
        stop(server)
    outs = sorted(work.rglob("*.out"))
    assert len(outs) == 4 and len({p.name.split("_", 1)[0] for p in outs}) == 4


def test_submit_without_a_server_says_so(tmp_path):
    done = submit("9", "example.square", '{"x": 3}')
    assert done.returncode == 1 and "Start one on that machine with: lab dahu serve --transport udp --host " \
        "127.0.0.1 --port 9" in done.stderr

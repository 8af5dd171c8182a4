"""The examples of packages/live/README.md's "Units, gaps, booleans and the time window" run as
written: ``lab run oven.toml`` serves a pull socket, ``lab live … --config oven.toml`` shows its
values with their units and descriptions; ``--unit`` for a sender without a configuration."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from live_helpers import REPO, wait_until

from services import free_port

README = (REPO / "packages" / "live" / "README.md").read_text()
SECTION = README.split("\n## Units, gaps, booleans and the time window\n", 1)[1].split("\n## ", 1)[0]
(OVEN,) = re.findall(r"```toml\n(.*?)```", SECTION, re.S)
COMMANDS = [line.strip() for line in re.findall(r"^    (lab .*)$", SECTION, re.M)]
LAB = [sys.executable, "-m", "lab_core.cli"]


def start(argv: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([*LAB, *argv], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    proc.stdout.close()
    proc.stderr.close()


def values(url: str) -> dict:
    with urllib.request.urlopen(url + "api/values", timeout=10) as response:
        return json.loads(response.read())


def dashboard(argv: list[str], cwd: Path) -> tuple[subprocess.Popen, str]:
    """Start ``lab live`` on a free HTTP port; the process and its URL."""
    proc = start([*argv, "--http-port", "0"], cwd)
    line = proc.stdout.readline()
    assert line.startswith("lab live: dashboard at http://127.0.0.1:"), line + proc.stderr.read()
    return proc, line.split(" at ")[1].split()[0]


def test_the_commands_are_the_ones_tested():
    assert COMMANDS == ["lab run oven.toml &", "lab live --no-udp --pull 127.0.0.1:9000 --config oven.toml",
                        "lab live --pull rasppi42:9000 --unit chamber_pressure=mbar --unit flow=sccm"]


def test_a_collector_and_its_dashboard_with_units_descriptions_and_a_boolean(tmp_path):
    port = str(free_port(socket.SOCK_DGRAM))  # the example's 9000 may be taken on a shared machine
    (tmp_path / "oven.toml").write_text(OVEN.replace("port = 9000", f"port = {port}"))
    collector = start(["run", "oven.toml"], tmp_path)
    live = None
    try:
        argv = COMMANDS[1].removeprefix("lab ").replace(":9000", f":{port}").split()
        live, url = dashboard(argv, tmp_path)
        shown = wait_until(lambda: (v := values(url)) and {"oven_t", "oven_door"} <= {
            c for c, ch in v["channels"].items() if ch["has_value"]} and v, timeout=15, what="both values")
        assert shown["meta"] == {"oven_t": {"unit": "degC", "description": "Oven temperature"},
                                 "oven_door": {"description": "Oven door open"}}
        assert isinstance(shown["channels"]["oven_door"]["y"], bool)  # a step plot on the page
        assert 145 <= shown["channels"]["oven_t"]["y"] <= 155
    finally:
        if live is not None:
            stop(live)
        stop(collector)
    assert collector.returncode == 0


def test_units_for_a_sender_without_configuration_and_its_error_in_words(tmp_path):
    argv = COMMANDS[2].removeprefix("lab ").split()
    live, url = dashboard([*argv, "--udp-host", "127.0.0.1", "--udp-port", "0"], tmp_path)
    try:
        assert values(url)["meta"] == {"chamber_pressure": {"unit": "mbar"}, "flow": {"unit": "sccm"}}
        status = wait_until(lambda: values(url)["status"].get("pull rasppi42:9000", {}).get("error"),
                            timeout=15, what="the pull socket's error")
        assert "rasppi42:9000" in status and "not known" in status
    finally:
        stop(live)

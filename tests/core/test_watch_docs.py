"""The watching docs run as written: docs/lab-admins.md ("Watching a running collector", "Reloading
the configuration", "Running under systemd") and packages/core/README.md ("Watching it run").

The metric table is checked against a real scrape, the health rules against lab_core.status, the
shell session, the `lab status` output, the stats line and the refused-reload line against a real
`lab run`, and the systemd unit with `systemd-analyze verify` and by running its ExecStart as
systemd would (NOTIFY_SOCKET, WATCHDOG_USEC) and its ExecReload.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lab_core import Collector, Context, Variable
from lab_core.readers.demo import DemoReader
from lab_core.status import HealthRules, Status, StatusServer, WatchSettings
from lab_core.writers.console import NullWriter
from services import IN_CI, free_port

ROOT = Path(__file__).parents[2]
ADMINS = (ROOT / "docs" / "lab-admins.md").read_text()
CORE_README = (ROOT / "packages" / "core" / "README.md").read_text()
BIN = Path(sys.executable).parent  # the venv's bin: `lab` is installed there, as in /opt/lab/bin
DOC_PORT = "9100"


def fenced(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def between(text: str, marker: str) -> str:
    return text.split(f"<!-- {marker}", 1)[1].split(f"<!-- /{marker} -->", 1)[0].split("-->", 1)[1]


def shape(text: str) -> list[str]:
    """Text with every number as N and runs of spaces as one: what must match, not the values."""
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}", "TIME", text)
    text = re.sub(r"\d+(\.\d+)?", "N", text)
    text = re.sub(r"N (s|min|h|d)\b", "N T", text)
    text = re.sub(r"(?<= )(-|never)(?= |$)", "N T", text, flags=re.M)  # an empty cell or age, as one with a value
    return [re.sub(r" +", " ", line).strip() for line in text.strip().splitlines()]


def wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_the_allow_list_example_is_accepted_and_answers_the_machine_itself():
    (fragment,) = [t for t in fenced(ADMINS, "toml") if "status_allow" in t]
    settings = WatchSettings.from_config(tomllib.loads(fragment)["collector"])
    assert settings.status == ("0.0.0.0", int(DOC_PORT)) and "127.0.0.1/32" in settings.status_allow
    collector = Collector({"demo": DemoReader()}, {"db": NullWriter()})
    server = StatusServer(Status(collector, settings), ("0.0.0.0", 0)).start()  # the example's port may be taken
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.address[1]}/healthz", timeout=5) as response:
            assert json.loads(response.read()) == {"status": "ok", "reasons": []}
    finally:
        server.close()
        collector.close()


# -- the metric table: generated from a real scrape --------------------------------------------------


def metric_rows(families) -> list[str]:
    """The docs' table rows for the scraped lab_* families: name as exposed, type, labels, HELP."""
    rows = []
    for family in families:
        if not family.name.startswith("lab_"):
            continue
        name = family.name + ("_total" if family.type == "counter" else "")
        labels = sorted({label for s in family.samples for label in s.labels} - {"le"})
        shown = ", ".join(f"`{label}`" for label in labels) or "—"
        rows.append(f"| `{name}` | {family.type} | {shown} | {family.documentation} |")
    return rows


@pytest.fixture(scope="module")
def scraped():
    """Every family of a real /metrics scrape of a collector with a reader and a writer."""
    collector = Collector({"demo": DemoReader()}, {"db": NullWriter()})
    collector.start(Context(1, [Variable(1, "a", "sine", "demo")], default_interval_ms=50))
    server = StatusServer(Status(collector), ("127.0.0.1", 0)).start()
    try:
        assert wait_for(lambda: collector.stats()["writers"]["db"]["delivered"] > 0)
        with urllib.request.urlopen(server.url + "/metrics", timeout=5) as response:
            return list(text_string_to_metric_families(response.read().decode()))
    finally:
        server.close()
        collector.close()


def test_the_metric_table_in_the_admins_guide_is_what_metrics_serves(scraped):
    documented = between(ADMINS, "metrics").strip().splitlines()[2:]  # past the header and the rule
    expected = metric_rows(scraped)
    assert documented == expected, "docs/lab-admins.md's metric table should read:\n" + "\n".join(expected)
    assert any(f.name.startswith("process_") for f in scraped)  # "process_* metrics come too"


def test_the_core_readme_lists_every_metric(scraped):
    section = CORE_README.split("### Watching it run", 1)[1].split("\n#", 1)[0]
    listed = set(re.findall(r"`(lab_\w+)(?:\{[^}]*\})?`", section))
    exposed = {f.name + ("_total" if f.type == "counter" else "") for f in scraped if f.name.startswith("lab_")}
    assert listed == exposed
    for family in scraped:  # with its labels
        labels = sorted({label for s in family.samples for label in s.labels} - {"le"})
        if family.name.startswith("lab_") and labels:
            name = family.name + ("_total" if family.type == "counter" else "")
            assert f"`{name}{{{','.join(labels)}}}`" in section


def test_metrics_cover_what_issue_12_asks_for(scraped):
    """Per reader reads, errors, lateness histogram, skipped instants; per writer accepted, delivered, set
    aside, dropped, spool depth, age of the oldest pending sample, last success time, failures."""
    by_name = {f.name: f for f in scraped}
    asked = {"reader": [("lab_reader_reads", "counter"), ("lab_reader_errors", "counter"),
                        ("lab_reader_lateness_seconds", "histogram"), ("lab_reader_skipped_instants", "counter")],
             "writer": [("lab_writer_accepted", "counter"), ("lab_writer_delivered", "counter"),
                        ("lab_writer_set_aside", "counter"), ("lab_writer_dropped", "counter"),
                        ("lab_writer_spool_depth", "gauge"), ("lab_writer_oldest_pending_age_seconds", "gauge"),
                        ("lab_writer_last_success_timestamp_seconds", "gauge"), ("lab_writer_failures", "counter")]}
    for label, families in asked.items():
        for name, kind in families:
            assert by_name[name].type == kind
            assert {s.labels[label] for s in by_name[name].samples} == {"demo" if label == "reader" else "db"}


# -- the health rules: every documented reason is one lab_core.status gives, and back ---------------------


def reasons_of_every_rule() -> set[tuple[str, str]]:
    """(verdict, reason) of each rule in ``Status.health``, from counters as the collector reports them."""
    now = 1_000_000.0
    reader = {"alive": True, "failing": 0, "last_ok_time": now, "started_time": now - 1000, "last_error": "",
              "last_read_errors": 0, "skipped": 0, "reads": 0, "reading_since": 0.0}
    writer = {"alive": True, "last_success_time": now, "started_time": now - 1000, "oldest_time": None,
              "failing": 0, "last_error": "", "pending": 0, "dropped": 0, "set_aside": 0}
    error = {"last_error": "OSError: down"}
    cases = [
        ({"alive": False}, None), (None, {"alive": False}),
        ({"failing": 5, "last_ok_time": now - 75, **error}, None),
        ({"reading_since": now - 70}, None),
        (None, {"pending": 1300, "last_success_time": now - 130, "oldest_time": now - 130, "failing": 9, **error}),
        ({"failing": 3, "last_ok_time": now - 5, **error}, None),
        ({"last_read_errors": 2}, None),
        (None, {"failing": 2, "pending": 200, **error}),
        (None, {"pending": 90000, "oldest_time": now - 140}),
        (None, {"dropped": 1200}), (None, {"set_aside": 3}),
        ({"skipped": 40, "reads": 300}, None),
    ]
    found = set()
    for reader_change, writer_change in cases:
        status = Status(None, WatchSettings())
        stats = {"readers": {"plc": reader} if reader_change else {},
                 "writers": {"db": writer} if writer_change else {}}
        status.health(stats, now - 10)  # the counters' starting point for the window rules
        stats = {"readers": {"plc": {**reader, **reader_change}} if reader_change else {},
                 "writers": {"db": {**writer, **writer_change}} if writer_change else {}}
        health = status.health(stats, now)
        assert len(health.reasons) == 1, health
        found.add((health.status, health.reasons[0]))
    return found


def normal_reason(reason: str) -> str:
    return " ".join(shape(re.sub(r"last error: .*\)$", "last error: E)", reason)))


def test_the_health_rules_table_is_what_status_does():
    rows = [re.findall(r"\| ([a-z]+) \| (.*?) \| `(.*)` \|$", line)
            for line in between(ADMINS, "health rules").strip().splitlines()[2:]]
    documented = {(verdict, normal_reason(reason)) for ((verdict, _, reason),) in rows}
    assert documented == {(verdict, normal_reason(reason)) for verdict, reason in reasons_of_every_rule()}
    keys = dict(re.findall(r"`(health_\w+)` \(([\d.]+)", between(ADMINS, "health rules")))
    assert {k: float(v) for k, v in keys.items()} == {
        "health_reader_stale_s": HealthRules().health_reader_stale_s,
        "health_writer_stale_s": HealthRules().health_writer_stale_s,
        "health_window_s": HealthRules().health_window_s,
        "health_skipped_ratio": HealthRules().health_skipped_ratio}


# -- the example configuration and shell session, against a real `lab run` --------------------------------


def example_config(tmp_path: Path, port: int, stats_interval_s: int | None = None) -> Path:
    """The guide's lab.toml in ``tmp_path`` with the endpoint on ``port`` (9100 may be taken here)."""
    (text,) = [t for t in fenced(ADMINS, "toml") if t.startswith("# lab.toml: ")]
    assert f'status = "127.0.0.1:{DOC_PORT}"' in text and "stats_interval_s = 600" in text
    text = text.replace(f":{DOC_PORT}", f":{port}")
    if stats_interval_s is not None:  # the guide's 10 minutes are too long for a test
        text = text.replace("stats_interval_s = 600", f"stats_interval_s = {stats_interval_s}")
    path = tmp_path / "lab.toml"
    path.write_text(text)
    return path


def shell_env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """The guide's shell session, run by bash as written (but for the port and the stats period)."""
    if shutil.which("curl") is None and not IN_CI:
        pytest.skip("curl is not installed")
    tmp_path = tmp_path_factory.mktemp("watch")
    port = free_port()
    example_config(tmp_path, port, stats_interval_s=1)
    (script,) = [s for s in fenced(ADMINS, "sh") if s.startswith("lab run lab.toml &")]
    done = subprocess.run(["bash", "-e", "-c", script.replace(f":{DOC_PORT}", f":{port}")], cwd=tmp_path,
                          env=shell_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return port, done.stdout, done.stderr


def test_the_shell_session_runs_and_prints_what_the_guide_shows(session):
    port, out, err = session
    status_text, healthz = out.split("\n{\n", 1)
    (documented,) = [b for b in fenced(ADMINS, "text") if b.startswith("collector at ")]
    assert shape(status_text.replace(f":{port}", f":{DOC_PORT}")) == shape(documented)
    healthz = "{\n" + healthz.split("\n}\n", 1)[0] + "\n}"
    (example,) = re.findall(r"\$ curl -s http://127.0.0.1:9100/healthz\n(\{\n.*?\n\})\n", ADMINS, re.S)
    assert healthz == example and json.loads(healthz) == {"status": "ok", "reasons": []}
    assert re.search(r'^lab_writer_delivered_total\{writer="db"\} \d+\.0$', out, re.M)
    assert "configuration lab.toml reloaded" in err
    assert re.search(r"writer db: (\d+) accepted: \1 values, 0 errors; \1 delivered, 0 left", err)


def test_the_stats_line_is_as_the_guide_shows(session):
    _, _, err = session
    lines = [line for line in err.splitlines() if " lab_core.status: stats: " in line]
    assert lines, err
    (documented,) = [b for b in fenced(ADMINS, "text") if " lab_core.status: stats: " in b]
    assert shape(lines[-1]) == shape(documented)


def test_a_bad_reload_is_refused_as_the_guide_shows(tmp_path):
    port = free_port()
    config = example_config(tmp_path, port)
    child = subprocess.Popen([str(BIN / "lab"), "run", "lab.toml"], cwd=tmp_path, env=shell_env(),
                             stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    status = [str(BIN / "lab"), "status", f"127.0.0.1:{port}"]
    try:
        assert wait_for(lambda: subprocess.run(status, capture_output=True).returncode == 0)
        config.write_text(config.read_text().replace('path = "var/lab.sqlite"', 'pth = "var/lab.sqlite"'))
        child.send_signal(signal.SIGHUP)
        assert wait_for(lambda: "reloads: 0 done, 1 refused" in subprocess.run(status, capture_output=True,
                                                                                text=True).stdout)
        shown = subprocess.run(status, capture_output=True, text=True)
        assert shown.returncode == 0 and ": OK " in shown.stdout.splitlines()[0]  # the old configuration runs on
        before = json.loads(subprocess.run([*status, "--json"], capture_output=True).stdout)
        assert wait_for(lambda: json.loads(subprocess.run([*status, "--json"], capture_output=True).stdout)
                        ["writers"]["db"]["delivered"] > before["writers"]["db"]["delivered"])
    finally:
        child.terminate()
        err = child.communicate(timeout=30)[1]
    assert child.returncode == 0, err
    (refused,) = [line for line in err.splitlines() if "reload refused" in line]
    (documented,) = [b for b in fenced(ADMINS, "text") if "reload refused" in b]
    assert documented.strip().endswith(" …")  # the list of the plugin's options is left out
    (refused,), (documented,) = shape(refused), shape(documented.strip()[:-2])
    assert refused.startswith(documented)


# -- the systemd unit -----------------------------------------------------------------------------------


def unit_text() -> str:
    (text,) = [t for t in fenced(ADMINS, "ini") if t.startswith("# /etc/systemd/system/lab.service")]
    return text


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(unit_text())
    return parser


def test_the_unit_is_type_notify_with_a_watchdog_and_a_venv_execstart():
    service = unit()["Service"]
    assert service["Type"] == "notify" and int(service["WatchdogSec"]) > 0
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID" and os.access("/bin/kill", os.X_OK)
    argv = shlex.split(service["ExecStart"])
    assert argv[0] == "/opt/lab/bin/lab" and argv[1] == "run"
    assert "python3 -m venv /opt/lab && /opt/lab/bin/pip install" in ADMINS  # the install that makes that path
    assert os.access(BIN / "lab", os.X_OK)  # what a venv install puts in <venv>/bin


def local_unit(tmp_path: Path, config: Path) -> str:
    """The guide's unit with this test's venv, configuration and directory in place of /opt/lab, /etc/lab…"""
    prefix = BIN.parent
    text = unit_text().replace("/opt/lab/", f"{prefix}/").replace("/etc/lab/lab.toml", str(config))
    text = text.replace("WorkingDirectory=/var/lib/lab", f"WorkingDirectory={tmp_path}")
    return text.replace("EnvironmentFile=-/etc/lab/lab.env", f"EnvironmentFile=-{tmp_path}/lab.env")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None and not IN_CI, reason="no systemd-analyze")
def test_systemd_analyze_verifies_the_unit(tmp_path):
    path = tmp_path / "lab.service"
    path.write_text(local_unit(tmp_path, example_config(tmp_path, free_port())))
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(path)], capture_output=True, text=True,
                          timeout=60)
    problems = [line for line in done.stderr.splitlines() if "lab.service" in line]
    assert done.returncode == 0 and not problems, done.stderr


def test_the_units_commands_behave_as_systemd_expects(tmp_path):
    """ExecStart as systemd runs it (in WorkingDirectory, NOTIFY_SOCKET and WATCHDOG_USEC set), then ExecReload."""
    service = configparser.ConfigParser(interpolation=None)
    service.optionxform = str
    service.read_string(local_unit(tmp_path, example_config(tmp_path, free_port())))
    service = service["Service"]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "notify.sock"))
        sock.settimeout(15)
        env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "1000000"}
        child = subprocess.Popen(shlex.split(service["ExecStart"]), cwd=service["WorkingDirectory"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            ready = sock.recv(4096).decode().split("\n")
            assert ready[0] == "READY=1"
            (documented,) = re.findall(r'"Status: (collecting: [^"]+)"', ADMINS)
            assert shape(ready[1]) == shape("STATUS=" + documented)
            assert sock.recv(4096) == b"WATCHDOG=1"  # every half WATCHDOG_USEC
            reload = shlex.split(service["ExecReload"].replace("$MAINPID", str(child.pid)))
            assert subprocess.run(reload).returncode == 0
            seen = [sock.recv(4096).decode() for _ in range(6)]
            reloading = next(m for m in seen if m.startswith("RELOADING=1"))
            assert re.fullmatch(r"RELOADING=1\nMONOTONIC_USEC=\d+", reloading)
            after = seen[seen.index(reloading) + 1:]
            assert any(m.startswith("READY=1\nSTATUS=collecting: ") for m in after)
        finally:
            child.terminate()
            child.wait(30)
        assert child.returncode == 0, child.stderr.read()
        messages = []
        sock.settimeout(0.5)
        while True:
            try:
                messages.append(sock.recv(4096).decode())
            except TimeoutError:
                break
        assert messages[-1] == "STOPPING=1"

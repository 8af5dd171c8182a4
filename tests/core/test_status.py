"""The status endpoint, health verdict, stats line, `lab status` and systemd notify, with real sockets."""

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lab_core import Collector, ConfigError, Context, DiskSpool, Variable, Writer, systemd
from lab_core.config import plan
from lab_core.readers.demo import DemoReader
from lab_core.status import Monitor, Status, StatusServer, WatchSettings
from lab_core.writers.sqlite import SqliteWriter
from services import free_port

LAB = [sys.executable, "-m", "lab_core.cli"]


class SwitchableWriter(Writer):
    """Takes every batch, except while ``down`` (as a database that went away)."""

    def __init__(self):
        self.down, self.count = False, 0

    def write(self, batch):
        if self.down:
            raise ConnectionRefusedError("database is down")
        self.count += len(batch)


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def get(url, timeout=5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def served(tmp_path):
    """A collector (demo reader → sqlite with a disk spool, and a switchable writer) with its endpoint."""
    switch = SwitchableWriter()
    collector = Collector({"demo": DemoReader()},
                          {"db": SqliteWriter(tmp_path / "lab.sqlite"), "remote": switch},
                          spools={"db": DiskSpool(tmp_path / "db.spool")})
    collector.start(Context(1, [Variable(1, "a", "sine", "demo"), Variable(2, "b", "fail", "demo")],
                            default_interval_ms=20, min_interval_ms=10))
    settings = WatchSettings.from_config({"status": "127.0.0.1:0", "health_writer_stale_s": 0.5,
                                          "health_window_s": 30})
    status = Status(collector, settings)
    server = StatusServer(status).start()
    yield collector, status, server, switch
    server.close()
    collector.close()


def families(url):
    code, body = get(url + "/metrics")
    assert code == 200
    return {f.name: f for f in text_string_to_metric_families(body)}


def by_label(family, label, suffix=""):
    return {s.labels[label]: s.value for s in family.samples if s.name == family.name + suffix}


def test_metrics_scrape_parses_and_matches_the_collector(served):
    collector, _, server, _ = served
    assert wait_for(lambda: collector.stats()["writers"]["db"]["delivered"] >= 10)
    before = collector.stats()
    metrics = families(server.url)
    after = collector.stats()
    reads = by_label(metrics["lab_reader_reads"], "reader", "_total")["demo"]
    assert before["readers"]["demo"]["reads"] <= reads <= after["readers"]["demo"]["reads"]
    errors = by_label(metrics["lab_reader_errors"], "reader", "_total")["demo"]  # the "fail" variable
    assert before["readers"]["demo"]["errors"] <= errors <= after["readers"]["demo"]["errors"] and errors > 0
    lateness = metrics["lab_reader_lateness_seconds"]
    buckets = [s for s in lateness.samples if s.name.endswith("_bucket")]
    assert buckets[-1].labels["le"] == "+Inf" and buckets[-1].value == by_label(lateness, "reader", "_count")["demo"]
    assert [b.value for b in buckets] == sorted(b.value for b in buckets)  # cumulative
    for name in ("accepted", "delivered", "dropped", "set_aside", "failures"):
        scraped = by_label(metrics[f"lab_writer_{name}"], "writer", "_total")
        assert set(scraped) == {"db", "remote"}
        assert before["writers"]["db"][name] <= scraped["db"] <= after["writers"]["db"][name]
    assert by_label(metrics["lab_writer_last_success_timestamp_seconds"], "writer")["db"] > time.time() - 60
    assert set(by_label(metrics["lab_writer_spool_depth"], "writer")) == {"db", "remote"}
    assert by_label(metrics["lab_reader_up"], "reader") == {"demo": 1.0}
    assert "process_cpu_seconds" in metrics and metrics["lab_health"].samples[0].value == 1.0  # "b" always fails


def test_healthz_turns_failing_while_a_writer_is_down_and_recovers(served):
    collector, _, server, switch = served
    assert wait_for(lambda: collector.stats()["writers"]["remote"]["delivered"] > 0)
    code, body = get(server.url + "/healthz")
    assert code == 200 and json.loads(body)["status"] == "degraded"  # only the always-failing variable
    switch.down = True
    assert wait_for(lambda: json.loads(get(server.url + "/healthz")[1])["status"] == "failing")
    code, body = get(server.url + "/healthz")
    health = json.loads(body)
    assert code == 503
    assert any(r.startswith("writer remote has delivered nothing for") and "database is down" in r
               for r in health["reasons"])
    switch.down = False
    assert wait_for(lambda: get(server.url + "/healthz")[0] == 200)


class HangingReader(DemoReader):
    """Its reads block until ``release`` is set: a device or driver that never answers."""

    def __init__(self):
        super().__init__()
        self.release = threading.Event()

    def read(self, variables):
        self.release.wait()
        return super().read(variables)


def test_healthz_says_failing_while_a_read_hangs_and_recovers():
    reader = HangingReader()
    collector = Collector({"plc": reader}, {"db": SwitchableWriter()})
    collector.start(Context(1, [Variable(1, "a", "sine", "plc")], default_interval_ms=50))
    status = Status(collector, WatchSettings.from_config({"health_reader_stale_s": 0.3}))
    server = StatusServer(status, ("127.0.0.1", 0)).start()
    try:
        assert wait_for(lambda: get(server.url + "/healthz")[0] == 503)
        health = json.loads(get(server.url + "/healthz")[1])
        assert health["status"] == "failing"
        assert health["reasons"][0].startswith("reader plc has been in one read for ")
        reader.release.set()
        assert wait_for(lambda: get(server.url + "/healthz")[0] == 200)
    finally:
        reader.release.set()
        server.close()
        collector.close()


def test_the_endpoint_refuses_other_networks_and_survives_bad_requests(served):
    collector, status, server, _ = served
    host, port = server.address
    with socket.create_connection((host, port), timeout=5) as raw:  # not HTTP at all
        raw.sendall(b"\x00\xff garbage\r\n\r\n")
        assert b"400" in raw.recv(2000)  # answered as HTTP/0.9 would be, then closed
    with socket.create_connection((host, port), timeout=5) as raw:
        raw.sendall(b"POST /metrics HTTP/1.0\r\nContent-Length: 1000000000\r\n\r\n")
        assert b" 501 " in raw.recv(1000).split(b"\r\n")[0]
    assert get(server.url + "/nothing")[0] == 404
    assert get(server.url + "/metrics")[0] == 200  # still serving

    closed = StatusServer(status, ("127.0.0.1", 0), allow=["10.0.0.0/8"]).start()
    try:
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(closed.url + "/metrics", timeout=5)
    finally:
        closed.close()


def test_a_silent_or_trickling_peer_cannot_hold_the_endpoint(served):
    _, status, _, _ = served
    server = StatusServer(status, ("127.0.0.1", 0), request_timeout_s=0.3, max_connections=2).start()
    try:
        silent = socket.create_connection(server.address, timeout=5)
        trickler = socket.create_connection(server.address, timeout=5)
        time.sleep(0.1)
        with socket.create_connection(server.address, timeout=5) as third:  # the longest-idle makes room
            third.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            assert third.recv(100).startswith(b"HTTP/1.0 ")
        assert silent.recv(100) == b""  # closed for the newcomer (or at its request timeout)
        cut = False
        for header in range(100):  # a header line every 0.1 s: never a timeout, but a deadline
            try:
                trickler.sendall(f"X-{header}: y\r\n".encode() if header else b"GET / HTTP/1.0\r\n")
            except OSError:
                cut = True
                break
            time.sleep(0.1)
        assert cut
        silent.close()
        trickler.close()
        assert wait_for(lambda: get(server.url + "/healthz")[0] in (200, 503))
    finally:
        server.close()


def test_snapshot_stats_line_and_monitor_log(served, caplog):
    collector, status, _, _ = served
    assert wait_for(lambda: collector.stats()["readers"]["demo"]["reads"] > 2)
    snapshot = json.loads(get(served[2].url + "/status")[1])
    assert snapshot["health"]["status"] == "degraded" and snapshot["contexts"] == [
        {"id": 1, "state": "running", "variables": 2}]
    assert set(snapshot["writers"]) == {"db", "remote"} and "oldest_pending_age_s" in snapshot["writers"]["db"]
    status.settings = WatchSettings.from_config({"stats_interval_s": 0.1})
    with caplog.at_level(logging.INFO, logger="lab_core.status"):
        monitor = Monitor(status, watchdog_s=None).start()
        assert wait_for(lambda: "stats: degraded" in caplog.text)
        monitor.close()
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("stats:"))
    assert "readers: demo " in line and "writers: db " in line and "\n" not in line


def test_watch_settings_are_checked_with_the_key_named():
    base = {"readers": {"demo": {}}, "writers": {"null": {}},
            "contexts": [{"id": 1, "variables": [{"id": 1, "codename": "a", "reader": "demo", "address": "sine"}]}]}
    for settings, message in (({"status": "localhost"}, "collector.status: 'localhost' is not HOST:PORT"),
                              ({"status_allow": "10.0.0.0/8"}, "collector.status_allow: expected a list"),
                              ({"stats_interval_s": "often"}, "collector.stats_interval_s"),
                              ({"health_writer_stale_s": 0}, "collector.health_writer_stale_s")):
        with pytest.raises(ConfigError, match=message):
            plan({**base, "collector": settings})
    assert WatchSettings.from_config({"status": ":9100"}).status == ("127.0.0.1", 9100)
    assert WatchSettings.from_config({"status": "[::1]:9100"}).status == ("::1", 9100)


# -- systemd ----------------------------------------------------------------------------------------


def notify_socket(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(10)
    return sock


def test_sd_notify_sends_one_datagram_to_the_socket(tmp_path):
    with notify_socket(tmp_path) as sock:
        env = {"NOTIFY_SOCKET": str(tmp_path / "notify.sock")}
        assert systemd.notify("READY=1", "STATUS=collecting", env=env)
        assert sock.recv(4096) == b"READY=1\nSTATUS=collecting"
    assert not systemd.notify("READY=1", env={})  # outside systemd: nothing, no error
    assert not systemd.notify("READY=1", env=env)  # the socket is gone: logged, False


def test_sd_notify_abstract_socket():
    name = f"lab-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        assert systemd.notify("WATCHDOG=1", env={"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(100) == b"WATCHDOG=1"


def test_watchdog_interval_is_half_of_watchdog_usec_for_this_process_only():
    assert systemd.watchdog_interval_s({"WATCHDOG_USEC": "10000000"}) == 5.0
    assert systemd.watchdog_interval_s({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid())}) == 5.0
    assert systemd.watchdog_interval_s({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1"}) is None
    assert systemd.watchdog_interval_s({}) is None


def config(tmp_path, port, extra=""):
    path = tmp_path / "lab.toml"
    path.write_text(f"""
[collector]
status = "127.0.0.1:{port}"
{extra}
[readers.demo]
[writers.db]
plugin = "sqlite"
path = "{tmp_path / 'lab.sqlite'}"
spool = "disk"
[[contexts]]
id = 1
default_interval_ms = 100
[[contexts.variables]]
id = 1
codename = "demo_sine"
reader = "demo"
address = "sine"
""")
    return path


def test_lab_run_under_systemd_notify_and_lab_status(tmp_path):
    port = free_port()
    with notify_socket(tmp_path) as sock:
        env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "400000"}
        env.pop("WATCHDOG_PID", None)
        child = subprocess.Popen([*LAB, "run", str(config(tmp_path, port))], cwd=tmp_path, env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            messages = [sock.recv(4096).decode() for _ in range(4)]
            assert messages[0].startswith("READY=1\nSTATUS=collecting: 1 reader(s), 1 variable(s), 1 writer(s)")
            assert messages[1:] == ["WATCHDOG=1"] * 3  # every 0.2 s, half of WATCHDOG_USEC

            assert wait_for(lambda: subprocess.run([*LAB, "status", f"127.0.0.1:{port}"], capture_output=True)
                            .returncode == 0)
            shown = subprocess.run([*LAB, "status", f"127.0.0.1:{port}"], capture_output=True, text=True)
            assert shown.stdout.startswith(f"collector at 127.0.0.1:{port}: OK")
            assert "\ndemo " in shown.stdout and "\ndb " in shown.stdout and "contexts: 1 running" in shown.stdout
            as_json = json.loads(subprocess.run([*LAB, "status", f"127.0.0.1:{port}", "--json"],
                                                capture_output=True, text=True).stdout)
            assert as_json["health"] == {"status": "ok", "reasons": []} and as_json["pid"] == child.pid
        finally:
            child.terminate()
            child.wait(30)
        assert child.returncode == 0, child.stderr.read()
        sock.settimeout(0.2)
        rest = []
        while True:
            try:
                rest.append(sock.recv(4096).decode())
            except TimeoutError:
                break
        assert rest[-1] == "STOPPING=1"
    gone = subprocess.run([*LAB, "status", f"127.0.0.1:{port}"], capture_output=True, text=True)
    assert gone.returncode == 1 and "no collector status at" in gone.stderr

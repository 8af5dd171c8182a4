"""``status`` (system figures fixed, every server) and the collector plugins (contract kits)."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import threading
import time

import psutil
import pytest
from sockets_helpers import HOST, udp

from lab_core import Sample, Variable
from lab_core.testing import ReaderContract, WriterContract
from lab_sockets import DataPullSocket, DateDataPullSocket, PullClient, system_status
from lab_sockets.collect import SocketReader, SocketWriter

SYSTEM_KEYS = [
    "filesystem_usage", "last_apt_cache_change_unixtime", "last_git_fetch_unixtime", "load_average", "mac_address",
    "machine_name", "max_python_mem_usage_bytes", "number_of_python_threads", "os_version", "purpose",
    "python_version", "rpi_model", "rpi_temperature", "sd_card_serial", "uptime",
]


def test_system_status_keys_and_fixed_figures():
    status = system_status()
    assert sorted(status) == SYSTEM_KEYS
    assert set(status["filesystem_usage"]) == {"total_bytes", "free_bytes"}
    assert set(status["load_average"]) == {"1m", "5m", "15m"}
    assert set(status["uptime"]) == {"uptime_sec", "idle_sec"}
    assert status["number_of_python_threads"] == threading.active_count()
    # fixed: bytes, not KiB counted as bytes ×4 — at least what is in use now, at most the machine
    rss = psutil.Process().memory_info().rss
    assert rss * 0.5 <= status["max_python_mem_usage_bytes"] <= psutil.virtual_memory().total
    assert status["max_python_mem_usage_bytes"] == resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    # fixed: the MAC address is read when the machine has one
    macs = [a.address for name, addrs in psutil.net_if_addrs().items() if not name.startswith("lo")
            for a in addrs if a.family == psutil.AF_LINK and a.address.strip("0:")]
    if macs:
        assert status["mac_address"] in [m.lower() for m in macs]
    json.dumps(status, allow_nan=False)


def test_status_field_shapes_match_pyexplabsys(tmp_path):
    """#17: last_git_fetch_unixtime and purpose are objects, os_version is os-release's VERSION (real UDP)."""
    import os
    import platform

    (tmp_path / "PURPOSE").write_text("id: 042\npurpose: Moon laser controller\nDrives the giant laser.\n"
                                      "Second line of the description.\n")
    (tmp_path / "machines" / ".git").mkdir(parents=True)
    (tmp_path / "machines" / ".git" / "FETCH_HEAD").write_text("")
    os.utime(tmp_path / "machines" / ".git" / "FETCH_HEAD", (1_700_000_000, 1_700_000_000))
    code = (
        "import socket, sys\n"
        "from lab_sockets import DateDataPullSocket\n"
        "with DateDataPullSocket('s', ['a'], port=0, host='127.0.0.1') as sock:\n"
        "    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); client.settimeout(5)\n"
        "    client.sendto(b'status', sock.address); sys.stdout.write(client.recv(65536).decode())\n"
    )
    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop("LAB_PURPOSE", None)
    out = subprocess.run([sys.executable, "-c", code], check=True, timeout=60, env=env, capture_output=True, text=True)
    status = json.loads(out.stdout)["system_status"]
    assert status["purpose"] == {"id": "042", "purpose": "Moon laser controller",
                                 "long_description": "Drives the giant laser.\nSecond line of the description."}
    git = status["last_git_fetch_unixtime"]
    assert set(git) == {"PyExpLabSys", "machines"} and git["machines"] == 1_700_000_000.0
    assert status["os_version"] == platform.freedesktop_os_release().get("VERSION", platform.release())
    env["LAB_PURPOSE"] = "overridden"
    (tmp_path / "PURPOSE").unlink()
    out = subprocess.run([sys.executable, "-c", code], check=True, timeout=60, env=env, capture_output=True, text=True)
    assert json.loads(out.stdout)["system_status"]["purpose"] == {
        "id": None, "purpose": "overridden", "long_description": None}


def test_status_does_no_dns_lookup():
    """Fixed: the status of a machine without DNS answers at once (no getfqdn/gethostbyname)."""
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise AssertionError('DNS lookup')\n"
        "socket.getfqdn = socket.gethostbyname = socket.gethostbyaddr = refuse\n"
        "from lab_sockets import system_status\n"
        "system_status(); system_status()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_socket_server_status_states(serve):
    on = serve(DateDataPullSocket("on", ["a"], port=0, host=HOST))
    off = serve(DataPullSocket("off", ["a"], port=0, host=HOST, check_activity=False))
    servers = json.loads(udp(on.address, b"status"))["socket_server_status"]
    assert servers[str(off.port)] == {"name": "off", "type": "data", "status": "DISABLED",
                                      "since_last_activity": None}
    assert servers[str(on.port)]["status"] == "OK"


# -- the socket writer ---------------------------------------------------------------------------------


class TestSocketWriterContract(WriterContract):
    """The kit's contract. This writer serves only the newest point of each codename, so the kit's
    batches get one sample per codename (``keeps_history``); ``read_back`` reads them over UDP."""

    plugin_name = "socket"
    keeps_history = False

    @pytest.fixture
    def writer(self):
        writer = SocketWriter(host=HOST, port=0)
        yield writer
        writer.close()

    def read_back(self, writer):
        data = PullClient(HOST, writer.port).json_wn()
        return [(codename, point[0], point[1]) for codename, point in data.items() if point != "OLD_DATA"]


def test_writer_serves_newest_and_ignores_older(serve):
    writer = SocketWriter(host=HOST, port=0, timeouts=60)
    writer.open()
    try:
        now = time.time()
        writer.write([Sample("a", now - 2, 1.0), Sample("a", now - 1, 2.0), Sample("b", now - 3, 3.0)])
        writer.write([Sample("a", now - 5, 0.0), Sample.failed("b", "broken", now)])  # older, and an error
        assert PullClient(HOST, writer.port).json_wn() == {"a": (now - 1, 2.0), "b": (now - 3, 3.0)}
        writer.write([Sample("c", now - 100, 1.0)])  # a new codename, already older than its timeout
        assert udp(writer.address, b"codenames_raw") == b"a,b,c"
        assert udp(writer.address, b"c#raw") == b"OLD_DATA"
    finally:
        writer.close()
        writer.close()


def test_writer_with_fixed_codenames():
    writer = SocketWriter(host=HOST, port=0, codenames=["b", "a"], timeouts=[None, 5], name="fixed")
    writer.open()
    try:
        writer.write([Sample("a", time.time(), 1), Sample("zzz", time.time(), 2)])
        assert udp(writer.address, b"codenames_json") == b'["b", "a"]'
        assert udp(writer.address, b"name") == b"fixed"
        assert json.loads(udp(writer.address, b"a#json"))[1] == 1
    finally:
        writer.close()
    with pytest.raises(ValueError, match="one number"):
        SocketWriter(timeouts=[1, 2])


# -- the socket reader ---------------------------------------------------------------------------------


@pytest.fixture
def remote(serve):
    sock = serve(DateDataPullSocket("remote", ["t1", "t2", "old", "xy", "nan"], port=0, host=HOST,
                                    timeouts=[None, None, 1, None, None]))
    sock.set_point_now("t1", 21.5)
    sock.set_point_now("t2", "on")
    sock.set_point("old", (time.time() - 60, 1.0))
    sock.set_point_now("xy", [1, 2])
    sock.set_point_now("nan", float("nan"))
    return sock


class TestSocketReaderContract(ReaderContract):
    plugin_name = "socket"

    @pytest.fixture
    def reader(self, remote):
        return SocketReader(host=HOST, port=remote.port)

    @pytest.fixture
    def variables(self):
        return [Variable(1, "my_t1", "t1", reader="r"), Variable(2, "my_t2", "t2", reader="r", value_type="str")]

    @pytest.fixture
    def bad_variable(self):
        return Variable(3, "my_missing", "missing", reader="r")


def test_reader_error_samples(remote):
    reader = SocketReader(host=HOST, port=remote.port)
    reader.open()
    try:
        samples = reader.read([Variable(i, f"v{i}", address, reader="r")
                               for i, address in enumerate(["t1", "old", "xy", "nan", "missing"])])
    finally:
        reader.close()
    assert samples[0].ok and samples[0].value == 21.5
    assert samples[0].time == remote.point("t1")[0]  # the remote time
    assert "OLD_DATA" in samples[1].error
    assert "not a number" in samples[2].error
    assert "null" in samples[3].error
    assert "not served" in samples[4].error and "t1" in samples[4].error


def test_reader_local_time_and_bad_addresses(serve):
    sock = serve(DataPullSocket("xy", ["peak"], port=0, host=HOST))
    sock.set_point("peak", (500.0, 3.5))  # x is a wavelength, not a time
    reader = SocketReader(host=HOST, port=sock.port, time_source="local")
    before = time.time()
    (sample,) = reader.read([Variable(1, "peak", "peak", reader="r")])
    assert sample.value == 3.5 and sample.time >= before
    reader.close()
    with pytest.raises(ValueError, match="address"):
        reader.check_address(Variable(1, "v", "a#b", reader="r"))
    with pytest.raises(ValueError, match="time_source"):
        SocketReader(time_source="remote-ish")


def test_reader_unreachable_fails_the_read():
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind((HOST, 0))
        reader = SocketReader(host=HOST, port=silent.getsockname()[1], timeout=0.05, retries=0)
        with pytest.raises(TimeoutError, match="no reply"):
            reader.read([Variable(1, "v", "t1", reader="r")])
        reader.close()


def test_collector_to_socket_writer_to_socket_reader():
    """A real collector reads the demo reader into the socket writer; the socket reader reads that back."""
    from lab_core import Collector, Context, Registry

    registry = Registry()
    writer = registry.writer("socket", host=HOST, port=0, name="collected")
    collector = Collector({"demo": registry.reader("demo")}, {"net": writer}, registry=registry)
    try:
        collector.start(Context(1, [Variable(1, "demo_ramp", "ramp:period=10,low=0,high=1", reader="demo")],
                                default_interval_ms=20, min_interval_ms=10))
        deadline = time.monotonic() + 10
        while "demo_ramp" not in writer.socket.codenames and time.monotonic() < deadline:
            time.sleep(0.01)
        reader = registry.reader("socket", host=HOST, port=writer.port)
        (sample,) = reader.read([Variable(2, "copy", "demo_ramp", reader="net")])
        reader.close()
        assert sample.ok and sample.codename == "copy" and 0.0 <= sample.value <= 1.0
    finally:
        collector.close()
    assert not writer.socket.running


def test_reader_falls_back_to_one_request_per_codename(serve):
    codenames = [f"c{i:04d}" for i in range(3000)]  # json_wn does not fit in a datagram
    sock = serve(DateDataPullSocket("big", codenames, port=0, host=HOST))
    sock.set_point_now("c0042", 4.2)
    reader = SocketReader(host=HOST, port=sock.port)
    samples = reader.read([Variable(1, "v", "c0042", reader="r"), Variable(2, "w", "nope", reader="r")])
    reader.close()
    assert samples[0].value == 4.2
    assert "not served" in samples[1].error

"""The socket classes over real UDP/TCP on 127.0.0.1: life cycle, actions, concurrency, activity."""

from __future__ import annotations

import json
import queue
import socket
import threading
import time

import pytest
from sockets_helpers import HOST, udp

from lab_sockets import (
    DataPullSocket,
    DataPushSocket,
    DateDataPullSocket,
    LiveSocket,
    PortInUse,
    PortStillReserved,
    PullClient,
    PushClient,
    UnknownCodename,
)
from lab_sockets.protocol.common import DEFAULT_PORTS


def test_reference_defaults():
    assert DateDataPullSocket("n", ["a"]).requested_port == DEFAULT_PORTS["date"] == 9000
    assert DataPullSocket("n", ["a"]).requested_port == DEFAULT_PORTS["data"] == 9010
    assert DataPushSocket("n").requested_port == 8500
    live = LiveSocket("n", ["a"])
    assert live.internal_socket.requested_port == 8000
    assert live.live_server == ("localhost", 9767)
    sock = DateDataPullSocket("n", ["a"])
    assert (sock.host, sock.check_activity, sock.activity_timeout, sock.poke_on_set) == ("0.0.0.0", True, 900, True)
    push = DataPushSocket("n")
    assert (push.action, push.return_format, push.check_activity, push.queue) == ("store_last", "json", False, None)


def test_port_zero_exposes_the_bound_port(serve):
    sock = DateDataPullSocket("n", ["a"], port=0, host=HOST)
    assert sock.port == 0
    serve(sock)
    assert sock.port > 0
    assert sock.address == (HOST, sock.port)


def test_stop_frees_the_port_at_once_and_restart_works():
    first = DateDataPullSocket("n", ["a"], port=0, host=HOST)
    first.start()
    port = first.port
    first.stop()
    again = DataPushSocket("m", port=port, host=HOST)
    again.start()
    try:
        assert udp(again.address, b"name") == b"RET#m"
    finally:
        again.stop()
    first.start()  # the same object starts again (on its requested port 0)
    try:
        assert udp(first.address, b"name") == b"n"
    finally:
        first.stop()
    first.stop()  # stopping twice is fine


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_busy_port_is_a_clear_error(serve, transport):
    sock = serve(DateDataPullSocket("n", ["a"], port=0, host=HOST, transport=transport))
    other = DataPullSocket("m", ["a"], port=sock.port, host=HOST, transport=transport)
    with pytest.raises(PortInUse, match=f"{transport} port {sock.port} .* already in use") as info:
        other.start()
    assert isinstance(info.value, OSError)
    assert PortStillReserved is PortInUse
    assert not other.running


def test_start_twice_is_an_error(serve):
    sock = serve(DataPushSocket("n", port=0, host=HOST))
    with pytest.raises(RuntimeError, match="already started"):
        sock.start()


def test_context_manager():
    with DateDataPullSocket("n", ["a"], port=0, host=HOST) as sock:
        sock.set_point_now("a", 1.0)
        assert json.loads(udp(sock.address, b"a#json"))[1] == 1.0
        port = sock.port
    assert not sock.running
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((HOST, port))  # free again


def test_bad_arguments_are_refused_at_construction():
    with pytest.raises(ValueError, match="port"):
        DateDataPullSocket("n", ["a"], port=70000)
    with pytest.raises(ValueError, match="activity_timeout"):
        DateDataPullSocket("n", ["a"], activity_timeout=0)
    with pytest.raises(ValueError, match="action"):
        DataPushSocket("n", action="store_first")
    with pytest.raises(ValueError, match="callback"):
        DataPushSocket("n", action="callback_direct")
    with pytest.raises(ValueError, match="return_format"):
        DataPushSocket("n", return_format="xml")
    with pytest.raises(ValueError, match="twice"):
        LiveSocket("n", ["a", "a"], no_internal_data_pull_socket=True)


def test_set_methods(serve):
    date = serve(DateDataPullSocket("n", ["a", "b"], port=0, host=HOST))
    date.set_batch({"a": (1.0, 2), "b": (3.0, 4)})
    assert udp(date.address, b"raw") == b"1.0,2;3.0,4"
    before = time.time()
    date.set_batch_now({"a": 5, "b": 6})
    (xa, ya), (xb, yb) = json.loads(udp(date.address, b"json"))
    assert xa == xb >= before and (ya, yb) == (5, 6)
    with pytest.raises(UnknownCodename):
        date.set_point_now("c", 1)
    data = serve(DataPullSocket("n", ["a", "b"], port=0, host=HOST, timeouts=10))
    data.set_batch({"a": (1, 2), "b": (3, 4)}, timestamp=time.time())
    assert udp(data.address, b"raw_wn") == b"a:1,2;b:3,4"
    data.set_batch({"a": (1, 2)}, timestamp=time.time() - 60)
    assert udp(data.address, b"raw_wn") == b"a:OLD_DATA;b:3,4"
    data.reset()
    assert udp(data.address, b"raw_wn") == b"a:OLD_DATA;b:OLD_DATA"


# -- push actions ---------------------------------------------------------------------------------


def test_store_last_and_updated(serve):
    sock = serve(DataPushSocket("n", port=0, host=HOST))
    assert sock.last == (None, None) and sock.updated == (None, {})
    udp(sock.address, b'json_wn#{"greeting": "Live long and prosper", "number": 47}')
    udp(sock.address, b"raw_wn#number:int:42")
    t_last, last = sock.last
    t_updated, updated = sock.updated
    assert last == {"number": 42}
    assert updated == {"greeting": "Live long and prosper", "number": 42}
    assert t_last == t_updated and t_last <= time.time()
    sock.set_last_to_none()
    sock.clear_updated()
    assert sock.last == (None, None) and sock.updated == (None, {})


def test_enqueue(serve):
    sock = serve(DataPushSocket("n", port=0, host=HOST, action="enqueue"))
    udp(sock.address, b'json_wn#{"a": 1}')
    udp(sock.address, b'json_wn#{"b": 2}')
    assert sock.queue.get(timeout=1) == {"a": 1}
    assert sock.queue.get(timeout=1) == {"b": 2}
    assert sock.last[1] == {"b": 2}


def test_enqueue_bound(serve):
    sock = serve(DataPushSocket("n", port=0, host=HOST, action="enqueue", queue_maxsize=1))
    assert udp(sock.address, b'json_wn#{"a": 1}') == b"ACK#{'a': 1}"
    reply = udp(sock.address, b'json_wn#{"a": 2}')
    assert reply.startswith(b"ERROR#The queue is full")
    assert sock.last[1] == {"a": 1}  # the refused data set was not stored
    assert sock.queue.get_nowait() == {"a": 1}
    assert udp(sock.address, b'json_wn#{"a": 3}') == b"ACK#{'a': 3}"


def test_enqueue_own_queue(serve):
    mine = queue.Queue()
    sock = serve(DataPushSocket("n", port=0, host=HOST, action="enqueue", queue=mine))
    assert sock.queue is mine
    udp(sock.address, b"raw_wn#a:float:1.5")
    assert mine.get(timeout=1) == {"a": 1.5}
    with pytest.raises(ValueError, match="enqueue"):
        DataPushSocket("n", queue=mine)


def test_callback_async_in_order(serve):
    got = []
    done = threading.Event()

    def callback(data):
        got.append(data["i"])
        if data["i"] == 19:
            done.set()

    sock = serve(DataPushSocket("n", port=0, host=HOST, action="callback_async", callback=callback))
    for i in range(20):
        assert udp(sock.address, f'json_wn#{{"i": {i}}}'.encode()) == f"ACK#{{'i': {i}}}".encode()
    assert done.wait(5)
    assert got == list(range(20))


def test_callback_async_errors_do_not_stop_it(serve):
    got = threading.Event()

    def callback(data):
        if data.get("boom"):
            raise RuntimeError("boom")
        got.set()

    sock = serve(DataPushSocket("n", port=0, host=HOST, action="callback_async", callback=callback))
    udp(sock.address, b'json_wn#{"boom": true}')
    udp(sock.address, b'json_wn#{"ok": true}')
    assert got.wait(5)


def test_callback_gets_a_copy(serve):
    sock = serve(DataPushSocket("n", port=0, host=HOST, action="callback_direct",
                                callback=lambda data: data.pop("method")))
    assert udp(sock.address, b'json_wn#{"method": "m", "x": 1}') == b'RET#"m"'
    assert sock.last[1] == {"method": "m", "x": 1}


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_slow_callback_direct_does_not_stall_other_requests(serve, transport):
    release = threading.Event()
    entered = threading.Event()

    def slow(data):
        entered.set()
        release.wait(10)
        return "done"

    push = serve(DataPushSocket("slow push", port=0, host=HOST, action="callback_direct", callback=slow,
                                return_format="string", transport=transport))
    pull = serve(DateDataPullSocket("pull", ["a"], port=0, host=HOST, transport=transport))
    result = {}

    def call():
        with PushClient(HOST, push.port, transport=transport, timeout=10, return_format="string") as client:
            result["reply"] = client.push({"x": 1})

    caller = threading.Thread(target=call)
    caller.start()
    try:
        assert entered.wait(5)
        # while the callback blocks: the same server and another one still answer
        with PushClient(HOST, push.port, transport=transport, timeout=2) as other:
            assert other.name() == "slow push"
            assert "socket_server_status" in other.status()
        with PullClient(HOST, pull.port, transport=transport, timeout=2) as puller:
            assert puller.json_wn() == {"a": (0.0, 0.0)}
    finally:
        release.set()
        caller.join(10)
    assert result["reply"].text == "done"


def test_too_many_pending_calls_is_an_excep(serve):
    release = threading.Event()
    sock = serve(DataPushSocket("n", port=0, host=HOST, action="callback_direct", max_pending_calls=1,
                                callback=lambda data: release.wait(10)))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as first:
        first.settimeout(10)
        first.sendto(b'json_wn#{"a": 1}', sock.address)
        try:
            deadline = time.monotonic() + 5
            while True:  # the first call occupies the only slot (soon)
                reply = udp(sock.address, b'json_wn#{"a": 2}')
                if reply.startswith(b"EXCEP#busy") or time.monotonic() > deadline:
                    break
            assert reply.startswith(b"EXCEP#busy")
        finally:
            release.set()
        assert first.recv(100) == b"RET#true"


def test_activity(serve):
    sock = serve(DateDataPullSocket("n", ["a"], port=0, host=HOST, activity_timeout=0.05))
    sock.last_activity = time.time() - 10
    status = json.loads(udp(sock.address, b"status"))["socket_server_status"][str(sock.port)]
    assert status["status"] == "INACTIVE" and status["since_last_activity"] >= 10
    udp(sock.address, b"json_wn")  # queries are not activity
    assert sock.activity_status()["status"] == "INACTIVE"
    sock.set_point_now("a", 1)  # sets are
    assert sock.activity_status(now=sock.last_activity)["status"] == "OK"
    sock.last_activity = 0
    sock.poke()
    assert sock.activity_status(now=sock.last_activity)["status"] == "OK"


def test_no_poke_on_set(serve):
    sock = serve(DataPullSocket("n", ["a"], port=0, host=HOST, poke_on_set=False))
    sock.last_activity = 0.0
    sock.set_point("a", (1, 2))
    assert sock.last_activity == 0.0


def test_push_pokes_on_data(serve):
    sock = serve(DataPushSocket("n", port=0, host=HOST, check_activity=True))
    sock.last_activity = 0.0
    udp(sock.address, b"name")
    assert sock.last_activity == 0.0
    udp(sock.address, b'json_wn#{"a": 1}')
    assert sock.last_activity > 0


def test_status_lists_every_server(serve):
    a = serve(DateDataPullSocket("a", ["x"], port=0, host=HOST))
    b = serve(DataPushSocket("b", port=0, host=HOST))
    c = serve(DataPullSocket("c", ["x"], port=0, host=HOST, transport="tcp"))
    live = LiveSocket("d", ["x"], live_server=(HOST, 9), internal_data_pull_socket_port=0, host=HOST)
    serve(live)
    servers = json.loads(udp(b.address, b"status"))["socket_server_status"]
    assert servers[str(a.port)]["type"] == "date"
    assert servers[str(b.port)]["type"] == "push"
    assert servers[f"{c.port}/tcp"]["type"] == "data"
    # PyExpLabSys's LiveSocket reports its internal socket as a DataPullSocket
    assert servers[str(live.port)] == {**servers[str(live.port)], "type": "data", "name": "d"}
    a.stop()
    assert str(a.port) not in json.loads(udp(b.address, b"status"))["socket_server_status"]


# -- LiveSocket -----------------------------------------------------------------------------------


@pytest.fixture
def live_server():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        sock.settimeout(2)
        yield sock


def test_live_socket_sends_and_mirrors(serve, live_server):
    live = LiveSocket("live", ["a", "b"], live_server=live_server.getsockname(), internal_data_pull_socket_port=0,
                      host=HOST, hostname="vm")
    serve(live)
    live.set_point("a", (1795245744.05, 1.5))
    assert live_server.recv(65536) == b'{"host": "vm", "data": {"a": [1795245744.05, 1.5]}}'
    live.set_batch_now({"a": True, "b": "on"})
    message = json.loads(live_server.recv(65536))
    assert message["data"]["a"][1] is True and message["data"]["b"][1] == "on"
    live.set_point_now("b", 2)
    assert json.loads(live_server.recv(65536))["data"]["b"][1] == 2
    assert json.loads(udp((HOST, live.port), b"b#json"))[1] == 2
    live.reset(["a", "b"])
    assert live_server.recv(65536) == b'{"host": "vm", "data": {"a": "RESET", "b": "RESET"}}'
    # fixed: the internal socket serves the default point after a reset, not ["R","E","S","E","T"]
    assert udp((HOST, live.port), b"json_wn") == b'{"a": [0.0, 0.0], "b": [0.0, 0.0]}'
    with pytest.raises(RuntimeError, match="'c'"):  # PyExpLabSys's exception
        live.set_point_now("c", 1)
    with pytest.raises(UnknownCodename, match="'c'"):  # and lab's, as for the other sockets
        live.reset(["c"])


def test_live_socket_without_internal_socket(live_server):
    with LiveSocket("live", ["a"], live_server=live_server.getsockname(), no_internal_data_pull_socket=True,
                    hostname="h") as live:
        assert live.internal_socket is None and live.port is None
        live.set_point_now("a", 1)
        assert json.loads(live_server.recv(65536))["host"] == "h"


def test_live_server_down_is_not_an_error():
    with LiveSocket("live", ["a"], live_server=("no-such-host.invalid", 9767),
                    no_internal_data_pull_socket=True) as live:
        live.set_point_now("a", 1)  # logged, not raised


def test_live_server_from_environment(monkeypatch):
    monkeypatch.setenv("LAB_LIVE_SERVER", "liveserver:1234")
    assert LiveSocket("n", ["a"], no_internal_data_pull_socket=True).live_server == ("liveserver", 1234)
    monkeypatch.setenv("LAB_LIVE_SERVER", "nonsense")
    with pytest.raises(ValueError, match="host:port"):
        LiveSocket("n", ["a"], no_internal_data_pull_socket=True)


def test_live_server_from_pyexplabsys_user_settings(monkeypatch, tmp_path):
    """PyExpLabSys's ~/.config/PyExpLabSys/user_settings.yaml, read with PyYAML and with the built-in subset."""
    from lab_sockets import live as live_module

    monkeypatch.delenv("LAB_LIVE_SERVER", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert live_module.default_live_server() == ("localhost", 9767)  # no file
    settings = tmp_path / ".config" / "PyExpLabSys" / "user_settings.yaml"
    settings.parent.mkdir(parents=True)
    settings.write_text("# PyExpLabSys settings\ncommon_liveserver_host: 'liveserver.lab'  # the live server\n"
                        "common_liveserver_port: 9876\nsql_server_host: servcinf-sql\n"
                        "nested:\n  common_liveserver_port: 1\n")
    assert LiveSocket("n", ["a"], no_internal_data_pull_socket=True).live_server == ("liveserver.lab", 9876)
    assert live_module._yaml_subset(settings.read_text()) == {
        "common_liveserver_host": "liveserver.lab", "common_liveserver_port": 9876, "sql_server_host": "servcinf-sql"}
    monkeypatch.setenv("LAB_LIVE_SERVER", "other:1234")  # the environment wins
    assert live_module.default_live_server() == ("other", 1234)


def test_callbacks_may_stop_their_socket():
    holder = {}
    stopped = threading.Event()

    def stop_async(data):
        holder["sock"].stop()
        stopped.set()

    holder["sock"] = sock = DataPushSocket("n", port=0, host=HOST, action="callback_async", callback=stop_async)
    sock.start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.sendto(b'json_wn#{"stop": 1}', sock.address)  # the ACK may not make it: the socket closes
    assert stopped.wait(5)
    assert not sock.running

    direct = DataPushSocket("n", port=0, host=HOST, action="callback_direct", callback=lambda data: direct.stop())
    direct.start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.sendto(b'json_wn#{"stop": 1}', direct.address)  # the reply may not make it: the socket closes
    deadline = time.monotonic() + 5
    while direct.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not direct.running


def test_join_waits_until_stopped():
    sock = DateDataPullSocket("n", ["a"], port=0, host=HOST)
    sock.join()  # not started: returns at once
    sock.start()
    sock.join(timeout=0.01)
    assert sock.is_alive()
    threading.Timer(0.05, sock.stop).start()
    sock.join(timeout=5)
    assert not sock.is_alive()


def test_callback_async_stop_with_a_full_queue_still_calls_back_what_was_accepted():
    release = threading.Event()
    got = []

    def slow(data):
        release.wait(5)
        got.append(data["i"])

    sock = DataPushSocket("n", port=0, host=HOST, action="callback_async", callback=slow, queue_maxsize=2)
    sock.start()
    replies = [udp(sock.address, f'json_wn#{{"i": {i}}}'.encode()) for i in range(4)]
    accepted = [i for i, reply in enumerate(replies) if reply.startswith(b"ACK#")]
    assert any(reply.startswith(b"ERROR#The queue is full") for reply in replies)
    stopper = threading.Thread(target=sock.stop)
    stopper.start()
    release.set()
    stopper.join(5)
    deadline = time.monotonic() + 5
    while got != accepted and time.monotonic() < deadline:
        time.sleep(0.01)
    assert got == accepted

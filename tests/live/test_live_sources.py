"""The UDP receiver and the pull poller on real sockets (127.0.0.1, free ports)."""

from __future__ import annotations

import json
import socket
import time

from live_helpers import wait_until


def values(server):
    return server.hub.snapshot()["channels"]


def test_livesocket_datagrams_are_shown(server, sender):
    now = time.time()
    sender.send({"temp": [now, 21.5], "valve": [now, "open"]}, host="rasppi42")
    channels = wait_until(lambda: len(values(server)) == 2 and values(server), what="two codenames")
    assert channels["temp"]["y"] == 21.5 and channels["temp"]["source"] == "live rasppi42"
    assert channels["valve"]["y"] == "open"


def test_reset_over_udp(server, sender):
    sender.send({"a": [1.0, 1.0], "b": [1.0, 2.0]})
    wait_until(lambda: len(values(server)) == 2)
    sender.send({"a": "RESET"})
    wait_until(lambda: values(server)["a"]["reset"], what="the reset")
    assert server.hub.snapshot()["history"]["a"] == []
    assert values(server)["b"]["y"] == 2.0


def test_bad_datagrams_never_stop_the_receiver(server, sender):
    garbage = [b"", b"\xff" * 10, b"{", b"[]", b"null", b'{"data": 5}', b'{"data": {"a": {"b": 1}}}',
               b'{"data": {"a": [1]}}', b"[" * 50000, b"x" * 65000, "h\u00e9".encode("latin-1"),
               json.dumps({"data": {"": [1, 2]}}).encode(), b"UNKNOWN_COMMMAND"]
    receiver = server.receiver
    for n, payload in enumerate(garbage * 3, 1):
        sender.send(payload)  # one at a time: the kernel may drop datagrams a full buffer cannot take
        wait_until(lambda n=n: receiver.datagrams == n, what=f"datagram {n}")
    sender.send({"survivor": [1.0, 42.0]})
    wait_until(lambda: "survivor" in values(server), what="the good datagram after the bad ones")
    assert receiver._thread.is_alive()
    assert receiver.bad == len(garbage) * 3
    assert "survivor" in values(server) and len(values(server)) == 1
    status = wait_until(lambda: server.hub.snapshot()["status"]["udp"]["bad"] == receiver.bad
                        and server.hub.snapshot()["status"]["udp"], what="the receiver status")
    assert status["last_error"]


def test_a_datagram_larger_than_pyexplabsys_buffer_is_read_whole(server, sender):
    data = {f"channel_{i:03d}": [1795245744.05, i * 0.5] for i in range(400)}
    payload = json.dumps({"host": "vm", "data": data}).encode()
    assert len(payload) > 8192
    sender.send(payload)
    wait_until(lambda: len(values(server)) == 400, what="400 codenames from one datagram")


def test_pull_sockets_are_polled_with_json_wn(make_server, pull_socket):
    now = time.time()
    device = pull_socket({"temp": [now, 21.5], "pressure": [now, 1e-09], "stale": "OLD_DATA"})
    server = make_server(udp_port=None, pull=[f"127.0.0.1:{device.port}"], poll_interval=0.05)
    channels = wait_until(lambda: len(values(server)) == 3 and values(server), what="the pull socket's codenames")
    assert channels["temp"]["y"] == 21.5 and channels["temp"]["x"] == now
    assert channels["temp"]["source"] == f"pull 127.0.0.1:{device.port}"
    assert channels["pressure"]["y"] == 1e-09
    assert channels["stale"]["stale"] is True and channels["stale"]["reason"] == "OLD_DATA"
    assert device.requests[0] == b"json_wn"
    device.set("temp", [now + 1, 22.0])
    wait_until(lambda: values(server)["temp"]["y"] == 22.0, what="the new value")
    device.set("temp", "OLD_DATA")
    wait_until(lambda: values(server)["temp"]["stale"], what="OLD_DATA")
    assert values(server)["temp"]["y"] == 22.0
    history = server.hub.snapshot()["history"]["temp"]
    assert history == [(now, 21.5), (now + 1, 22.0)]  # polled many times, each point once


def test_a_dead_or_silent_pull_socket_does_not_delay_the_others(make_server, pull_socket):
    good = pull_socket({"good": [time.time(), 1.0]})
    silent = pull_socket(silent=True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]  # nothing listens there once closed
    server = make_server(udp_port=None, poll_interval=0.1, poll_timeout=30.0,
                         pull=[f"127.0.0.1:{silent.port}", f"127.0.0.1:{dead_port}", f"127.0.0.1:{good.port}"])
    # a round waits up to 30 s for the silent socket, yet the good reply is applied as it arrives
    wait_until(lambda: "good" in values(server), timeout=10, what="the good socket's value")
    status = wait_until(lambda: server.hub.snapshot()["status"].get(f"pull 127.0.0.1:{dead_port}", {})
                        .get("state") == "error" and server.hub.snapshot()["status"], what="the dead socket's error")
    assert status[f"pull 127.0.0.1:{dead_port}"]["error"].startswith(f"nothing listens at 127.0.0.1:{dead_port}")
    assert status[f"pull 127.0.0.1:{good.port}"]["state"] == "ok"
    assert len(silent.requests) >= 1


def test_a_silent_pull_socket_is_reported(make_server, pull_socket):
    silent = pull_socket(silent=True)
    server = make_server(udp_port=None, poll_interval=0.05, pull=[f"127.0.0.1:{silent.port}"])
    status = wait_until(lambda: server.hub.snapshot()["status"][f"pull 127.0.0.1:{silent.port}"]["state"]
                        == "no reply" and server.hub.snapshot()["status"], what="'no reply'")
    assert "no reply within" in status[f"pull 127.0.0.1:{silent.port}"]["error"]


def test_a_socket_that_does_not_speak_json_wn_is_reported(make_server, pull_socket):
    push = pull_socket()
    push.reply_override = b"ERROR#UNKNOWN_COMMMAND"
    server = make_server(udp_port=None, poll_interval=0.05, pull=[f"127.0.0.1:{push.port}"])
    key = f"pull 127.0.0.1:{push.port}"
    status = wait_until(lambda: server.hub.snapshot()["status"][key]["state"] == "bad reply"
                        and server.hub.snapshot()["status"][key], what="'bad reply'")
    assert "not JSON" in status["error"]
    assert values(server) == {}


def test_a_pull_socket_default_point_is_listed_without_a_value(make_server, pull_socket):
    device = pull_socket({"never_set": [0.0, 0.0], "set": [1795245643.0, 1.0]})
    server = make_server(udp_port=None, poll_interval=0.05, pull=[f"127.0.0.1:{device.port}"])
    wait_until(lambda: len(values(server)) == 2, what="both codenames")
    assert values(server)["never_set"]["has_value"] is False
    assert values(server)["never_set"]["source"] == f"pull 127.0.0.1:{device.port}"
    assert server.hub.snapshot()["history"]["never_set"] == []
    device.set("never_set", [1795245644.0, 0.0])
    wait_until(lambda: values(server)["never_set"]["has_value"], what="the first real point")

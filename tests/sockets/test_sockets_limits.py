"""Nobody on the network can squat a server: connection limits, deadlines and allow-lists."""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time

import pytest
from sockets_helpers import HOST, udp

from lab_core.netaccess import AllowList, RefusalLog
from lab_sockets import DataPushSocket, DateDataPullSocket, PullClient
from lab_sockets.transports.tcp import TcpConnection, TcpTransport
from lab_sockets.transports.udp import UdpTransport


def echo(request, peer):
    return b"echo:" + request


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """The server closed ``sock`` (end of stream or reset) within ``seconds``."""
    sock.settimeout(seconds)
    try:
        return sock.recv(10) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def _idle_connections(address, count: int, sources: list[str]) -> list[socket.socket]:
    opened = []
    for i in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((sources[i % len(sources)], 0))
        sock.connect(address)
        opened.append(sock)
    return opened


@pytest.mark.parametrize("sources", [[HOST], [f"127.0.0.{n}" for n in range(2, 102)]],
                         ids=["one peer", "100 peers"])
def test_500_idle_connections_do_not_lock_out_a_normal_client(serve, sources):
    transport = serve(TcpTransport(echo, HOST, 0))  # the defaults: 64 connections, 8 per peer
    idle = _idle_connections(transport.address, 500, sources)
    try:
        with TcpConnection(transport.address, timeout=1.0) as client:
            for i in range(3):
                assert client.request(b"%d" % i) == b"echo:%d" % i
        assert transport.connections <= 64
    finally:
        for sock in idle:
            sock.close()


def test_a_connection_without_a_first_request_is_closed(serve):
    transport = serve(TcpTransport(echo, HOST, 0, first_frame_timeout=0.3))
    with socket.create_connection(transport.address) as silent:
        assert _closed_within(silent, 5.0)


def test_a_frame_dribbled_byte_by_byte_is_cut_off(serve):
    transport = serve(TcpTransport(echo, HOST, 0, first_frame_timeout=0.5, frame_timeout=0.5))
    message = struct.pack(">I", 20) + b"x" * 20
    with socket.create_connection(transport.address) as slow:
        started = time.monotonic()
        closed = False
        for byte in message:
            try:
                slow.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            if time.monotonic() - started > 1.5:
                break
            time.sleep(0.1)
        assert closed or _closed_within(slow, 2.0)


def test_an_idle_connection_is_closed_after_idle_timeout(serve):
    transport = serve(TcpTransport(echo, HOST, 0, idle_timeout=0.3))
    with socket.create_connection(transport.address) as sock:
        sock.sendall(struct.pack(">I", 1) + b"a")
        assert sock.recv(100) == struct.pack(">I", 6) + b"echo:a"
        assert _closed_within(sock, 5.0)


def test_a_connection_busy_with_a_request_is_never_closed_to_make_room(serve, caplog):
    release, started = threading.Event(), threading.Event()

    def slow(request, peer):
        started.set()
        release.wait(5)
        return b"done"

    transport = serve(TcpTransport(slow, HOST, 0, max_connections=1))
    replies = []
    busy = threading.Thread(target=lambda: replies.append(TcpTransport.request(transport.address, b"x", 5)))
    busy.start()
    assert started.wait(5)
    with caplog.at_level(logging.WARNING, "lab_sockets.transports.tcp"), \
            socket.create_connection(transport.address) as second:
        assert _closed_within(second, 5.0)  # refused: the only slot is busy
    release.set()
    busy.join(5)
    assert replies == [b"done"]
    assert "every connection slot it could take is busy" in caplog.text


def test_refusals_are_logged_once_per_interval_with_a_count(serve, caplog):
    transport = serve(TcpTransport(echo, HOST, 0, allow=["10.0.0.0/8"]))
    with caplog.at_level(logging.WARNING, "lab_sockets.transports.tcp"):
        for _ in range(20):
            with socket.create_connection(transport.address) as sock:
                assert _closed_within(sock, 5.0)
    lines = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(lines) == 1 and "not in allow (10.0.0.0/8)" in lines[0].getMessage()
    assert transport.refusals.total == 20


def test_refusal_log_counts_between_lines(caplog):
    refusals = RefusalLog(logging.getLogger("test.refusals"), "test server", interval=0.2)
    with caplog.at_level(logging.WARNING, "test.refusals"):
        for _ in range(5):
            refusals.refused("10.1.2.3", "why")
        time.sleep(0.25)
        refusals.refused("10.1.2.4", "why")
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith("test server refused 1 ")
    assert messages[1].startswith("test server refused 5 ") and "10.1.2.4" in messages[1]


def test_udp_allow_list_drops_other_peers_unanswered(serve):
    closed = serve(UdpTransport(echo, HOST, 0, allow=["10.0.0.0/8"]))
    with pytest.raises(TimeoutError):
        udp(closed.address, b"hello", timeout=0.3)
    opened = serve(UdpTransport(echo, HOST, 0, allow=["10.0.0.0/8", "127.0.0.1"]))
    assert udp(opened.address, b"hello") == b"echo:hello"


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_socket_servers_take_an_allow_list(serve, transport):
    allowed = serve(DateDataPullSocket("ok", ["a"], port=0, host=HOST, transport=transport, allow=["127.0.0.0/8"]))
    assert PullClient(HOST, allowed.port, transport=transport, timeout=1).name() == "ok"
    refused = serve(DataPushSocket("no", port=0, host=HOST, transport=transport, allow=["192.168.7.0/24"]))
    with pytest.raises((TimeoutError, ConnectionError)):
        PullClient(HOST, refused.port, transport=transport, timeout=0.3).name()


def test_new_transports_listen_on_loopback_pyexplabsys_ones_on_every_interface():
    assert DateDataPullSocket("n", ["a"], port=0).host == "0.0.0.0"
    assert DateDataPullSocket("n", ["a"], port=0, transport="tcp").host == "127.0.0.1"
    assert TcpTransport(echo).host == "127.0.0.1"


def test_a_bad_allow_list_is_an_error_when_the_server_is_made():
    with pytest.raises(ValueError, match=r'allow: \'10.0.0.300\' is not a network or an address; write e\.g\.'):
        DateDataPullSocket("n", ["a"], port=0, allow=["10.0.0.300"])
    with pytest.raises(ValueError, match=r'allow: expected a list of networks, e\.g\. allow = \["10\.0\.0\.0/8"\]'):
        AllowList("10.0.0.0/8")


def test_allow_list_matching():
    allow = AllowList(["10.0.0.0/8", "192.168.1.20", "::1"])
    assert allow.allows("10.200.3.4") and allow.allows("192.168.1.20") and allow.allows("::1")
    assert allow.allows("::ffff:10.1.1.1")  # an IPv4 peer on a dual-stack socket
    assert not allow.allows("192.168.1.21") and not allow.allows("not an address")
    assert AllowList(None).allows("8.8.8.8") and AllowList(None).open
    assert not AllowList([]).allows("127.0.0.1")
    assert str(AllowList([])) == "no one" and str(AllowList(None)) == "everyone"


# -- bounded memory per remote sender ------------------------------------------------------


def test_push_socket_caps_the_names_it_keeps(serve):
    sock = serve(DataPushSocket("p", port=0, host=HOST, max_names=3))
    assert udp(sock.address, b'json_wn#{"a": 1, "b": 2}').startswith(b"ACK#")
    assert udp(sock.address, b'json_wn#{"c": 3}').startswith(b"ACK#")
    refused = udp(sock.address, b'json_wn#{"a": 10, "d": 4}')
    assert refused == (b"ERROR#The socket keeps at most 3 names and the data set has 1 new one(s); "
                       b"it was not stored. Names already known are still accepted")
    assert udp(sock.address, b'json_wn#{"a": 11, "b": 12}').startswith(b"ACK#")  # known names: always
    assert sock.updated[1] == {"a": 11, "b": 12, "c": 3}
    assert sock.last[1] == {"a": 11, "b": 12}
    sock.clear_updated()
    assert udp(sock.address, b'json_wn#{"d": 4}').startswith(b"ACK#")


def test_push_socket_caps_the_bytes_it_keeps_and_a_refused_set_is_not_queued(serve):
    sock = serve(DataPushSocket("p", port=0, host=HOST, action="enqueue", max_bytes=100))
    assert udp(sock.address, b'raw_wn#a:str:' + b"x" * 50).startswith(b"ACK#")
    refused = udp(sock.address, b'raw_wn#b:str:' + b"y" * 60)
    assert refused.startswith(b"ERROR#The socket keeps at most 100 bytes of names and values")
    assert sock.queue.qsize() == 1 and sock.updated[1] == {"a": "x" * 50}
    assert udp(sock.address, b'raw_wn#a:str:short').startswith(b"ACK#")  # a smaller value makes room
    assert udp(sock.address, b'raw_wn#b:str:' + b"y" * 60).startswith(b"ACK#")


def test_push_socket_queue_is_bounded_by_default(serve):
    sock = serve(DataPushSocket("p", port=0, host=HOST, action="enqueue", queue_maxsize=2))
    for i in range(2):
        assert udp(sock.address, b'json_wn#{"a": %d}' % i).startswith(b"ACK#")
    assert udp(sock.address, b'json_wn#{"a": 9}').startswith(b"ERROR#The queue is full (2 data sets wait)")
    assert sock.updated[1] == {"a": 1}  # the refused data set was not stored either
    assert DataPushSocket("q", port=0, action="enqueue").queue.maxsize == 10_000


SERVER = """
import sys, time
from lab_sockets import DataPushSocket
sock = DataPushSocket("memory", port=0, host="127.0.0.1")
sock.start()
print(sock.port, flush=True)
sys.stdin.readline()
print(len(sock.updated[1]), flush=True)
"""


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def test_100k_distinct_names_leave_the_push_server_rss_bounded():
    import subprocess
    import sys

    server = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        port = int(server.stdout.readline())
        before = _rss_kib(server.pid)
        value = "v" * 600
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(2.0)
            refused = 0
            for start in range(0, 100_000, 50):  # 50 in flight at a time: the server keeps up
                for i in range(start, start + 50):
                    client.sendto(b'json_wn#{"name_%d": "%s"}' % (i, value.encode()), (HOST, port))
                for _ in range(50):
                    refused += client.recvfrom(65536)[0].startswith(b"ERROR#The socket keeps at most")
        grown_mib = (_rss_kib(server.pid) - before) / 1024
        server.stdin.write("\n")
        server.stdin.flush()
        kept = int(server.stdout.readline())
    finally:
        server.kill()
        server.wait()
    assert kept == 10_000 and refused == 90_000
    # 100k names of 600 bytes would be ~70 MiB kept; the default caps (10,000 names, 16 MiB) hold it near 10
    assert grown_mib < 30, f"the push server grew by {grown_mib:.0f} MiB"

"""Whatever arrives, every socket kind answers with a well-formed reply, keeps serving, and stays flat."""

from __future__ import annotations

import gc
import json
import socket
import tracemalloc

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sockets_helpers import HOST

from lab_sockets import DataPullSocket, DataPushSocket, DateDataPullSocket, LiveSocket

CODENAMES = ["temp", "pressure", "stale"]
PULL_COMMANDS = {b"raw", b"json", b"raw_wn", b"json_wn", b"codenames_raw", b"codenames_json", b"name", b"status"} | {
    f"{c}#{e}".encode() for c in CODENAMES for e in ("raw", "json")}
PUSH_PREFIXES = (b"ACK#", b"RET#", b"ERROR#", b"EXCEP#")


def _echo(data):
    return data


def _make(kind):
    if kind == "date":
        sock = DateDataPullSocket("fuzz date", CODENAMES, port=0, host=HOST, timeouts=[None, None, 0.0])
        sock.set_point_now("temp", 21.5)
        sock.set_point_now("pressure", float("nan"))
    elif kind == "data":
        sock = DataPullSocket("fuzz data", CODENAMES, port=0, host=HOST, timeouts=[None, None, 0.0])
        sock.set_point("temp", ("x", "°C"))
    elif kind == "live":
        sock = LiveSocket("fuzz live", CODENAMES, live_server=(HOST, 9), internal_data_pull_socket_port=0, host=HOST)
        sock.set_point_now("temp", 1.0)
        return sock, sock.internal_socket
    elif kind == "push":
        sock = DataPushSocket("fuzz push", port=0, host=HOST)
    elif kind == "push_enqueue":
        sock = DataPushSocket("fuzz enqueue", port=0, host=HOST, action="enqueue", queue_maxsize=5)
    elif kind == "push_async":
        sock = DataPushSocket("fuzz async", port=0, host=HOST, action="callback_async", callback=_echo)
    elif kind == "push_direct_raw":
        sock = DataPushSocket("fuzz direct", port=0, host=HOST, action="callback_direct", callback=_echo,
                              return_format="raw")
    else:
        sock = DataPushSocket("fuzz direct json", port=0, host=HOST, action="callback_direct", callback=_echo)
    return sock, sock


KINDS = ["date", "data", "live", "push", "push_enqueue", "push_async", "push_direct_raw", "push_direct_json"]


@pytest.fixture(scope="module", params=KINDS)
def server(request):
    owner, sock = _make(request.param)
    owner.start()
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.settimeout(5)
    yield request.param, sock, client
    client.close()
    owner.stop()


def ask(server, payload: bytes) -> bytes:
    kind, sock, client = server
    client.sendto(payload, sock.address)
    reply = client.recv(65536)
    if kind.startswith("push") and sock.queue is not None and kind == "push_enqueue":
        while not sock.queue.empty():  # a consumer, so the bound is not always hit
            sock.queue.get_nowait()
    return reply


def check_reply(server, payload: bytes, reply: bytes) -> None:
    kind, sock, _ = server
    reply.decode("utf-8")  # well-formed text
    if payload == b"status":
        json.loads(reply, parse_constant=pytest.fail)
    elif kind.startswith("push"):
        assert reply.startswith(PUSH_PREFIXES), reply[:100]
    elif payload in PULL_COMMANDS:
        assert reply != b"UNKNOWN_COMMMAND"
        if b"json" in payload:
            json.loads(reply, parse_constant=pytest.fail)
    else:
        assert reply == b"UNKNOWN_COMMMAND"


raw_part = st.tuples(
    st.text(max_size=8), st.sampled_from(["int", "float", "str", "bool", "floats", ""]),
    st.lists(st.one_of(st.integers().map(str), st.floats().map(str), st.sampled_from(["True", "False", "true"]),
                       st.text(max_size=6)), max_size=4).map(",".join),
).map(":".join)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=5), children,
                                                                                max_size=4)),
    max_leaves=12,
)
requests = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=100).map(str.encode),
    st.sampled_from(sorted(PULL_COMMANDS) + [b"commands", b"name#", b"#", b"##", b"temp#", b"#json"]),
    st.tuples(st.sampled_from(["json_wn#", "raw_wn#", "temp#", "json_wn", ""]), st.text(max_size=60)).map(
        lambda t: "".join(t).encode()),
    json_values.map(lambda v: b"json_wn#" + json.dumps(v).encode()),
    st.lists(raw_part, min_size=1, max_size=4).map(lambda parts: ("raw_wn#" + ";".join(parts)).encode()),
    st.binary(max_size=50).map(lambda b: b"json_wn#" + b),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=requests)
@example(payload=b"")
@example(payload=b"\xff\xfe\xfd")
@example(payload=b"json_wn#\xc3(")
@example(payload=b"x" * 65507)
@example(payload=b"json_wn#" + b"[" * 65499)
@example(payload=b'json_wn#{"a": [' + b"1e9," * 16370 + b"1]}")  # its ACK# echo is larger than a datagram
@example(payload=b"raw_wn#" + b"a:str:" + b"x," * 32747)
@example(payload=b'json_wn#{"a": NaN, "b": Infinity}')
@example(payload=b'json_wn#{"a": ' + b"9" * 5000 + b"}")
@example(payload=b"raw_wn#a:int:" + b"9" * 5000)
def test_every_request_gets_a_well_formed_reply(server, payload):
    check_reply(server, payload, ask(server, payload))


def test_still_serving_and_memory_flat(server):
    kind, sock, _ = server
    junk = [b"", b"\xff" * 100, b"bogus", b"json_wn", b"temp#raw", b"status", b'json_wn#{"a": [1, NaN]}',
            b"raw_wn#a:int:1,2;b:str:x", b"raw_wn#a:int:x", b"json_wn#{bad", b"x" * 60000, "°".encode() * 100]
    for payload in junk * 20:  # warm up: caches, interned strings, thread pools
        check_reply(server, payload, ask(server, payload))
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for payload in junk * 150:
            ask(server, payload)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 256 * 1024, f"{kind}: {grown} bytes more after {len(junk) * 150} requests"
    name = ask(server, b"name")
    assert name in (sock.name.encode(), b"RET#" + sock.name.encode())

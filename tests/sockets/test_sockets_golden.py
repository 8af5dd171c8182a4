"""Golden tests: every request/reply pair of pyexplabsys-observed.md, byte for byte, over real UDP."""

from __future__ import annotations

import json

import pytest
from sockets_helpers import HOST, udp

from lab_sockets import DataPullSocket, DataPushSocket, DateDataPullSocket

T_TEMP = 1795245643.0003388
T_PRESSURE = 1795245641.0965312


@pytest.fixture(params=[DateDataPullSocket, DataPullSocket], ids=["date", "data"])
def pull(request, serve):
    """``temp``, ``pressure`` and ``stale`` (timed out); as in the observation."""
    cls = request.param
    sock = cls("moon socket", ["temp", "pressure", "stale"], port=0, host=HOST, timeouts=[None, None, 1.0])
    serve(sock)
    if cls is DateDataPullSocket:
        sock.set_point("temp", (T_TEMP, 21.5))
        sock.set_point("pressure", (T_PRESSURE, 1e-09))
        sock.set_point("stale", (T_TEMP - 3600, 5.0))  # its time is an hour old
    else:
        sock.set_point("temp", (T_TEMP, 21.5))
        sock.set_point("pressure", (T_PRESSURE, 1e-09))
        sock.set_point("stale", (1.0, 5.0), timestamp=T_TEMP - 3600)  # set an hour ago
    return sock


PULL_GOLDEN = [
    (b"raw", b"1795245643.0003388,21.5;1795245641.0965312,1e-09;OLD_DATA"),
    (b"raw_wn", b"temp:1795245643.0003388,21.5;pressure:1795245641.0965312,1e-09;stale:OLD_DATA"),
    (b"json", b'[[1795245643.0003388, 21.5], [1795245641.0965312, 1e-09], "OLD_DATA"]'),
    (b"json_wn", b'{"temp": [1795245643.0003388, 21.5], "pressure": [1795245641.0965312, 1e-09], '
                 b'"stale": "OLD_DATA"}'),
    (b"codenames_raw", b"temp,pressure,stale"),
    (b"codenames_json", b'["temp", "pressure", "stale"]'),
    (b"name", b"moon socket"),
    (b"temp#raw", b"1795245643.0003388,21.5"),
    (b"temp#json", b"[1795245643.0003388, 21.5]"),
    (b"stale#raw", b"OLD_DATA"),
    (b"stale#json", b'"OLD_DATA"'),
    (b"nosuch#json", b"UNKNOWN_COMMMAND"),
    (b"temp#xml", b"UNKNOWN_COMMMAND"),
    (b"bogus", b"UNKNOWN_COMMMAND"),
    (b"", b"UNKNOWN_COMMMAND"),
    (b"temp#raw#json", b"UNKNOWN_COMMMAND"),  # more than one # is looked up as is
    (b"a#b#c", b"UNKNOWN_COMMMAND"),
]


@pytest.mark.parametrize(("request_bytes", "reply"), PULL_GOLDEN, ids=[r.decode() or "empty" for r, _ in PULL_GOLDEN])
def test_pull_golden(pull, request_bytes, reply):
    assert udp(pull.address, request_bytes) == reply


def test_pull_status(pull):
    status = json.loads(udp(pull.address, b"status"))
    assert list(status) == ["system_status", "socket_server_status"]
    me = status["socket_server_status"][str(pull.port)]
    assert me["name"] == "moon socket"
    assert me["type"] == pull.type
    assert me["status"] == "OK"
    assert isinstance(me["since_last_activity"], float)


@pytest.mark.parametrize(
    ("x", "y", "raw"),
    [(1e20, 1e-09, b"1e+20,1e-09"), (3, True, b"3,True"), (1.5, float("nan"), b"1.5,nan"),
     (1.5, float("inf"), b"1.5,inf")],
)
def test_raw_values_are_python_str(serve, x, y, raw):
    sock = serve(DataPullSocket("s", ["a"], port=0, host=HOST))
    sock.set_point("a", (x, y))
    assert udp(sock.address, b"a#raw") == raw


def test_before_first_set_the_default_point_or_old_data(serve):
    sock = serve(DateDataPullSocket("s", ["a", "b"], port=0, host=HOST, timeouts=[None, 5.0]))
    assert udp(sock.address, b"json_wn") == b'{"a": [0.0, 0.0], "b": "OLD_DATA"}'
    assert udp(sock.address, b"raw") == b"0.0,0.0;OLD_DATA"


# -- push ------------------------------------------------------------------------------------------

PUSH_GOLDEN = [
    (b"name", b"RET#push socket"),
    (b"commands", b'RET#["json_wn#", "raw_wn#", "name", "status", "commands"]'),
    (b"bogus", b"ERROR#UNKNOWN_COMMMAND"),
    (b"", b"ERROR#UNKNOWN_COMMMAND"),
    (b"name#", b"ERROR#UNKNOWN_COMMMAND"),
    (b"xml_wn#{}", b"ERROR#UNKNOWN_COMMMAND"),
    (b'json_wn#{"greeting": "Live long", "number": 47}', b"ACK#{'greeting': 'Live long', 'number': 47}"),
    (b"raw_wn#greeting:str:Live long and prosper;numbers:int:47,42;ok:bool:True;f:float:1.5",
     b"ACK#{'greeting': 'Live long and prosper', 'numbers': [47, 42], 'ok': True, 'f': 1.5}"),
    (b"raw_wn#number:88",
     b"ERROR#The data part 'number:88' did not match the expected format of 3 parts divided by ':'"),
    (b"raw_wn#number:floats:88",
     b"ERROR#The data type 'floats' is unknown. Only dict_keys(['int', 'float', 'str', 'bool']) are allowed"),
    (b"raw_wn#x:bool:true",
     b"ERROR#Unable to convert values to 'bool'. Error is: Cannot translate the string 'true' to a boolean. "
     b"Only the strings 'True' or 'False' are allowed"),
    (b"json_wn#[1,2]", b"ERROR#The object '[1, 2]' returned after decoding the JSON string is not a dict"),
    (b"json_wn#{bad", b"ERROR#The string '{bad' could not be decoded as JSON"),
    # fixed: split on the first # only, so a # inside the data is accepted
    (b'json_wn#{"tag": "#1", "a#b": 2}', b"ACK#{'tag': '#1', 'a#b': 2}"),
    (b"raw_wn#tag:str:#1", b"ACK#{'tag': '#1'}"),
    # UTF-8 on the wire
    ('json_wn#{"unit": "°C"}'.encode(), "ACK#{'unit': '°C'}".encode()),
]


@pytest.mark.parametrize(("request_bytes", "reply"), PUSH_GOLDEN,
                         ids=[r.decode()[:30] or "empty" for r, _ in PUSH_GOLDEN])
def test_push_golden(serve, request_bytes, reply):
    sock = serve(DataPushSocket("push socket", port=0, host=HOST))
    assert udp(sock.address, request_bytes) == reply


def test_push_status_is_bare_json(serve):
    sock = serve(DataPushSocket("push socket", port=0, host=HOST))
    status = json.loads(udp(sock.address, b"status"))
    assert status["socket_server_status"][str(sock.port)] == {
        "name": "push socket", "type": "push", "status": "DISABLED", "since_last_activity": None}


def _answer(data):
    return {"answer": 42, "values": [42, 47], "good": False, "name": "x"}


CALLBACK_GOLDEN = [
    ("json", _answer, b'RET#{"answer": 42, "values": [42, 47], "good": false, "name": "x"}'),
    ("json", lambda data: None, b"RET#null"),
    ("raw", _answer, b"RET#answer:int:42;values:int:42,47;good:bool:False;name:str:x"),
    ("raw", lambda data: [[7.0, 42.0], [7.5, 45.5]], b"RET#float:7.0,42.0&7.5,45.5"),
    ("raw", lambda data: None, b"RET#None"),
    ("string", lambda data: {"a": 1}, b"RET#{'a': 1}"),
    ("string", lambda data: 42, b"RET#42"),
    ("json", lambda data: 1 / 0, b"EXCEP#division by zero"),
    ("raw", lambda data: 1 / 0, b"EXCEP#division by zero"),
    # PyExpLabSys on Python 3, byte for byte (#17): the json error's message, and the raw refusal
    ("json", lambda data: {1, 2}, b"EXCEP#Object of type set is not JSON serializable"),
    ("raw", lambda data: 42,
     b"EXCEP#Raw conversion failed with message:Return value must be a dict or list with return format 'raw'"),
    ("raw", lambda data: "text",
     b"EXCEP#Raw conversion failed with message:Return value must be a dict or list with return format 'raw'"),
]


@pytest.mark.parametrize(("return_format", "callback", "reply"), CALLBACK_GOLDEN)
def test_callback_direct_golden(serve, return_format, callback, reply):
    sock = serve(DataPushSocket("cb", port=0, host=HOST, action="callback_direct", callback=callback,
                                return_format=return_format))
    assert udp(sock.address, b'json_wn#{"x": 1}') == reply


def test_raw_conversion_failure(serve):
    sock = serve(DataPushSocket("cb", port=0, host=HOST, action="callback_direct", callback=lambda d: 42,
                                return_format="raw"))
    reply = udp(sock.address, b'json_wn#{"x": 1}')
    assert reply.startswith(b"EXCEP#Raw conversion failed with message:")

"""PullClient / PushClient (both encodings, timeouts, retries), the safe callback and ``lab socket``."""

from __future__ import annotations

import json
import math
import socket
import threading

import pytest
from sockets_helpers import HOST

from lab_core import Registry
from lab_core.cli import make_parser
from lab_core.errors import LabError
from lab_sockets import (
    OLD_DATA,
    DataPullSocket,
    DataPushSocket,
    DateDataPullSocket,
    MethodDispatcher,
    NoReply,
    PullClient,
    PushClient,
    RemoteError,
    allow_methods,
)
from lab_sockets.client import decode_raw, decode_raw_return, decode_raw_wn, parse_address


@pytest.fixture
def moon(serve):
    sock = serve(DateDataPullSocket("moon", ["power", "state", "stale"], port=0, host=HOST, timeouts=[None, None, 0]))
    sock.set_point("power", (1414150015.697648, 47.0))
    sock.set_point("state", (1414150015.5, True))
    return sock


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_pull_client_both_encodings_agree(serve, transport):
    sock = serve(DateDataPullSocket("moon", ["power", "state", "stale"], port=0, host=HOST, timeouts=[None, None, 0],
                                    transport=transport))
    sock.set_point("power", (1414150015.697648, 47.0))
    sock.set_point("state", (1414150015.5, True))
    expected = {"power": (1414150015.697648, 47.0), "state": (1414150015.5, True), "stale": OLD_DATA}
    with PullClient(HOST, sock.port, transport=transport) as client:
        assert client.name() == "moon"
        assert client.codenames() == ["power", "state", "stale"]
        assert client.json_wn() == expected
        assert client.raw_wn() == expected
        assert client.json() == client.raw() == list(expected.values())
        assert client.get("power") == client.get("power", "raw") == (1414150015.697648, 47.0)
        assert client.get("stale", "raw") == OLD_DATA
        assert "system_status" in client.status()
        with pytest.raises(RemoteError, match="UNKNOWN_COMMMAND"):
            client.get("nosuch")
        with pytest.raises(ValueError):
            client.get("power", "xml")


def test_raw_decoding():
    assert decode_raw("1.5,2;OLD_DATA;3,nan") == [(1.5, 2), OLD_DATA, (3, pytest.approx(math.nan, nan_ok=True))]
    assert decode_raw_wn("a:1,True;b:1.0,some text") == {"a": (1, True), "b": (1.0, "some text")}
    assert decode_raw("") == [] and decode_raw_wn("") == {}
    assert decode_raw_return("None") is None
    assert decode_raw_return("float:7.0,42.0&7.5,45.5") == [[7.0, 42.0], [7.5, 45.5]]
    assert decode_raw_return("answer:int:42;values:int:42,47;good:bool:False;name:str:x") == \
        {"answer": 42, "values": [42, 47], "good": False, "name": "x"}


def test_parse_address():
    assert parse_address("rasppi250:9000") == ("rasppi250", 9000)
    assert parse_address("[::1]:8500") == ("::1", 8500)
    assert parse_address(":8500") == ("127.0.0.1", 8500)
    for bad in ("rasppi250", "host:port", "host:0", "host:70000"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            parse_address(bad)


@pytest.fixture
def silent():
    """A UDP port that receives but never answers (counts what it got)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        yield sock


def test_timeout_and_retries(silent):
    client = PullClient(HOST, silent.getsockname()[1], timeout=0.05, retries=2)
    with pytest.raises(NoReply, match="after 3 tries of 0.05 s") as info:
        client.name()
    assert isinstance(info.value, TimeoutError) and isinstance(info.value, LabError)
    silent.settimeout(1)
    assert [silent.recv(100) for _ in range(3)] == [b"name"] * 3
    client.close()


def test_a_late_reply_is_not_taken_for_the_next_one(silent):
    with PullClient(HOST, silent.getsockname()[1], timeout=0.2, retries=0) as client:
        silent.settimeout(1)
        caught = {}

        def answer_late():
            _, peer = silent.recvfrom(100)
            caught["peer"] = peer

        thread = threading.Thread(target=answer_late)
        thread.start()
        with pytest.raises(NoReply):
            client.request("first")
        thread.join()
        silent.sendto(b"late answer to first", caught["peer"])

        def answer_second():
            data, peer = silent.recvfrom(100)
            silent.sendto(b"answer to " + data, peer)

        thread = threading.Thread(target=answer_second)
        thread.start()
        assert client.request("second") == "answer to second"
        thread.join()


def test_push_client(serve):
    sock = serve(DataPushSocket("p", port=0, host=HOST))
    with PushClient(HOST, sock.port) as client:
        reply = client.push({"greeting": "Live long", "number": 47})
        assert (reply.kind, reply.ok, reply.value) == ("ACK", True, {"greeting": "Live long", "number": 47})
        assert client.push({"n": [1, 2], "f": 1.5, "ok": True}, encoding="raw").value == \
            {"n": [1, 2], "f": 1.5, "ok": True}
        assert client.name() == "p"
        assert client.commands() == ["json_wn#", "raw_wn#", "name", "status", "commands"]
        assert sock.updated[1] == {"greeting": "Live long", "number": 47, "n": [1, 2], "f": 1.5, "ok": True}
        with pytest.raises(TypeError):
            client.push([1, 2])


@pytest.mark.parametrize("return_format", ["json", "raw", "string"])
def test_push_client_decodes_returns(serve, return_format):
    sock = serve(DataPushSocket("p", port=0, host=HOST, action="callback_direct", return_format=return_format,
                                callback=lambda data: {"twice": data["x"] * 2}))
    with PushClient(HOST, sock.port, return_format=return_format) as client:
        reply = client.push({"x": 21})
        assert reply.kind == "RET"
        assert reply.value == ("{'twice': 42}" if return_format == "string" else {"twice": 42})


def test_push_client_raises_on_error_and_excep(serve):
    sock = serve(DataPushSocket("p", port=0, host=HOST, action="callback_direct", callback=lambda data: 1 / 0))
    with PushClient(HOST, sock.port) as client:
        with pytest.raises(RemoteError, match="EXCEP: division by zero") as info:
            client.push({"x": 1})
        assert info.value.reply.kind == "EXCEP"


# -- safe callbacks ----------------------------------------------------------------------------------


class Laser:
    def __init__(self):
        self.settings = {"power": 100, "focus": 100}
        self.state_ = "idle"

    def update_settings(self, **kwargs):
        self.settings.update(kwargs)
        return f"Updated settings with: {kwargs}"

    def state(self, state):
        self.state_ = state
        return f"State set to: {state}"

    def self_destruct(self):
        raise AssertionError("must never be called from the network")


def test_safe_callback_over_the_network(serve):
    laser = Laser()
    sock = serve(DataPushSocket("laser", port=0, host=HOST, action="callback_direct", return_format="string",
                                callback=allow_methods(laser, ["update_settings", "state"])))
    with PushClient(HOST, sock.port, return_format="string") as client:
        assert client.push({"method": "state", "state": "active"}).value == "State set to: active"
        assert laser.state_ == "active"
        assert client.push({"method": "update_settings", "power": 300}).value == \
            "Updated settings with: {'power': 300}"
        for data, message in [
            ({"method": "self_destruct"}, "method 'self_destruct' is not allowed; allowed methods: "
                                          "update_settings, state"),
            ({"method": "__init__"}, "not allowed"),
            ({"state": "x"}, "has no 'method'"),
            ({"method": "state"}, "wrong arguments for state: missing a required argument: 'state'"),
            ({"method": "state", "state": 1, "extra": 2}, "wrong arguments for state"),
        ]:
            with pytest.raises(RemoteError, match="EXCEP") as info:
                client.push(data)
            assert message in info.value.reply.text


def test_safe_callback_refuses_bad_allow_lists():
    with pytest.raises(ValueError, match="no method 'fire'"):
        MethodDispatcher(Laser(), ["fire"])
    with pytest.raises(ValueError, match="_"):
        MethodDispatcher(Laser(), ["__init__"])
    with pytest.raises(ValueError, match="string"):
        MethodDispatcher(Laser(), "state")
    with pytest.raises(ValueError, match="non-empty"):
        MethodDispatcher(Laser(), [])
    assert MethodDispatcher(Laser(), ["state"], key="action")({"action": "state", "state": 1}) == "State set to: 1"


# -- lab socket ... ---------------------------------------------------------------------------------


def lab(argv, capsys):
    """Run ``lab ARGV`` in process with only core's and this distribution's plugins (others may be in the works)."""
    others = {p.name for p in Registry().plugins()} - {"core", "sockets"}
    parser = make_parser(Registry(disabled=others))
    args = parser.parse_args(argv)
    try:
        code = args.func(args) or 0
    except LabError as exc:
        return 2, "", str(exc)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_query(moon, capsys):
    code, out, _ = lab(["socket", "query", f"{HOST}:{moon.port}", "power#json"], capsys)
    assert (code, out) == (0, "[1414150015.697648, 47.0]\n")
    code, out, _ = lab(["socket", "query", f"{HOST}:{moon.port}", "bogus"], capsys)
    assert out == "UNKNOWN_COMMMAND\n"


def test_cli_status(moon, capsys):
    code, out, _ = lab(["socket", "status", f"{HOST}:{moon.port}"], capsys)
    assert code == 0
    assert json.loads(out)["socket_server_status"][str(moon.port)]["name"] == "moon"


def test_cli_push(serve, capsys):
    sock = serve(DataPushSocket("p", port=0, host=HOST, transport="tcp"))
    code, out, _ = lab(["socket", "push", f"{HOST}:{sock.port}", '{"number": 42}', "--transport", "tcp"], capsys)
    assert (code, out) == (0, "ACK#{'number': 42}\n")
    assert sock.last[1] == {"number": 42}
    code, _, error = lab(["socket", "push", f"{HOST}:{sock.port}", "[1]"], capsys)
    assert code == 2 and "must be an object" in error
    code, _, error = lab(["socket", "push", f"{HOST}:{sock.port}", "{bad"], capsys)
    assert code == 2 and "not valid JSON" in error


def test_cli_push_error_reply_exit_code(serve, capsys):
    sock = serve(DataPushSocket("p", port=0, host=HOST, action="callback_direct", callback=lambda d: 1 / 0))
    code, out, _ = lab(["socket", "push", f"{HOST}:{sock.port}", "{}"], capsys)
    assert (code, out) == (1, "EXCEP#division by zero\n")


def test_cli_errors(silent, capsys):
    code, _, error = lab(["socket", "query", f"{HOST}:{silent.getsockname()[1]}", "name", "--timeout", "0.05",
                          "--retries", "0"], capsys)
    assert code == 2 and "no reply" in error
    code, _, error = lab(["socket", "query", "nohostport", "name"], capsys)
    assert code == 2 and "HOST:PORT" in error
    with pytest.raises(SystemExit):
        lab(["socket"], capsys)


def test_data_pull_socket_client(serve):
    sock = serve(DataPullSocket("xy", ["spectrum"], port=0, host=HOST))
    sock.set_point("spectrum", (500.5, 1e-09))
    assert PullClient(HOST, sock.port).get("spectrum") == (500.5, 1e-09)


def test_date_data_pull_client_as_in_pyexplabsys():
    """#17: PyExpLabSys's DateDataPullClient over real UDP: name check, fields, attributes, old data."""
    from lab_sockets import DateDataPullClient, DateDataPullSocket, OldData

    with DateDataPullSocket("moon laser", ["power", "stale"], timeouts=[None, 0.5], port=0,
                            host="127.0.0.1") as sock:
        sock.set_point("power", (1_700_000_000.25, 47.0))
        client = DateDataPullClient("127.0.0.1", "moon laser", port=sock.port, timeout=2.0)
        assert client.codenames == ["power", "stale"]
        assert client.get_field("power") == [1_700_000_000.25, 47.0]
        assert client.power == [1_700_000_000.25, 47.0]  # unknown attributes are codenames
        with pytest.raises(OldData, match="stale"):
            client.get_field("stale")
        with pytest.raises(ValueError):  # OldData is a ValueError
            client.get_all_fields()
        with pytest.raises(ValueError, match="nosuch"):
            client.nosuch
        assert str(sock.port) in client.get_status()["socket_server_status"]
        lenient = DateDataPullClient("127.0.0.1", "moon laser", sock.port, exception_on_old_data=False)
        assert lenient.get_all_fields() == {"power": [1_700_000_000.25, 47.0], "stale": "OLD_DATA"}
        with pytest.raises(ValueError, match="'moon laser', not 'sun laser'"):
            DateDataPullClient("127.0.0.1", "sun laser", port=sock.port)
        client.close()
        lenient.close()

"""lab-sockets' LiveSocket, DateDataPullSocket and DataPullSocket as real senders (no browser).

lab-live never imports lab_sockets; only these tests do, to check the wire formats meet.
"""

from __future__ import annotations

import time

import pytest
from live_helpers import service_missing, wait_until


@pytest.fixture(scope="module")
def lab_sockets():
    try:
        import lab_sockets
        from lab_sockets import DataPullSocket, DateDataPullSocket, LiveSocket  # noqa: F401
    except ImportError as exc:
        service_missing(f"lab-sockets, the real LiveSocket / pull-socket senders ({exc})")
    return lab_sockets


def channels(server):
    return server.hub.snapshot()["channels"]


def test_livesocket_points_batches_and_reset(lab_sockets, server):
    live = lab_sockets.LiveSocket("bench", ["temp", "valve", "count"], live_server=("127.0.0.1", server.udp_address[1]),
                                  no_internal_data_pull_socket=True, hostname="bench-pc")
    try:
        live.set_point_now("temp", 21.5)
        live.set_batch_now({"valve": "open", "count": 3})
        live.set_point("temp", (1795245744.05, 22.0))
        wait_until(lambda: channels(server).get("temp", {}).get("y") == 22.0 and len(channels(server)) == 3)
        c = channels(server)
        assert c["valve"]["y"] == "open" and c["count"]["y"] == 3
        assert c["temp"]["source"] == "live bench-pc" and c["temp"]["x"] == 1795245744.05
        assert [y for _, y in server.hub.snapshot()["history"]["temp"]] == [21.5, 22.0]
        live.reset(["temp"])
        wait_until(lambda: channels(server)["temp"]["reset"], what="the reset")
        assert server.hub.snapshot()["history"]["temp"] == []
        live.set_point_now("temp", float("nan"))  # lab-sockets sends NaN as null
        wait_until(lambda: channels(server)["temp"]["has_value"])
        assert channels(server)["temp"]["y"] is None
    finally:
        live.stop()


def test_date_and_data_pull_sockets_with_old_data(lab_sockets, make_server):
    date = lab_sockets.DateDataPullSocket("bench date", ["pressure", "heater"], port=0, host="127.0.0.1",
                                          timeouts=[None, 0.3])
    data = lab_sockets.DataPullSocket("bench data", ["xy"], port=0, host="127.0.0.1")
    date.start()
    data.start()
    try:
        date.set_point_now("pressure", 1.5e-6)
        date.set_point_now("heater", 48.0)
        data.set_point("xy", (3, 4.5))
        server = make_server(udp_port=None, poll_interval=0.05,
                             pull=[f"127.0.0.1:{date.port}", f"127.0.0.1:{data.port}"])
        wait_until(lambda: channels(server).get("heater", {}).get("y") == 48.0, what="heater before its timeout")
        wait_until(lambda: channels(server)["heater"]["stale"], what="heater's OLD_DATA")
        c = channels(server)
        assert c["heater"]["reason"] == "OLD_DATA" and c["heater"]["y"] == 48.0
        assert c["pressure"]["y"] == 1.5e-6 and not c["pressure"]["stale"]
        assert c["xy"]["x"] == 3.0 and c["xy"]["y"] == 4.5
        assert c["xy"]["source"] == f"pull 127.0.0.1:{data.port}"
        t = time.time()
        date.set_point("pressure", (t, 2.5e-6))
        wait_until(lambda: channels(server)["pressure"]["y"] == 2.5e-6)
        assert channels(server)["pressure"]["x"] == t
    finally:
        date.stop()
        data.stop()

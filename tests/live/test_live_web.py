"""The HTTP side: the page, static files, the JSON endpoint, the event stream with many browsers."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest
from live_helpers import wait_until


def get(server, path, method="GET"):
    request = urllib.request.Request(server.url + path.lstrip("/"), method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.headers, response.read()


def test_the_page_and_its_files_are_served_from_the_package(server):
    status, headers, body = get(server, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b"static/uPlot.iife.min.js" in body and b"static/app.js" in body
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    for name, kind in [("uPlot.iife.min.js", "text/javascript"), ("uPlot.min.css", "text/css"),
                       ("app.js", "text/javascript"), ("app.css", "text/css"), ("uPlot.LICENSE", "text/plain")]:
        status, headers, body = get(server, f"/static/{name}")
        assert status == 200 and headers["Content-Type"].startswith(kind) and body, name
    assert b"uPlot" in get(server, "/static/uPlot.iife.min.js")[2][:200]
    assert get(server, "/", method="HEAD")[2] == b""
    assert get(server, "/healthz")[2] == b"ok\n"


@pytest.mark.parametrize("path", ["/nope", "/static/../server.py", "/static/", "/static/nope.js", "/api"])
def test_unknown_paths_are_404(server, path):
    with pytest.raises(urllib.error.HTTPError) as info:
        get(server, path)
    assert info.value.code == 404


def test_json_endpoint_of_current_values(server, sender):
    now = time.time()
    sender.send({"temp": [now, 21.5], "bad": [now, float("nan")]})
    wait_until(lambda: len(server.hub.snapshot()["channels"]) == 2)
    status, headers, body = get(server, "/api/values")
    assert headers["Content-Type"] == "application/json"
    data = json.loads(body)  # strict JSON (no NaN tokens)
    assert data["channels"]["temp"]["y"] == 21.5 and data["channels"]["temp"]["x"] == now
    assert data["channels"]["bad"]["y"] == "NaN"
    assert data["stale_after"] == 30.0 and data["title"] == "lab live"
    assert data["status"]["udp"]["kind"] == "udp"
    assert "history" not in data
    data = json.loads(get(server, "/api/values?history=1")[2])
    assert data["history"]["temp"] == [[now, 21.5]]


def test_many_browsers_get_the_snapshot_and_every_update(server, sender, sse):
    sender.send({"a": [1.0, 0.0]})
    wait_until(lambda: server.hub.snapshot()["channels"])
    clients = [sse(server) for _ in range(8)]
    for client in clients:
        wait_until(lambda c=client: c.events, what="the snapshot")
        name, data = client.events[0]
        assert name == "snapshot" and data["history"]["a"] == [[1.0, 0.0]]
    wait_until(lambda: server.hub.clients == 8)
    for i in range(1, 51):
        sender.send({"a": [float(i), i * 0.5]})
        time.sleep(0.002)
    for client in clients:
        wait_until(lambda c=client: c.values().get("a", {}).get("y") == 25.0, what="the last value")
        points = client.points("a")
        assert points == sorted(points) and points[0] == [1.0, 0.0] and points[-1] == [50.0, 25.0]
        assert all(name == "update" for name, _ in client.events[1:])


def test_a_browser_that_never_reads_slows_no_one(make_server, sse):
    server = make_server(history=1000, client_timeout=3.0)
    server.hub.max_pending_points = 200
    # a big state, so the stuck browser's snapshot alone fills every buffer on the way to it
    # (the server's send buffer grows up to tcp_wmem's maximum: 4 MiB by default)
    codenames = max(10, 3 * _tcp_wmem_max() // 1_000_000 + 1)
    text = "x" * 990
    for i in range(1000):
        server.hub.apply_points("test", {f"big{j}": (float(i), f"{text}{i}") for j in range(codenames)})
    stuck = sse(server, read=False)
    wait_until(lambda: server.hub.clients == 1, what="the stuck browser")
    (stuck_client,) = server.hub._clients
    readers = [sse(server) for _ in range(3)]
    for reader in readers:
        wait_until(lambda r=reader: r.events, timeout=20, what="a reader's snapshot")
    sender_done = threading.Event()

    def send():
        from live_helpers import RawSender

        s = RawSender(server.udp_address[1])
        for i in range(300):
            s.send({"tick": [float(i), i]})
            time.sleep(0.002)
        s.close()
        sender_done.set()

    threading.Thread(target=send, daemon=True).start()
    for reader in readers:
        wait_until(lambda r=reader: r.values().get("tick", {}).get("y") == 299, timeout=20, what="the last tick")
        assert reader.points("tick") == [[float(i), i] for i in range(300)]  # nothing lost for them
    assert sender_done.wait(10)
    assert server.receiver.datagrams == 300  # the receiver kept up
    # the stuck one fell behind, was switched to "snapshot when you read again" (bounded memory)...
    assert stuck_client.dropped_updates >= 1
    assert stuck_client._pending_points <= server.hub.max_pending_points
    # ...and is disconnected after client_timeout seconds without reading
    wait_until(lambda: server.hub.clients == 3, timeout=20, what="the stuck browser's disconnection")
    stuck.close()


def _tcp_wmem_max() -> int:
    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            return int(f.read().split()[2])
    except (OSError, ValueError, IndexError):
        return 4 * 1024 * 1024


def test_too_many_browsers_get_503(make_server, sse):
    server = make_server(max_clients=1)
    first = sse(server)
    wait_until(lambda: first.events)
    with pytest.raises(urllib.error.HTTPError) as info:
        get(server, "/events")
    assert info.value.code == 503 and b"--max-clients" in info.value.read()


def test_stop_ends_every_event_stream(make_server, sse):
    server = make_server()
    clients = [sse(server) for _ in range(3)]
    wait_until(lambda: all(c.events for c in clients))
    server.stop()
    for client in clients:
        assert client.closed.wait(5)

"""The dashboard state and its fan-out, on a fake clock (no sockets, no sleeping)."""

from __future__ import annotations

import pytest

from lab_live.hub import Hub, HubClosed, TooManyClients


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def hub(clock):
    return Hub(stale_after=10, history=5, clock=clock, wallclock=lambda: 1.7e9 + clock.t)


def test_points_update_the_latest_value_and_a_bounded_history(hub):
    for i in range(8):
        hub.apply_points("live vm", {"a": (float(i), i * 1.5)})
    snap = hub.snapshot()
    assert snap["channels"]["a"]["y"] == 7 * 1.5
    assert snap["channels"]["a"]["source"] == "live vm"
    assert snap["channels"]["a"]["stale"] is False
    assert snap["history"]["a"] == [(float(i), i * 1.5) for i in range(3, 8)]


def test_reset_clears_the_value_and_the_plot(hub):
    hub.apply_points("live vm", {"a": (1.0, 1), "b": (1.0, 2)})
    hub.apply_reset("live vm", ["a"])
    snap = hub.snapshot()
    assert snap["channels"]["a"]["has_value"] is False
    assert snap["channels"]["a"]["reset"] is True
    assert snap["history"]["a"] == []
    assert snap["history"]["b"] == [(1.0, 2)]
    hub.apply_points("live vm", {"a": (2.0, 5)})
    assert hub.snapshot()["channels"]["a"]["reset"] is False
    assert hub.snapshot()["history"]["a"] == [(2.0, 5)]


def test_reset_of_an_unknown_codename_shows_it_empty(hub):
    hub.apply_reset("live vm", ["new"])
    assert hub.snapshot()["channels"]["new"]["has_value"] is False


def test_no_new_point_within_stale_after_marks_stale(hub, clock):
    hub.apply_points("live vm", {"a": (1.0, 1), "b": (1.0, 1)})
    clock.t += 9
    hub.apply_points("live vm", {"b": (2.0, 2)})
    assert hub.tick() == []
    clock.t += 1.5
    assert hub.tick() == ["a"]
    summary = hub.snapshot()["channels"]["a"]
    assert summary["stale"] is True and summary["reason"] == "no update for 10 s"
    assert summary["y"] == 1  # the last value stays visible
    assert hub.tick() == []  # marked once
    hub.apply_points("live vm", {"a": (3.0, 3)})
    assert hub.snapshot()["channels"]["a"]["stale"] is False


def test_old_data_marks_stale_and_keeps_the_last_value(hub):
    hub.apply_points("pull h:9000", {"a": (1.0, 21.5)}, dedupe=True)
    hub.apply_old("pull h:9000", ["a", "never_set"])
    snap = hub.snapshot()
    assert snap["channels"]["a"] | {"updated": None} == {
        "x": 1.0, "y": 21.5, "has_value": True, "source": "pull h:9000", "updated": None,
        "stale": True, "reason": "OLD_DATA", "reset": False}
    assert snap["channels"]["never_set"]["stale"] is True
    assert snap["channels"]["never_set"]["has_value"] is False
    hub.apply_points("pull h:9000", {"a": (2.0, 22.0)}, dedupe=True)
    assert hub.snapshot()["channels"]["a"]["stale"] is False


def test_a_pull_socket_serving_the_same_point_is_not_an_update(hub, clock):
    hub.apply_points("pull h:9000", {"a": (1.0, 21.5)}, dedupe=True)
    clock.t += 11
    hub.apply_points("pull h:9000", {"a": (1.0, 21.5)}, dedupe=True)
    assert hub.tick() == ["a"]
    assert hub.snapshot()["history"]["a"] == [(1.0, 21.5)]
    hub.apply_points("pull h:9000", {"a": (1.0, float("nan"))}, dedupe=True)
    hub.apply_points("pull h:9000", {"a": (1.0, float("nan"))}, dedupe=True)
    assert len(hub.snapshot()["history"]["a"]) == 2


def test_codenames_beyond_max_channels_are_ignored_and_counted(clock):
    hub = Hub(max_channels=2, clock=clock)
    hub.apply_points("live vm", {"a": (1.0, 1), "b": (1.0, 1), "c": (1.0, 1)})
    hub.apply_points("live vm", {"a": (2.0, 2)})
    assert sorted(hub.snapshot()["channels"]) == ["a", "b"]
    assert hub.ignored_channels == 1


def test_a_client_gets_a_snapshot_then_coalesced_updates(hub):
    client = hub.connect()
    assert client.wait(0) and client.resync and client.take() is None
    hub.snapshot(client)
    assert not client.wait(0)
    hub.apply_points("live vm", {"a": (1.0, 1)})
    hub.apply_points("live vm", {"a": (2.0, 2), "b": (2.0, 3)})
    hub.apply_reset("live vm", ["b"])
    hub.set_status("udp", {"datagrams": 3})
    assert client.wait(0)
    update = client.take()
    assert update["points"] == {"a": [(1.0, 1), (2.0, 2)]}  # b's points went with its reset
    assert update["reset"] == ["b"]
    assert update["channels"]["a"]["y"] == 2 and update["channels"]["b"]["reset"] is True
    assert update["status"] == {"udp": {"datagrams": 3}}
    assert client.take() is None


def test_a_client_that_falls_behind_is_resynced_not_buffered_forever(hub):
    hub.max_pending_points = 10
    client = hub.connect()
    hub.snapshot(client)
    for i in range(11):
        hub.apply_points("live vm", {"a": (float(i), i)})
    assert client.resync and client.dropped_updates == 1
    assert client._pending_points == 0
    for i in range(1000):  # nothing is kept for it while it is due a snapshot
        hub.apply_points("live vm", {"a": (float(i), i)})
    assert client._pending_points == 0 and client._summaries == {}
    snap = hub.snapshot(client)
    assert snap["channels"]["a"]["y"] == 999 and not client.resync


def test_other_clients_are_unaffected_by_a_client_that_falls_behind(hub):
    hub.max_pending_points = 10
    slow, fast = hub.connect(), hub.connect()
    hub.snapshot(slow)
    hub.snapshot(fast)
    for i in range(20):
        hub.apply_points("live vm", {"a": (float(i), i)})
        update = fast.take()
        assert update["points"] == {"a": [(float(i), i)]}
    assert slow.resync and not fast.resync


def test_max_clients_and_close(hub):
    hub.max_clients = 2
    a, b = hub.connect(), hub.connect()
    with pytest.raises(TooManyClients, match="--max-clients"):
        hub.connect()
    hub.disconnect(a)
    c = hub.connect()
    hub.close()
    for client in (b, c):
        assert client.wait(0)
        with pytest.raises(HubClosed):
            client.take()
    with pytest.raises(HubClosed):
        hub.connect()


@pytest.mark.parametrize("options, words", [
    ({"stale_after": 0}, "stale_after"), ({"history": 0}, "history"),
])
def test_bad_settings(options, words):
    with pytest.raises(ValueError, match=words):
        Hub(**options)

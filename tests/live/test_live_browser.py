"""End to end in headless Chromium: a LiveSocket and a DateDataPullSocket (lab-sockets, real UDP)
feed ``lab live``; the page shows their values within a second with their units, marks stale values,
draws plots that break at a gap, booleans as steps, and says in words that nothing listens at a
pull socket's address.

Needs Debian's ``chromium`` and ``chromium-driver`` (``apt-get install -y chromium chromium-driver``)
and ``selenium`` (``pip install -e 'packages/live[testing]'``); in CI (``CI=true``) their absence fails.
Saves ``test-artifacts/live-dashboard.png``; with ``LAB_LIVE_UPDATE_SCREENSHOT=1`` (or when it is
missing) also ``packages/live/docs/screenshot.png``, the README's picture.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import time
from pathlib import Path

import pytest
from live_helpers import REPO, service_missing

CHROMIUM = os.environ.get("LAB_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("LAB_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,1320", "--force-device-scale-factor=1"]
ARTIFACT = REPO / "test-artifacts" / "live-dashboard.png"
README_PICTURE = REPO / "packages" / "live" / "docs" / "screenshot.png"


@pytest.fixture
def browser(tmp_path):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        service_missing(f"selenium, to drive headless chromium (pip install -e 'packages/live[testing]'): {exc}")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            service_missing(f"headless chromium ({path} is missing: apt-get install -y chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    service = Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(20)
    driver.set_script_timeout(10)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def lab_sockets():
    try:
        import lab_sockets
        from lab_sockets import DateDataPullSocket, LiveSocket  # noqa: F401
    except ImportError as exc:
        service_missing(f"lab-sockets, the real LiveSocket / DateDataPullSocket senders ({exc})")
    return lab_sockets


def row_text(driver, codename: str, cell: str) -> str | None:
    """The text of one cell of a codename's row, read in the page (None if there is no such row)."""
    return driver.execute_script(
        "var r = document.querySelector('#values tbody tr[data-codename=\"' + arguments[0] + '\"]');"
        "return r ? r.querySelector('td.' + arguments[1]).textContent : null;", codename, cell)


def seen_within(driver, codename: str, text: str, limit: float = 5.0) -> float:
    """Seconds until ``codename``'s value cell reads ``text`` (polled every ~10 ms); fail after ``limit``."""
    start = time.monotonic()
    while True:
        if row_text(driver, codename, "value") == text:
            return time.monotonic() - start
        if time.monotonic() - start > limit:
            raise AssertionError(f"{codename} never showed {text!r}; it shows {row_text(driver, codename, 'value')!r}")
        time.sleep(0.01)


def classes(driver, selector: str) -> list[str]:
    return driver.execute_script("var e = document.querySelector(arguments[0]); return e ? [...e.classList] : [];",
                                 selector)


def test_live_and_pull_values_in_headless_chromium(browser, lab_sockets, make_server):
    pull = lab_sockets.DateDataPullSocket("bench pull socket", ["chamber_pressure", "flow", "heater_power"],
                                          port=0, host="127.0.0.1", timeouts=[None, None, 0.4])
    pull.start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        silent = probe.getsockname()[1]
    server = make_server(stale_after=2.0, poll_interval=0.05,
                         pull=[f"127.0.0.1:{pull.port}", f"127.0.0.1:{silent}"], title="lab live \u2014 bench 3",
                         meta={"temperature": {"unit": "degC", "description": "bench 3 air"},
                               "chamber_pressure": {"unit": "mbar"}})
    live = lab_sockets.LiveSocket("bench", ["temperature", "setpoint", "valve", "heater_on", "old_probe"],
                                  live_server=("127.0.0.1", server.udp_address[1]),
                                  no_internal_data_pull_socket=True, hostname="bench-pc")
    try:
        browser.get(server.url)
        browser.execute_script("return 1")
        start = time.monotonic()
        while not browser.execute_script("return window.labLive && window.labLive.stats.snapshots > 0"):
            assert time.monotonic() - start < 10, "the page never got its snapshot"
            time.sleep(0.02)
        assert browser.title == "lab live \u2014 bench 3"
        assert browser.execute_script("return document.getElementById('conn').textContent") == "connected"

        # a probe that reports once, then falls silent: stale after stale_after (2 s) without a new point
        live.set_point_now("old_probe", 3.3)
        pull.set_point_now("heater_power", 48.0)  # served for 0.4 s, then OLD_DATA

        # a minute of history, so that the plots have something to scroll
        now = time.time()
        for i in range(30):
            t = now - 60 + 2 * i
            batch = {"setpoint": (t, 21.5 if i < 15 else 22.0), "valve": (t, "open" if i % 10 < 6 else "closed"),
                     "heater_on": (t, i % 10 < 4)}
            if not 12 <= i < 20:  # the temperature probe was off for 16 s: a gap, not a ramp
                batch["temperature"] = (t, 21 + 0.8 * math.sin(i / 4))
            live.set_batch(batch)
            pull.set_batch({"chamber_pressure": (t, 1.2e-6 * (1 + 0.3 * math.cos(i / 5))),
                            "flow": (t, 12 + 3 * math.sin(i / 3))})
            time.sleep(0.06)  # > poll interval: each pull point is polled

        # within a second: a LiveSocket value...
        live.set_point_now("temperature", 21.25)
        live_latency = seen_within(browser, "temperature", "21.25 degC")
        # ...and a DateDataPullSocket value (polled every 0.05 s)
        pull.set_point_now("chamber_pressure", 1.5e-6)
        pull_latency = seen_within(browser, "chamber_pressure", "1.5e-6 mbar")
        print(f"latency: live {live_latency:.3f} s, pull {pull_latency:.3f} s")
        assert live_latency < 1.0, f"the LiveSocket value took {live_latency:.3f} s to appear"
        assert pull_latency < 1.0, f"the pull-socket value took {pull_latency:.3f} s to appear"

        # stale values are marked: OLD_DATA from the pull socket, and no update for stale_after
        start = time.monotonic()
        while "stale" not in classes(browser, '#values tr[data-codename="old_probe"]'):
            assert time.monotonic() - start < 10, "old_probe was never marked stale"
            now = time.time()  # keep the others fresh meanwhile
            live.set_batch_now({"temperature": 21.2 + 0.05 * math.sin(now), "setpoint": 22.0, "valve": "open",
                                "heater_on": True})
            pull.set_batch_now({"chamber_pressure": 1.5e-6, "flow": 12.5})
            time.sleep(0.2)
        live.set_batch_now({"temperature": 21.3, "setpoint": 22.0, "valve": "open", "heater_on": True})
        pull.set_batch_now({"chamber_pressure": 1.45e-6, "flow": 12.8})
        time.sleep(0.3)

        assert "stale" in classes(browser, '#values tr[data-codename="heater_power"]')
        assert "stale" in classes(browser, '.card[data-codename="heater_power"]')
        assert row_text(browser, "heater_power", "status") == "STALE: OLD_DATA"
        assert row_text(browser, "heater_power", "value") == "48"  # the last value stays, marked
        assert row_text(browser, "old_probe", "status") == "STALE: no update for 2 s"
        assert "stale" in classes(browser, '.card[data-codename="old_probe"]')
        for codename in ("temperature", "setpoint", "valve", "chamber_pressure", "flow"):
            assert "stale" not in classes(browser, f'#values tr[data-codename="{codename}"]'), codename
            assert row_text(browser, codename, "status") == "live"
        assert row_text(browser, "valve", "value") == "open"
        assert row_text(browser, "temperature", "source") == "live bench-pc"
        assert row_text(browser, "flow", "source") == f"pull 127.0.0.1:{pull.port}"

        # the plots draw: one uPlot canvas per numeric codename, holding the history
        for codename in ("temperature", "setpoint", "chamber_pressure", "flow"):
            assert browser.execute_script(
                "return document.querySelectorAll('.card[data-codename=\"' + arguments[0] + '\"] canvas').length",
                codename) == 1, codename
            assert browser.execute_script("return window.labLive.channels.get(arguments[0]).plot.data[0].length",
                                          codename) > 20, codename
        assert "not numeric" in browser.execute_script(
            "return document.querySelector('.card[data-codename=\"valve\"] .plot').textContent")

        # the gap breaks the line: uPlot got a null inside the 16 s hole, and nowhere else
        xs, ys = browser.execute_script("return window.labLive.channels.get('temperature').plot.data")
        breaks = [x for x, y in zip(xs, ys) if y is None]
        assert len(breaks) == 1 and now - 60 + 2 * 11 < breaks[0] < now - 60 + 2 * 20, breaks
        assert None not in browser.execute_script("return window.labLive.channels.get('setpoint').plot.data[1]")
        # units on values and on the axis; a boolean is a step plot of 0/1 labelled false/true
        assert browser.execute_script(  # uPlot draws axis labels on its canvas: read its axis
            "return window.labLive.channels.get('temperature').plot.axes[1].label") == "degC"
        assert browser.execute_script("return document.querySelector('.card[data-codename=\"temperature\"] .latest')"
                                      ".textContent").endswith(" degC")
        flags = browser.execute_script("var ch = window.labLive.channels.get('heater_on');"
                                       "return [ch.boolean, ch.plot.data[1]]")
        assert flags[0] is True and set(flags[1]) == {0, 1}
        # nothing listens at the second pull address: said in words
        sources = browser.execute_script("return document.getElementById('sources').textContent")
        assert f"nothing listens at 127.0.0.1:{silent}" in sources, sources
        # the time window: "1 min" shows only the last minute of the history
        browser.execute_script("var s = document.getElementById('window'); s.value = '60';"
                               "s.dispatchEvent(new Event('change'))")
        time.sleep(0.3)
        xs = browser.execute_script("return window.labLive.channels.get('setpoint').plot.data[0]")
        assert xs[-1] - xs[0] <= 60 and len(xs) < browser.execute_script(
            "return window.labLive.channels.get('setpoint').xs.length")
        browser.execute_script("var s = document.getElementById('window'); s.value = '0';"
                               "s.dispatchEvent(new Event('change'))")

        save_screenshot(browser)
    finally:
        live.stop()
        pull.stop()


def save_screenshot(driver) -> Path:
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(height + 140, 800), 2400))
    time.sleep(0.3)  # the resize handler redraws the plots
    assert driver.save_screenshot(str(ARTIFACT)), "chromium did not save the screenshot"
    assert ARTIFACT.stat().st_size > 10000
    if os.environ.get("LAB_LIVE_UPDATE_SCREENSHOT") or not README_PICTURE.exists():
        README_PICTURE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ARTIFACT, README_PICTURE)
    return ARTIFACT

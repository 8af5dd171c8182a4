"""Test services shared by every package's tests: the CI rule, free ports, a throwaway MariaDB
and a throwaway Mosquitto.

Import as ``import services`` (pytest puts ``tests/`` on sys.path via the root conftest).
In CI (``CI=true``) a missing service is a failure, never a skip.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
MARIADBD = shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin:/usr/local/sbin")
INSTALL_DB = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
MOSQUITTO = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


def service_missing(what: str) -> None:
    """Fail in CI, skip on a developer's machine."""
    message = f"{what} is not reachable"
    if IN_CI:
        pytest.fail(message + " (CI=true: a missing service is a failure)")
    pytest.skip(message)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port free right now on 127.0.0.1 (prefer binding to port 0 where the API allows)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: subprocess.Popen | None, kill: bool = False, grace: float = 20) -> None:
    """End a service's process: SIGTERM (a clean shutdown, up to ``grace`` s) or, with ``kill``, SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


class ThrowawayMariaDB:
    """A private mariadbd: own datadir, socket and free port; stopped and started at will."""

    def __init__(self, base: Path):
        self.base = base
        self.datadir = base / "data"
        self.socket = base / "mysqld.sock"
        self.tmpdir = base / "tmp"
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def settings(self) -> dict:
        return {"host": "127.0.0.1", "port": self.port, "user": "root", "password": ""}

    def install(self) -> None:
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([INSTALL_DB, "--no-defaults", f"--datadir={self.datadir}", f"--tmpdir={self.tmpdir}",
                               "--auth-root-authentication-method=normal", "--user=root", "--skip-test-db"],
                              capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"mariadb-install-db failed ({done.returncode}): {done.stdout[-2000:]} "
                               f"{done.stderr[-2000:]}")

    def start(self, *extra: str) -> None:
        for _ in range(3):  # a port taken between choosing and binding: choose another
            self.port = self.port or free_port(socket.SOCK_STREAM)
            self.proc = subprocess.Popen(
                [MARIADBD, "--no-defaults", f"--datadir={self.datadir}", f"--port={self.port}",
                 "--bind-address=127.0.0.1", f"--socket={self.socket}", f"--pid-file={self.base / 'mysqld.pid'}",
                 # Its own tmpdir, always: a starting mariadbd deletes every #sql* file in its tmpdir,
                 # which would pull temporary tables from under the machine's shared server in /tmp.
                 f"--tmpdir={self.tmpdir}",
                 "--user=root", "--skip-grant-tables", "--innodb-buffer-pool-size=32M", "--skip-log-bin",
                 f"--log-error={self.base / 'error.log'}", *extra],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._wait_ready(30.0):
                return
            self.stop(kill=True)
            self.port = 0
        raise RuntimeError(f"throwaway mariadbd did not start; see {self.base / 'error.log'}")

    def _wait_ready(self, timeout: float) -> bool:
        import pymysql

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                pymysql.connect(**self.settings, connect_timeout=1).close()
                return True
            except pymysql.err.OperationalError:
                time.sleep(0.05)
        return False

    def stop(self, kill: bool = False) -> None:
        stop_process(self.proc, kill, grace=60)
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def new_database(self, name: str) -> dict:
        import pymysql

        with pymysql.connect(**self.settings, autocommit=True) as db, db.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{name}`")
        return {**self.settings, "database": name}


def throwaway_mariadb(base: Path) -> ThrowawayMariaDB:
    """Install and start a private mariadbd under ``base`` (fails in CI / skips if it cannot)."""
    if not (MARIADBD and INSTALL_DB and os.access(MARIADBD, os.X_OK)):
        service_missing("mariadbd / mariadb-install-db (needed for a throwaway server)")
    server = ThrowawayMariaDB(base)
    try:
        server.install()
        server.start()
    except Exception as exc:
        server.stop(kill=True)
        service_missing(f"a throwaway mariadbd ({exc})")
    return server


class ThrowawayMosquitto:
    """A private mosquitto: own configuration, persistence file and free port; stopped and
    started at will (the port stays the same, so clients find it again). ``config`` adds
    lines to mosquitto.conf."""

    def __init__(self, base: Path, *config: str):
        self.base = base
        self.extra = config
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def log(self) -> Path:
        return self.base / "mosquitto.log"

    def _write_config(self) -> Path:
        self.base.mkdir(parents=True, exist_ok=True)
        path = self.base / "mosquitto.conf"
        path.write_text("\n".join([
            f"listener {self.port} 127.0.0.1", "allow_anonymous true",
            f"user {getpass.getuser()}",  # as root mosquitto would switch to the mosquitto user
            # sessions and queued messages survive a restart (saved at a clean stop, and every second)
            "persistence true", f"persistence_location {self.base}/", "autosave_interval 1",
            "max_queued_messages 0",  # queue everything for an absent persistent client (tests count them)
            f"log_dest file {self.log}", "log_type error", "log_type warning",
            *self.extra, ""]))
        return path

    def start(self) -> None:
        for _ in range(3):  # a port taken between choosing and binding: choose another
            self.port = self.port or free_port(socket.SOCK_STREAM)
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self._write_config())],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._wait_ready(10.0):
                return
            self.stop(kill=True)
            self.port = 0
        raise RuntimeError(f"throwaway mosquitto did not start; see {self.log}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                time.sleep(0.02)
        return False

    def stop(self, kill: bool = False) -> None:
        """SIGTERM: mosquitto saves its sessions and queued messages first; ``kill``: SIGKILL."""
        stop_process(self.proc, kill, grace=20)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def throwaway_mosquitto(base: Path, *config: str) -> ThrowawayMosquitto:
    """Start a private mosquitto under ``base`` (fails in CI / skips if it cannot)."""
    if not (MOSQUITTO and os.access(MOSQUITTO, os.X_OK)):
        service_missing("mosquitto (needed for a throwaway broker; apt-get install mosquitto)")
    broker = ThrowawayMosquitto(base, *config)
    try:
        broker.start()
    except Exception as exc:
        broker.stop(kill=True)
        service_missing(f"a throwaway mosquitto ({exc})")
    return broker


MACHINE_MOSQUITTO = (os.environ.get("LAB_TEST_MQTT_HOST", "127.0.0.1"),
                     int(os.environ.get("LAB_TEST_MQTT_PORT", "1883")))


def machine_mosquitto() -> tuple[str, int]:
    """(host, port) of the machine's broker (127.0.0.1:1883); fails in CI / skips if it is not there."""
    try:
        socket.create_connection(MACHINE_MOSQUITTO, timeout=2).close()
    except OSError as exc:
        service_missing(f"the MQTT broker at {MACHINE_MOSQUITTO[0]}:{MACHINE_MOSQUITTO[1]} ({exc})")
    return MACHINE_MOSQUITTO


class SocatPair:
    """Two connected pseudo-terminals made by socat, at fixed paths (``device``, ``client``);
    ``stop()`` makes both vanish (a serial adapter pulled out), ``start()`` brings them back."""

    def __init__(self, base: Path):
        self.device, self.client = str(base / "device"), str(base / "client")
        self.socat = shutil.which("socat") or ("/usr/bin/socat" if os.path.exists("/usr/bin/socat") else None)
        self.proc: subprocess.Popen | None = None

    def start(self) -> SocatPair:
        if self.socat is None:
            service_missing("socat (apt-get install socat)")
        self.proc = subprocess.Popen([self.socat, f"pty,raw,echo=0,link={self.device}",
                                      f"pty,raw,echo=0,link={self.client}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not (os.path.exists(self.device) and os.path.exists(self.client)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                service_missing("a socat pty pair")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        for link in (self.device, self.client):
            deadline = time.monotonic() + 5
            while os.path.lexists(link) and time.monotonic() < deadline:
                time.sleep(0.02)

"""The ``status`` reply: this machine's state (psutil) and every socket server of this process.

``{"system_status": {...}, "socket_server_status": {"<port>": {...}, ...}}`` with
PyExpLabSys's keys. Fixed on the way (see the package README): the memory figure
is in bytes (``ru_maxrss`` is KiB on Linux), the MAC address is read, the apt time
comes from apt's package cache, and nothing does a DNS lookup (the host name is
``socket.gethostname()``, read once). Values that do not exist on a machine (no
Raspberry Pi, no git checkout) are ``null``.
"""

from __future__ import annotations

import logging
import os
import platform
import socket
import sys
import threading
import time
import weakref
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

log = logging.getLogger("lab_sockets.status")

_lock = threading.Lock()
#: status key -> server (weak: a server dropped without stop() disappears)
_servers: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()


def register(key: str, server: Any) -> None:
    with _lock:
        _servers[key] = server


def unregister(key: str, server: Any) -> None:
    with _lock:
        if _servers.get(key) is server:
            del _servers[key]


def servers() -> dict[str, Any]:
    with _lock:
        return dict(_servers)


def socket_server_status(now: float | None = None) -> dict[str, dict[str, Any]]:
    """``{port: {name, type, status, since_last_activity}}`` for every server serving in this process."""
    now = time.time() if now is None else now
    return {key: server.activity_status(now) for key, server in sorted(servers().items(), key=_port_order)}


def _port_order(item: tuple[str, Any]) -> tuple[int, str]:
    key = item[0]
    number = key.split("/")[0]
    return (int(number) if number.isdigit() else -1, key)


# -- system status ----------------------------------------------------------------------------

_PACKAGE_DIR = Path(__file__).resolve().parent


def _mtime(*paths: str | Path) -> float | None:
    for path in paths:
        try:
            return os.stat(path).st_mtime
        except OSError:
            continue
    return None


@lru_cache(maxsize=1)
def _git_dir() -> Path | None:
    for folder in (_PACKAGE_DIR, *_PACKAGE_DIR.parents):
        candidate = folder / ".git"
        if candidate.is_dir():
            return candidate
        if candidate.is_file():  # a worktree: "gitdir: <path>"
            text = candidate.read_text(errors="replace").strip()
            if text.startswith("gitdir:"):
                return (folder / text.partition(":")[2].strip()).resolve()
    return None


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read().replace(b"\x00", b"").decode(errors="replace").strip() or None
    except OSError:
        return None


@lru_cache(maxsize=1)
def _fixed() -> dict[str, Any]:
    """What does not change while the process runs (read once)."""
    import psutil

    mac = None
    link = getattr(psutil, "AF_LINK", None)
    try:
        for name, addresses in sorted(psutil.net_if_addrs().items()):
            if name == "lo" or name.startswith("lo"):
                continue
            for address in addresses:
                if address.family == link and address.address and address.address.strip("0:-") != "":
                    mac = address.address.lower().replace("-", ":")
                    break
            if mac:
                break
    except Exception as exc:  # never let status fail
        log.debug("no MAC address: %s", exc)
    try:  # PyExpLabSys's form: the distribution's VERSION, e.g. "12 (bookworm)"
        os_version = platform.freedesktop_os_release().get("VERSION")
    except (OSError, AttributeError):
        os_version = None
    os_version = os_version or platform.release()
    rpi_model = _read("/proc/device-tree/model")
    if rpi_model and "raspberry" not in rpi_model.lower():
        rpi_model = None
    return {
        "mac_address": mac,
        "machine_name": socket.gethostname(),
        "os_version": os_version,
        "purpose": purpose(),
        "python_version": platform.python_version(),
        "rpi_model": rpi_model,
        "sd_card_serial": _read("/sys/block/mmcblk0/device/serial") if rpi_model else None,
    }


def purpose() -> dict[str, str | None]:
    """``{"id", "purpose", "long_description"}`` (PyExpLabSys's form), nulls when unset.

    Read from ``~/PURPOSE``: ``id: …`` and ``purpose: …`` lines, the rest is the long
    description (a file of one plain line is the purpose). ``$LAB_PURPOSE`` overrides the purpose.
    """
    found: dict[str, str | None] = {"id": None, "purpose": None, "long_description": None}
    text = _read(str(Path.home() / "PURPOSE")) or ""
    rest = []
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("id", "purpose") and not rest:
            found[key.strip().lower()] = value.strip() or None
        elif line.strip() or rest:
            rest.append(line)
    if rest and found["purpose"] is None and found["id"] is None:
        found["purpose"], rest = rest[0].strip(), rest[1:]
    found["long_description"] = "\n".join(rest).strip() or None
    found["purpose"] = os.environ.get("LAB_PURPOSE") or found["purpose"]
    return found


def git_fetch_times() -> dict[str, float | None]:
    """``{"PyExpLabSys": …, "machines": …}``: the last ``git fetch`` of the checkout holding this
    package and of ``~/machines`` (PyExpLabSys's machine-configuration checkout), null when absent."""
    git = _git_dir()
    return {"PyExpLabSys": _mtime(git / "FETCH_HEAD") if git else None,
            "machines": _mtime(Path.home() / "machines" / ".git" / "FETCH_HEAD")}


def _max_rss_bytes() -> int | None:
    try:
        import resource
    except ImportError:  # Windows
        import psutil

        info = psutil.Process().memory_info()
        return int(getattr(info, "peak_wset", info.rss))
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(maxrss if sys.platform == "darwin" else maxrss * 1024)  # KiB everywhere but macOS


def _guard(make: Callable[[], Any]) -> Any:
    try:
        return make()
    except Exception as exc:  # one missing figure must not break status
        log.debug("status figure unavailable: %s", exc)
        return None


def system_status() -> dict[str, Any]:
    """PyExpLabSys's system status keys (sorted), read with psutil."""
    import psutil

    fixed = _fixed()

    def filesystem() -> dict[str, int]:
        usage = psutil.disk_usage(str(_PACKAGE_DIR))
        return {"total_bytes": usage.total, "free_bytes": usage.free}

    def load() -> dict[str, float]:
        one, five, fifteen = psutil.getloadavg()
        return {"1m": one, "5m": five, "15m": fifteen}

    def uptime() -> dict[str, float]:
        return {"uptime_sec": time.time() - psutil.boot_time(), "idle_sec": psutil.cpu_times().idle}

    def rpi_temperature() -> float | None:
        text = _read("/sys/class/thermal/thermal_zone0/temp")
        return int(text) / 1000 if text else None

    return {
        "filesystem_usage": _guard(filesystem),
        "last_apt_cache_change_unixtime": _mtime("/var/cache/apt/pkgcache.bin", "/var/lib/apt/lists"),
        "last_git_fetch_unixtime": git_fetch_times(),
        "load_average": _guard(load),
        "mac_address": fixed["mac_address"],
        "machine_name": fixed["machine_name"],
        "max_python_mem_usage_bytes": _guard(_max_rss_bytes),
        "number_of_python_threads": threading.active_count(),
        "os_version": fixed["os_version"],
        "purpose": fixed["purpose"],
        "python_version": fixed["python_version"],
        "rpi_model": fixed["rpi_model"],
        "rpi_temperature": _guard(rpi_temperature) if fixed["rpi_model"] else None,
        "sd_card_serial": fixed["sd_card_serial"],
        "uptime": _guard(uptime),
    }


def status_message() -> dict[str, Any]:
    """The whole ``status`` reply (before JSON encoding)."""
    return {"system_status": system_status(), "socket_server_status": socket_server_status()}

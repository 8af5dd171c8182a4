"""Reload a running collector's configuration file (``lab run`` does it on SIGHUP).

The new file is checked whole first (``config.plan``); a bad one is refused
with the reason and the running configuration carries on. Then each reader
and writer table is compared with the running one: an unchanged table keeps
its running instance, a changed one gets a new instance, and
``Collector.reconfigure`` restarts only what changed. A changed writer keeps
its spool when its spool settings did not change (a disk spool keeps its
file, so its pending samples go to the new instance); with new spool settings
the pending samples are moved into the new spool. Nothing spooled is dropped.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import attrs

from .collector import Changes, Collector, IntervalPolicy
from .config import plan, read_toml
from .errors import ConfigError
from .spool import MemorySpool, Spool, make_spool
from .status import WatchSettings

log = logging.getLogger(__name__)


@attrs.frozen
class Reloaded:
    """A reload that went through: what changed, the new watch settings, samples lost with removed writers."""

    changes: Changes
    watch: WatchSettings
    lost: int = 0  # left in the memory spools of writers the new configuration removed


class Reloader:
    """Applies the configuration file at ``path`` to ``collector``, which runs the configuration ``data``."""

    def __init__(self, path: str | os.PathLike, collector: Collector, data: dict[str, Any], *,
                 registry=None, base_dir: str | os.PathLike = "."):
        self.path, self.collector, self.data = path, collector, data
        self.registry, self.base_dir = registry, base_dir

    def reload(self) -> Reloaded:
        """Apply the file as it is now; raises ``ConfigError`` (nothing changed) when it is refused."""
        try:
            data = read_toml(self.path)
            new = plan(data, self.registry)
        except ConfigError as exc:
            raise ConfigError(str(exc) if str(exc).startswith(str(self.path)) else f"{self.path}: {exc}") from None
        settings = new.settings
        readers = self._keep("readers", new.readers, data, self.collector.readers)
        writers = self._keep("writers", new.writers, data, self.collector.writers)
        spools = self._new_spools(writers, data, new.spools)
        removed = [n for n in self.collector.writers if n not in writers]
        lost = sum(len(self.collector.deliveries[n].spool) for n in removed
                   if isinstance(self.collector.deliveries[n].spool, MemorySpool))
        previous = self.collector.interval_policy
        self.collector.interval_policy = IntervalPolicy(settings.get("interval_policy", "clamp"))
        try:
            changes = self.collector.reconfigure(readers, writers, new.contexts, spools=spools)
        except ConfigError as exc:
            self.collector.interval_policy = previous
            for spool in spools.values():
                spool.close()
            raise ConfigError(f"{self.path}: {exc}") from None
        self.collector.flush_timeout_s = float(settings.get("flush_timeout_s", 10.0))
        self.data = data
        return Reloaded(changes, WatchSettings.from_config(settings), lost)

    def _keep(self, kind: str, made: dict[str, Any], data: dict[str, Any], running: dict[str, Any]) -> dict[str, Any]:
        """The instances to run: the running one where its table did not change, else the new one."""
        old_tables, new_tables = self.data.get(kind) or {}, data.get(kind) or {}
        return {name: running[name] if name in running and old_tables.get(name) == new_tables.get(name) else instance
                for name, instance in made.items()}

    def _new_spools(self, writers: dict[str, Any], data: dict[str, Any], specs: dict[str, Any]) -> dict[str, Spool]:
        """Spools for new writers and for writers whose spool settings changed (opened here)."""
        old_dir, new_dir = self._spool_dir(self.data), self._spool_dir(data)
        old_specs = {n: (t or {}).get("spool") for n, t in (self.data.get("writers") or {}).items()}
        spools: dict[str, Spool] = {}
        for name in writers:
            if writers[name] is self.collector.writers.get(name):
                continue  # unchanged: keeps its spool
            if name in self.collector.writers and (_spool_key(old_specs.get(name), old_dir, name)
                                                   == _spool_key(specs[name], new_dir, name)):
                continue  # changed writer, same spool: its pending samples go to the new instance
            try:
                spools[name] = make_spool(specs[name], new_dir, name)
            except (TypeError, ValueError, RuntimeError, OSError) as exc:
                for spool in spools.values():
                    spool.close()
                raise ConfigError(f"{self.path}: writers.{name}.spool: {exc}") from None
        return spools

    def _spool_dir(self, data: dict[str, Any]) -> Path:
        return Path(self.base_dir) / (data.get("collector") or {}).get("spool_dir", "var/spool")


def _spool_key(spec: Any, spool_dir: Path, name: str) -> tuple:
    """A spool specification with its defaults filled in, so equal keys mean the same spool."""
    options = {"kind": spec} if isinstance(spec, str) or spec is None else dict(spec)
    options["kind"] = options.get("kind") or "memory"
    if options["kind"] == "disk":
        options["path"] = os.path.abspath(options.get("path") or spool_dir / f"{name}.spool")
    return tuple(sorted((k, repr(v)) for k, v in options.items()))

"""Find a processing plugin by its dotted, case-insensitive name (dahu's ``Factory``).

Two sources, looked up in this order:

1. classes registered in this process with :func:`register` (a decorator) or
   :func:`~lab_dahu.base.plugin_from_function`;
2. the ``lab_processors`` hook of installed distributions (entry-point group
   ``lab``), through ``lab_core``'s registry — how distributions publish plugins.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from lab_core import Registry, UnknownPlugin, default_registry

log = logging.getLogger(__name__)


def fully_qualified_name(klass: type) -> str:
    """``module.Class``, e.g. ``mylab.plugins.Integrate`` (registered lower-cased)."""
    return f"{klass.__module__}.{klass.__name__}"


class Factory:
    """Makes plugin instances from their names: ``plugin_factory("example.square")``.

    Names are matched case-insensitively. ``registry`` (class attribute) holds the
    classes registered in this process, keyed by lower-cased name, as in dahu.
    """

    registry: dict[str, type] = {}
    reg_sem = threading.Lock()

    def __init__(self, lab_registry: Registry | None = None):
        self._lab_registry = lab_registry
        self._cache: dict[str, type] = {}  # entry-point classes already resolved
        self._lock = threading.Lock()

    @property
    def lab_registry(self) -> Registry:
        return self._lab_registry if self._lab_registry is not None else default_registry()

    @classmethod
    def register(cls, klass: type | None = None, fqn: str | None = None) -> Any:
        """Register ``klass`` as plugin ``fqn`` (default ``module.Class``); usable as a decorator.

        ``@register``, ``@register(fqn="my.name")`` and ``register(Klass, "my.name")`` all work.
        Returns the class.
        """
        if klass is None:
            return lambda k: cls.register(k, fqn)
        name = (fqn or fully_qualified_name(klass)).lower()
        with cls.reg_sem:
            previous = cls.registry.get(name)
            cls.registry[name] = klass
        if previous is not None and previous is not klass:
            log.info("plugin %s: %r replaces %r", name, klass, previous)
        return klass

    @classmethod
    def unregister(cls, name: str) -> None:
        with cls.reg_sem:
            cls.registry.pop(name.lower(), None)

    def get_class(self, plugin_name: str) -> type:
        """The class of plugin ``plugin_name``; raises ``lab_core.UnknownPlugin`` (a ``KeyError``)."""
        if not isinstance(plugin_name, str) or not plugin_name.strip():
            raise UnknownPlugin(f"a plugin name must be a non-empty string, not {plugin_name!r}")
        key = plugin_name.strip().lower()
        klass = self.registry.get(key) or self._cache.get(key)
        if klass is not None:
            return klass
        try:
            klass = self.lab_registry.get_class("job", key)
        except UnknownPlugin as exc:
            local = ", ".join(sorted(self.registry)) or "none"
            raise UnknownPlugin(f"{exc} Registered in this process: {local}.") from None
        with self._lock:
            self._cache[key] = klass
        return klass

    def __call__(self, plugin_name: str) -> Any:
        """A new instance of plugin ``plugin_name``."""
        return self.get_class(plugin_name)()

    def names(self) -> dict[str, str]:
        """``{lower-cased name: where it comes from}`` for every known plugin; imports nothing."""
        found: dict[str, str] = {}
        try:
            components = self.lab_registry.components("job")
        except Exception:  # a broken registry must not hide the in-process plugins
            log.exception("could not list the installed processing plugins")
            components = {}
        for name, candidates in components.items():
            found[name] = ", ".join(c.plugin.distribution for c in candidates)
        for name in self.registry:
            found[name] = "(registered in process)"
        return dict(sorted(found.items()))

    def describe(self) -> list[dict[str, str]]:
        """``[{"name", "source", "doc"}]`` for every plugin (imports each to read its docstring)."""
        rows = []
        for name, source in self.names().items():
            try:
                doc = (self.get_class(name).__doc__ or "").strip().splitlines()
                summary = doc[0].strip() if doc else ""
            except Exception as exc:  # report a broken plugin instead of failing the list
                summary = f"(cannot be loaded: {type(exc).__name__}: {exc})"
            rows.append({"name": name, "source": source, "doc": summary})
        return rows

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()


plugin_factory = Factory()
register = plugin_factory.register

"""Find a processing plugin by its dotted, case-insensitive name (dahu's ``Factory``).

Three sources, looked up in this order:

1. classes registered in this process with :func:`register` (a decorator) or
   :func:`~lab_dahu.base.plugin_from_function`;
2. the ``lab_jobs`` hook of installed distributions (entry-point group
   ``lab``), through ``lab_core``'s registry: the packaged way to publish plugins;
3. plugin directories, as dahu has them: ``$DAHU_PLUGINS`` (``os.pathsep``
   separated) and :meth:`Factory.add_directory`. A name ``mymod.hello`` loads
   ``mymod.py`` (or the package ``mymod/``) from the first directory that has
   it, on first use, under the module name ``mymod``; the module registers its
   classes with ``@register`` as it is imported.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from types import ModuleType
from typing import Any

from lab_core import Registry, UnknownPlugin, default_registry

log = logging.getLogger(__name__)

#: the lab_core registry kind that holds processing plugins
KIND = "job"
#: dahu's environment variable naming plugin directories
PLUGINS_ENV = "DAHU_PLUGINS"


def fully_qualified_name(klass: type) -> str:
    """``module.Class``, e.g. ``mylab.plugins.Integrate`` (registered lower-cased)."""
    return f"{klass.__module__}.{klass.__name__}"


def _installed(lab_registry: Registry) -> dict[str, str]:
    """``{name: distribution(s)}`` of installed processing plugins, from metadata (imports no plugin)."""
    return {name: ", ".join(c.plugin.distribution for c in candidates)
            for name, candidates in lab_registry.components(KIND).items()}


class PluginRegistry(MutableMapping):
    """dahu's ``Factory.registry``: name → class, listing the installed plugins too.

    Classes registered in this process are held here; installed plugins (entry
    points) are listed by name and imported when their class is read.
    """

    def __init__(self) -> None:
        self.local: dict[str, type] = {}
        self._resolved: dict[str, type] = {}

    def _installed(self) -> dict[str, str]:
        return _installed(default_registry())

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        klass = self.local.get(key) or self._resolved.get(key)
        if klass is None:
            if key not in self._installed():
                raise KeyError(name)
            klass = self._resolved[key] = default_registry().get_class(KIND, key)
        return klass

    def __setitem__(self, name: str, klass: type) -> None:
        self.local[name.lower()] = klass

    def __delitem__(self, name: str) -> None:
        del self.local[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name.lower() in self.local or name.lower() in self._installed())

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(set(self.local) | set(self._installed())))

    def __len__(self) -> int:
        return len(set(self.local) | set(self._installed()))

    def __repr__(self) -> str:
        return f"PluginRegistry({list(self)})"


def load_source(module_name: str, file_path: str | os.PathLike) -> ModuleType:
    """Import the plugin file ``file_path`` as module ``module_name`` (dahu's loader)."""
    path = Path(file_path)
    location = path / "__init__.py" if path.is_dir() else path
    spec = importlib.util.spec_from_file_location(module_name, location)
    if spec is None or spec.loader is None:
        raise ImportError(f"{location} is not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # as a normal import: the module's own imports of itself work
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


class Factory:
    """Makes plugin instances from their names: ``plugin_factory("example.square")``.

    Names are matched case-insensitively. ``registry`` (class attribute) holds
    the classes registered in this process and lists the installed ones, as
    dahu's does; ``plugin_dirs`` maps each plugin directory to its modules.
    """

    registry = PluginRegistry()
    modules: dict[str, ModuleType] = {}
    plugin_dirs: dict[str, list[str]] = {}
    reg_sem = threading.Lock()
    _load_lock = threading.Lock()

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
            previous = cls.registry.local.get(name)
            cls.registry.local[name] = klass
        if previous is not None and previous is not klass:
            log.info("plugin %s: %r replaces %r", name, klass, previous)
        return klass

    @classmethod
    def unregister(cls, name: str) -> None:
        with cls.reg_sem:
            cls.registry.local.pop(name.lower(), None)

    # -- plugin directories -------------------------------------------------------

    @classmethod
    def add_directory(cls, directory: str | os.PathLike) -> list[str]:
        """Look for plugin modules in ``directory`` too (after ``$DAHU_PLUGINS``); its module names.

        A directory that does not exist is logged and ignored, as dahu does."""
        path = Path(directory).absolute()
        if not path.is_dir():
            log.warning("plugin directory %s does not exist; ignored", path)
            return []
        modules = cls._modules_in(path)
        with cls.reg_sem:
            cls.plugin_dirs[str(path)] = modules
        return modules

    @staticmethod
    def _modules_in(path: Path) -> list[str]:
        return sorted(p.stem if p.is_file() else p.name for p in path.iterdir()
                      if (p.is_file() and p.suffix == ".py") or (p / "__init__.py").is_file())

    @classmethod
    def directories(cls) -> list[Path]:
        """The plugin directories, in search order: ``$DAHU_PLUGINS``, then those added."""
        from_env = [Path(d).absolute() for d in os.environ.get(PLUGINS_ENV, "").split(os.pathsep) if d]
        return [*from_env, *(Path(d) for d in cls.plugin_dirs if Path(d) not in from_env)]

    @classmethod
    def search_plugin(cls, plugin_name: str) -> ModuleType | None:
        """Import the module named by the first part of ``plugin_name`` from a plugin directory.

        Returns the module (None if no directory has it). A module is imported once;
        one that fails to import raises ``UnknownPlugin`` with the reason (and is tried
        again next time)."""
        module_name = plugin_name.split(".", 1)[0]
        if not module_name.isidentifier():  # a name never reaches outside the plugin directories
            return None
        if module_name in cls.modules:
            return cls.modules[module_name]
        for directory in cls.directories():
            candidate = directory / module_name
            source = candidate if (candidate / "__init__.py").is_file() else candidate.with_suffix(".py")
            if not source.is_file() and not source.is_dir():
                continue
            with cls._load_lock:
                if module_name in cls.modules:
                    return cls.modules[module_name]
                log.info("loading plugin module %s from %s", module_name, source)
                try:
                    module = load_source(module_name, source)
                except Exception as exc:
                    log.exception("plugin module %s (%s) failed to import", module_name, source)
                    raise UnknownPlugin(f"plugin {plugin_name!r}: module {module_name} ({source}) failed to "
                                        f"import: {type(exc).__name__}: {exc}") from exc
                cls.modules[module_name] = module
                return module
        return None

    # -- look-up ------------------------------------------------------------------

    def get_class(self, plugin_name: str) -> type:
        """The class of plugin ``plugin_name``; raises ``lab_core.UnknownPlugin`` (a ``KeyError``)."""
        if not isinstance(plugin_name, str) or not plugin_name.strip():
            raise UnknownPlugin(f"a plugin name must be a non-empty string, not {plugin_name!r}")
        key = plugin_name.strip().lower()
        klass = self.registry.local.get(key) or self._cache.get(key)
        if klass is not None:
            return klass
        if key in self.lab_registry.components(KIND):
            klass = self.lab_registry.get_class(KIND, key)
            with self._lock:
                self._cache[key] = klass
            return klass
        if self.search_plugin(key) is not None and key in self.registry.local:
            return self.registry.local[key]
        local = ", ".join(sorted(self.names())) or "none"
        folders = ", ".join(map(str, self.directories())) or f"none (set ${PLUGINS_ENV})"
        raise UnknownPlugin(f"no job named {plugin_name!r}; known plugins: {local}. Plugin "
                            f"directories searched: {folders}.")

    def __call__(self, plugin_name: str) -> Any:
        """A new instance of plugin ``plugin_name``."""
        return self.get_class(plugin_name)()

    def names(self) -> dict[str, str]:
        """``{lower-cased name: where it comes from}`` for every known plugin; imports nothing."""
        found = _installed(self.lab_registry)
        for name, klass in self.registry.local.items():
            module = self.modules.get(klass.__module__)
            found[name] = f"(plugin directory {Path(module.__file__).parent})" if module is not None and \
                getattr(module, "__file__", None) else "(registered in process)"
        return dict(sorted(found.items()))

    def describe(self) -> list[dict[str, str]]:
        """``[{"name", "source", "doc"}]`` for every plugin (imports each to read its docstring)."""
        rows = []
        for name, source in self.names().items():
            try:
                doc = (self.get_class(name).__doc__ or "").strip().splitlines()
                summary = doc[0].strip() if doc else ""
            except Exception as exc:  # reported in the list: one broken plugin must not hide the others
                summary = f"(cannot be loaded: {exc})"
            rows.append({"name": name, "source": source, "doc": summary})
        return rows

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()


plugin_factory = Factory()
register = plugin_factory.register

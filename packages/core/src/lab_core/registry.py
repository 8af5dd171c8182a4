"""Find plugins through the ``lab`` entry points, load them with care, make instances by name.

Discovery reads distribution metadata only (nothing is imported), so that
``Registry.plugins()`` is fast and a broken plugin cannot break listing. A plugin
is imported on first need, after two checks made on metadata alone: is it
disabled, and does its ``lab-core`` requirement admit this core's API version?
A plugin that fails either check, or fails to import, is reported with the
reason and skipped; every other plugin keeps working.
"""

from __future__ import annotations

import enum
import importlib
import logging
import os
import sys
from collections.abc import Iterable
from typing import Any

import attrs
import pluggy
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import Version

from . import hookspecs
from .errors import PluginConflict, PluginError, UnknownPlugin
from .options import check_options, did_you_mean

if sys.version_info >= (3, 12):
    from importlib import metadata as importlib_metadata
else:  # the backport: the same, faster API on every supported Python
    import importlib_metadata

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "lab"
CORE_DISTRIBUTION = "lab-core"
#: Comma-separated plugin names to leave out, honoured before any import
#: (like pytest's ``-p no:NAME``). ``Registry(disabled=…)`` adds more.
DISABLE_ENV = "LAB_DISABLE_PLUGINS"
#: Plugin kinds and the hook that provides each. "processor" is a stream processor of the
#: collector (``[processors.NAME]``: deadband, window…); "job" a dahu-style processing job; "store"
#: reads back what the writer of the same name stored (``lab data``).
HOOKS = {"reader": "lab_readers", "writer": "lab_writers", "transport": "lab_transports",
         "processor": "lab_stream_processors", "job": "lab_jobs", "store": "lab_stores"}
KINDS = tuple(HOOKS)
#: Deprecated hook names (one release): ``lab_processors`` named dahu-style jobs.
DEPRECATED_HOOKS = {"lab_processors": "job"}
#: Kinds whose names are matched case-insensitively (dahu's dotted plugin names).
_CASELESS = ("job",)


class Status(str, enum.Enum):
    FOUND = "found"  # discovered, not imported yet
    LOADED = "loaded"
    DISABLED = "disabled"
    INCOMPATIBLE = "incompatible"
    FAILED = "failed"  # import error


@attrs.define
class PluginInfo:
    """One distribution's plugin, as read from its metadata (and, once loaded, what it gave)."""

    name: str
    module: str
    distribution: str
    version: str
    requires_core: str = ""
    status: Status = Status.FOUND
    error: str = ""
    provides: dict[str, list[str]] = attrs.field(factory=dict)
    #: which bundle distribution pins this plugin's distribution, if any
    bundle: str = ""
    entry_point: Any = attrs.field(default=None, repr=False, eq=False)

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self, filter=lambda a, _: a.name != "entry_point")
        data["status"] = self.status.value
        return data


@attrs.frozen
class Component:
    kind: str
    name: str
    plugin: PluginInfo = attrs.field(eq=False)
    target: Any = attrs.field(eq=False)  # a class or "module:Class"


def core_version() -> Version:
    from . import __version__

    return Version(__version__)


def disabled_from_env() -> set[str]:
    return {name.strip() for name in os.environ.get(DISABLE_ENV, "").split(",") if name.strip()}


def _core_requirement(dist: importlib_metadata.Distribution) -> str:
    for line in dist.requires or ():
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.name.lower().replace("_", "-") == CORE_DISTRIBUTION and not req.marker:
            return str(req.specifier)
    return ""


def bundle_requirements(info: PluginInfo) -> list[Requirement]:
    """The requirements (pins) of a plugin's distribution, from its metadata."""
    dist = info.entry_point.dist if info.entry_point is not None else None
    requirements = []
    for line in (dist.requires or ()) if dist else ():
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if not req.marker or req.marker.evaluate({"extra": ""}):
            requirements.append(req)
    return requirements


def resolve(target: Any) -> Any:
    """Import a ``"module:attribute"`` reference; anything else is returned as is."""
    if not isinstance(target, str):
        return target
    module_name, _, attribute = target.partition(":")
    obj = importlib.import_module(module_name)
    for part in filter(None, attribute.split(".")):
        obj = getattr(obj, part)
    return obj


HOOK_NAMES = frozenset(name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "lab_spec"))


def unknown_hooks(module: Any) -> list[str]:
    """What is wrong with ``module``'s hook implementations whose name matches no hook of lab.

    pluggy would accept them silently and never call them: the plugin would show as loaded
    and provide nothing.
    """
    problems = []
    for name in sorted(dir(module)):
        if hasattr(getattr(module, name, None), "lab_impl") and name not in HOOK_NAMES:
            close = did_you_mean(name, HOOK_NAMES)
            hint = f"did you mean {close}?" if close else f"the hooks are {', '.join(sorted(HOOK_NAMES))}"
            problems.append(f"hook implementation {name} matches no hook of lab ({hint}); rename it")
    return problems


class Registry:
    """The plugins installed in this environment and the components they provide."""

    def __init__(self, disabled: Iterable[str] = (), entry_points: Iterable[Any] | None = None):
        self.disabled = set(disabled) | disabled_from_env()
        self._entry_points = entry_points  # for tests; None means the installed ones
        self._plugins: dict[str, PluginInfo] | None = None
        self._components: dict[str, dict[str, list[Component]]] | None = None
        self.manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.manager.add_hookspecs(hookspecs)

    # -- discovery: metadata only --------------------------------------------

    def plugins(self) -> list[PluginInfo]:
        """Every plugin installed, from metadata; imports nothing."""
        if self._plugins is None:
            self._plugins = {}
            eps = self._entry_points
            if eps is None:
                eps = importlib_metadata.entry_points(group=ENTRY_POINT_GROUP)
            for ep in eps:
                info = self._describe(ep)
                if info.name in self._plugins:
                    other = self._plugins[info.name]
                    info.status = Status.FAILED
                    info.error = (
                        f"plugin name {info.name!r} is also used by {other.distribution} "
                        f"{other.version}; uninstall one of them or disable one with {DISABLE_ENV}"
                    )
                    self._plugins[f"{info.name}@{info.distribution}"] = info
                    continue
                self._plugins[info.name] = info
        return list(self._plugins.values())

    def _describe(self, ep: Any) -> PluginInfo:
        dist = ep.dist
        info = PluginInfo(
            name=ep.name,
            module=ep.value,
            distribution=dist.metadata["Name"] if dist else "?",
            version=dist.version if dist else "?",
            requires_core=_core_requirement(dist) if dist else "",
            entry_point=ep,
        )
        if ep.name in self.disabled:
            info.status, info.error = Status.DISABLED, f"disabled (by {DISABLE_ENV} or configuration)"
        elif info.requires_core and not _admits(info.requires_core, core_version()):
            info.status = Status.INCOMPATIBLE
            info.error = (
                f"{info.distribution} {info.version} needs lab-core {info.requires_core}, "
                f"but this is lab-core {core_version()}; install a version of "
                f"{info.distribution} made for lab-core {core_version().major}.x "
                f"(versions that fit: {info.requires_core})"
            )
        return info

    # -- loading ----------------------------------------------------------------

    def load(self) -> list[PluginInfo]:
        """Import every enabled, compatible plugin module; report (never raise) failures."""
        for info in self.plugins():
            if info.status is Status.FOUND:
                self._load(info)
        return self.plugins()

    def bundles(self) -> dict[str, tuple[PluginInfo, str]]:
        """Installed bundles: ``{distribution: (plugin info, default config path)}``.

        Also marks every plugin whose distribution a bundle requires with that bundle.
        """
        self.load()
        found = {}
        for impl in self.manager.hook.lab_bundle_config.get_hookimpls():
            info = self._plugins.get(impl.plugin_name)
            try:
                found[info.distribution] = (info, str(impl.function()))
            except Exception as exc:
                log.warning("bundle %s: lab_bundle_config raised %r", info.distribution, exc)
        for bundle, _ in found.values():
            pinned = {req.name.lower().replace("_", "-") for req in bundle_requirements(bundle)}
            for info in self.plugins():
                if info.distribution.lower().replace("_", "-") in pinned:
                    info.bundle = bundle.distribution
        return found

    def _load(self, info: PluginInfo) -> None:
        try:
            module = info.entry_point.load()
            misspelled = unknown_hooks(module)
            if misspelled:
                raise PluginError("; ".join(misspelled))
            self.manager.register(module, name=info.name)
        except PluginError as exc:
            info.status, info.error = Status.FAILED, str(exc)
            log.warning("plugin %s (%s) failed to load: %s", info.name, info.distribution, info.error)
            return
        except Exception as exc:  # a broken third-party plugin must not break the rest
            info.status, info.error = Status.FAILED, f"{type(exc).__name__}: {exc}"
            log.warning("plugin %s (%s) failed to load: %s", info.name, info.distribution, info.error)
            return
        info.status = Status.LOADED

    def register(self, module: Any, name: str, distribution: str = "(in process)") -> PluginInfo:
        """Register a plugin object directly (scripts, tests) beside the installed ones."""
        misspelled = unknown_hooks(module)
        if misspelled:
            raise PluginError("; ".join(misspelled))
        self.plugins()
        info = PluginInfo(name=name, module=repr(module), distribution=distribution, version="")
        self.manager.register(module, name=name)
        info.status = Status.LOADED
        self._plugins[name] = info
        self._components = None
        return info

    # -- components ---------------------------------------------------------------

    def components(self, kind: str) -> dict[str, list[Component]]:
        """``{name: [Component, …]}`` for ``kind``; more than one entry is a conflict."""
        if kind not in KINDS:
            raise ValueError(f"unknown plugin kind {kind!r}; kinds are {', '.join(KINDS)}")
        if self._components is None:
            self.load()
            self._components = {k: self._collect(k) for k in KINDS}
        return self._components[kind]

    def _collect(self, kind: str) -> dict[str, list[Component]]:
        found: dict[str, list[Component]] = {}
        hooks = [HOOKS[kind], *(old for old, new in DEPRECATED_HOOKS.items() if new == kind)]
        for hook_name in hooks:
            for impl in getattr(self.manager.hook, hook_name).get_hookimpls():
                info = self._plugins.get(impl.plugin_name)
                if hook_name in DEPRECATED_HOOKS:
                    log.warning("plugin %s (%s): the hook %s is deprecated and goes in the next release; "
                                "rename it %s", info.name, info.distribution, hook_name, HOOKS[kind])
                try:
                    provided = impl.function() or {}
                except Exception as exc:
                    info.status, info.error = Status.FAILED, f"{hook_name} hook raised {exc!r}"
                    log.warning("plugin %s: %s", info.name, info.error)
                    continue
                for name, target in provided.items():
                    key = name.lower() if kind in _CASELESS else name
                    found.setdefault(key, []).append(Component(kind, name, info, target))
                    info.provides.setdefault(kind, []).append(name)
        return found

    def component(self, kind: str, name: str) -> Component:
        kind = self._current_kind(kind, name)
        candidates = self.components(kind).get(name.lower() if kind in _CASELESS else name)
        if not candidates:
            self._explain_missing(kind, name)
        if len(candidates) > 1:
            who = " and ".join(f"{c.plugin.distribution} {c.plugin.version}" for c in candidates)
            raise PluginConflict(
                f"{kind} {name!r} is provided by both {who}; uninstall one, or disable one "
                f"plugin with {DISABLE_ENV}=<plugin name>"
            )
        return candidates[0]

    def _current_kind(self, kind: str, name: str) -> str:
        """Kind "processor" meant dahu-style jobs until 1.1: a job asked for that way is found, with a warning."""
        if kind == "processor" and name not in self.components("processor") \
                and name.lower() in self.components("job"):
            log.warning("asking the registry for job %r as a 'processor' is deprecated; ask for kind 'job' "
                        "(processors are now the collector's stream processors)", name)
            return "job"
        return kind

    def _explain_missing(self, kind: str, name: str) -> None:
        known = sorted(self.components(kind))
        close = did_you_mean(name, known)
        broken = [p for p in self.plugins() if p.status not in (Status.LOADED, Status.FOUND)]
        hint = "".join(f"\n  plugin {p.name} ({p.distribution}): {p.error}" for p in broken)
        raise UnknownPlugin(
            f"no {kind} named '{name}'" + (f"; did you mean '{close}'?" if close else ".")
            + f" Installed {kind}s: {', '.join(known) or 'none'}. Is the distribution that provides "
            f"'{name}' installed (`lab plugins` lists them)?"
            + (f"\nPlugins not available (one of them may provide it):{hint}" if broken else "")
        )

    def get_class(self, kind: str, name: str) -> type:
        component = self.component(kind, name)
        try:
            return resolve(component.target)
        except Exception as exc:
            raise PluginError(
                f"{kind} {name!r} from {component.plugin.distribution} failed to import "
                f"{component.target!r}: {type(exc).__name__}: {exc}"
            ) from exc

    def make(self, kind: str, name: str, /, **options: Any) -> Any:
        """An instance of ``kind`` ``name``; options are checked against its declaration first
        (``ConfigError`` naming ``<kind>s.<name>.<option>``)."""
        cls = self.get_class(kind, name)
        check_options(cls, options, f"{kind}s.{name}", f"the {name} {kind}")
        return cls(**options)

    def reader(self, name: str, /, **options: Any) -> Any:
        return self.make("reader", name, **options)

    def writer(self, name: str, /, **options: Any) -> Any:
        return self.make("writer", name, **options)

    def transport(self, name: str, /, *args: Any, **options: Any) -> Any:
        return self.get_class("transport", name)(*args, **options)

    def processor(self, name: str, /, **options: Any) -> Any:
        """A stream processor (``[processors.NAME]`` in a configuration)."""
        return self.make("processor", name, **options)

    def job(self, name: str, /, **options: Any) -> Any:
        """A dahu-style processing job plugin."""
        return self.make("job", name, **options)

    def call_each(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """Call every plugin's ``hook_name`` on its own: one that raises is logged with its
        plugin's name and the others still run (pluggy would stop at the first error)."""
        results = []
        for impl in reversed(getattr(self.hook, hook_name).get_hookimpls()):
            try:
                args = {name: kwargs[name] for name in impl.argnames}
                results.append(impl.function(**args))
            except Exception as exc:
                log.warning("plugin %s: %s raised %s: %s", impl.plugin_name, hook_name, type(exc).__name__, exc,
                            exc_info=log.isEnabledFor(logging.DEBUG))
        return results

    @property
    def hook(self) -> Any:
        """Call the collector events etc. on every loaded plugin: ``registry.hook.lab_after_start(...)``."""
        if self._components is None:
            self.load()
        return self.manager.hook


def _admits(specifier: str, version: Version) -> bool:
    from packaging.specifiers import SpecifierSet

    return SpecifierSet(specifier).contains(version, prereleases=True)


_default: Registry | None = None


def default_registry() -> Registry:
    """The process-wide registry of installed plugins (made on first use)."""
    global _default
    if _default is None:
        _default = Registry()
    return _default

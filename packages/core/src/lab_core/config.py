"""Build a collector from a TOML configuration; every error names the key that is wrong.

::

    [collector]                 # all optional
    spool_dir = "var/spool"     # where "disk" spools live (one file per writer)
    interval_policy = "clamp"   # clamp | ignore | error (interval below a reader's minimum)
    flush_timeout_s = 10        # how long closing waits for writers
    disabled_plugins = []       # plugin names to leave out, as LAB_DISABLE_PLUGINS
    status = "127.0.0.1:9100"   # status endpoint: /metrics, /healthz, /status (none by default)
    status_allow = ["10.0.0.0/8"]  # client networks the endpoint answers (default: all who reach it)
    stats_interval_s = 600      # a stats line in the log every 10 min (none by default)
    health_writer_stale_s = 120 # and health_reader_stale_s, health_window_s, health_skipped_ratio

    [readers.plc]               # a reader instance named "plc"
    plugin = "modbus"           # which reader plugin (default: the instance name)
    host = "10.0.0.5"           # everything else: options for the plugin

    [processors.slow]           # a stream processor instance named "slow"
    plugin = "deadband"         # which processor plugin (default: the instance name)
    absolute = 0.5              # everything else: options for the plugin
    max_interval_s = 600

    [writers.db]
    plugin = "sqlite"
    spool = "disk"              # "memory" (default), "disk", or {kind=…, capacity=…, policy=…}
    processors = ["slow"]       # applied, in order, to what this writer gets
    path = "var/lab.sqlite"

    [[contexts]]                # strings may use ${ENV_VAR} or ${ENV_VAR:-default}
    id = 1
    default_interval_ms = 1000  # also: min_interval_ms, duration_s, writers = ["db"]
    [[contexts.variables]]
    id = 1
    codename = "plc_temperature"
    reader = "plc"
    address = "hr:100:float32"
    type = "float"              # float | int | bool | str
    interval_ms = 500           # optional
    unit = "degC"               # optional, shown on screens and stored in descriptions tables
    description = "PLC cabinet temperature"   # optional
    processors = ["slow"]       # optional: applied, in order, to this variable for every writer
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from .collector import Collector, IntervalPolicy
from .errors import ConfigError, LabError
from .model import Context, Variable
from .registry import Registry
from .spool import make_spool
from .status import WATCH_KEYS, WatchSettings

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

COLLECTOR_KEYS = {"spool_dir", "interval_policy", "flush_timeout_s", "disabled_plugins", *WATCH_KEYS}
CONTEXT_KEYS = {"id", "variables", "min_interval_ms", "default_interval_ms", "duration_s", "writers"}
VARIABLE_KEYS = {"id", "codename", "reader", "address", "type", "interval_ms", "unit", "description",
                 "processors"}


@attrs.frozen
class Setup:
    """What a configuration describes, built and checked, not yet running."""

    collector: Collector
    contexts: tuple[Context, ...]


_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand(value: Any, key: str = "configuration") -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in string values with the environment's.

    A value that is nothing but one reference and reads as a number becomes that number,
    so ``port = "${PLC_PORT:-502}"`` is an int. An unset variable without default is an error.
    """
    if isinstance(value, dict):
        return {k: expand(v, f"{key}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, f"{key}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def substitute(match: re.Match) -> str:
        name, default = match.groups()
        if name in os.environ:
            return os.environ[name]
        if default is None:
            raise ConfigError(f"{key}: environment variable {name} is not set (write ${{{name}:-default}} "
                              f"to give a default)")
        return default

    result = _REFERENCE.sub(substitute, value)
    if _REFERENCE.fullmatch(value):
        for number in (int, float):
            try:
                return number(result)
            except ValueError:
                pass
    return result


def read_toml(path: str | os.PathLike) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return expand(tomllib.load(f))
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _table(data: Any, key: str) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{key}: expected a table, got {type(data).__name__} {data!r}")
    return dict(data)


def _no_unknown(data: Mapping[str, Any], allowed: set[str], key: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}: unknown key; allowed keys are {', '.join(sorted(allowed))}")


def parse_contexts(raw: Any) -> tuple[Context, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError("contexts: expected at least one [[contexts]] table")
    contexts, ids = [], set()
    for i, item in enumerate(raw):
        key = f"contexts[{i}]"
        item = _table(item, key)
        _no_unknown(item, CONTEXT_KEYS, key)
        variables = [_variable(v, f"{key}.variables[{j}]") for j, v in enumerate(item.pop("variables", []))]
        if not variables:
            raise ConfigError(f"{key}.variables: a context needs at least one [[contexts.variables]]")
        try:
            context = Context(variables=variables, **item)
        except KeyError as exc:
            raise ConfigError(f"{key}.{exc.args[0]}: missing") from None
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{key}: {exc}") from None
        if context.id in ids:
            raise ConfigError(f"{key}.id: context id {context.id} is used twice")
        ids.add(context.id)
        contexts.append(context)
    return tuple(contexts)


def _variable(raw: Any, key: str) -> Variable:
    data = _table(raw, key)
    _no_unknown(data, VARIABLE_KEYS, key)
    for required in ("id", "codename", "reader", "address"):
        if required not in data:
            raise ConfigError(f"{key}.{required}: missing")
    if "type" in data:
        data["value_type"] = data.pop("type")
    try:
        return Variable(**data)
    except (TypeError, ValueError) as exc:
        field = next((f for f in ("codename", "interval_ms", "value_type", "unit", "description", "processors",
                                  "id", "reader", "address")
                      if f in str(exc) or f.replace("value_", "") in str(exc)), None)
        where = f"{key}.{'type' if field == 'value_type' else field}" if field else key
        raise ConfigError(f"{where}: {exc}") from None


def _plugin_instances(kind: str, raw: Any, registry: Registry, reserved: set[str]) -> dict[str, tuple[Any, dict]]:
    instances = {}
    for name, options in _table(raw or {}, f"{kind}s").items():
        key = f"{kind}s.{name}"
        options = _table(options, key)
        extra = {k: options.pop(k) for k in reserved if k in options}
        plugin = options.pop("plugin", name)
        try:
            instances[name] = (registry.make(kind, plugin, **options), extra)
        except LabError as exc:
            raise ConfigError(f"{key}: {exc}") from None
        except (TypeError, ValueError, OSError) as exc:
            raise ConfigError(f"{key}: {type(exc).__name__}: {exc}") from None
    return instances


@attrs.frozen
class Plan:
    """A checked configuration: plugin instances made, nothing started, no file opened."""

    readers: dict[str, Any]
    writers: dict[str, Any]
    spools: dict[str, Any]  # writer name -> spool specification
    processors: dict[str, Any]  # processor name -> factory of fresh instances
    writer_processors: dict[str, tuple[str, ...]]  # writer name -> its chain
    contexts: tuple[Context, ...]
    settings: dict[str, Any]
    registry: Registry


def plan(data: Mapping[str, Any], registry: Registry | None = None) -> Plan:
    """Check ``data`` (a parsed configuration) and make its readers and writers."""
    data = _table(data, "configuration")
    _no_unknown(data, {"collector", "readers", "processors", "writers", "contexts"}, "configuration")
    settings = _table(data.get("collector", {}), "collector")
    _no_unknown(settings, COLLECTOR_KEYS, "collector")
    registry = registry or Registry(disabled=settings.get("disabled_plugins", ()))
    contexts = parse_contexts(data.get("contexts"))
    readers = {n: r for n, (r, _) in _plugin_instances("reader", data.get("readers"), registry, set()).items()}
    processors = _processors(data.get("processors"), registry)
    writers = _plugin_instances("writer", data.get("writers"), registry, {"spool", "processors"})
    if not readers:
        raise ConfigError("readers: at least one [readers.NAME] table is needed")
    if not writers:
        raise ConfigError("writers: at least one [writers.NAME] table is needed")
    _check_references(contexts, readers, writers)
    chains = {n: _processor_names(extra.get("processors", []), processors, f"writers.{n}.processors")
              for n, (_, extra) in writers.items()}
    for i, context in enumerate(contexts):
        for j, variable in enumerate(context.variables):
            _processor_names(variable.processors, processors, f"contexts[{i}].variables[{j}].processors")
    try:
        IntervalPolicy(settings.get("interval_policy", "clamp"))
        float(settings.get("flush_timeout_s", 10.0))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"collector: {exc}") from None
    WatchSettings.from_config(settings)
    return Plan(readers, {n: w for n, (w, _) in writers.items()},
                {n: extra.get("spool") for n, (_, extra) in writers.items()},
                processors, {n: names for n, names in chains.items() if names}, contexts, settings, registry)


def _processors(raw: Any, registry: Registry) -> dict[str, Any]:
    """``{name: factory}``: one instance is made now so that bad options fail here, with their key."""
    made = _plugin_instances("processor", raw, registry, set())
    return {name: functools.partial(type(made[name][0]), **{k: v for k, v in table.items() if k != "plugin"})
            for name, table in _table(raw or {}, "processors").items()}


def _processor_names(names: Any, processors: Mapping[str, Any], key: str) -> tuple[str, ...]:
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{key}: expected a list of processor names, got {names!r}")
    for name in names:
        if name not in processors:
            raise ConfigError(f"{key}: no processor named {name!r}; define it in a [processors.{name}] table"
                              + (f" (processors: {', '.join(processors)})" if processors else ""))
    return tuple(names)


def build(data: Mapping[str, Any], registry: Registry | None = None, base_dir: str | os.PathLike = ".") -> Setup:
    """Check ``data`` and build its collector (threads started, spools open) and contexts."""
    checked = plan(data, registry)
    spool_dir = Path(base_dir) / checked.settings.get("spool_dir", "var/spool")
    spools = {}
    for name, spec in checked.spools.items():
        try:
            spools[name] = make_spool(spec, spool_dir, name)
        except (TypeError, ValueError, RuntimeError, OSError) as exc:
            for spool in spools.values():
                spool.close()
            raise ConfigError(f"writers.{name}.spool: {exc}") from None
    collector = Collector(
        checked.readers, checked.writers, spools=spools, registry=checked.registry,
        processors=checked.processors, writer_processors=checked.writer_processors,
        interval_policy=IntervalPolicy(checked.settings.get("interval_policy", "clamp")),
        flush_timeout_s=float(checked.settings.get("flush_timeout_s", 10.0)))
    return Setup(collector, checked.contexts)


def _check_references(contexts, readers, writers) -> None:
    for i, context in enumerate(contexts):
        for name in context.writers or ():
            if name not in writers:
                raise ConfigError(f"contexts[{i}].writers: no writer named {name!r}; "
                                  f"writers are {', '.join(writers)}")
        for j, variable in enumerate(context.variables):
            key = f"contexts[{i}].variables[{j}]"
            reader = readers.get(variable.reader)
            if reader is None:
                raise ConfigError(f"{key}.reader: no reader named {variable.reader!r}; "
                                  f"readers are {', '.join(readers)}")
            try:
                reader.check_address(variable)
            except ValueError as exc:
                raise ConfigError(f"{key}.address: {exc}") from None


def load(path: str | os.PathLike, registry: Registry | None = None, check_only: bool = False) -> Setup | Plan:
    """Read and build (or with ``check_only``, only check) the configuration file at ``path``.

    Relative paths inside it are relative to the current directory.
    """
    try:
        return (plan if check_only else build)(read_toml(path), registry)
    except ConfigError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise ConfigError(f"{path}: {exc}") from None

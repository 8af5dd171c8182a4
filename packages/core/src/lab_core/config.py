"""Build a collector from a TOML configuration; every error names the key that is wrong.

The file format — every section and key, with examples — is described in docs/config.md,
whose tables are generated from the option tables below (``python -m lab_core.optiontables``).
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import attrs

from .collector import Collector, IntervalPolicy
from .errors import ConfigError, LabError
from .model import DEFAULT_DURATION_S, DEFAULT_INTERVAL_MS, DEFAULT_MIN_INTERVAL_MS, Context, InvalidField, Variable
from .options import check_options, check_table, describe_value, did_you_mean, option
from .registry import Registry
from .spool import make_spool
from .status import WatchSettings

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

# What each table of a configuration may hold (docs/config.md is generated from these tables).
Table = dict[str, Any]

TOP_LEVEL = (
    option("collector", Table, {}, "settings of the collector itself"),
    option("readers", dict[str, Table], description="[readers.NAME] tables: reader instances"),
    option("processors", dict[str, Table], {}, "[processors.NAME] tables: stream processors"),
    option("writers", dict[str, Table], description="[writers.NAME] tables: writer instances"),
    option("contexts", list[Table], description="[[contexts]] tables: what is read, when"),
)
COLLECTOR = (
    option("spool_dir", str, "var/spool", "where disk spools live (one file per writer)"),
    option("interval_policy", Literal["clamp", "ignore", "error"], "clamp",
           "an interval below a reader's minimum: clamp it, ignore the minimum, or refuse the context"),
    option("flush_timeout_s", float, 10.0, "seconds closing waits for writers to deliver"),
    option("disabled_plugins", list[str], [], "plugin names to leave out, as LAB_DISABLE_PLUGINS"),
    option("status", str | None, None, 'status endpoint (/metrics, /healthz) at "HOST:PORT", e.g. "127.0.0.1:9100"'),
    option("status_allow", list[str] | None, None, "client networks the status endpoint answers (default: all)"),
    option("stats_interval_s", float | None, None, "seconds between one-line stats log lines (default: none)"),
    option("health_reader_stale_s", float, 60.0, "failing: every read of a reader raised for this long"),
    option("health_writer_stale_s", float, 120.0, "failing: a writer delivered nothing for this long"),
    option("health_window_s", float, 300.0, "degraded: drops, set-asides or skips within this window"),
    option("health_skipped_ratio", float, 0.01, "degraded: a reader skipped more than this share of instants"),
)
READER = (option("plugin", str, None, "which reader plugin (default: the instance name)", example="demo"),)
WRITER = (
    option("plugin", str, None, "which writer plugin (default: the instance name)", example="sqlite"),
    option("spool", Literal["memory", "disk"] | Table, "memory",
           'where samples wait for the writer: "memory", "disk", or { kind = …, capacity = …, policy = … }'),
    option("processors", list[str], [], "processors applied, in order, to every sample this writer gets"),
)
PROCESSOR = (option("plugin", str, None, "which processor plugin (default: the instance name)"),)
CONTEXT = (
    option("id", int, description="context number, unique in the configuration", example=1),
    option("variables", list[Table], description="[[contexts.variables]] tables"),
    option("min_interval_ms", float, DEFAULT_MIN_INTERVAL_MS, "shortest interval any variable may ask for"),
    option("default_interval_ms", float, DEFAULT_INTERVAL_MS, "interval of variables that give none"),
    option("duration_s", float, DEFAULT_DURATION_S, "the context stops after this many seconds"),
    option("writers", list[str] | None, None, "writers this context feeds (default: all)"),
)
VARIABLE = (
    option("id", int, description="variable number", example=1),
    option("codename", str, description="name of the value (no spaces or # , ; : &)", example="plc_temperature"),
    option("reader", str, description="the [readers.NAME] instance that reads it", example="plc"),
    option("address", str, description="where the reader finds it, in the reader's own syntax"),
    option("type", Literal["float", "int", "bool", "str"], "float", "the value's type"),
    option("interval_ms", float | None, None, "read interval (default: the context's)"),
    option("unit", str | None, None, "unit shown on screens and stored in descriptions tables"),
    option("description", str | None, None, "what the value is (stored in descriptions tables)"),
    option("processors", list[str], [], "processors applied, in order, to this variable for every writer"),
)

#: The tables above by section, for docs/config.md (``<!-- options: collector section -->``).
SECTIONS = {"configuration": TOP_LEVEL, "collector": COLLECTOR, "readers": READER, "writers": WRITER,
            "processors": PROCESSOR, "contexts": CONTEXT, "variables": VARIABLE}


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


def _table(data: Any, key: str, options: tuple = (), label: str = "") -> dict[str, Any]:
    """``data`` as a dict, checked against ``options`` (when given) at ``key``."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{key}: expected a table, got {describe_value(data)}")
    if options:
        check_table(data, options, key, label or f"keys of {key}")
    return dict(data)


def parse_contexts(raw: Any) -> tuple[Context, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError("contexts: expected at least one [[contexts]] table")
    contexts, ids = [], set()
    for i, item in enumerate(raw):
        key = f"contexts[{i}]"
        if isinstance(item, Mapping) and not item.get("variables", True):
            raise ConfigError(f"{key}.variables: a context needs at least one [[contexts.variables]]")
        item = _table(item, key, CONTEXT, "keys of a context")
        variables = [_variable(v, f"{key}.variables[{j}]") for j, v in enumerate(item.pop("variables"))]
        _no_codename_twice(variables, key)
        try:
            context = Context(variables=variables, **item)
        except InvalidField as exc:
            raise ConfigError(f"{key}.{exc.field}: {exc}") from None
        if context.id in ids:
            raise ConfigError(f"{key}.id: context id {context.id} is used twice")
        ids.add(context.id)
        contexts.append(context)
    return tuple(contexts)


def _variable(raw: Any, key: str) -> Variable:
    data = _table(raw, key, VARIABLE, "keys of a variable")
    if "type" in data:
        data["value_type"] = data.pop("type")
    try:
        return Variable(**data)
    except InvalidField as exc:
        raise ConfigError(f"{key}.{'type' if exc.field == 'value_type' else exc.field}: {exc}") from None


def _no_codename_twice(variables: list[Variable], key: str) -> None:
    seen: dict[str, int] = {}
    for j, variable in enumerate(variables):
        if variable.codename in seen:
            raise ConfigError(f"{key}.variables[{j}].codename: '{variable.codename}' is also "
                              f"{key}.variables[{seen[variable.codename]}]; a codename appears once per context")
        seen[variable.codename] = j


def _same_codename_same_source(contexts: tuple[Context, ...]) -> None:
    """One codename is one value: every context that names it reads it the same way."""
    first: dict[str, tuple[str, Variable]] = {}
    for i, context in enumerate(contexts):
        for j, variable in enumerate(context.variables):
            where = f"contexts[{i}].variables[{j}]"
            if variable.codename not in first:
                first[variable.codename] = (where, variable)
                continue
            there, other = first[variable.codename]
            differ = [f"{name} {getattr(other, attr)!s} there, {getattr(variable, attr)!s} here"
                      for name, attr in (("reader", "reader"), ("address", "address"), ("type", "value_type"))
                      if getattr(other, attr) != getattr(variable, attr)]
            if differ:
                raise ConfigError(f"{where}: codename '{variable.codename}' is also {there}, with another "
                                  f"{'; '.join(differ)}; give one of them another codename, or read both "
                                  f"the same way")


def _plugin_instances(kind: str, raw: Any, registry: Registry, reserved: tuple) -> dict[str, tuple[Any, dict]]:
    instances = {}
    for name, options in _table(raw or {}, f"{kind}s").items():
        key = f"{kind}s.{name}"
        options = _table(options, key)
        own = {o.name: o for o in reserved}
        check_table({k: v for k, v in options.items() if k in own}, reserved, key)
        extra = {k: options.pop(k) for k in own if k in options}
        plugin = extra.pop("plugin", name)
        try:
            cls = registry.get_class(kind, plugin)
        except LabError as exc:
            where = f"{key}.plugin" if "plugin" in options or plugin != name else key
            raise ConfigError(f"{where}: {exc}") from None
        check_options(cls, options, key, f"the {plugin} {kind}")
        try:
            instances[name] = (cls(**options), extra)
        except LabError as exc:
            raise ConfigError(f"{key}: {exc}") from None
        except (TypeError, ValueError, OSError) as exc:  # the plugin's own checks of its values
            raise ConfigError(f"{key}: {exc}") from None
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
    if not isinstance(data.get("contexts"), list) or not data["contexts"]:
        raise ConfigError("contexts: expected at least one [[contexts]] table")
    for section in ("readers", "writers"):
        if not data.get(section, {"": 0}):
            raise ConfigError(f"{section}: at least one [{section}.NAME] table is needed")
    _table(data, "configuration", TOP_LEVEL, "sections of a configuration")
    settings = _table(data.get("collector", {}), "collector", COLLECTOR, "keys of [collector]")
    registry = registry or Registry(disabled=settings.get("disabled_plugins", ()))
    contexts = parse_contexts(data.get("contexts"))
    _same_codename_same_source(contexts)
    readers = {n: r for n, (r, _) in _plugin_instances("reader", data.get("readers"), registry, READER).items()}
    processors = _processors(data.get("processors"), registry)
    writers = _plugin_instances("writer", data.get("writers"), registry, WRITER)
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
    WatchSettings.from_config(settings)
    return Plan(readers, {n: w for n, (w, _) in writers.items()},
                {n: extra.get("spool") for n, (_, extra) in writers.items()},
                processors, {n: names for n, names in chains.items() if names}, contexts, settings, registry)


def _processors(raw: Any, registry: Registry) -> dict[str, Any]:
    """``{name: factory}``: one instance is made now so that bad options fail here, with their key."""
    made = _plugin_instances("processor", raw, registry, PROCESSOR)
    return {name: functools.partial(type(made[name][0]), **{k: v for k, v in table.items() if k != "plugin"})
            for name, table in _table(raw or {}, "processors").items()}


def _processor_names(names: Any, processors: Mapping[str, Any], key: str) -> tuple[str, ...]:
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{key}: expected a list of processor names, got {describe_value(names)}")
    for name in names:
        if name not in processors:
            close = did_you_mean(name, processors)
            raise ConfigError(f"{key}: no processor named '{name}'; define it in a [processors.{name}] table"
                              + (f" (processors: {', '.join(processors)})" if processors else "")
                              + (f"; did you mean '{close}'?" if close else ""))
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


def _hint(name: str, choices) -> str:
    close = did_you_mean(name, choices)
    return f"; did you mean '{close}'?" if close else "."


def _check_references(contexts, readers, writers) -> None:
    for i, context in enumerate(contexts):
        for name in context.writers or ():
            if name not in writers:
                raise ConfigError(f"contexts[{i}].writers: no writer named '{name}'{_hint(name, writers)} "
                                  f"The writers are: {', '.join(writers)}")
        for j, variable in enumerate(context.variables):
            key = f"contexts[{i}].variables[{j}]"
            reader = readers.get(variable.reader)
            if reader is None:
                raise ConfigError(f"{key}.reader: no reader named '{variable.reader}'{_hint(variable.reader, readers)}"
                                  f" The readers are: {', '.join(readers)}")
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

"""Plugin options, declared once in ``__init__`` and checked before an instance is made.

A plugin declares each option as a keyword argument of its ``__init__``, with
``typing.Annotated`` carrying a one-line description, and a default (no default:
required)::

    def __init__(self, host: Annotated[str, "PLC host name or address", Example("10.0.0.5")],
                 port: Annotated[int, "TCP port"] = 502): ...

``Example(value)`` is optional: the value ``lab config sample`` writes (for a
required option, or one whose default is not set). That declaration drives the
configuration errors (``check_options``), ``lab plugins NAME``, ``lab config
sample`` and the README option tables (``markdown_table``). The same ``Option``
tables describe the configuration file's own sections (see ``lab_core.config``).
Messages speak TOML, never Python: "a whole number", not ``<class 'int'>``.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import json
import math
import operator
import os
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePath
from typing import Annotated, Any, Literal, Union

import attrs

from .errors import ConfigError

__all__ = ["Annotated", "Example", "Option", "check_options", "check_table", "declared_options",
           "describe_type", "in_toml", "markdown_table", "option", "toml_value", "undeclared"]

NO_DEFAULT: Any = inspect.Parameter.empty


@attrs.frozen
class Example:
    """``Annotated`` metadata: a value ``lab config sample`` writes for this option."""

    value: Any


@attrs.frozen
class Option:
    """One option: its name, type (without the ``Annotated`` wrapper), default and description."""

    name: str
    type: Any
    default: Any = NO_DEFAULT
    description: str = ""
    required: bool = False
    example: Any = NO_DEFAULT

    @property
    def sample_value(self) -> Any:
        """The value a sample configuration shows: the example, else the default, else a placeholder."""
        for value in (self.example, self.default):
            if value is not NO_DEFAULT and value is not None:
                return value
        return placeholder(self.type)


def option(name: str, type: Any, default: Any = NO_DEFAULT, description: str = "", example: Any = NO_DEFAULT,
           ) -> Option:
    """An ``Option`` for a table that is not a plugin (the ``[collector]`` section, a variable…)."""
    return Option(name, type, default, description, default is NO_DEFAULT, example)


# -- reading the declaration -----------------------------------------------------------


@functools.cache
def _declaration(cls: type) -> tuple[tuple[Option, ...], tuple[str, ...], bool]:
    """``(options, names without description, open)``; ``open``: undeclared ``**kwargs`` reach a base."""
    found: dict[str, Option] = {}
    bare: list[str] = []
    for owner in cls.__mro__:
        init = owner.__dict__.get("__init__")
        if init is None:
            continue
        if owner is object:
            return tuple(found.values()), tuple(bare), True
        try:
            hints = typing.get_type_hints(init, include_extras=True)
        except Exception:  # a hint that does not resolve: the option is still listed, untyped
            hints = {}
        forwards = False
        for parameter in inspect.signature(init).parameters.values():
            if parameter.kind is parameter.VAR_KEYWORD:
                forwards = True  # **options: the rest are the base class's
            elif parameter.name != "self" and parameter.kind in (parameter.KEYWORD_ONLY,
                                                                 parameter.POSITIONAL_OR_KEYWORD):
                if parameter.name in found:
                    continue
                tp, description, example = _unpack(hints.get(parameter.name, Any))
                if not description:
                    bare.append(parameter.name)
                found[parameter.name] = Option(parameter.name, tp, parameter.default, description,
                                               parameter.default is NO_DEFAULT, example)
        if not forwards:
            return tuple(found.values()), tuple(bare), False
    return tuple(found.values()), tuple(bare), True


def _unpack(hint: Any) -> tuple[Any, str, Any]:
    if typing.get_origin(hint) is not Annotated:
        return hint, "", NO_DEFAULT
    tp, *extras = typing.get_args(hint)
    description = next((e for e in extras if isinstance(e, str)), "")
    example = next((e.value for e in extras if isinstance(e, Example)), NO_DEFAULT)
    return tp, description, example


def declared_options(cls: type) -> tuple[Option, ...]:
    """The options ``cls`` declares in its ``__init__`` (and, through ``**options``, its bases')."""
    return _declaration(cls)[0]


def undeclared(cls: type) -> list[str]:
    """What is wrong with ``cls``'s declaration: options without a description, open ``**kwargs``."""
    _, bare, is_open = _declaration(cls)
    problems = [f"option {name} has no description (write {name}: Annotated[type, \"what it is\"])"
                for name in bare]
    if is_open:
        problems.append("__init__ takes **options that no class declares (declare each option as a keyword)")
    return problems


# -- checking a table -------------------------------------------------------------------------


def check_options(cls: type, options: Mapping[str, Any], key: str, label: str | None = None) -> None:
    """Check a plugin's configuration table ``options`` (at ``key``, e.g. ``readers.plc``) against
    what ``cls`` declares, before the instance is made; ``ConfigError`` naming the exact key if wrong."""
    declared, _, is_open = _declaration(cls)
    check_table(options, declared, key, f"options of {label or 'this plugin'}", allow_unknown=is_open)


def check_table(data: Mapping[str, Any], options: Sequence[Option], key: str, what: str = "keys of this table",
                allow_unknown: bool = False) -> None:
    """Check ``data`` against ``options``: unknown keys (with "did you mean"), then types, then
    required keys. The first problem is raised as a ``ConfigError`` naming ``key.option``."""
    known = {o.name: o for o in options}
    if not allow_unknown:
        for name in data:
            if name not in known:
                raise ConfigError(unknown_message(f"{key}.{name}", name, known, what))
    for name, value in data.items():
        if name in known and not matches(known[name].type, value):
            raise ConfigError(type_message(f"{key}.{name}", known[name], value))
    for o in options:
        if o.required and o.name not in data:
            described = f" ({o.description})" if o.description else ""
            raise ConfigError(f"{key}: {o.name} is missing{described}; add {o.name} = {toml_value(o.sample_value)}")


def did_you_mean(name: str, choices: Iterable[str]) -> str | None:
    """The one of ``choices`` that ``name`` is a near miss of, if any."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def unknown_message(where: str, name: str, choices: Iterable[str], what: str) -> str:
    """``readers.plc.hots: unknown key 'hots'; did you mean 'host'? The options of … are: …``"""
    choices = sorted(choices)
    close = did_you_mean(name, choices)
    hint = f"; did you mean '{close}'?" if close else "."
    return f"{where}: unknown key '{name}'{hint} The {what} are: {', '.join(choices) or 'none'}"


def type_message(where: str, o: Option, value: Any) -> str:
    return (f"{where}: expected {describe_type(o.type)}, got {describe_value(value)}; "
            f"for example {o.name} = {toml_value(o.sample_value)}")


# -- types in words --------------------------------------------------------------------------

_WORDS = {str: ("a string", "strings"), int: ("a whole number", "whole numbers"), float: ("a number", "numbers"),
          bool: ("true or false", "true/false values")}


def _origin(tp: Any) -> Any:
    return typing.get_origin(tp) or tp


def _members(tp: Any) -> tuple[Any, ...]:
    return typing.get_args(tp) if _origin(tp) in (Union, types.UnionType) else ()


def _is_path(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, (os.PathLike, PurePath))


def _is_list(tp: Any) -> bool:
    origin = _origin(tp)
    return isinstance(origin, type) and origin is not str and issubclass(origin, (Sequence, list, tuple)) \
        and not issubclass(origin, (str, bytes))


def _is_table(tp: Any) -> bool:
    origin = _origin(tp)
    return isinstance(origin, type) and issubclass(origin, (Mapping, dict))


def _element(tp: Any) -> Any:
    args = [a for a in typing.get_args(tp) if a is not Ellipsis]
    return functools.reduce(operator.or_, args) if args else Any


def describe_type(tp: Any, plural: bool = False) -> str:
    """``tp`` in words a configuration's author knows: "a whole number", "a list of strings"."""
    members = [m for m in _members(tp) if m is not type(None)]
    if members:
        words = []
        for m in members:  # str | PathLike reads "a path", not "a string or a path"
            w = describe_type(m, plural)
            if w not in words and not (m is str and any(_is_path(x) for x in members)):
                words.append(w)
        return " or ".join(words)
    if tp is Any:
        return "values" if plural else "any value"
    if _origin(tp) is Literal:
        return "one of " + ", ".join(toml_value(v) for v in typing.get_args(tp))
    if tp in _WORDS:
        return _WORDS[tp][plural]
    if _is_path(tp):
        return "paths" if plural else "a path (a string)"
    if _is_list(tp):
        inner = describe_type(_element(tp), plural=True)
        return f"lists of {inner}" if plural else f"a list of {inner}"
    if _is_table(tp):
        return "tables" if plural else "a table"
    return "values set from Python" if plural else "a value set from Python (not in a configuration file)"


def describe_value(value: Any) -> str:
    if isinstance(value, bool):
        return toml_value(value)
    if isinstance(value, str):
        return f"the string {toml_value(value)}"
    if isinstance(value, (int, float)):
        return f"the number {toml_value(value)}"
    if isinstance(value, (list, tuple)):
        return f"the list {toml_value(value)}"
    if isinstance(value, Mapping):
        return "a table"
    return "a value of another kind"


def matches(tp: Any, value: Any) -> bool:
    """Whether ``value`` (from TOML, or from Python) fits the declared type ``tp``."""
    if tp is Any or (value is None and (tp is type(None) or type(None) in _members(tp))):
        return True
    members = _members(tp)
    if members:
        return any(matches(m, value) for m in members)
    origin = _origin(tp)
    if origin is Literal:
        return any(value == v and type(value) is type(v) for v in typing.get_args(tp))
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if _is_path(tp):
        return isinstance(value, (str, os.PathLike))
    if _is_list(tp):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            return False
        args = typing.get_args(tp)
        if origin is tuple and args and Ellipsis not in args:
            return len(value) == len(args) and all(matches(a, v) for a, v in zip(args, value))
        return all(matches(_element(tp), v) for v in value)
    if _is_table(tp):
        args = typing.get_args(tp)
        return isinstance(value, Mapping) and all(matches(args[1], v) for v in value.values()) if args \
            else isinstance(value, Mapping)
    return isinstance(value, origin) if isinstance(origin, type) else True


def placeholder(tp: Any) -> Any:
    """A value of type ``tp`` for a sample or a fix when there is no default or example."""
    members = [m for m in _members(tp) if m is not type(None)]
    if members:
        return placeholder(members[0])
    if _origin(tp) is Literal:
        return typing.get_args(tp)[0]
    if tp is bool:
        return False
    if tp in (int, float):
        return tp(1)
    if _is_list(tp):
        return []
    if _is_table(tp):
        return {}
    if _is_path(tp):
        return "path/to/file"
    return "..."


# -- TOML and Markdown ----------------------------------------------------------------------


def toml_value(value: Any) -> str:
    """``value`` as TOML writes it: ``"text"``, ``true``, ``[1, 2]``, ``{ kind = "disk" }``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return repr(value)
    if isinstance(value, (str, PurePath)):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }" if value else "{}"
    return json.dumps(str(value))


def default_text(o: Option) -> str:
    if o.required:
        return "(required)"
    if o.default is None:
        return "(not set)"
    return toml_value(o.default)


def markdown_table(options: Sequence[Option]) -> str:
    """The README options table: option, type, default, description."""
    rows = ["| option | type | default | description |", "|---|---|---|---|"]
    for o in options:
        default = default_text(o) if o.required or o.default is None else f"`{default_text(o)}`"
        rows.append(markdown_row((f"`{o.name}`", describe_type(o.type), default, o.description)))
    return "\n".join(rows) + "\n"


def markdown_row(cells: Sequence[str]) -> str:
    """One table row; ``|`` escaped, ``<`` too in the last (prose) cell, so ``dateplots_<setup>`` shows."""
    *first, prose = cells
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in (*first, prose.replace("<", "&lt;"))) + " |"


def in_toml(tp: Any) -> bool:
    """Whether a configuration file can give a value of type ``tp`` (not e.g. a file object)."""
    members = [m for m in _members(tp) if m is not type(None)]
    if members:
        return any(in_toml(m) for m in members)
    return "set from Python" not in describe_type(tp)

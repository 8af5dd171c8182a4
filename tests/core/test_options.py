"""Plugin options declared once in ``__init__``: read back, and configuration tables checked against them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Annotated, Literal

import pytest

from lab_core import ConfigError, Registry
from lab_core.options import Example, check_options, declared_options, describe_type, markdown_table, undeclared


class Probe:
    def __init__(self, host: Annotated[str, "PLC host name or address", Example("10.0.0.5")],
                 port: Annotated[int, "TCP port"] = 502, *,
                 timeout_s: Annotated[float, "seconds per request"] = 3.0,
                 channels: Annotated[Sequence[str], "channels to read"] = (),
                 mode: Annotated[Literal["fast", "safe"], "how to read"] = "safe",
                 path: Annotated[str | os.PathLike | None, "log file"] = None):
        self.host = host


class Undescribed:
    def __init__(self, gain: float = 1.0, **options):
        pass


def check(**options):
    check_options(Probe, options, "readers.plc", "the probe reader")


def test_declared_options_read_the_signature():
    options = {o.name: o for o in declared_options(Probe)}
    assert list(options) == ["host", "port", "timeout_s", "channels", "mode", "path"]
    host, port = options["host"], options["port"]
    assert (host.type, host.required, host.description, host.example) == (str, True, "PLC host name or address",
                                                                          "10.0.0.5")
    assert (port.type, port.default, port.required, port.description) == (int, 502, False, "TCP port")
    assert [describe_type(o.type) for o in options.values()] == [
        "a string", "a whole number", "a number", "a list of strings", 'one of "fast", "safe"', "a path (a string)"]


def test_valid_tables_pass():
    check(host="plc1")
    check(host="plc1", port=5020, timeout_s=2, channels=["a", "b"], mode="fast", path="x.log")


@pytest.mark.parametrize("options, message", [
    ({"hots": "plc1"}, "readers.plc.hots: unknown key 'hots'; did you mean 'host'? The options of the probe reader "
                       "are: channels, host, mode, path, port, timeout_s"),
    ({"host": "a", "colour": "red"}, "readers.plc.colour: unknown key 'colour'. The options of the probe reader "
                                     "are: channels, host, mode, path, port, timeout_s"),
    ({"host": "a", "timeout_s": "ten"}, 'readers.plc.timeout_s: expected a number, got the string "ten"; '
                                        "for example timeout_s = 3.0"),
    ({"host": "a", "port": "502"}, 'readers.plc.port: expected a whole number, got the string "502"; '
                                   "for example port = 502"),
    ({"host": "a", "port": True}, "readers.plc.port: expected a whole number, got true; for example port = 502"),
    ({"host": "a", "channels": "a"}, 'readers.plc.channels: expected a list of strings, got the string "a"; '
                                     "for example channels = []"),
    ({"host": "a", "channels": ["a", 2]}, 'readers.plc.channels: expected a list of strings, got the list '
                                          '["a", 2]; for example channels = []'),
    ({"host": "a", "mode": "maybe"}, 'readers.plc.mode: expected one of "fast", "safe", got the string "maybe"; '
                                     'for example mode = "safe"'),
    ({"port": 1}, 'readers.plc: host is missing (PLC host name or address); add host = "10.0.0.5"'),
])
def test_bad_tables_name_the_key_and_the_fix(options, message):
    with pytest.raises(ConfigError) as caught:
        check(**options)
    assert str(caught.value) == message


def test_a_typo_never_flags_the_valid_options():
    with pytest.raises(ConfigError) as caught:
        check(hots="plc1", port=502, timeout_s=1.0)
    assert "port" not in str(caught.value).split(" The options")[0]


def test_undeclared_options_are_reported():
    assert undeclared(Probe) == []
    assert undeclared(Undescribed) == [
        'option gain has no description (write gain: Annotated[type, "what it is"])',
        "__init__ takes **options that no class declares (declare each option as a keyword)"]
    check_options(Undescribed, {"anything": 1}, "writers.x")  # open: unknown keys cannot be told


def test_markdown_table():
    assert markdown_table(declared_options(Probe)[:2]) == (
        "| option | type | default | description |\n|---|---|---|---|\n"
        "| `host` | a string | (required) | PLC host name or address |\n"
        "| `port` | a whole number | `502` | TCP port |\n")


def test_every_installed_plugin_declares_its_options():
    registry = Registry()
    problems = {}
    for kind in ("reader", "writer", "transport"):
        for name in registry.components(kind):
            found = undeclared(registry.get_class(kind, name))
            if found:
                problems[f"{kind} {name}"] = found
    assert problems == {}


def test_registry_make_checks_options_first():
    with pytest.raises(ConfigError, match=r"^writers\.csv\.pth: unknown key 'pth'; did you mean 'path'\?"):
        Registry().writer("csv", pth="x.csv")

"""Helpers shared by the lab-modbus tests (a uniquely named module, importable from test files)."""

from __future__ import annotations

from lab_core import Variable


def variables(*addresses: str, value_type: str = "float") -> list[Variable]:
    """Variables v0, v1, … for ``addresses`` (a "TYPE|address" entry sets the value type)."""
    result = []
    for i, address in enumerate(addresses):
        kind, _, text = address.rpartition("|")
        result.append(Variable(i + 1, f"v{i}", text, reader="plc", value_type=kind or value_type))
    return result

"""Helpers for tests that run a README's examples as written."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def blocks(readme: str, section: str) -> list[tuple[str, str]]:
    """``(language, code)`` of each fenced block in the ``## section`` of ``packages/…/README.md``."""
    text = (ROOT / readme).read_text().split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(\w+)\n(.*?)```", text, re.S)


def run_pandas_line(code: str, names: dict) -> list[tuple]:
    """Run a README's pandas example; without pandas installed (it is no dependency), through a
    stand-in whose ``read_sql`` runs the query on the connection given, as pandas does. Returns
    the rows of the frame it makes (``points``)."""
    try:
        import pandas  # noqa: F401
    except ImportError:
        stand_in = types.ModuleType("pandas")

        def read_sql(sql, con, parse_dates=None):
            cursor = con.cursor()
            cursor.execute(sql)
            return list(cursor.fetchall())

        stand_in.read_sql = read_sql
        sys.modules["pandas"] = stand_in
        try:
            exec(compile(code, "README.md", "exec"), names)
        finally:
            del sys.modules["pandas"]
        return names["points"]
    exec(compile(code, "README.md", "exec"), names)
    return [tuple(row) for row in names["points"].itertuples(index=False)]

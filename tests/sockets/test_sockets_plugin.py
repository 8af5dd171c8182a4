"""The plugin module stays light: names only, nothing heavy imported until an instance is made."""

from __future__ import annotations

import json
import subprocess
import sys

from lab_core import Registry

CHECK = """
import argparse, json, sys
import lab_sockets.plugin as plugin
provided = {**plugin.lab_transports(), **plugin.lab_readers(), **plugin.lab_writers()}
parser = argparse.ArgumentParser()
plugin.lab_subcommands(subparsers=parser.add_subparsers())
heavy = sorted(m for m in sys.modules if m.startswith(("lab_sockets.", "psutil", "concurrent.futures"))
               and m not in ("lab_sockets.plugin", "lab_sockets.cli"))
print(json.dumps({"provided": provided, "heavy": heavy}))
"""


def test_plugin_module_imports_nothing_heavy():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True, timeout=60)
    result = json.loads(out.stdout)
    assert result["heavy"] == []
    assert all(isinstance(target, str) and ":" in target for target in result["provided"].values())


def test_registry_lists_what_the_plugin_provides():
    registry = Registry()
    assert registry.component("transport", "udp").plugin.distribution == "lab-sockets"
    assert registry.component("reader", "socket").plugin.distribution == "lab-sockets"
    assert registry.component("writer", "socket").plugin.distribution == "lab-sockets"


def test_importing_the_package_is_lazy():
    code = "import sys, lab_sockets; print(sorted(m for m in sys.modules if m.startswith(('lab_sockets.', 'psutil'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_readme_example_runs(capsys):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "packages" / "sockets" / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "README.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("{'moon_laser_power': (") and lines[1] == "fired at 300"

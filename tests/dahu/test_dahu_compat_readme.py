"""lab-dahu-compat's README example runs exactly as written (in a fresh interpreter)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parents[2] / "packages" / "dahu-compat" / "README.md"


def test_readme_example_runs_as_written(tmp_path):
    plugin, script = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)[:2]
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "mymod.py").write_text(plugin)
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "LAB_DAHU_WORKDIR": str(tmp_path / "w")})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "hello world (1)"

"""`lab plugins` wall time with 50 throwaway plugin distributions installed.

Baseline in the same run: `python -c "import lab_core"` (the interpreter and
core start-up that any `lab` command pays). Run:
    .venv/bin/python bench/core_plugins.py --plugins 50 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from lab_core.testing import make_distribution

SOURCE = """
import lab_core

@lab_core.hookimpl
def lab_readers():
    return {{"bench{i}": "bench_impl_{i}:Reader"}}
"""


def timed(cmd, env, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--plugins", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as site:
        for i in range(args.plugins):
            make_distribution(site, f"lab-bench-{i}", module=f"bench_plugin_{i}", source=SOURCE.format(i=i))
        env = {**os.environ, "PYTHONPATH": site}
        listing = subprocess.run([sys.executable, "-m", "lab_core.cli", "plugins", "--json"], env=env,
                                 capture_output=True, text=True, check=True).stdout
        listed = [p for p in json.loads(listing) if p["name"].startswith("lab-bench-") and p["status"] == "loaded"]
        assert len(listed) == args.plugins, "not every throwaway plugin was listed and loaded"
        base = timed([sys.executable, "-c", "import lab_core"], env, args.repeat)
        plugins = timed([sys.executable, "-m", "lab_core.cli", "plugins"], env, args.repeat)
        metadata = timed([sys.executable, "-c", "import lab_core; lab_core.Registry().plugins()"], env, args.repeat)
    print(f"{args.plugins} throwaway plugin distributions, median of {args.repeat} runs")
    print(f"  python -c 'import lab_core' (baseline)  {base * 1000:7.1f} ms")
    print(f"  discovery from metadata only            {metadata * 1000:7.1f} ms  ({metadata / base:.2f}x baseline)")
    print(f"  lab plugins (loads every plugin module) {plugins * 1000:7.1f} ms  ({plugins / base:.2f}x baseline)")
    print(f"goal lab plugins < 500 ms: {'met' if plugins < 0.5 else 'NOT met'}")


if __name__ == "__main__":
    main()

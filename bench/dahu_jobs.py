"""lab-dahu benchmarks, each against a baseline in the same run; the ratios are the result.

1. Overhead of a job: 10,000 trivial jobs (``example.square``) through ``Job`` and the
   default executor (a bounded thread pool) vs a bare ``ThreadPoolExecutor`` with the
   same number of threads running the same function. Ratio = bare time / Job time
   (1.0: no overhead; the goal is >= 0.5).
2. The custom pool: the same 10,000 jobs on lab-dahu's ``ThreadExecutor`` vs on an executor
   that is a bare ``concurrent.futures.ThreadPoolExecutor`` (same threads). Ratio =
   ThreadPoolExecutor time / ThreadExecutor time; the custom pool stays only while it is >= 1.3.
3. Scaling on Dask: a CPU-bound plugin, the same batch of jobs on a LocalCluster with
   1 worker vs 2 workers (processes, one thread each). Ratio = time(1) / time(2)
   (2.0 is perfect on a machine with 2 free cores).

    .venv/bin/python bench/dahu_jobs.py [--jobs 10000] [--repeat 9] [--cpu-jobs 8] [--cpu-n 6000000] [--no-dask]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gc
import logging
import os
import statistics
import sys
import time


def cpu_work(n: int = 6_000_000) -> int:
    """CPU-bound: sum of i*i for i < n (pure Python, holds the GIL)."""
    total = 0
    for i in range(n):
        total += i * i
    return total


def bench_overhead(n_jobs: int, repeat: int) -> dict:
    from lab_dahu import Job, get_default_executor
    from lab_dahu.examples import square

    executor = get_default_executor()
    workers = executor.workers

    def with_jobs() -> float:
        gc.collect()  # each side starts with a clean heap (the other side's garbage is not billed here)
        started = time.perf_counter()
        jobs = [Job("example.square", {"x": i}).start() for i in range(n_jobs)]
        for job in jobs:
            job.join()
        elapsed = time.perf_counter() - started
        assert all(job.status == "success" for job in jobs)
        assert jobs[-1].output_data["result"] == (n_jobs - 1) ** 2
        return elapsed

    def bare(pool) -> float:
        gc.collect()
        started = time.perf_counter()
        futures = [pool.submit(square, i) for i in range(n_jobs)]
        results = [f.result() for f in futures]
        elapsed = time.perf_counter() - started
        assert results[-1] == (n_jobs - 1) ** 2
        return elapsed

    job_times, bare_times, ratios = [], [], []
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        with_jobs(), bare(pool)  # warm up both (imports, threads)
        for round_ in range(repeat):  # paired rounds, order alternated, so that machine noise hits both
            if round_ % 2:
                b_t, j_t = bare(pool), with_jobs()
            else:
                j_t, b_t = with_jobs(), bare(pool)
            job_times.append(j_t)
            bare_times.append(b_t)
            ratios.append(b_t / j_t)
    return {"jobs": n_jobs, "workers": workers, "job_s": statistics.median(job_times),
            "bare_s": statistics.median(bare_times), "ratio": statistics.median(ratios),
            "ratio_min": min(ratios), "ratio_max": max(ratios), "rounds": repeat}


def bench_pool(n_jobs: int, repeat: int) -> dict:
    from lab_dahu import Job, ThreadExecutor
    from lab_dahu.executors import Executor, default_workers

    class StandardPool(Executor):
        """Jobs on a bare concurrent.futures.ThreadPoolExecutor (what the custom pool must beat)."""

        kind = "thread"

        def __init__(self, workers: int):
            self._pool = concurrent.futures.ThreadPoolExecutor(workers)

        def submit(self, fn, *args):
            return self._pool.submit(fn, *args)

        def shutdown(self, wait: bool = True) -> None:
            self._pool.shutdown(wait=wait)

    workers = default_workers()
    custom, standard = ThreadExecutor(workers), StandardPool(workers)

    def run(executor) -> float:
        gc.collect()
        started = time.perf_counter()
        jobs = [Job("example.square", {"x": i}, executor=executor).start() for i in range(n_jobs)]
        for job in jobs:
            job.join()
        elapsed = time.perf_counter() - started
        assert all(job.status == "success" for job in jobs)
        return elapsed

    run(custom), run(standard)  # warm up
    ratios, custom_times, standard_times = [], [], []
    for round_ in range(repeat):
        if round_ % 2:
            s_t, c_t = run(standard), run(custom)
        else:
            c_t, s_t = run(custom), run(standard)
        custom_times.append(c_t)
        standard_times.append(s_t)
        ratios.append(s_t / c_t)
    custom.shutdown(), standard.shutdown()
    return {"jobs": n_jobs, "workers": workers, "custom_s": statistics.median(custom_times),
            "standard_s": statistics.median(standard_times), "ratio": statistics.median(ratios),
            "ratio_min": min(ratios), "ratio_max": max(ratios), "rounds": repeat}


def bench_dask(n_jobs: int, n: int) -> dict | None:
    try:
        import distributed
    except ImportError:
        print("dask: distributed is not installed (pip install 'lab-dahu[dask]'); skipped", file=sys.stderr)
        return None
    from lab_dahu import DaskExecutor, Job
    from lab_dahu.base import function_plugin_class
    from lab_dahu.factory import Factory

    def quiet() -> None:  # dask sets its own loggers' levels; the figures are what this prints
        for name in list(logging.root.manager.loggerDict):
            if name.startswith(("distributed", "dask")):
                logging.getLogger(name).setLevel(logging.ERROR)

    quiet()
    Factory.register(function_plugin_class(cpu_work, "bench.cpu_work"), "bench.cpu_work")
    times = {}
    for workers in (1, 2):
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                           dashboard_address=":0", silence_logs=logging.ERROR)
        quiet()
        try:
            with DaskExecutor(address=cluster.scheduler_address) as executor:
                warm = Job("bench.cpu_work", {"n": 1000}, executor=executor).start()  # ship code, warm workers
                warm.join()
                started = time.perf_counter()
                jobs = [Job("bench.cpu_work", {"n": n}, executor=executor).start() for _ in range(n_jobs)]
                for job in jobs:
                    job.join()
                times[workers] = time.perf_counter() - started
                assert all(job.status == "success" for job in jobs), [j.error for j in jobs if j.error][:1]
        finally:
            cluster.close()
    return {"jobs": n_jobs, "n": n, "one_s": times[1], "two_s": times[2], "ratio": times[1] / times[2]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=9, help="paired rounds (the median ratio is reported)")
    parser.add_argument("--cpu-jobs", type=int, default=8)
    parser.add_argument("--cpu-n", type=int, default=6_000_000)
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load:.1f}")
    o = bench_overhead(args.jobs, args.repeat)
    print(f"overhead: {o['jobs']} trivial jobs on {o['workers']} threads, median of {o['rounds']} paired rounds: "
          f"Job + default executor {o['job_s']:.3f} s, bare ThreadPoolExecutor {o['bare_s']:.3f} s "
          f"-> ratio {o['ratio']:.2f} (min {o['ratio_min']:.2f}, max {o['ratio_max']:.2f}; goal >= 0.5); "
          f"{o['job_s'] / o['jobs'] * 1e6:.0f} us/job vs {o['bare_s'] / o['jobs'] * 1e6:.0f} us/call")
    p = bench_pool(args.jobs, args.repeat)
    print(f"pool: {p['jobs']} jobs on {p['workers']} threads, median of {p['rounds']} paired rounds: "
          f"ThreadExecutor {p['custom_s']:.3f} s, bare ThreadPoolExecutor {p['standard_s']:.3f} s "
          f"-> ratio {p['ratio']:.2f} (min {p['ratio_min']:.2f}, max {p['ratio_max']:.2f}; "
          f"the custom pool stays while >= 1.3)")
    if not args.no_dask:
        d = bench_dask(args.cpu_jobs, args.cpu_n)
        if d:
            print(f"dask scaling: {d['jobs']} CPU-bound jobs (n={d['n']}): 1 worker {d['one_s']:.2f} s, "
                  f"2 workers {d['two_s']:.2f} s -> ratio {d['ratio']:.2f} (2.0 is perfect)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

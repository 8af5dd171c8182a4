"""Statistics over the jobs a :class:`~lab_dahu.table.JobTable` remembers (dahu's ``Job.stats``)."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from .table import JobTable

log = logging.getLogger(__name__)


def statistics(table: JobTable) -> dict[str, Any]:
    """Figures over the jobs remembered now, plus state counts since the process started."""
    jobs = table.jobs()
    rows = [{"id": j.id, "name": j.name, "status": j.status, "runtime": j.runtime} for j in jobs]
    done = [j for j in jobs if j.finished_at is not None]
    busy = sum(j.runtime or 0.0 for j in done)
    starts = [j.started_at for j in done if j.started_at is not None]
    wall = (max(j.finished_at for j in done) - min(starts)) if starts else 0.0
    return {
        "jobs": rows,
        "remembered": len(jobs),
        "finished": len(done),
        "total_run_time": busy,
        "wall_time": wall,
        "speedup": busy / wall if wall > 0 else 0.0,
        "throughput": len(done) / wall if wall > 0 else 0.0,
        "counts_since_start": dict(table.counts),
        "last_id": table.last_id,
        "uptime": time.time() - table.started_at,
    }


def stats_text(table: JobTable) -> str:
    """A table (id, name, status, run time) with total times, speed-up and throughput; also logged."""
    s = statistics(table)
    lines = ["_" * 80, f"{'Id':>7} | {'Name':<34} | {'Status':<13} | Run-time (s)", "_" * 80]
    for row in s["jobs"]:
        runtime = "-" if row["runtime"] is None else f"{row['runtime']:.3f}"
        lines.append(f"{row['id']:>7} | {row['name'][:34]:<34} | {row['status']:<13} | {runtime}")
    lines.append("_" * 80)
    lines.append(f"Jobs remembered: {s['remembered']}, finished: {s['finished']}; "
                 f"since start: {s['counts_since_start'] or {}}")
    lines.append(f"Total execution time: {s['total_run_time']:.3f} s, wall time: {s['wall_time']:.3f} s, "
                 f"speed-up: {s['speedup']:.3f}, throughput: {s['throughput']:.3f} jobs/s")
    text = os.linesep.join(lines)
    log.info("job statistics:%s%s", os.linesep, text)
    return text

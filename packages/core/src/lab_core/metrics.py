"""Prometheus metrics of a running collector, read from its counters at scrape time.

A custom prometheus_client collector: nothing on the data path touches a
Prometheus object; each scrape turns ``Collector.stats()`` into metric families.
Imported only when a status endpoint is configured (``lab plugins`` stays fast).

The metric families, their labels and meaning are listed in ``docs/lab-admins.md``
("Metrics"; ``tests/core/test_watch_docs.py`` checks that table against a real scrape).

Counters of a reader or writer restarted by a reload start again from 0 (Prometheus
takes that as a counter reset). The ``process_*`` metrics of the process come too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

READER_COUNTERS = (("reads", "reads", "Reads done (one read covers every variable due at that instant)"),
                   ("samples", "samples", "Samples produced, values and error samples"),
                   ("errors", "errors", "Error samples produced: a variable that could not be read"),
                   ("failures", "failures",
                    "Reads that raised: every variable of that read failed, the reader is reopened"),
                   ("skipped_instants", "skipped", "Due instants missed because a read ran longer than the interval"))
WRITER_COUNTERS = (("accepted", "accepted", "Samples put into the writer's spool (safe from then on)"),
                   ("delivered", "delivered", "Samples the writer took (out of its spool)"),
                   ("set_aside", "set_aside",
                    "Samples the writer refused for good (kept with the reason in its spool)"),
                   ("dropped", "dropped", "Samples lost to a full spool"),
                   ("failures", "failures", "Failed opens and writes (each retried, with backoff)"))
HEALTH_LEVELS = {"ok": 0, "degraded": 1, "failing": 2}


class LabCollector:
    """prometheus_client's collector protocol (``collect``) over a ``status.Status``."""

    def __init__(self, status):
        self.status = status

    def collect(self) -> Iterator[Metric]:
        stats, now = self.status.collector.stats(), time.time()
        yield from self._readers(stats["readers"])
        yield from self._writers(stats["writers"], now)
        health = GaugeMetricFamily("lab_health", "The collector's health: 0 ok, 1 degraded, 2 failing")
        health.add_metric([], HEALTH_LEVELS[self.status.health(stats, now).status])
        yield health
        reloads = CounterMetricFamily("lab_reloads", "Configuration reloads (SIGHUP)", labels=["result"])
        reloads.add_metric(["done"], self.status.reloads["done"])
        reloads.add_metric(["refused"], self.status.reloads["refused"])
        yield reloads

    @staticmethod
    def _readers(readers: dict) -> Iterator[Metric]:
        for metric, key, doc in READER_COUNTERS:
            family = CounterMetricFamily(f"lab_reader_{metric}", doc, labels=["reader"])
            for name, r in readers.items():
                family.add_metric([name], r[key])
            yield family
        lateness = HistogramMetricFamily("lab_reader_lateness_seconds",
                                         "How long after its due instant each read started", labels=["reader"])
        for name, r in readers.items():
            histogram, total = r["lateness_histogram"], 0
            buckets = []
            for bound, count in zip([*histogram["bounds"], float("inf")], histogram["counts"]):
                total += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), total))
            lateness.add_metric([name], buckets, histogram["sum"])
        yield lateness
        yield _gauge("lab_reader_up", "1 while the reader's worker thread runs", "reader",
                     {n: int(r["alive"]) for n, r in readers.items()})
        yield _gauge("lab_reader_last_success_timestamp_seconds",
                     "Unix time of the last read that did not raise (0: none yet)", "reader",
                     {n: r["last_ok_time"] for n, r in readers.items()})

    @staticmethod
    def _writers(writers: dict, now: float) -> Iterator[Metric]:
        for metric, key, doc in WRITER_COUNTERS:
            family = CounterMetricFamily(f"lab_writer_{metric}", doc, labels=["writer"])
            for name, w in writers.items():
                family.add_metric([name], w[key])
            yield family
        yield _gauge("lab_writer_spool_depth", "Samples waiting in the writer's spool", "writer",
                     {n: w["pending"] for n, w in writers.items()})
        yield _gauge("lab_writer_oldest_pending_age_seconds", "Age of the oldest pending sample (0: none pending)",
                     "writer", {n: max(0.0, now - w["oldest_time"]) if w["oldest_time"] is not None else 0.0
                                for n, w in writers.items()})
        yield _gauge("lab_writer_last_success_timestamp_seconds",
                     "Unix time of the last batch the writer took (0: none yet)", "writer",
                     {n: w["last_success_time"] for n, w in writers.items()})
        yield _gauge("lab_writer_up", "1 while the writer's delivery thread runs", "writer",
                     {n: int(w["alive"]) for n, w in writers.items()})


def _gauge(name: str, doc: str, label: str, values: dict) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=[label])
    for key, value in values.items():
        family.add_metric([key], value)
    return family


class Metrics:
    """The registry one status endpoint serves: the collector's metrics and the process's."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, status):
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(LabCollector(status))
        ProcessCollector(registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)

"""The worker's Prometheus families. Names are an interface: alerts are written against them."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)


class JobMetrics:
    """One registry per worker (tests run several in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ("task",)
        self.enqueued = Counter(
            "jobs_enqueued", "Committed jobs handed to the queue (first attempt).", labels,
            registry=self.registry,
        )  # fmt: skip
        self.started = Counter(
            "jobs_started", "Job attempts started.", labels, registry=self.registry
        )
        self.succeeded = Counter(
            "jobs_succeeded", "Jobs that ended done.", labels, registry=self.registry
        )
        self.failed = Counter(
            "jobs_failed", "Jobs that ended dead (every attempt failed).", labels,
            registry=self.registry,
        )  # fmt: skip
        self.retried = Counter(
            "jobs_retried", "Failed attempts scheduled to run again.", labels,
            registry=self.registry,
        )  # fmt: skip
        self.duration = Histogram(
            "job_duration_seconds", "Run time of one attempt, failed ones included.", labels,
            buckets=DURATION_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "jobs_queue_depth", "Jobs queued and due now.", registry=self.registry
        )
        self.oldest_age = Gauge(
            "jobs_oldest_queued_age_seconds",
            "How long the oldest due job has waited (0: none waits).",
            registry=self.registry,
        )

    def start_at_zero(self, tasks: Iterable[str]) -> None:
        """Export every task's series from the start, at zero: a rate, an alert or a
        dashboard panel over them then reads 0, not "no data", before the first failure."""
        families = (self.enqueued, self.started, self.succeeded, self.failed, self.retried)
        for task in tasks:
            for family in (*families, self.duration):
                family.labels(task)

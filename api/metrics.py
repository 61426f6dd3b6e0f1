"""Prometheus metrics, one registry per application so several apps can live in one process.

Besides the requests this process answered, ``/metrics`` reports the worker's backlog as the
database holds it (``api.services.operations``), read at each scrape: the same numbers from every
API process, so alert on their maximum.
"""

from datetime import datetime
from functools import partial

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from api.services.operations import Snapshot, age

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "relay_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "relay_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status.",
            ("method", "route", "status"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

        # The worker's backlog and jobs, as the database holds them at each scrape.
        gauge = partial(Gauge, registry=self.registry)
        self.backlog_up = gauge(
            "relay_backlog_up",
            "1 when the last scrape could read the worker's backlog from the database.",
        )
        self.oldest_undelivered = gauge(
            "relay_outbox_oldest_undelivered_event_age_seconds",
            "Age of the oldest event an enabled webhook has not received yet (0: none).",
        )
        self.unsequenced = gauge(
            "relay_outbox_unsequenced_events",
            "Committed events the worker has not numbered yet (invisible to the feed).",
        )
        self.unsequenced_age = gauge(
            "relay_outbox_unsequenced_oldest_age_seconds",
            "Age of the oldest committed event not numbered yet (0: none).",
        )
        self.deliveries = gauge(
            "relay_webhook_deliveries",
            "Webhook deliveries by status: pending (to send or retry) and dead (gave up).",
            ("status",),
        )
        self.due_delivery_age = gauge(
            "relay_webhook_oldest_due_delivery_age_seconds",
            "How long the longest-waiting due delivery has waited to be sent (0: none).",
        )
        self.unsealed = gauge(
            "relay_audit_unsealed_events",
            "Audit events committed but not chained yet.",
        )
        self.unsealed_age = gauge(
            "relay_audit_unsealed_oldest_age_seconds",
            "Age of the oldest audit event not chained yet (0: none).",
        )
        self.overdue = gauge(
            "relay_referrals_overdue",
            "Referrals past their due time and still not received.",
        )
        self.job_success = gauge(
            "relay_worker_job_last_success_timestamp_seconds",
            "When each worker job last succeeded (Unix time), in any worker process.",
            ("job",),
        )
        self.job_failure = gauge(
            "relay_worker_job_last_failure_timestamp_seconds",
            "When each worker job last failed (Unix time; absent: never).",
            ("job",),
        )

        # The children per label set, found once: ``labels()`` takes a lock and builds its key
        # on every call. Bounded: methods, route templates and statuses are few.
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            labels = (method, route, str(status))
            children = self._children[key] = (
                self.requests.labels(*labels),
                self.latency.labels(*labels),
            )
        children[0].inc()
        children[1].observe(seconds)

    def show(self, snapshot: Snapshot | None) -> None:
        """Set the backlog gauges from a snapshot (None: the database did not answer)."""
        self.backlog_up.set(0 if snapshot is None else 1)
        if snapshot is None:
            return
        found, now = snapshot.backlog, snapshot.at
        self.oldest_undelivered.set(age(found.oldest_undelivered_event, now))
        self.unsequenced.set(found.unsequenced_events)
        self.unsequenced_age.set(age(found.oldest_unsequenced_event, now))
        self.deliveries.labels("pending").set(found.deliveries_pending)
        self.deliveries.labels("dead").set(found.deliveries_dead)
        self.due_delivery_age.set(age(found.oldest_due_delivery, now))
        self.unsealed.set(found.audit_unsealed)
        self.unsealed_age.set(age(found.oldest_audit_unsealed, now))
        self.overdue.set(found.referrals_overdue)
        for job in snapshot.jobs:
            if job.last_success_at is not None:
                self.job_success.labels(job.name).set(_unix(job.last_success_at))
            if job.last_failure_at is not None:
                self.job_failure.labels(job.name).set(_unix(job.last_failure_at))

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _unix(moment: datetime) -> float:
    return moment.timestamp()

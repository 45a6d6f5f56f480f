"""`GET /metrics` in Prometheus' text format.

Two kinds of figure. What a process does (request latency by route, completions and step
conflicts it served) is counted in that process, as Prometheus expects of a scrape target;
under a pre-fork server set `PROMETHEUS_MULTIPROC_DIR` and prometheus_client sums the
processes. What the deployment holds (open incidents, outbox backlog, failed deliveries,
timer lag, instances by status, background jobs that failed on any worker) is read from
the database at scrape time (services.reporting.vitals), so every process and node answers
the same.

Who is asking is checked like everywhere else: the bearer token in
`DUTYFLOW_METRICS_TOKEN` (what a Prometheus scrape config sends), or an admin's API token.
"""
from __future__ import annotations

import hmac
import os
import time

from flask import Flask, Response, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

from services.errors import NotAuthenticated, PermissionDenied
from services.identity.auth import authenticate
from services.reporting.vitals import vitals

# Where a task is completed: a step the engine runs, which can lose a race (409).
STEP_ENDPOINTS = frozenset({"api.complete_task", "pages.task_page",
                            "api.complete_external_task"})
UNMATCHED = "<unmatched>"  # 404s are not labelled by path: that would be unbounded


class _DatabaseVitals:
    """A collector that asks the database at each scrape."""

    def __init__(self, store):
        self.store = store

    def collect(self):
        with self.store.reading() as uow:
            now = vitals(uow)
        instances = GaugeMetricFamily("dutyflow_instances", "Process instances by status.",
                                      labels=["status"])
        for status, count in sorted(now.instances.items()):
            instances.add_metric([status], count)
        yield instances
        for name, text, value in (
                ("dutyflow_open_tasks", "Tasks ready to be done.", now.open_tasks),
                ("dutyflow_overdue_tasks", "Open tasks past their due time.", now.overdue_tasks),
                ("dutyflow_open_incidents", "Incidents not yet resolved.", now.open_incidents),
                ("dutyflow_open_external_tasks", "External tasks waiting for a worker.",
                 now.open_external_tasks),
                ("dutyflow_timers_due", "Pending timers whose time has come.", now.due_timers),
                ("dutyflow_timer_lag_seconds", "How long the oldest due timer has waited.",
                 now.timer_lag_seconds),
                ("dutyflow_outbox_pending", "Notification deliveries not yet sent.",
                 now.outbox_pending),
                ("dutyflow_outbox_oldest_seconds", "Age of the oldest unsent delivery.",
                 now.outbox_oldest_seconds),
                ("dutyflow_deliveries_failed", "Deliveries that failed every attempt.",
                 now.failed_deliveries),
                ("dutyflow_payroll_exports_queued", "Payroll exports waiting for a job.",
                 now.exports_queued)):
            yield GaugeMetricFamily(name, text, value=value)
        # Counted by the workers in the database (they serve no HTTP): every job that ever
        # raised, on any worker, so a rate() over it shows failures wherever they happen.
        failures = CounterMetricFamily("dutyflow_job_failures",
                                       "Background jobs that raised, by job.", labels=["job"])
        for job, count in sorted(now.job_failures.items()):
            failures.add_metric([job], count)
        yield failures


class _JobQueue:
    """With a broker: the jobs waiting in the deployment's queue, asked at each scrape."""

    def __init__(self, broker_url: str, queue: str):
        self.broker_url, self.queue = broker_url, queue

    def collect(self):
        from .jobs import queue_depth  # Celery's transport, loaded only where a broker is used
        try:
            depth = queue_depth(self.broker_url, self.queue)
        except Exception:  # kombu raises the transport's own errors; /readyz reports them
            return
        yield GaugeMetricFamily("dutyflow_job_queue_depth",
                                "Background jobs waiting in the broker's queue.", value=depth)


class Metrics:
    """One app's metrics, in a registry of its own (several apps may share a process)."""

    def __init__(self, store, broker_url: str = "", job_queue: str = ""):
        self.registry = CollectorRegistry()
        self.latency = Histogram("dutyflow_http_request_duration_seconds",
                                 "Time to answer a request, by route.",
                                 ["route", "method", "status"], registry=self.registry)
        self.completions = Counter("dutyflow_task_completions",
                                   "Tasks completed through this process.",
                                   registry=self.registry)
        self.conflicts = Counter("dutyflow_step_conflicts",
                                 "Steps refused because the instance changed first (409).",
                                 registry=self.registry)
        self.database = _DatabaseVitals(store)
        self.shared = [self.database] + ([_JobQueue(broker_url, job_queue)] if broker_url else [])
        for collector in self.shared:
            self.registry.register(collector)

    def scrape(self) -> bytes:
        if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        MultiProcessCollector(merged)
        for collector in self.shared:
            merged.register(collector)
        return generate_latest(merged)

    def observe(self, response) -> None:
        started = g.pop("metrics_started", None)
        if started is None:
            return
        route = request.url_rule.rule if request.url_rule else UNMATCHED
        self.latency.labels(route, request.method, str(response.status_code)).observe(
            time.perf_counter() - started)
        if request.endpoint in STEP_ENDPOINTS and request.method == "POST":
            if response.status_code < 400:
                self.completions.inc()
            elif response.status_code == 409:
                self.conflicts.inc()


def _check_scraper(store, token: str) -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, sent = header.partition(" ")
    sent = sent.strip()
    if scheme.lower() != "bearer" or not sent:
        raise NotAuthenticated("send Authorization: Bearer <DUTYFLOW_METRICS_TOKEN>")
    if token and hmac.compare_digest(sent.encode(), token.encode()):
        return
    with store.reading() as uow:
        if not authenticate(uow, sent).is_admin:
            raise PermissionDenied("metrics are for the scraper's token and admins")


def init_metrics(app: Flask, metrics_token: str) -> None:
    store = app.extensions["dutyflow_store"]
    settings = app.config["DUTYFLOW_SETTINGS"]
    metrics = app.extensions["dutyflow_metrics"] = Metrics(store, settings.broker_url,
                                                           settings.job_queue)

    @app.before_request
    def start_clock() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def record(response):
        metrics.observe(response)
        return response

    @app.get("/metrics")
    def prometheus_metrics():
        _check_scraper(store, metrics_token)
        response = Response(current_app.extensions["dutyflow_metrics"].scrape())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

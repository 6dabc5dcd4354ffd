"""The services' Prometheus metrics (all `wbl_*`; docs/operations.md lists each).

Every family is registered on the service's own `CollectorRegistry` when it starts, and
label sets known in advance are created then, so a family is visible at 0 before its
first event. HTTP requests are labelled by route template, never by raw path, so ids in
paths cannot multiply the series.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # the route label of requests no route serves (404s, probes)
SIZE_BUCKETS = (0, 1, 10, 100, 1_000, 10_000, 100_000)
ROUND_SECONDS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["method", "route", "status"]
        self.requests = Counter(
            "wbl_http_requests_total", "HTTP requests answered", labels, registry=registry
        )
        self.duration = Histogram(
            "wbl_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response",
            labels,
            registry=registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "OTHER"
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(method, route, str(status)).observe(seconds)


def route_template(scope: Scope, root_path: str = "") -> str:
    """The path template of the route that served `scope` (`/v1/openings/{opening_id}`),
    read once the app has handled it: the route FastAPI selected, else the prefix of the
    app mounted there (the mount moves it into `root_path`), else UNMATCHED (no route, or
    refused before routing, as a body over the limit is)."""
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    mounted = str(scope.get("root_path", ""))
    return mounted.removeprefix(root_path) if mounted != root_path else UNMATCHED


class HttpMetricsMiddleware:
    """Counts and times every HTTP request into the families `families()` returns (None
    before the service's runtime exists, as in tests that run no lifespan)."""

    def __init__(self, app: ASGIApp, families: Callable[[], HttpMetrics | None]) -> None:
        self.app = app
        self.families = families

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        root_path = str(scope.get("root_path", ""))
        status = 500  # what the server answers when the app fails before responding

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            families = self.families()
            if families is not None:
                route = route_template(scope, root_path)
                families.observe(scope["method"], route, status, time.perf_counter() - started)


def install_http_metrics(app: FastAPI) -> None:
    """Measure `app`'s requests into its runtime's registry, from the lifespan on."""

    def families() -> HttpMetrics | None:
        http = getattr(getattr(app.state, "runtime", None), "http_metrics", None)
        return http if isinstance(http, HttpMetrics) else None

    app.add_middleware(HttpMetricsMiddleware, families=families)


class OutboxMetrics:
    """Set by the outbox relay on each pass, from the pending events it found."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.pending = Gauge(
            "wbl_outbox_pending_events",
            "Events written with their change and not yet published, by the collection of the "
            "entity they are about, as the relay last found them (at most one relay batch)",
            ["collection"],
            registry=registry,
        )
        self.oldest_age = Gauge(
            "wbl_outbox_oldest_pending_age_seconds",
            "Age of the oldest unpublished event the relay last found (0 when none)",
            ["collection"],
            registry=registry,
        )
        self.parked = Gauge(
            "wbl_outbox_parked_events",
            "Changes whose events the broker refused for good (e.g. too large): set aside "
            "so the others go on; listed at /readyz and for the admin",
            registry=registry,
        )
        self._seen: set[str] = set()

    def expect(self, collection: str) -> None:
        self._seen.add(collection)
        self.pending.labels(collection)
        self.oldest_age.labels(collection)

    def found(self, queued_at: dict[str, list[datetime]], now: datetime) -> None:
        """The pending events' queue times, by collection; those not named have none."""
        for collection in self._seen | set(queued_at):
            self._seen.add(collection)
            times = queued_at.get(collection, [])
            self.pending.labels(collection).set(len(times))
            oldest = min(times, default=now)
            if oldest.tzinfo is None:
                oldest = oldest.replace(tzinfo=UTC)
            self.oldest_age.labels(collection).set(max(0.0, (now - oldest).total_seconds()))


class DeadLetterMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.counter = Counter(
            "wbl_dead_letters_total",
            "Messages sent to a dead-letter topic, by original topic and reason: invalid "
            "(failed validation), rejected (the handler refused it), failed (the handler "
            "failed every attempt), undeliverable (a notification whose every delivery "
            "attempt failed)",
            ["topic", "reason"],
            registry=registry,
        )

    def expect(self, topic: str, *reasons: str) -> None:
        for reason in reasons:
            self.counter.labels(topic, reason)

    def count(self, topic: str, reason: str) -> None:
        self.counter.labels(topic, reason).inc()


def consumer_lag_gauge(registry: CollectorRegistry) -> Gauge:
    return Gauge(
        "wbl_kafka_consumer_lag_messages",
        "Messages on a partition not yet committed by the consumer group: end offset minus "
        "committed offset, as last measured",
        ["group", "topic", "partition"],
        registry=registry,
    )


class ServiceMetrics:
    """The families every service exports."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.http = HttpMetrics(registry)
        self.outbox = OutboxMetrics(registry)
        self.dead_letters = DeadLetterMetrics(registry)
        self.consumer_lag = consumer_lag_gauge(registry)


class RoundMetrics:
    """The matcher's rounds."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = Histogram(
            "wbl_matcher_round_duration_seconds",
            "Time one round takes, from reading its inputs to recording its result",
            buckets=ROUND_SECONDS_BUCKETS,
            registry=registry,
        )
        self.students = Histogram(
            "wbl_matcher_round_students",
            "Active, unplaced students in a round's partitions",
            buckets=SIZE_BUCKETS,
            registry=registry,
        )
        self.openings = Histogram(
            "wbl_matcher_round_openings",
            "Open openings in a round's partitions",
            buckets=SIZE_BUCKETS,
            registry=registry,
        )
        self.proposals = Counter(
            "wbl_matcher_proposals_total", "Match proposals published", registry=registry
        )
        self.withdrawals = Counter(
            "wbl_matcher_withdrawals_total",
            "Match proposals withdrawn (the student moved, left the pool or withdrew)",
            registry=registry,
        )

    def observe(
        self, seconds: float, students: int, openings: int, proposed: int, withdrawn: int
    ) -> None:
        self.duration.observe(seconds)
        self.students.observe(students)
        self.openings.observe(openings)
        self.proposals.inc(proposed)
        self.withdrawals.inc(withdrawn)


class DeliveryMetrics:
    """The notifier's deliveries, counted when each is finished (sent, or failed for good)."""

    OUTCOMES = ("sent", "failed")

    def __init__(self, registry: CollectorRegistry, channels: Iterable[str] = ()) -> None:
        self.finished = Counter(
            "wbl_notifier_deliveries_total",
            "Notification deliveries finished, by channel and outcome",
            ["channel", "outcome"],
            registry=registry,
        )
        for channel in channels:
            for outcome in self.OUTCOMES:
                self.finished.labels(channel, outcome)

    def count(self, channel: str, outcome: str) -> None:
        self.finished.labels(channel, outcome).inc()

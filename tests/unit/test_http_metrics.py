"""The HTTP metrics middleware: requests counted and timed by method, route template and
status, so ids in paths never multiply the series."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from prometheus_client import CollectorRegistry

from tests.unit.registry.conftest import BODY_LIMIT, settings
from wbl_common.metrics import UNMATCHED, HttpMetrics, install_http_metrics
from wbl_registry.app import create_app
from wbl_registry.handlers import Registry
from wbl_registry.store import InMemoryRegistryStore
from wbl_schemas.reference import load_reference

pytestmark = pytest.mark.unit


@dataclass
class MeasuredRuntime:
    """What the middleware reads from `app.state.runtime`."""

    http_metrics: HttpMetrics


@dataclass
class Measured:
    http: httpx.AsyncClient
    registry: CollectorRegistry

    def requests(self, method: str, route: str, status: int) -> float | None:
        labels = {"method": method, "route": route, "status": str(status)}
        return self.registry.get_sample_value("wbl_http_requests_total", labels)

    def timed(self, method: str, route: str, status: int) -> float | None:
        labels = {"method": method, "route": route, "status": str(status)}
        return self.registry.get_sample_value("wbl_http_request_duration_seconds_count", labels)

    def routes(self) -> set[str]:
        return {
            sample.labels["route"]
            for family in self.registry.collect()
            if family.name == "wbl_http_requests"
            for sample in family.samples
            if sample.name == "wbl_http_requests_total"
        }


async def measured(app: FastAPI) -> AsyncIterator[Measured]:
    registry = CollectorRegistry()
    app.state.runtime = MeasuredRuntime(HttpMetrics(registry))
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
        yield Measured(http, registry)


@pytest.fixture
async def registry_app() -> AsyncIterator[Measured]:
    """The real registry app (its middleware stack and routers) over the in-memory store."""
    app = create_app(settings())
    app.state.registry = Registry(
        store=InMemoryRegistryStore(), reference=load_reference(), webhook_key="w" * 40
    )
    async for running in measured(app):
        yield running


async def test_requests_are_labelled_by_route_template_not_by_path(
    registry_app: Measured,
) -> None:
    for opening_id in ("opn_1", "opn_2", "opn_3"):
        response = await registry_app.http.get(f"/v1/openings/{opening_id}")
        assert response.status_code == 401
    assert registry_app.requests("GET", "/v1/openings/{opening_id}", 401) == 3
    assert registry_app.timed("GET", "/v1/openings/{opening_id}", 401) == 3
    assert not any("opn_" in route for route in registry_app.routes())


async def test_status_method_and_unrouted_paths_have_bounded_labels(
    registry_app: Measured,
) -> None:
    assert (await registry_app.http.get("/v1/reference/career-fields")).status_code == 200
    assert (await registry_app.http.delete("/v1/reference/career-fields")).status_code == 405
    for probe in ("/wp-admin/1", "/wp-admin/2", "/.env"):
        assert (await registry_app.http.get(probe)).status_code == 404
    assert (await registry_app.http.request("BREW", "/healthz")).status_code == 405

    assert registry_app.requests("GET", "/v1/reference/career-fields", 200) == 1
    assert registry_app.requests("DELETE", "/v1/reference/career-fields", 405) == 1
    assert registry_app.requests("GET", UNMATCHED, 404) == 3
    assert registry_app.requests("OTHER", "/healthz", 405) == 1
    assert registry_app.routes() == {"/v1/reference/career-fields", UNMATCHED, "/healthz"}


async def test_a_body_refused_before_routing_counts_as_unmatched(
    registry_app: Measured,
) -> None:
    response = await registry_app.http.post(
        "/v1/students",
        content=b"x" * (BODY_LIMIT + 1),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert registry_app.requests("POST", UNMATCHED, 413) == 1


async def test_a_failing_route_counts_as_500_and_a_mount_by_its_prefix() -> None:
    app = FastAPI()

    @app.get("/v1/broken/{item_id}")
    async def broken(item_id: str) -> None:
        raise RuntimeError(f"no {item_id}")

    app.mount("/static", PlainTextResponse("body { color: black }"))
    install_http_metrics(app)
    async for running in measured(app):
        assert (await running.http.get("/v1/broken/7")).status_code == 500
        assert (await running.http.get("/static/app.css")).status_code == 200
        assert running.requests("GET", "/v1/broken/{item_id}", 500) == 1
        assert running.requests("GET", "/static", 200) == 1


async def test_without_a_runtime_requests_are_served_and_not_counted() -> None:
    app = create_app(settings())  # no lifespan ran: nothing to record into
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
        assert (await http.get("/healthz")).status_code == 200

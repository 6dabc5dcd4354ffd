"""Registry's entry point: `wbl-registry` runs the HTTP API, the outbox relay and the
wbl.matches consumer."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator

from fastapi import FastAPI

from wbl_common.docs import install_docs
from wbl_common.logs import configure_logging
from wbl_common.metrics import install_http_metrics
from wbl_common.ratelimit import install_rate_limits
from wbl_common.settings import load_settings
from wbl_common.web import install_body_limit, install_problem_handlers, ops_router, serve
from wbl_common.workers import open_workers
from wbl_registry import api, outreach_api, placement_views_api, placements_api, reports_api
from wbl_registry.bootstrap import bootstrap, notifier_token
from wbl_registry.config import RegistrySettings


def create_app(settings: RegistrySettings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with bootstrap(settings) as service, open_workers(settings.class_lists) as workers:
            app.state.registry = service.registry
            app.state.runtime = service.runtime
            app.state.placements = service.placements
            app.state.class_lists = workers
            # What start-up built lives as long as the process: kept out of the garbage
            # collector's full passes, which otherwise walk it all (231 ms of the event loop
            # seen mid-class-list).
            gc.freeze()
            yield

    app = FastAPI(
        title="wbl-placements registry",
        version="0.2.0",
        description="Employers post openings; coordinators register students and confirm "
        "matches. Authenticate with `Authorization: Bearer <secret>`.",
        lifespan=lifespan,
        docs_url=None,  # served by install_docs, without a CDN
        redoc_url=None,
    )
    install_docs(app)
    app.state.admin_token = settings.admin_token.get_secret_value()
    app.state.notifier_token = notifier_token(settings)
    install_problem_handlers(app)
    app.add_exception_handler(api.RequestError, api.invalid_request)
    install_body_limit(app, settings.max_body_bytes)
    install_rate_limits(app, settings.http.rate_limits)
    install_http_metrics(app)
    app.include_router(api.router)
    app.include_router(reports_api.router)
    # Before the placements' routes: `/v1/placements/active` is not a match id.
    app.include_router(outreach_api.router)
    app.include_router(placements_api.router)
    app.include_router(placement_views_api.router)
    app.include_router(
        ops_router(
            lambda: app.state.runtime.ready(),
            lambda: app.state.runtime.metrics,
            lambda: app.state.runtime.detail(),
        )
    )
    return app


def main() -> None:
    settings = load_settings(RegistrySettings)
    configure_logging("registry", settings.log_level)
    serve(create_app(settings), settings.http)

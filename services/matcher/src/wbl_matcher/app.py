"""Matcher's entry point: `wbl-matcher` consumes openings, students and placements, runs
rounds, and serves its admin and ops endpoints."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from wbl_common.docs import install_docs
from wbl_common.logs import configure_logging
from wbl_common.metrics import install_http_metrics
from wbl_common.ratelimit import install_rate_limits
from wbl_common.settings import load_settings
from wbl_common.web import install_body_limit, install_problem_handlers, ops_router, serve
from wbl_matcher import api
from wbl_matcher.bootstrap import bootstrap
from wbl_matcher.config import MatcherSettings


def create_app(settings: MatcherSettings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with bootstrap(settings) as service:
            app.state.matcher = service.matcher
            app.state.runtime = service.runtime
            app.state.directory = service.directory
            app.state.names = service.names
            yield

    app = FastAPI(
        title="wbl-placements matcher",
        version="0.1.0",
        description="Fair, explainable stable matching of students and openings.",
        lifespan=lifespan,
        docs_url=None,  # served by install_docs, without a CDN
        redoc_url=None,
    )
    install_docs(app)
    app.state.admin_token = settings.admin_token.get_secret_value()
    install_problem_handlers(app)
    install_body_limit(app, settings.http.max_body_bytes)
    # The matcher knows one secret, the admin token: any other is a 403 and a wrong guess.
    install_rate_limits(app, settings.http.rate_limits, failures=frozenset({401, 403}))
    install_http_metrics(app)
    app.include_router(api.router)
    app.include_router(
        ops_router(
            lambda: app.state.runtime.ready(),
            lambda: app.state.runtime.metrics,
            lambda: app.state.runtime.detail(),
        )
    )
    return app


def main() -> None:
    settings = load_settings(MatcherSettings)
    configure_logging("matcher", settings.log_level)
    serve(create_app(settings), settings.http)

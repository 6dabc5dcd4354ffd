"""Notifier's entry point: `wbl-notifier` consumes coordinators, matches and placements and
serves the coordinator inbox and the ops endpoints."""

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
from wbl_notifier import (
    api,
    class_list_api,
    desk_api,
    page,
    party_api,
    party_page,
    reports_api,
    roster_api,
    settings_api,
    undo_api,
)
from wbl_notifier.bootstrap import bootstrap
from wbl_notifier.config import NotifierSettings
from wbl_notifier.handlers import Decisions


def create_app(settings: NotifierSettings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with bootstrap(settings) as service:
            app.state.notifier = service.notifier
            app.state.directory = service.directory
            app.state.runtime = service.runtime
            app.state.signer = service.signer
            app.state.account = service.account
            app.state.party = service.party
            app.state.reports = service.reports
            app.state.stream_poll_s = settings.stream_poll_s
            app.state.roster = service.roster
            app.state.desk = service.desk
            app.state.decisions = Decisions(
                store=service.store,
                signer=service.signer,
                placements=service.placements,
                clock=service.notifier.clock,
            )
            yield

    app = FastAPI(
        title="wbl-placements notifier",
        version="0.1.0",
        description="Coordinators hear about every match and act on it from their inbox.",
        lifespan=lifespan,
        docs_url=None,  # served by install_docs, without a CDN
        redoc_url=None,
    )
    install_docs(app)
    install_problem_handlers(app)
    install_body_limit(
        app,
        settings.http.max_body_bytes,
        {
            class_list_api.CLASS_LISTS_PATH: settings.class_list_max_bytes,
            **dict.fromkeys(party_api.PARTY_PATHS, party_api.PARTY_MAX_BYTES),
        },
    )
    install_rate_limits(app, settings.http.rate_limits)
    install_http_metrics(app)
    app.state.class_list_max_bytes = settings.class_list_max_bytes  # the page says it
    # Before api's routes, whose `/inbox/{match_id}/{decision}` would take two-part paths.
    app.include_router(class_list_api.router)
    app.include_router(settings_api.router)
    # Before api.router: its /inbox/{match_id}/{decision} would take "undo" for a decision.
    app.include_router(undo_api.router)
    app.include_router(api.router)
    app.include_router(roster_api.router)
    app.include_router(desk_api.router)
    app.include_router(reports_api.router)
    app.include_router(page.router)
    app.include_router(party_api.router)
    app.include_router(party_page.router)
    app.mount("/inbox/static", page.static, name="inbox-static")
    app.include_router(
        ops_router(
            lambda: app.state.runtime.ready(),
            lambda: app.state.runtime.metrics,
            lambda: app.state.runtime.detail(),
        )
    )
    return app


def main() -> None:
    settings = load_settings(NotifierSettings)
    configure_logging("notifier", settings.log_level)
    serve(create_app(settings), settings.http)

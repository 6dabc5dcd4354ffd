"""Registry's entry point: `wbl-registry` runs the HTTP API, the outbox relay and the
wbl.matches consumer."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator

from fastapi import FastAPI, HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wbl_common.docs import install_docs
from wbl_common.logs import configure_logging
from wbl_common.metrics import install_http_metrics
from wbl_common.settings import load_settings
from wbl_common.web import install_problem_handlers, ops_router, problem, serve
from wbl_common.workers import open_workers
from wbl_registry import api
from wbl_registry.bootstrap import bootstrap
from wbl_registry.config import RegistrySettings


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"bodies are limited to {limit} bytes")


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413: at once from Content-Length, and
    while reading for chunked bodies, which declare no length."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise BodyTooLarge(self.limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:  # raised outside a route (routes answer it as problem+json)
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, "Content Too Large", f"bodies are limited to {self.limit} bytes")
        await response(scope, receive, send)


def create_app(settings: RegistrySettings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with bootstrap(settings) as service, open_workers(settings.class_lists) as workers:
            app.state.registry = service.registry
            app.state.runtime = service.runtime
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
    install_problem_handlers(app)
    app.add_exception_handler(api.RequestError, api.invalid_request)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
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
    settings = load_settings(RegistrySettings)
    configure_logging("registry", settings.log_level)
    serve(create_app(settings), settings.http)

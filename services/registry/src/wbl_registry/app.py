"""Registry's entry point: `wbl-registry` runs the HTTP API and the outbox relay."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request, Response

from wbl_common.logs import configure_logging
from wbl_common.settings import load_settings
from wbl_common.web import install_problem_handlers, ops_router, problem, serve
from wbl_registry import api
from wbl_registry.bootstrap import bootstrap
from wbl_registry.config import RegistrySettings


def create_app(settings: RegistrySettings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with bootstrap(settings) as service:
            app.state.registry = service.registry
            app.state.runtime = service.runtime
            yield

    app = FastAPI(
        title="wbl-placements registry",
        version="0.1.0",
        description="Employers post openings; coordinators register students and confirm matches.",
        lifespan=lifespan,
    )
    app.state.admin_token = settings.admin_token.get_secret_value()
    install_problem_handlers(app)

    @app.middleware("http")
    async def limit_body(request: Request, call_next):  # type: ignore[no-untyped-def]
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > settings.max_body_bytes:
            return problem(
                413, "Payload Too Large", f"bodies are limited to {settings.max_body_bytes} bytes"
            )
        response: Response = await call_next(request)
        return response

    app.include_router(api.router)
    app.include_router(
        ops_router(lambda: app.state.runtime.ready(), lambda: app.state.runtime.metrics)
    )
    return app


def main() -> None:
    settings = load_settings(RegistrySettings)
    configure_logging("registry", settings.log_level)
    serve(create_app(settings), settings.http)

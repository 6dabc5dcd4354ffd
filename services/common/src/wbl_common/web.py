"""HTTP plumbing shared by the services: ops endpoints, problem+json errors, and running."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException

from wbl_common.config import HttpSettings

PROBLEM = "application/problem+json"


def ops_router(
    ready: Callable[[], Awaitable[dict[str, str]]], metrics: Callable[[], CollectorRegistry]
) -> APIRouter:
    router = APIRouter(tags=["ops"])

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @router.get("/readyz", summary="Broker and database connections work")
    async def readyz() -> JSONResponse:
        checks = await ready()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "checks": checks},
            status_code=200 if ok else 503,
        )

    @router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    async def prometheus_metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(metrics()), media_type=CONTENT_TYPE_LATEST)

    return router


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra},
        status_code=status,
        media_type=PROBLEM,
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Every error leaves as application/problem+json with field-level detail."""

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {
                "field": ".".join(str(p) for p in err["loc"] if p != "body"),
                "message": err["msg"],
            }
            for err in exc.errors()
        ]
        return problem(422, "Invalid request", "One or more fields are invalid.", errors=errors)

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        response = problem(exc.status_code, _title(exc.status_code), str(exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def serve(app: FastAPI, http: HttpSettings) -> None:
    """Run under uvicorn, whose SIGTERM/SIGINT handling drains requests and runs the
    lifespan shutdown (closing the broker and database cleanly)."""
    config = uvicorn.Config(app, host=http.host, port=http.port, log_config=None, lifespan="on")
    uvicorn.Server(config).run()

"""HTTP plumbing shared by the services: ops endpoints, problem+json errors, and running."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
import uvicorn
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field
from pymongo.errors import ConnectionFailure, ExecutionTimeout, PyMongoError, WTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wbl_common.config import HttpSettings

PROBLEM = "application/problem+json"
# PyMongo's errors for "the database did not answer": no server to select, a connection
# lost or timed out (ConnectionFailure covers those), a server-side or write-concern timeout.
DATABASE_UNREACHABLE_ERRORS: tuple[type[PyMongoError], ...] = (
    ConnectionFailure,
    ExecutionTimeout,
    WTimeoutError,
)
log = structlog.get_logger(__name__)


def ops_router(
    ready: Callable[[], Awaitable[dict[str, str]]],
    metrics: Callable[[], CollectorRegistry],
    detail: Callable[[], Awaitable[dict[str, object]]] | None = None,
) -> APIRouter:
    router = APIRouter(tags=["ops"])

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @router.get("/readyz", summary="Broker and database connections work")
    async def readyz() -> JSONResponse:
        checks = await ready()
        ok = all(v == "ok" for v in checks.values())
        body: dict[str, object] = {"status": "ready" if ok else "not ready", "checks": checks}
        if detail is not None:
            try:
                body["detail"] = await detail()
            except Exception as error:  # the detail is extra; readiness stands on the checks
                body["detail"] = {"unavailable": type(error).__name__}
        return JSONResponse(body, status_code=200 if ok else 503)

    @router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    async def prometheus_metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(metrics()), media_type=CONTENT_TYPE_LATEST)

    return router


class FieldError(BaseModel):
    field: str = Field(
        description="The field, dotted when nested (`home.lat`, `2.email` in a list); "
        "empty when the whole body is wrong",
        examples=["seats"],
    )
    message: str = Field(examples=["Input should be greater than or equal to 1"])


class Problem(BaseModel):
    """Every error answer: RFC 9457 problem details, as `application/problem+json`."""

    type: str = Field(description="Always `about:blank`: the status says what kind of error")
    title: str = Field(description="The status in words", examples=["Not Found"])
    status: int = Field(ge=400, le=599, examples=[404])
    detail: str = Field(description="What was wrong with this request")


class ValidationProblem(Problem):
    """422: the request's fields are invalid; `errors` names each one."""

    errors: list[FieldError]


SCHEMA_REF = "#/components/schemas/"
INVALID_TITLE, INVALID_DETAIL = "Invalid request", "One or more fields are invalid."
# What each error status means here, and an example of its detail.
ERROR_STATUSES: dict[int, tuple[str, str]] = {
    400: ("The request cannot be used as sent", "the link is not valid"),
    401: ("No bearer secret, or one nobody holds", "missing or unknown bearer secret"),
    403: ("The secret is known, but its role may not make this call", "this call is for admins"),
    404: ("Not found, or not yours", "no such opening"),
    409: ("The current state does not allow it", "no seat is left on this opening"),
    410: ("The link was already used or has expired", "this link was already used"),
    412: ("`If-Match` does not match the current ETag", "it changed since you read it"),
    413: ("The body is larger than the limit", "bodies are limited to 5242880 bytes"),
    415: (
        "The body's content type is not one this call reads",
        "send multipart/form-data (field 'file'), text/csv or application/json",
    ),
    422: ("One or more fields are invalid", INVALID_DETAIL),
    429: (
        "Too many requests from this client; `Retry-After` says when to try again",
        "Too many requests from your address. Please try again in 6 seconds.",
    ),
    500: ("Something went wrong on our side", "Something went wrong on our side."),
    503: ("A service this call needs cannot be reached now", "registry cannot be reached now"),
}
# What a caller reads when the service's own database does not answer.
DATABASE_UNREACHABLE = (
    "We lost touch with our database just now, so this request may not have been completed. "
    "Please try again in a minute. If you were saving something, check whether it was saved "
    "before sending it again."
)
DATABASE_RETRY_AFTER_S = 30


def problem_example(status: int) -> dict[str, Any]:
    """The example body of an error status, as the services answer it."""
    _, detail = ERROR_STATUSES[status]
    if status == 422:
        field = {"field": "seats", "message": "Input should be greater than or equal to 1"}
        return problem_body(422, INVALID_TITLE, detail, errors=[field])
    return problem_body(status, _title(status), detail)


def errors(
    *statuses: int, described: dict[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """`responses=` for the errors an operation can answer, each documented with the schema
    of its body (`wbl_common.docs` adds the schemas) and an example:
    `@router.get(..., responses=errors(401, 403, 404))`. `described` words a status for
    this operation."""
    return {
        status: {
            "description": (described or {}).get(status, ERROR_STATUSES[status][0]),
            "content": {
                PROBLEM: {
                    "schema": {"$ref": SCHEMA_REF + problem_schema(status)},
                    "example": problem_example(status),
                }
            },
        }
        for status in statuses
    }


def problem_schema(status: int) -> str:
    """The name of the schema an error status's body follows."""
    return ValidationProblem.__name__ if status == 422 else Problem.__name__


def problem_body(status: int, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse(
        problem_body(status, title, detail, **extra), status_code=status, media_type=PROBLEM
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Every error leaves as application/problem+json with field-level detail: the
    database unreachable as 503 with Retry-After, anything unforeseen as 500."""

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {
                "field": ".".join(str(p) for p in err["loc"] if p != "body"),
                "message": err["msg"],
            }
            for err in exc.errors()
        ]
        return problem(422, INVALID_TITLE, INVALID_DETAIL, errors=errors)

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        response = problem(exc.status_code, _title(exc.status_code), str(exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    async def on_database_unreachable(_: Request, exc: Exception) -> JSONResponse:
        # No server, a dropped connection or a timed-out operation: a write may or may
        # not have landed, so the detail says to check before sending it again.
        log.warning("database unreachable", error=type(exc).__name__, detail=str(exc)[:300])
        response = problem(503, _title(503), DATABASE_UNREACHABLE)
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
        return response

    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Starlette logs the traceback after this answer.
        return problem(500, _title(500), ERROR_STATUSES[500][1])

    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    for unreachable in DATABASE_UNREACHABLE_ERRORS:
        app.add_exception_handler(unreachable, on_database_unreachable)
    app.add_exception_handler(Exception, on_unexpected)


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class BodyTooLarge(HTTPException):
    """An HTTPException, so that FastAPI's body reading passes it on as it is."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"bodies are limited to {limit} bytes")


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413 before they are read: at once
    from Content-Length, and while reading for chunked bodies, which declare no length
    (the receive that crosses the limit raises, so at most one more chunk is held)."""

    def __init__(self, app: ASGIApp, limit: int, paths: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.default = limit
        self.paths = dict(paths or {})  # an upload endpoint's own, larger limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.paths.get(scope["path"], self.default)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(limit, scope, receive, send)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
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
            await self._refuse(limit, scope, receive, send)

    async def _refuse(self, limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, "Content Too Large", f"bodies are limited to {limit} bytes")
        await response(scope, receive, send)


def install_body_limit(app: FastAPI, limit: int, paths: Mapping[str, int] | None = None) -> None:
    """Every service bounds its request bodies; the outermost middleware but metrics'.
    `paths`: a limit of their own for the paths named (exactly), such as an upload's."""
    app.add_middleware(BodyLimit, limit=limit, paths=paths)


def serve(app: FastAPI, http: HttpSettings) -> None:
    """Run under uvicorn, whose SIGTERM/SIGINT handling drains requests and runs the
    lifespan shutdown (closing the broker and database cleanly)."""
    config = uvicorn.Config(app, host=http.host, port=http.port, log_config=None, lifespan="on")
    uvicorn.Server(config).run()

"""The problem handlers every service installs: a database that does not answer is a 503
problem+json with Retry-After and plain words, anything unforeseen a 500 problem+json;
never a plain-text 500 (issue 10: with FerretDB killed, a registration got one)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from pymongo.errors import (
    AutoReconnect,
    ExecutionTimeout,
    NetworkTimeout,
    ServerSelectionTimeoutError,
    WTimeoutError,
)

from wbl_common.web import DATABASE_UNREACHABLE, install_problem_handlers

pytestmark = pytest.mark.unit


def app_raising(error: Callable[[], Exception]) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/v1/students")
    async def register() -> None:
        raise error()

    return app


async def answer(app: FastAPI) -> httpx.Response:
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
        return await http.post("/v1/students", json={})


@pytest.mark.parametrize(
    "error",
    [
        lambda: ServerSelectionTimeoutError("127.0.0.1:27017: [Errno 111] Connection refused"),
        lambda: AutoReconnect("connection closed"),
        lambda: NetworkTimeout("127.0.0.1:27017: timed out"),
        lambda: ExecutionTimeout("operation exceeded time limit", 50),
        lambda: WTimeoutError("waiting for replication timed out", 64),
    ],
    ids=["no server", "connection lost", "network timeout", "operation timeout", "write timeout"],
)
async def test_a_database_that_does_not_answer_is_a_503_with_retry_after(
    error: Callable[[], Exception],
) -> None:
    response = await answer(app_raising(error))
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body == {
        "type": "about:blank",
        "title": "Service Unavailable",
        "status": 503,
        "detail": DATABASE_UNREACHABLE,
    }
    assert "27017" not in body["detail"]  # plain words, no addresses or driver jargon


async def test_anything_unforeseen_is_a_500_problem_not_plain_text() -> None:
    response = await answer(app_raising(lambda: RuntimeError("a bug")))
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "Something went wrong on our side."
    assert "a bug" not in response.text

"""Requests meant to hurt, against the three services as processes over real sockets
(issue 12): bodies too large, declared or chunked, are refused before they are read
(finding 2); any malformed Authorization header is a 401 problem (finding 3)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.e2e.conftest import System
from wbl_common.web import PROBLEM

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024
SERVICES = ("registry", "matcher", "notifier")
# One route per service that reads a JSON body.
BODY_ROUTES = {
    "registry": "/v1/students",
    "matcher": "/v1/rounds",
    "notifier": "/v1/inbox/mat_1/confirm",
}


def base(system: System, service: str) -> str:
    url: str = getattr(system, service)
    return url


async def chunks(total: int) -> AsyncIterator[bytes]:
    chunk = b" " * (256 * 1024)
    for _ in range(total // len(chunk)):
        yield chunk


@pytest.mark.parametrize("service", SERVICES)
async def test_a_body_declared_too_large_is_refused_at_once(system: System, service: str) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            base(system, service) + BODY_ROUTES[service],
            content=b" " * (6 * MIB),
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert "bodies are limited to" in response.json()["detail"]


@pytest.mark.parametrize("service", ["registry", "notifier"])
async def test_a_chunked_body_with_no_length_is_cut_off_at_the_limit(
    system: System, service: str
) -> None:
    async with httpx.AsyncClient(timeout=60) as http:
        response = await http.post(
            base(system, service) + BODY_ROUTES[service],
            content=chunks(64 * MIB),
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM


MALFORMED: list[bytes] = [
    b"Bearer \xc3\xa9t\xc3\xa9",  # UTF-8, not ASCII
    b"Bearer \xff\xfe",  # not even UTF-8
    b"Basic dXNlcjpwdw==",  # another scheme
    b"Bearer",  # no credentials
    b"Token abc",
    b"",
    b"Bearer a b",  # a space inside
    b"Bearer " + b"t" * 5_000,  # absurdly long
]
AUTHENTICATED = {
    "registry": "/v1/coordinators/me",
    "matcher": "/v1/rounds/latest",
    "notifier": "/v1/inbox",
}


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("header", MALFORMED, ids=lambda h: repr(h)[:24])
async def test_a_malformed_authorization_header_is_a_401_problem(
    system: System, service: str, header: bytes
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.get(
            base(system, service) + AUTHENTICATED[service], headers={b"Authorization": header}
        )
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"].startswith("Bearer")

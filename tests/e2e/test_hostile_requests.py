"""Requests meant to hurt, against the three services as processes over real sockets
(issue 12): bodies too large, declared or chunked, are refused before they are read
(finding 2); any malformed Authorization header is a 401 problem (finding 3); clients
guessing tokens are slowed by 429s, and a wrong token costs one registry lookup, not one per
try (finding 11)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.e2e.conftest import System
from tests.e2e.test_operations import scrape, value
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


# -- rate limits (finding 11), from an address of their own so no other test is limited ---

LIMITED_CLIENT = "127.0.0.2"  # loopback too, but not the exempt 127.0.0.1


def limited_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=30, transport=httpx.AsyncHTTPTransport(local_address=LIMITED_CLIENT)
    )


async def coordinator_lookups(http: httpx.AsyncClient, system: System) -> float:
    """Registry's count of refused `GET /v1/coordinators/me`, the notifier's token check."""
    samples = await scrape(http, system.registry)
    found = value(
        samples, "wbl_http_requests_total", method="GET", route="/v1/coordinators/me", status="401"
    )
    return found or 0.0


async def test_a_wrong_token_tried_again_costs_no_registry_lookup(system: System) -> None:
    token = "wrong-" + secrets.token_urlsafe(16)
    async with httpx.AsyncClient(timeout=30) as http:
        before = await coordinator_lookups(http, system)
        answers = [
            (
                await http.get(
                    f"{system.notifier}/v1/inbox", headers={"Authorization": f"Bearer {token}"}
                )
            ).status_code
            for _ in range(5)
        ]
        after = await coordinator_lookups(http, system)
    assert answers == [401] * 5
    assert after - before == 1


@pytest.mark.parametrize("service", SERVICES)
async def test_a_client_guessing_tokens_is_refused_with_429_and_retry_after(
    system: System, service: str
) -> None:
    url = base(system, service) + AUTHENTICATED[service]
    statuses: list[int] = []
    async with limited_client() as guesser:
        for _ in range(60):  # the default allowance is a burst of 30
            response = await guesser.get(
                url, headers={"Authorization": f"Bearer {secrets.token_urlsafe(16)}"}
            )
            statuses.append(response.status_code)
            if response.status_code == 429:
                break
    assert statuses[0] in (401, 403)  # the matcher answers an unknown token 403
    assert response.status_code == 429, statuses
    assert response.headers["content-type"] == PROBLEM
    assert int(response.headers["retry-after"]) >= 1
    assert "try again in" in response.json()["detail"]
    async with httpx.AsyncClient(timeout=30) as http:  # other clients are not limited
        other = await http.get(url, headers={"Authorization": "Bearer not-the-token"})
    assert other.status_code in (401, 403)

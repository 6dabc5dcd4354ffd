"""The party pages' API in notifier: each of registry's party calls is forwarded with its
JSON body as it came and registry's status and JSON come back, never cached; calls registry
has not, bodies that are not JSON or are over 64 KiB are refused here without calling it.
The pages are served with the workspace's security headers and load no inline script."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.unit.notifier.test_workspace_forwarding import FakeRegistry
from wbl_notifier.app import create_app
from wbl_notifier.config import NotifierSettings
from wbl_notifier.party_api import PARTY_MAX_BYTES
from wbl_notifier.registry_party import RegistryParty

pytestmark = pytest.mark.unit

LINK = {"link": "WyJzaWduLWFncmVlbWVudCJd.Z1a2b3.c4d5e6f7", "name": "Pat Lee"}


@pytest.fixture
async def registry() -> FakeRegistry:
    return FakeRegistry()


@pytest.fixture
async def http(registry: FakeRegistry) -> AsyncIterator[httpx.AsyncClient]:
    settings = NotifierSettings.model_validate(
        {"WBL_WEBHOOK_KEY": "w" * 40, "link_secret": "l" * 40}
    )
    app = create_app(settings)
    async with (
        httpx.AsyncClient(
            transport=httpx.MockTransport(registry), base_url="http://registry"
        ) as to_registry,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://notifier"
        ) as client,
    ):
        app.state.party = RegistryParty(to_registry)
        yield client


async def test_a_party_call_goes_to_registry_as_it_came_and_its_refusal_comes_back(
    http: httpx.AsyncClient, registry: FakeRegistry
) -> None:
    used = {"type": "about:blank", "title": "Gone", "status": 410, "detail": "already used"}
    registry.answer = httpx.Response(
        410, json=used, headers={"Content-Type": "application/problem+json"}
    )
    body = json.dumps(LINK).encode()
    answer = await http.post(
        "/v1/party/agreement/sign", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 410
    assert answer.json() == used
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["cache-control"] == "no-store"
    [sent] = registry.seen
    assert sent.url.path == "/v1/party/agreement/sign" and sent.method == "POST"
    assert sent.content == body
    assert sent.headers["content-type"] == "application/json"
    assert "authorization" not in sent.headers  # the link in the body is the credential


@pytest.mark.parametrize(
    "call",
    ["agreement", "hours", "hours/week", "week", "week/verify", "evaluation", "evaluation/submit"],
)
async def test_every_party_call_of_registry_is_forwarded(
    http: httpx.AsyncClient, registry: FakeRegistry, call: str
) -> None:
    answer = await http.post(f"/v1/party/{call}", json={"link": "x"})
    assert answer.status_code == 200 and answer.json() == {"ok": True}
    assert [r.url.path for r in registry.seen] == [f"/v1/party/{call}"]


@pytest.mark.parametrize("call", ["agreements", "agreement/sign/again", "../placements/x"])
async def test_a_call_registry_has_not_is_refused_without_calling_it(
    http: httpx.AsyncClient, registry: FakeRegistry, call: str
) -> None:
    answer = await http.post(f"/v1/party/{call}", json={"link": "x"})
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert registry.seen == []


async def test_a_body_not_json_or_over_64_kib_is_refused_without_calling_registry(
    http: httpx.AsyncClient, registry: FakeRegistry
) -> None:
    form = await http.post("/v1/party/agreement", data={"link": "x"})
    assert form.status_code == 415
    assert form.json()["detail"] == "send the body as JSON"
    big = json.dumps({"link": "x", "name": "n" * PARTY_MAX_BYTES}).encode()
    huge = await http.post(
        "/v1/party/agreement/sign", content=big, headers={"Content-Type": "application/json"}
    )
    assert huge.status_code == 413
    assert registry.seen == []


async def test_registry_down_is_a_503_in_words(
    http: httpx.AsyncClient, registry: FakeRegistry
) -> None:
    registry.down = True
    answer = await http.post("/v1/party/week", json={"link": "x"})
    assert answer.status_code == 503
    assert answer.json()["detail"] == "registry cannot be reached now"


@pytest.mark.parametrize("path", ["/agreement", "/hours", "/verify"])
async def test_the_party_pages_are_served_under_the_security_headers_with_no_inline_script(
    http: httpx.AsyncClient, path: str
) -> None:
    page = await http.get(path)
    assert page.status_code == 200
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    scripts = re.findall(r"<script([^>]*)>", page.text)
    assert scripts and all('src="/inbox/static/' in s for s in scripts)
    assert "Sign in" not in page.text  # no account: the link is the credential

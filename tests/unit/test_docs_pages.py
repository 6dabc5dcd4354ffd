"""/docs and /redoc of every service load nothing from outside it: every script, style and
icon they name is served by the service, and the inline script is allowed by its hash."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI

from tests.unit.test_openapi import matcher_app, notifier_app, registry_app

pytestmark = pytest.mark.unit

APPS: dict[str, Callable[[], FastAPI]] = {
    "registry": registry_app,
    "matcher": matcher_app,
    "notifier": notifier_app,
}
ASSET = re.compile(r'(?:src|href)="([^"]+)"')
INLINE = re.compile(r"<script>(.*?)</script>", re.DOTALL)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
@pytest.mark.parametrize("service", sorted(APPS))
async def test_a_docs_page_names_only_assets_its_service_serves(service: str, page: str) -> None:
    transport = httpx.ASGITransport(APPS[service]())
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as http:
        answer = await http.get(page)
        assert answer.status_code == 200
        assert "://" not in answer.text, "the page names another origin"
        assets = ASSET.findall(answer.text)
        assert len(assets) >= 2  # a script and the icon (and Swagger UI's stylesheet)
        for asset in assets:
            served = await http.get(asset)
            assert served.status_code == 200, asset
            assert len(served.content) > 1000, asset
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    for script in INLINE.findall(answer.text):
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy

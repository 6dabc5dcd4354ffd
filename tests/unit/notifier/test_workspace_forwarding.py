"""The class-list and settings pages' API in notifier: what is plainly not a class list is
refused here (empty, a workbook, not text, too large, not text/csv) without calling registry;
the rest goes to registry under the coordinator's own token, and registry's answer (body,
type, ETag, Retry-After) comes back as it was, never cached. The pages themselves are served
under the workspace's security headers, in the navigation's order."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest

from tests.unit.notifier.test_opening_text import TOKEN, Directory, profile
from wbl_notifier.app import create_app
from wbl_notifier.config import NotifierSettings
from wbl_notifier.handlers import Notifier
from wbl_notifier.registry_account import RegistryAccount
from wbl_notifier.store import InMemoryNotifierStore
from wbl_schemas.events import CoordinatorRegistered

pytestmark = pytest.mark.unit

CLASS_LIST_LIMIT = 100_000  # above the 64 KiB every other request is held to
CSV = b"school_id,first_name\nsch_1,Ana\n"


@dataclass
class FakeRegistry:
    """Answers as registry would and keeps what it was sent."""

    seen: list[httpx.Request] = field(default_factory=list)
    answer: httpx.Response | None = None
    down: bool = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("refused", request=request)
        self.seen.append(request)
        if self.answer is not None:
            return self.answer
        return httpx.Response(200, json={"ok": True}, headers={"ETag": '"4"', "X-Other": "no"})


@dataclass
class Workspace:
    http: httpx.AsyncClient
    registry: FakeRegistry


@pytest.fixture
async def workspace() -> AsyncIterator[Workspace]:
    settings = NotifierSettings.model_validate(
        {
            "WBL_WEBHOOK_KEY": "w" * 40,
            "link_secret": "l" * 40,
            "class_list_max_bytes": CLASS_LIST_LIMIT,
        }
    )
    app = create_app(settings)
    notifier = Notifier(store=InMemoryNotifierStore())
    await notifier.on_coordinator_event(CoordinatorRegistered(producer="t", payload=profile()))
    registry = FakeRegistry()
    async with (
        httpx.AsyncClient(
            transport=httpx.MockTransport(registry), base_url="http://registry"
        ) as to_registry,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://notifier",
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as http,
    ):
        app.state.directory = Directory()
        app.state.notifier = notifier
        app.state.account = RegistryAccount(to_registry, class_list_timeout_s=5)
        yield Workspace(http, registry)


async def upload(http: httpx.AsyncClient, body: bytes, **params: str) -> httpx.Response:
    return await http.post(
        "/v1/inbox/class-lists",
        content=body,
        headers={"Content-Type": "text/csv"},
        params=params,
    )


async def test_a_class_list_goes_to_registry_with_the_token_and_comes_back_as_it_was(
    workspace: Workspace,
) -> None:
    workspace.registry.answer = httpx.Response(
        200, json={"counts": {"registered": 1}}, headers={"Content-Type": "application/json"}
    )
    answer = await upload(workspace.http, CSV)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"counts": {"registered": 1}}
    assert answer.headers["cache-control"] == "no-store"
    [sent] = workspace.registry.seen
    assert (sent.method, sent.url.path, sent.url.params["format"]) == (
        "POST",
        "/v1/students/bulk",
        "json",
    )
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["content-type"] == "text/csv"
    assert sent.content == CSV


async def test_the_errors_file_and_a_busy_registry_pass_through(workspace: Workspace) -> None:
    workspace.registry.answer = httpx.Response(
        200,
        text="line,column,student,message\n3,grade,Ana Souza,too high\n",
        headers={"Content-Type": "text/csv; charset=utf-8"},
    )
    errors = await upload(workspace.http, CSV, format="csv")
    assert errors.headers["content-type"].startswith("text/csv")
    assert errors.text.splitlines()[1] == "3,grade,Ana Souza,too high"
    assert workspace.registry.seen[0].url.params["format"] == "csv"
    workspace.registry.answer = httpx.Response(
        503,
        json={"detail": "busy"},
        headers={"Retry-After": "2", "Content-Type": "application/problem+json"},
    )
    busy = await upload(workspace.http, CSV)
    assert busy.status_code == 503 and busy.headers["retry-after"] == "2"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "The file is empty"),
        (b" \r\n\r\n", "The file is empty"),
        (b"PK\x03\x04\x14\x00\x06\x00", "an Excel workbook (.xlsx), not a CSV file"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel workbook (.xls)"),
        (b"%PDF-1.7\n", "a PDF document"),
        ("school_id\tfirst_name\n".encode("utf-16"), "UTF-16 text"),
        (b"school_id,first\x00name\n", "not CSV text"),
    ],
)
async def test_what_is_plainly_not_a_class_list_is_refused_here(
    workspace: Workspace, body: bytes, says: str
) -> None:
    refused = await upload(workspace.http, body)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    [error] = refused.json()["errors"]
    assert error["field"] == "file" and says in error["message"]
    assert workspace.registry.seen == []


async def test_a_class_list_has_its_own_size_limit_and_other_requests_keep_theirs(
    workspace: Workspace,
) -> None:
    large = CSV + b"x" * (80_000 - len(CSV))  # over the general 64 KiB, under the list's
    taken = await upload(workspace.http, large)
    assert taken.status_code == 200, taken.text
    too_large = await upload(workspace.http, CSV + b"x" * CLASS_LIST_LIMIT)
    assert too_large.status_code == 413
    assert str(CLASS_LIST_LIMIT) in too_large.json()["detail"]
    settings = await workspace.http.patch(
        "/v1/inbox/settings", json={"channels": {"email": "a" * 70_000}}
    )
    assert settings.status_code == 413
    assert len(workspace.registry.seen) == 1


async def test_only_text_csv_and_only_a_signed_in_coordinator(workspace: Workspace) -> None:
    other = await workspace.http.post(
        "/v1/inbox/class-lists", content=CSV, headers={"Content-Type": "application/json"}
    )
    assert other.status_code == 415
    stranger = await workspace.http.post(
        "/v1/inbox/class-lists",
        content=CSV,
        headers={"Content-Type": "text/csv", "Authorization": "Bearer coo_unknown"},
    )
    assert stranger.status_code == 401
    nobody = await workspace.http.get(
        "/v1/inbox/settings", headers={"Authorization": "Bearer coo_unknown"}
    )
    assert nobody.status_code == 401
    assert workspace.registry.seen == []


async def test_settings_are_read_and_changed_in_registry_with_the_version_read(
    workspace: Workspace,
) -> None:
    read = await workspace.http.get("/v1/inbox/settings")
    assert read.status_code == 200 and read.headers["etag"] == '"4"'
    assert "x-other" not in read.headers and read.headers["cache-control"] == "no-store"
    change = {"channels": {"digest": "daily"}}
    workspace.registry.answer = httpx.Response(
        412, json={"detail": "changed"}, headers={"Content-Type": "application/problem+json"}
    )
    stale = await workspace.http.patch(
        "/v1/inbox/settings", json=change, headers={"If-Match": '"3"'}
    )
    assert stale.status_code == 412
    sent = workspace.registry.seen[-1]
    assert (sent.method, sent.url.path) == ("PATCH", "/v1/coordinators/me")
    assert sent.headers["if-match"] == '"3"'
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert json.loads(sent.content) == change
    field_error = {"errors": [{"field": "channels.email", "message": "not a valid email"}]}
    workspace.registry.answer = httpx.Response(
        422, json=field_error, headers={"Content-Type": "application/problem+json"}
    )
    refused = await workspace.http.patch("/v1/inbox/settings", json=change)
    assert refused.status_code == 422 and refused.json() == field_error
    assert "if-match" not in workspace.registry.seen[-1].headers


async def test_a_new_webhook_secret_is_the_signed_in_coordinators_own(
    workspace: Workspace,
) -> None:
    rotated = await workspace.http.post("/v1/inbox/webhook-secret")
    assert rotated.status_code == 200
    sent = workspace.registry.seen[-1]
    assert sent.url.path == "/v1/coordinators/coo_1/webhook-secret/rotate"


async def test_registry_out_of_reach_is_a_503(workspace: Workspace) -> None:
    workspace.registry.down = True
    assert (await upload(workspace.http, CSV)).status_code == 503
    assert (await workspace.http.get("/v1/inbox/class-lists/columns")).status_code == 503


async def test_the_pages_are_in_the_navigation_and_say_the_size_limit(
    workspace: Workspace,
) -> None:
    page = await workspace.http.get("/class-lists")
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert f'data-max-bytes="{CLASS_LIST_LIMIT}"' in page.text
    assert "up to 97.7 KB" in page.text
    nav = [line.strip() for line in page.text.splitlines() if "<li><a href" in line]
    assert [n.split('"')[1] for n in nav] == [
        "/inbox",
        "/students",
        "/placements",
        "/class-lists",
        "/outcomes",
        "/settings",
    ]
    assert 'href="/class-lists" aria-current="page"' in page.text
    settings = await workspace.http.get("/settings")
    assert "<h1>Notification settings</h1>" in settings.text
    assert 'src="/inbox/static/settings.js"' in settings.text

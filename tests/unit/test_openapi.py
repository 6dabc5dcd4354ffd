"""The OpenAPI documents tell the truth about errors: a real error answer of each sampled
operation validates against the schema its document gives for that operation and status,
every error is documented as application/problem+json with a valid example, and FastAPI's
`HTTPValidationError` (a shape no service answers) is gone."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.unit.registry.builders import opening_body, student_body
from wbl_common.web import PROBLEM
from wbl_matcher.app import create_app as create_matcher
from wbl_matcher.config import MatcherSettings
from wbl_matcher.why_not import WhyNotCache
from wbl_matcher.why_not_words import Names
from wbl_notifier.adapters import CoordinatorIdentity
from wbl_notifier.app import create_app as create_notifier
from wbl_notifier.config import NotifierSettings
from wbl_notifier.handlers import LinkNotYours
from wbl_notifier.links import Signer
from wbl_registry.app import create_app as create_registry
from wbl_registry.config import RegistrySettings
from wbl_registry.handlers import Registry as RegistryService
from wbl_registry.store import InMemoryRegistryStore
from wbl_schemas.reference import load_reference

pytestmark = pytest.mark.unit

ADMIN = "admin-" + "a" * 30
WEBHOOK_KEY = "whk-" + "w" * 40
BODY_LIMIT = 4096
COORDINATOR_TOKEN = "coordinator-token-" + "c" * 20
SCHOOL = "sch_openapi_test"


def registry_app() -> FastAPI:
    settings = RegistrySettings.model_validate(
        {
            "WBL_ADMIN_TOKEN": ADMIN,
            "WBL_WEBHOOK_KEY": WEBHOOK_KEY,
            "max_body_bytes": BODY_LIMIT,
            "mongo": {"database": "unused"},
        }
    )
    app = create_registry(settings)
    app.state.registry = RegistryService(
        store=InMemoryRegistryStore(), reference=load_reference(), webhook_key=WEBHOOK_KEY
    )
    return app


class _NoRound:
    async def latest_round(self) -> None:
        return None

    async def standing(self, _: str) -> None:
        return None  # a student the matcher has never seen: 404


def matcher_app() -> FastAPI:
    app = create_matcher(MatcherSettings.model_validate({"WBL_ADMIN_TOKEN": ADMIN}))
    app.state.matcher = SimpleNamespace(store=_NoRound(), related={}, why_not_cache=WhyNotCache())
    app.state.names = Names({})
    return app


class _OneCoordinator:
    async def identify(self, token: str) -> CoordinatorIdentity | None:
        return CoordinatorIdentity("coo_1", (SCHOOL,)) if token == COORDINATOR_TOKEN else None


class _RegistryDown:
    """Decisions whose registry cannot be reached, and whose links are someone else's."""

    async def decide(self, *_: Any) -> Any:
        raise LinkNotYours("this link was issued for another coordinator")

    async def student(self, *_: Any) -> Any:
        raise httpx.ConnectError("registry is down")

    async def undo(self, *_: Any) -> Any:
        raise httpx.ConnectError("registry is down")


class _VouchedScope:
    """The notifier's view of a coordinator: registry's word stands (nothing consumed)."""

    async def scope(self, coordinator_id: str, vouched: tuple[str, ...]) -> tuple[str, ...]:
        return vouched


def notifier_app() -> FastAPI:
    settings = NotifierSettings.model_validate(
        {"WBL_WEBHOOK_KEY": WEBHOOK_KEY, "link_secret": "l" * 40}
    )
    app = create_notifier(settings)
    app.state.directory = _OneCoordinator()
    app.state.notifier = _VouchedScope()
    app.state.signer = Signer("s" * 40, link_ttl_s=600, ticket_ttl_s=60)
    app.state.decisions = _RegistryDown()
    return app


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@dataclass(frozen=True)
class Case:
    """One error provoked through an app: the documented operation and the status it gives."""

    service: str
    method: str
    template: str  # the path as the OpenAPI document names it
    status: int
    url: str
    request: dict[str, Any]
    needs: str = ""  # set-up first: "employer" or "coordinator" (registry)


CASES = [
    Case("registry", "post", "/v1/openings", 401, "/v1/openings", {"json": opening_body()}),
    Case(
        "registry",
        "post",
        "/v1/openings",
        403,
        "/v1/openings",
        {"json": opening_body(), "headers": auth(ADMIN)},
    ),
    Case(
        "registry",
        "post",
        "/v1/openings",
        422,
        "/v1/openings",
        {"json": opening_body(seats=0, starts_on="soon")},
        needs="employer",
    ),
    Case(
        "registry",
        "get",
        "/v1/openings/{opening_id}",
        404,
        "/v1/openings/opn_nobody",
        {},
        needs="employer",
    ),
    Case(
        "registry",
        "get",
        "/v1/openings/{opening_id}",
        422,
        "/v1/openings/" + "x" * 65,
        {},
        needs="employer",
    ),
    Case(
        "registry",
        "post",
        "/v1/employers",
        413,
        "/v1/employers",
        {"json": {"name": "x" * BODY_LIMIT}, "headers": auth(ADMIN)},
    ),
    Case(
        "registry",
        "post",
        "/v1/students/bulk",
        415,
        "/v1/students/bulk",
        {"content": b"a list", "headers": {"Content-Type": "text/plain"}},
        needs="coordinator",
    ),
    Case(
        "registry",
        "post",
        "/v1/students",
        409,
        "/v1/students",
        {"json": student_body(SCHOOL, email="twice@pupils.example.org")},
        needs="coordinator and the student",
    ),
    Case(
        "registry",
        "delete",
        "/v1/coordinators/{coordinator_id}",
        404,
        "/v1/coordinators/coo_nobody",
        {"headers": auth(ADMIN)},
    ),
    Case("matcher", "post", "/v1/rounds", 401, "/v1/rounds", {}),
    Case("matcher", "post", "/v1/rounds", 403, "/v1/rounds", {"headers": auth("x" * 30)}),
    Case("matcher", "get", "/v1/rounds/latest", 404, "/v1/rounds/latest", {"headers": auth(ADMIN)}),
    Case("matcher", "put", "/v1/season", 401, "/v1/season", {"json": {"main_round_at": None}}),
    Case(
        "matcher",
        "put",
        "/v1/season",
        422,
        "/v1/season",
        {"json": {"main_round_at": "2020-03-01T09:00:00"}, "headers": auth(ADMIN)},
    ),
    Case(
        "matcher",
        "get",
        "/v1/students/{student_id}/why-not",
        404,
        "/v1/students/stu_1/why-not",
        {"headers": auth(ADMIN)},
    ),
    Case("notifier", "get", "/v1/inbox", 401, "/v1/inbox", {}),
    Case(
        "notifier",
        "get",
        "/v1/inbox",
        422,
        "/v1/inbox",
        {"params": {"size": 0, "status": "lost"}, "headers": auth(COORDINATOR_TOKEN)},
    ),
    Case(
        "notifier",
        "get",
        "/v1/inbox/stream",
        401,
        "/v1/inbox/stream",
        {"params": {"ticket": "forged"}},
    ),
    Case(
        "notifier",
        "post",
        "/v1/inbox/{match_id}/{decision}",
        403,
        "/v1/inbox/mat_1/confirm",
        {"json": {"link": "someone-elses"}, "headers": auth(COORDINATOR_TOKEN)},
    ),
    Case(
        "notifier",
        "post",
        "/v1/inbox/{match_id}/{decision}",
        422,
        "/v1/inbox/mat_1/maybe",
        {"headers": auth(COORDINATOR_TOKEN)},
    ),
    Case(
        "notifier",
        "get",
        "/v1/inbox/students/{student_id}",
        503,
        "/v1/inbox/students/stu_1",
        {"headers": auth(COORDINATOR_TOKEN)},
    ),
]

APPS: dict[str, Callable[[], FastAPI]] = {
    "registry": registry_app,
    "matcher": matcher_app,
    "notifier": notifier_app,
}


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    return {name: make().openapi() for name, make in APPS.items()}


def validator(document: dict[str, Any], pointer: str) -> Draft202012Validator:
    """A validator for the schema at `pointer` in `document`, its $refs resolved there."""
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("urn:openapi", resource)
    return Draft202012Validator({"$ref": f"urn:openapi#{pointer}"}, registry=registry)


def escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def content_pointer(template: str, method: str, status: int) -> str:
    return f"/paths/{escape(template)}/{method}/responses/{status}/content/{escape(PROBLEM)}"


async def prepare(http: httpx.AsyncClient, case: Case) -> dict[str, str]:
    """The caller's headers, after creating whom the case needs."""
    if not case.needs:
        return {}
    if case.needs == "employer":
        created = await http.post("/v1/employers", json={"name": "Acme"}, headers=auth(ADMIN))
        return auth(created.json()["api_key"])
    created = await http.post(
        "/v1/coordinators",
        json={"name": "Rosa", "school_ids": [SCHOOL], "channels": {}},
        headers=auth(ADMIN),
    )
    assert created.status_code == 201, created.text
    headers = auth(created.json()["token"])
    if case.needs == "coordinator and the student":
        first = await http.post("/v1/students", headers=headers, **case.request)
        assert first.status_code == 201, first.text
    return headers


@pytest.fixture
async def clients() -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    opened: list[httpx.AsyncClient] = []

    def client(service: str) -> httpx.AsyncClient:
        made = httpx.AsyncClient(
            transport=httpx.ASGITransport(APPS[service]()), base_url=f"http://{service}"
        )
        opened.append(made)
        return made

    yield client
    for made in opened:
        await made.aclose()


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{c.service} {c.method.upper()} {c.url} {c.status}" for c in CASES]
)
async def test_a_real_error_validates_against_its_documented_schema(
    case: Case,
    documents: dict[str, dict[str, Any]],
    clients: Callable[[str], httpx.AsyncClient],
) -> None:
    http = clients(case.service)
    headers = await prepare(http, case)
    request = dict(case.request)
    request["headers"] = {**headers, **request.get("headers", {})}
    answer = await http.request(case.method, case.url, **request)

    assert answer.status_code == case.status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    document = documents[case.service]
    responses = document["paths"][case.template][case.method]["responses"]
    assert str(case.status) in responses, f"{case.status} is not documented"
    assert list(responses[str(case.status)]["content"]) == [PROBLEM]
    pointer = content_pointer(case.template, case.method, case.status)
    schema = validator(document, pointer + "/schema")
    problems = sorted(schema.iter_errors(answer.json()), key=str)
    assert problems == [], [p.message for p in problems]


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for template, methods in document["paths"].items():
        for method, operation in methods.items():
            yield template, method, operation


@pytest.mark.parametrize("service", sorted(APPS))
def test_every_documented_error_is_problem_json_with_a_valid_example(
    service: str, documents: dict[str, dict[str, Any]]
) -> None:
    document = documents[service]
    checked = 0
    for template, method, operation in operations(document):
        for status, answer in operation["responses"].items():
            if int(status) < 400:
                continue
            assert list(answer.get("content", {})) == [PROBLEM], (method, template, status)
            body = answer["content"][PROBLEM]
            schema = validator(document, content_pointer(template, method, int(status)) + "/schema")
            assert list(schema.iter_errors(body["example"])) == [], (method, template, status)
            assert body["example"]["status"] == int(status)
            checked += 1
    assert checked >= {"registry": 100, "matcher": 8, "notifier": 15}[service]


@pytest.mark.parametrize("service", sorted(APPS))
def test_no_operation_documents_fastapis_validation_error(
    service: str, documents: dict[str, dict[str, Any]]
) -> None:
    text = json.dumps(documents[service])
    assert "HTTPValidationError" not in text
    assert '"#/components/schemas/ValidationError"' not in text
    for template, method, operation in operations(documents[service]):
        if operation.get("parameters") or operation.get("requestBody"):
            assert "422" in operation["responses"], (method, template)


def test_the_validation_problem_names_each_field() -> None:
    schema = registry_app().openapi()["components"]["schemas"]["ValidationProblem"]
    assert set(schema["required"]) >= {"type", "title", "status", "detail", "errors"}
    assert schema["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/FieldError"}

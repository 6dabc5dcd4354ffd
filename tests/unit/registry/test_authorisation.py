"""Every endpoint against every role: 401 (no or unknown secret), 403 (known secret, wrong
role or not your school for a create), 404 (someone else's resource), 2xx (yours)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.unit.registry.builders import TERMS, application, opening_body, proposed, student_body
from tests.unit.registry.conftest import ADMIN_TOKEN, bearer
from wbl_registry.handlers import Registry
from wbl_schemas.events import NotificationChannels

pytestmark = pytest.mark.unit

ROLES = (
    "anonymous",
    "unknown",
    "admin",
    "employer_a",
    "employer_b",
    "coordinator_x",
    "coordinator_y",
)


@dataclass
class World:
    """Employer A (with a webhook) owns opening_a; coordinator X's school has student_x and
    match_x (on A)."""

    secrets: dict[str, str]
    ids: dict[str, str]


async def build_world(registry: Registry) -> World:
    employer_a, key_a = await registry.create_employer("Acme")
    employer_a, _ = await registry.set_employer_webhook(employer_a, "https://hr.acme.example/wbl")
    _, key_b = await registry.create_employer("Globex")
    spare, _ = await registry.create_employer("Initech")
    coord_x, token_x = await registry.create_coordinator("Xavi", ("sch_x",), NotificationChannels())
    _, token_y = await registry.create_coordinator("Yara", ("sch_y",), NotificationChannels())
    spare_coord, _ = await registry.create_coordinator(
        "Zed", ("sch_z",), NotificationChannels(webhook_url="https://zed.example/hook")
    )
    opening_a = await registry.post_opening(employer_a, TERMS)
    a = application("sch_x")
    student_x = await registry.register_student(coord_x, "sch_x", a.person, a.plan)
    match = proposed(student_x.id, "sch_x", opening_a.id, employer_a.id)
    await registry.on_match_event(match)
    return World(
        secrets={
            "admin": ADMIN_TOKEN,
            "unknown": "emp_not-a-real-key",
            "employer_a": key_a,
            "employer_b": key_b,
            "coordinator_x": token_x,
            "coordinator_y": token_y,
        },
        ids={
            "employer": spare.id,
            "coordinator": spare_coord.id,
            "opening": opening_a.id,
            "student": student_x.id,
            "match": match.payload.match_id,
        },
    )


def expect(base: dict[str, int] | None = None, **statuses: int) -> dict[str, int]:
    """Statuses by role; anonymous and unknown callers get 401 unless said otherwise."""
    return {"anonymous": 401, "unknown": 401, **(base or {}), **statuses}


# The other roles' statuses on endpoints for one role.
FOR_ADMIN = {r: 403 for r in ROLES[3:]}
FOR_EMPLOYERS = {"admin": 403, "coordinator_x": 403, "coordinator_y": 403}
FOR_COORDINATORS = {"admin": 403, "employer_a": 403, "employer_b": 403}

# (method, path template, JSON body, expected statuses by role)
MATRIX: list[tuple[str, str, Any, dict[str, int]]] = [
    ("POST", "/v1/employers", {"name": "New Co"}, expect(FOR_ADMIN, admin=201)),
    ("POST", "/v1/employers/{employer}/api-key", None, expect(FOR_ADMIN, admin=200)),
    ("DELETE", "/v1/employers/{employer}/api-key", None, expect(FOR_ADMIN, admin=204)),
    (
        "POST",
        "/v1/employers/me/api-key",
        None,
        expect(FOR_EMPLOYERS, employer_a=200, employer_b=200),
    ),
    ("GET", "/v1/employers/me", None, expect(FOR_EMPLOYERS, employer_a=200, employer_b=200)),
    (
        "PATCH",
        "/v1/employers/me",
        {"webhook_url": "https://hooks.example.org/wbl"},
        expect(FOR_EMPLOYERS, employer_a=200, employer_b=200),
    ),
    (  # B has no webhook to sign for
        "POST",
        "/v1/employers/me/webhook-secret/rotate",
        None,
        expect(FOR_EMPLOYERS, employer_a=200, employer_b=409),
    ),
    (
        "POST",
        "/v1/coordinators",
        {"name": "New", "school_ids": ["sch_q"]},
        expect(FOR_ADMIN, admin=201),
    ),
    (
        "PATCH",
        "/v1/coordinators/{coordinator}",
        {"school_ids": ["sch_z", "sch_w"]},
        expect(FOR_ADMIN, admin=200),
    ),
    ("DELETE", "/v1/coordinators/{coordinator}", None, expect(FOR_ADMIN, admin=204)),
    ("POST", "/v1/coordinators/{coordinator}/token", None, expect(FOR_ADMIN, admin=200)),
    (  # Zed rotates their own (tests/unit/registry/test_http.py); X and Y may not
        "POST",
        "/v1/coordinators/{coordinator}/webhook-secret/rotate",
        None,
        expect(FOR_ADMIN, admin=200),
    ),
    (
        "POST",
        "/v1/coordinators/me/token",
        None,
        expect(FOR_COORDINATORS, coordinator_x=200, coordinator_y=200),
    ),
    (
        "GET",
        "/v1/coordinators/me",
        None,
        expect(FOR_COORDINATORS, coordinator_x=200, coordinator_y=200),
    ),
    (
        "PATCH",
        "/v1/coordinators/me",
        {"channels": {"digest": "daily"}},
        expect(FOR_COORDINATORS, coordinator_x=200, coordinator_y=200),
    ),
    ("POST", "/v1/openings", opening_body(), expect(FOR_EMPLOYERS, employer_a=201, employer_b=201)),
    ("GET", "/v1/openings", None, expect(FOR_EMPLOYERS, employer_a=200, employer_b=200)),
    ("GET", "/v1/openings/{opening}", None, expect(FOR_EMPLOYERS, employer_a=200, employer_b=404)),
    (
        "PATCH",
        "/v1/openings/{opening}",
        {"seats": 3},
        expect(FOR_EMPLOYERS, employer_a=200, employer_b=404),
    ),
    (
        "DELETE",
        "/v1/openings/{opening}",
        None,
        expect(FOR_EMPLOYERS, employer_a=204, employer_b=404),
    ),
    (
        "POST",
        "/v1/students",
        student_body("sch_x"),
        expect(FOR_COORDINATORS, coordinator_x=201, coordinator_y=403),
    ),
    (
        "POST",
        "/v1/students/bulk",
        [student_body("sch_x")],
        expect(FOR_COORDINATORS, coordinator_x=200, coordinator_y=200),
    ),
    ("GET", "/v1/students", None, expect(FOR_COORDINATORS, coordinator_x=200, coordinator_y=200)),
    (
        "GET",
        "/v1/students/{student}",
        None,
        expect(FOR_COORDINATORS, coordinator_x=200, coordinator_y=404),
    ),
    (
        "PATCH",
        "/v1/students/{student}",
        {"grade": 12},
        expect(FOR_COORDINATORS, coordinator_x=200, coordinator_y=404),
    ),
    (
        "POST",
        "/v1/students/{student}/withdraw",
        None,
        expect(FOR_COORDINATORS, coordinator_x=200, coordinator_y=404),
    ),
    (
        "GET",
        "/v1/matches",
        None,
        expect(admin=403, employer_a=200, employer_b=200, coordinator_x=200, coordinator_y=200),
    ),
    (
        "POST",
        "/v1/matches/{match}/confirm",
        None,
        expect(FOR_COORDINATORS, coordinator_x=200, coordinator_y=404),
    ),
    (
        "POST",
        "/v1/matches/{match}/decline",
        {"note": "no"},
        expect(FOR_COORDINATORS, coordinator_x=200, coordinator_y=404),
    ),
    (  # authorised, but the match has no decision to undo (tests/unit/registry/test_undo.py)
        "POST",
        "/v1/matches/{match}/undo",
        None,
        expect(FOR_COORDINATORS, coordinator_x=409, coordinator_y=404),
    ),
    (
        "GET",
        "/v1/reports/outcomes",
        None,
        expect(admin=200, employer_a=403, employer_b=403, coordinator_x=200, coordinator_y=200),
    ),
    (
        "GET",
        "/v1/reports/outcomes/definitions",
        None,
        expect(admin=200, employer_a=403, employer_b=403, coordinator_x=200, coordinator_y=200),
    ),
    ("GET", "/v1/admin/parked-events", None, expect(FOR_ADMIN, admin=200)),
    # A placement's life: the match here is proposed, not confirmed, so its own coordinator
    # passes authorisation and meets 409; another school's gets 404.
    *[
        (method, path, body, expect(FOR_COORDINATORS, coordinator_x=409, coordinator_y=404))
        for method, path, body in (
            ("GET", "/v1/placements/{match}", None),
            ("GET", "/v1/placements/{match}/agreement.pdf", None),
            ("GET", "/v1/placements/{match}/links", None),
            ("GET", "/v1/placements/{match}/hours?week=2027-07-05", None),
            (
                "POST",
                "/v1/placements/{match}/agreement",
                {
                    "supervisor": {"name": "Pat", "email": "pat@acme.example.org"},
                    "safety_training": "OSHA 10",
                    "hourly_wage": "16.50",
                    "guardian": {"name": "Rosa", "email": "rosa@family.example.org"},
                },
            ),
            (
                "PUT",
                "/v1/placements/{match}/permit",
                {"number": "WP-1", "issued_by": "Office", "issued_on": "2026-11-02"},
            ),
            ("POST", "/v1/placements/{match}/hours", {"day": "2027-07-05", "hours": 2}),
            ("GET", "/v1/placements/{match}/evaluations", None),
            ("POST", "/v1/placements/{match}/close", {"reason": "The student moved away."}),
        )
    ],
    # Parties act by link, never by bearer secret: a bogus link is 400 whoever calls.
    *[
        ("POST", path, body, {role: 400 for role in ROLES})
        for path, body in (
            ("/v1/party/agreement", {"link": "bogus"}),
            ("/v1/party/agreement/sign", {"link": "bogus", "name": "Pat"}),
            ("/v1/party/hours", {"link": "bogus", "day": "2027-07-05", "hours": 2}),
            ("/v1/party/hours/week", {"link": "bogus", "day": "2027-07-05"}),
            ("/v1/party/week", {"link": "bogus"}),
            ("/v1/party/week/verify", {"link": "bogus"}),
            ("/v1/party/evaluation", {"link": "bogus"}),
            ("/v1/party/evaluation/submit", {"link": "bogus", "name": "Pat", "ratings": {}}),
        )
    ],
    *[
        ("GET", f"/v1/reference/{kind}", None, {role: 200 for role in ROLES})
        for kind in ("career-fields", "programs", "credentials", "schools", "class-list-columns")
    ],
]

CASES = [
    pytest.param(method, path, body, role, statuses[role], id=f"{method} {path} as {role}")
    for method, path, body, statuses in MATRIX
    for role in ROLES
]


@pytest.mark.parametrize(("method", "path", "body", "role", "status"), CASES)
async def test_authorisation_matrix(
    app: FastAPI,
    http: httpx.AsyncClient,
    method: str,
    path: str,
    body: Any,
    role: str,
    status: int,
) -> None:
    world = await build_world(app.state.registry)
    headers = bearer(world.secrets[role]) if role in world.secrets else {}
    response = await http.request(method, path.format(**world.ids), json=body, headers=headers)
    assert response.status_code == status, response.text
    if status >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"


def test_the_matrix_covers_every_route(app: FastAPI) -> None:
    def shape(path: str) -> str:
        return re.sub(r"\{[^}]+\}", "{}", path)

    covered = {(method, shape(path.split("?")[0])) for method, path, _, _ in MATRIX}
    routes = {
        (method.upper(), shape(path))
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/v1/")
        for method in operations
    }
    assert routes == covered


async def test_lists_are_scoped_to_the_caller(app: FastAPI, http: httpx.AsyncClient) -> None:
    world = await build_world(app.state.registry)

    async def ids(role: str, path: str, key: str) -> list[str]:
        response = await http.get(path, headers=bearer(world.secrets[role]))
        assert response.status_code == 200
        return [item[key] for item in response.json()]

    assert await ids("employer_a", "/v1/matches", "match_id") == [world.ids["match"]]
    assert await ids("employer_b", "/v1/matches", "match_id") == []
    assert await ids("coordinator_x", "/v1/matches", "match_id") == [world.ids["match"]]
    assert await ids("coordinator_y", "/v1/matches", "match_id") == []
    assert await ids("employer_b", "/v1/openings", "id") == []
    assert await ids("coordinator_y", "/v1/students", "id") == []
    outcomes = await http.get(
        "/v1/reports/outcomes", headers=bearer(world.secrets["coordinator_y"])
    )
    rows = outcomes.json()
    # Only their own school, and no one in it: every group listed, each at 0 students.
    assert [r["group"] for r in rows if r["dimension"] == "school"] == ["sch_y"]
    assert rows and all(r["students"] == 0 for r in rows)
    own = await http.get("/v1/reports/outcomes", headers=bearer(world.secrets["coordinator_x"]))
    schools = {r["group"]: r["students"] for r in own.json() if r["dimension"] == "school"}
    assert schools == {"sch_x": 1}
    statewide = await http.get("/v1/reports/outcomes", headers=bearer(ADMIN_TOKEN))
    assert ("sch_x", True) in {
        (r["group"], r["suppressed"]) for r in statewide.json() if r["dimension"] == "school"
    }


async def test_a_class_row_for_another_school_is_refused_by_row(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    world = await build_world(app.state.registry)
    response = await http.post(
        "/v1/students/bulk",
        json=[student_body("sch_x")],
        headers=bearer(world.secrets["coordinator_y"]),
    )
    body = response.json()
    assert body["registered"] == [] and body["already_registered"] == []
    assert body["errors"] == [
        {
            "row": 1,
            "field": "school_id",
            "message": "you do not coordinate school 'sch_x'",
            "student": "Ana Zyxwvuts",
        }
    ]


async def test_a_revoked_or_rotated_key_is_unknown(app: FastAPI, http: httpx.AsyncClient) -> None:
    world = await build_world(app.state.registry)
    old = world.secrets["employer_a"]
    rotated = await http.post("/v1/employers/me/api-key", headers=bearer(old))
    assert (await http.get("/v1/openings", headers=bearer(old))).status_code == 401
    new = rotated.json()["api_key"]
    assert (await http.get("/v1/openings", headers=bearer(new))).status_code == 200
    employer_id = rotated.json()["id"]
    revoked = await http.delete(f"/v1/employers/{employer_id}/api-key", headers=bearer(ADMIN_TOKEN))
    assert revoked.status_code == 204
    assert (await http.get("/v1/openings", headers=bearer(new))).status_code == 401


async def test_a_reissued_coordinator_token_is_unknown(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    world = await build_world(app.state.registry)
    old = world.secrets["coordinator_x"]
    reissued = await http.post("/v1/coordinators/me/token", headers=bearer(old))
    assert reissued.status_code == 200
    assert (await http.get("/v1/students", headers=bearer(old))).status_code == 401
    new = reissued.json()["token"]
    assert (await http.get("/v1/students", headers=bearer(new))).status_code == 200
    by_admin = await http.post(
        f"/v1/coordinators/{reissued.json()['id']}/token", headers=bearer(ADMIN_TOKEN)
    )
    assert (await http.get("/v1/students", headers=bearer(new))).status_code == 401
    assert (
        await http.get("/v1/students", headers=bearer(by_admin.json()["token"]))
    ).status_code == 200
    unknown = await http.post("/v1/coordinators/coo_nobody/token", headers=bearer(ADMIN_TOKEN))
    assert unknown.status_code == 404

"""The HTTP edge over the in-memory store: field-level 422s with nothing stored, body
limits, class lists, reports, and the OpenAPI document."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.unit.registry.builders import PLAN, opening_body, person, student_body
from tests.unit.registry.conftest import ADMIN_TOKEN, BODY_LIMIT, bearer, events_on
from wbl_registry import bulk
from wbl_registry.bulk import CSV_COLUMNS
from wbl_registry.domain import Student
from wbl_registry.store import InMemoryRegistryStore
from wbl_schemas.topics import OPENINGS

pytestmark = pytest.mark.unit


@pytest.fixture
async def employer_key(http: httpx.AsyncClient) -> str:
    created = await http.post("/v1/employers", json={"name": "Acme"}, headers=bearer(ADMIN_TOKEN))
    key: str = created.json()["api_key"]
    return key


@pytest.fixture
async def coordinator_token(http: httpx.AsyncClient) -> str:
    created = await http.post(
        "/v1/coordinators",
        json={"name": "Dana", "school_ids": ["sch_1"]},
        headers=bearer(ADMIN_TOKEN),
    )
    token: str = created.json()["token"]
    return token


def problem_fields(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return [e["field"] for e in response.json()["errors"]]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"career_field": "basket-weaving"}, "career_field"),
        ({"required_credentials": ["osha-99"]}, "required_credentials"),
        ({"ends_on": "2027-05-01"}, "ends_on"),
        ({"seats": 0}, "seats"),
        ({"hours_per_week": 0}, "hours_per_week"),
        ({"hours_per_week": 41}, "hours_per_week"),
        ({"hazardous": True}, "min_age"),
        ({"hazardous": True, "min_age": 17}, "min_age"),
        ({"min_age": 17}, "min_age"),  # all matching learns of an age is its band
        ({"location": {"town": "Nowhere", "lat": 91, "lon": 0}}, "location.lat"),
        ({"location": {"town": "Nowhere", "lat": 0, "lon": -181}}, "location.lon"),
        ({"location": None}, "location"),
        ({"starts_on": "not-a-date"}, "starts_on"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_a_bad_opening_names_the_field_and_stores_nothing(
    http: httpx.AsyncClient,
    memory_store: InMemoryRegistryStore,
    employer_key: str,
    changes: dict[str, Any],
    field: str,
) -> None:
    response = await http.post(
        "/v1/openings", json=opening_body(**changes), headers=bearer(employer_key)
    )
    assert field in problem_fields(response)
    assert memory_store.openings == {} and events_on(memory_store, OPENINGS) == []


async def test_a_bad_patch_names_the_field_and_changes_nothing(
    http: httpx.AsyncClient, memory_store: InMemoryRegistryStore, employer_key: str
) -> None:
    posted = await http.post("/v1/openings", json=opening_body(), headers=bearer(employer_key))
    path = f"/v1/openings/{posted.json()['id']}"
    for changes, field in (({"seats": 0}, "seats"), ({"career_field": "juggling"}, "career_field")):
        response = await http.patch(path, json=changes, headers=bearer(employer_key))
        assert problem_fields(response) == [field]
    assert len(events_on(memory_store, OPENINGS)) == 1
    assert (await http.get(path, headers=bearer(employer_key))).json()["version"] == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"grade": 8}, "grade"),
        ({"grade": 15}, "grade"),
        ({"email": "not-an-email"}, "email"),
        ({"program": "juggling"}, "program"),
        ({"career_fields": []}, "career_fields"),
        ({"career_fields": ["basket-weaving"]}, "career_fields"),
        ({"credentials": ["osha-99"]}, "credentials"),
        ({"date_of_birth": "2020-01-01"}, "date_of_birth"),
        ({"available_to": "2027-05-01"}, "available_to"),
        ({"home": {"town": "X", "lat": 100, "lon": 0}}, "home.lat"),
        ({"hours_per_week": 50}, "hours_per_week"),
        ({"max_commute_km": -1}, "max_commute_km"),
        ({"special_populations": ["left-handed"]}, "special_populations.0"),
        ({"first_name": ""}, "first_name"),
    ],
)
async def test_a_bad_student_names_the_field_and_stores_nothing(
    http: httpx.AsyncClient,
    memory_store: InMemoryRegistryStore,
    coordinator_token: str,
    changes: dict[str, Any],
    field: str,
) -> None:
    events_before = len(memory_store.events)
    response = await http.post(
        "/v1/students", json=student_body("sch_1", **changes), headers=bearer(coordinator_token)
    )
    assert field in problem_fields(response)
    assert memory_store.students == {} and len(memory_store.events) == events_before


async def test_the_same_student_twice_is_a_conflict(
    http: httpx.AsyncClient, coordinator_token: str
) -> None:
    body = student_body("sch_1")
    first = await http.post("/v1/students", json=body, headers=bearer(coordinator_token))
    again = await http.post("/v1/students", json=body, headers=bearer(coordinator_token))
    assert (first.status_code, again.status_code) == (201, 409)
    assert first.json()["age_at_start"] == 17


async def test_a_coordinator_with_a_webhook_gets_its_secret_once(http: httpx.AsyncClient) -> None:
    created = await http.post(
        "/v1/coordinators",
        json={
            "name": "Dana",
            "school_ids": ["sch_1"],
            "channels": {"webhook_url": "https://h.example/x"},
        },
        headers=bearer(ADMIN_TOKEN),
    )
    assert created.status_code == 201
    assert created.json()["webhook_secret"].startswith("whsec_")
    me = await http.get("/v1/coordinators/me", headers=bearer(created.json()["token"]))
    assert me.json()["webhook_secret"] is None


async def with_webhook(http: httpx.AsyncClient, name: str = "Dana") -> dict[str, Any]:
    created = await http.post(
        "/v1/coordinators",
        json={
            "name": name,
            "school_ids": ["sch_1"],
            "channels": {"webhook_url": "https://h.example/x"},
        },
        headers=bearer(ADMIN_TOKEN),
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def rotate(coordinator_id: str) -> str:
    return f"/v1/coordinators/{coordinator_id}/webhook-secret/rotate"


async def test_the_admin_and_the_coordinator_rotate_its_webhook_secret(
    http: httpx.AsyncClient,
) -> None:
    dana = await with_webhook(http)
    by_admin = await http.post(rotate(dana["id"]), headers=bearer(ADMIN_TOKEN))
    assert by_admin.status_code == 200, by_admin.text
    assert by_admin.json()["generation"] == 2
    assert by_admin.json()["webhook_secret"] not in (None, dana["webhook_secret"])
    assert by_admin.json()["previous_valid_until"]
    by_self = await http.post(rotate(dana["id"]), headers=bearer(dana["token"]))
    assert by_self.status_code == 200, by_self.text
    assert by_self.json()["generation"] == 3
    assert by_self.json()["webhook_secret"] != by_admin.json()["webhook_secret"]


async def test_rotating_a_webhook_secret_refuses_others_and_explains(
    http: httpx.AsyncClient, coordinator_token: str, employer_key: str
) -> None:
    dana = await with_webhook(http)
    lee = await with_webhook(http, "Lee")
    plain = await http.get("/v1/coordinators/me", headers=bearer(coordinator_token))
    cases = [
        (rotate(dana["id"]), {}, 401),
        (rotate(dana["id"]), bearer("coo_forged"), 401),
        (rotate(dana["id"]), bearer(lee["token"]), 403),
        (rotate(dana["id"]), bearer(employer_key), 403),
        (rotate("coo_nobody"), bearer(ADMIN_TOKEN), 404),
        (rotate(plain.json()["id"]), bearer(ADMIN_TOKEN), 409),
    ]
    for path, headers, expected in cases:
        refused = await http.post(path, headers=headers)
        assert refused.status_code == expected, (path, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
    no_hook = await http.post(rotate(plain.json()["id"]), headers=bearer(ADMIN_TOKEN))
    assert no_hook.json()["errors"][0]["field"] == "channels.webhook_url"
    assert "set a webhook URL first" in no_hook.json()["errors"][0]["message"]
    # Nothing changed for Dana: the next rotation is still the second generation.
    after = await http.post(rotate(dana["id"]), headers=bearer(ADMIN_TOKEN))
    assert after.json()["generation"] == 2


# -- body limits -------------------------------------------------------------------------


async def test_a_declared_oversized_body_is_refused(
    http: httpx.AsyncClient, coordinator_token: str
) -> None:
    response = await http.post(
        "/v1/students/bulk",
        content=b"x" * (BODY_LIMIT + 1),
        headers={**bearer(coordinator_token), "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("path", ["/v1/students", "/v1/students/bulk"])
async def test_a_chunked_oversized_body_is_refused_while_reading(
    http: httpx.AsyncClient, memory_store: InMemoryRegistryStore, coordinator_token: str, path: str
) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b"["
        while sent < 4 * BODY_LIMIT:
            sent += 8192
            yield b" " * 8192
        yield b"]"

    response = await http.post(
        path,
        content=chunks(),
        headers={**bearer(coordinator_token), "content-type": "application/json"},
    )
    assert response.status_code == 413, response.text
    assert "content-length" not in response.request.headers
    assert response.headers["content-type"].startswith("application/problem+json")
    assert memory_store.students == {}


# -- class lists -------------------------------------------------------------------------


def class_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(CSV_COLUMNS))
    writer.writeheader()
    for body in rows:
        flat = {k: v for k, v in body.items() if k != "home"}
        for name in ("career_fields", "credentials", "languages", "special_populations"):
            flat[name] = ";".join(body.get(name, []))
        flat.update(
            home_town=body["home"]["town"],
            home_lat=body["home"]["lat"],
            home_lon=body["home"]["lon"],
        )
        writer.writerow(flat)
    return out.getvalue()


async def test_a_csv_class_list_stores_good_rows_and_reports_bad_ones(
    http: httpx.AsyncClient, memory_store: InMemoryRegistryStore, coordinator_token: str
) -> None:
    rows = [
        student_body("sch_1", "Ana", special_populations=["english-learners"]),
        student_body("sch_1", "Ben", grade=7),
        student_body("sch_1", "Cy", career_fields=["cybersecurity", "mechatronics"]),
        student_body("sch_1", "Di", program="juggling"),
        student_body("sch_1", "Ed", email="nope"),
    ]
    response = await http.post(
        "/v1/students/bulk",
        files={"file": ("class.csv", class_csv(rows), "text/csv")},
        headers=bearer(coordinator_token),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    # Spreadsheet lines: the header is line 1, Ana line 2.
    assert [r["row"] for r in body["registered"]] == [2, 4]
    assert [(e["row"], e["field"], e["student"]) for e in body["errors"]] == [
        (3, "grade", "Ben Zyxwvuts"),
        (5, "program", "Di Zyxwvuts"),
        (6, "email", "Ed Zyxwvuts"),
    ]
    stored = {s.id: s for s in memory_store.students.values()}
    assert set(stored) == {r["id"] for r in body["registered"]}
    cy = stored[body["registered"][1]["id"]]
    assert cy.plan.career_fields == ("cybersecurity", "mechatronics")
    assert stored[body["registered"][0]["id"]].special_populations == ("english-learners",)


async def test_a_class_list_without_the_needed_columns_is_refused_whole(
    http: httpx.AsyncClient, memory_store: InMemoryRegistryStore, coordinator_token: str
) -> None:
    response = await http.post(
        "/v1/students/bulk",
        content="school_id,first_name\nsch_1,Ana\n",
        headers={**bearer(coordinator_token), "content-type": "text/csv"},
    )
    assert problem_fields(response) == ["file"]
    assert "email" in response.json()["errors"][0]["message"]
    assert memory_store.students == {}


async def test_a_class_list_in_another_format_is_unsupported(
    http: httpx.AsyncClient, coordinator_token: str
) -> None:
    response = await http.post(
        "/v1/students/bulk",
        content=b"<students/>",
        headers={**bearer(coordinator_token), "content-type": "application/xml"},
    )
    assert response.status_code == 415


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'[{"first_name": "\x92"}]', "not UTF-8"),  # e.g. a Windows-1252 export
        (b"[" * 20_000 + b"]" * 20_000, "nested too deeply"),
        (b"[{", "not JSON"),
    ],
)
async def test_a_json_class_list_that_cannot_be_read_is_refused_whole(
    http: httpx.AsyncClient,
    memory_store: InMemoryRegistryStore,
    coordinator_token: str,
    body: bytes,
    message: str,
) -> None:
    response = await http.post(
        "/v1/students/bulk",
        content=body,
        headers={**bearer(coordinator_token), "content-type": "application/json"},
    )
    assert problem_fields(response) == ["body"]
    assert message in response.json()["errors"][0]["message"]
    assert memory_store.students == {}


def test_a_csv_with_old_mac_line_ends_reads_and_an_unreadable_one_is_named() -> None:
    assert len(bulk.csv_records(bulk.CSV_EXAMPLE.replace("\n", "\r")).records) == 1
    oversized = bulk.CSV_EXAMPLE.replace("Ana", "A" * 200_000)  # past csv's field limit
    with pytest.raises(bulk.ClassListError, match="not readable as CSV: field larger"):
        bulk.csv_records(oversized)


async def test_a_page_beyond_any_list_is_a_field_error_not_a_crash(
    http: httpx.AsyncClient, coordinator_token: str
) -> None:
    too_far = await http.get(
        "/v1/students", params={"page": 10**22}, headers=bearer(coordinator_token)
    )
    assert problem_fields(too_far) == ["query.page"]
    last = await http.get(
        "/v1/students", params={"page": 1_000_000}, headers=bearer(coordinator_token)
    )
    assert last.status_code == 200 and last.json() == []


# -- reports -----------------------------------------------------------------------------


async def test_the_outcomes_report_as_csv(http: httpx.AsyncClient, coordinator_token: str) -> None:
    for first in ("Ana", "Ben"):
        body = student_body("sch_1", first, special_populations=["high-needs"])
        await http.post("/v1/students", json=body, headers=bearer(coordinator_token))

    def by_group(response: httpx.Response) -> dict[tuple[str, str], dict[str, str]]:
        assert response.headers["content-type"].startswith("text/csv")
        assert "Ana" not in response.text
        rows = csv.DictReader(io.StringIO(response.text))
        return {(r["dimension"], r["group"]): r for r in rows}

    # The coordinator's own schools: exact figures.
    own = by_group(
        await http.get("/v1/reports/outcomes?format=csv", headers=bearer(coordinator_token))
    )
    assert own[("special_population", "high-needs")]["students"] == "2"
    assert own[("school", "sch_1")]["placement_rate"] == "0.0"
    # Statewide, a group of 2 would single students out: its figures are withheld, and
    # the file says why; booleans as spreadsheets and other languages read them.
    statewide = await http.get("/v1/reports/outcomes?format=csv", headers=bearer(ADMIN_TOKEN))
    state = by_group(statewide)
    hidden = state[("special_population", "high-needs")]
    figures = ("students", "placed", "pending", "placement_rate")
    assert {k: hidden[k] for k in figures} == dict.fromkeys(figures, "")
    assert (hidden["suppressed"], hidden["suppression"]) == ("true", "small-group")
    assert hidden["suppressed_reason"].startswith("fewer than 10 students")
    assert hidden["group_name"] == "High needs"
    # An empty group is there, at 0, not withheld.
    empty = state[("special_population", "english-learners")]
    assert (empty["students"], empty["placement_rate"]) == ("0", "0.0")
    assert empty["suppressed"] == "false"
    assert "True" not in statewide.text and "False" not in statewide.text
    disposition = statewide.headers["content-disposition"]
    assert re.fullmatch(
        r'attachment; filename="wbl-outcomes-\d{4}-07-01-\d{4}-06-30-asof-\d{4}-\d\d-\d\d\.csv"',
        disposition,
    ), disposition


# -- OpenAPI -----------------------------------------------------------------------------


def test_every_operation_documents_an_example(app: FastAPI) -> None:
    spec = app.openapi()
    schemas = spec["components"]["schemas"]
    missing = []
    for path, operations in spec["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in operations.items():
            if not _has_example(operation, schemas):
                missing.append(f"{method.upper()} {path}")
    assert missing == []


def _has_example(operation: dict[str, Any], schemas: dict[str, Any]) -> bool:
    """A request example for a body, else an example for each parameter; plain GETs of
    fixed lists (the reference data) need none."""
    body = operation.get("requestBody")
    if body:
        for media in body["content"].values():
            if "example" in media or "examples" in media:
                return True
            ref = media.get("schema", {}).get("$ref", "")
            if "examples" in schemas.get(ref.rsplit("/", 1)[-1], {}):
                return True
            ref = media.get("schema", {}).get("anyOf", [{}])[0].get("$ref", "")
            if "examples" in schemas.get(ref.rsplit("/", 1)[-1], {}):
                return True
        return False
    return all(
        "examples" in p.get("schema", {}) or "examples" in p or "example" in p
        for p in operation.get("parameters", [])
    )


# -- notification channels ---------------------------------------------------------------

BAD_CHANNELS = [
    ({"email": "not an email"}, "channels.email"),
    ({"email": "dana@school.example.org\r\nBcc: all@example.org"}, "channels.email"),
    ({"email": "dana@"}, "channels.email"),
    ({"webhook_url": "not a url"}, "channels.webhook_url"),
    ({"webhook_url": "file:///etc/passwd"}, "channels.webhook_url"),
    ({"webhook_url": "javascript:alert(1)"}, "channels.webhook_url"),
    ({"webhook_url": "http://hooks.example.org/wbl"}, "channels.webhook_url"),
    ({"webhook_url": "http://127.0.0.1:8001/v1/employers"}, "channels.webhook_url"),
    ({"webhook_url": "https://127.0.0.1:8001/v1/employers"}, "channels.webhook_url"),
    ({"webhook_url": "https://169.254.169.254/latest/meta-data"}, "channels.webhook_url"),
    ({"webhook_url": "https://10.0.0.1/"}, "channels.webhook_url"),
    ({"webhook_url": "https://[::1]/"}, "channels.webhook_url"),
    ({"webhook_url": "https://2130706433/"}, "channels.webhook_url"),
    ({"webhook_url": "https://[::1"}, "channels.webhook_url"),
    ({"webhook_url": "https://hooks.example.org:99999/"}, "channels.webhook_url"),
    ({"webhook_url": "https://user:secret@hooks.example.org/"}, "channels.webhook_url"),
    ({"webhook_url": "https://hooks.example.org/a\r\nX-Evil: 1"}, "channels.webhook_url"),
    ({"webhook_url": "https://hooks.example.org/" + "a" * 5000}, "channels.webhook_url"),
]


@pytest.mark.parametrize(("channels", "field"), BAD_CHANNELS)
async def test_a_bad_channel_names_its_field_and_stores_nothing(
    http: httpx.AsyncClient,
    memory_store: InMemoryRegistryStore,
    channels: dict[str, str],
    field: str,
) -> None:
    created = await http.post(
        "/v1/coordinators",
        json={"name": "Dana", "school_ids": ["sch_1"], "channels": channels},
        headers=bearer(ADMIN_TOKEN),
    )
    assert problem_fields(created) == [field]
    assert memory_store.coordinators == {} and memory_store.events == []


@pytest.mark.parametrize(("channels", "field"), BAD_CHANNELS[:8])
async def test_a_bad_channel_in_an_update_changes_nothing(
    http: httpx.AsyncClient,
    memory_store: InMemoryRegistryStore,
    channels: dict[str, str],
    field: str,
) -> None:
    created = await http.post(
        "/v1/coordinators",
        json={"name": "Dana", "school_ids": ["sch_1"], "channels": {"email": "d@example.org"}},
        headers=bearer(ADMIN_TOKEN),
    )
    coordinator_id, events = created.json()["id"], len(memory_store.events)
    changed = await http.patch(
        f"/v1/coordinators/{coordinator_id}",
        json={"channels": channels},
        headers=bearer(ADMIN_TOKEN),
    )
    assert problem_fields(changed) == [field]
    assert len(memory_store.events) == events
    assert memory_store.coordinators[coordinator_id].channels.email == "d@example.org"


@pytest.mark.parametrize(
    "url", ["https://hooks.example.org/wbl?school=1", "https://93.184.216.34/hook"]
)
async def test_a_public_https_webhook_is_taken(http: httpx.AsyncClient, url: str) -> None:
    created = await http.post(
        "/v1/coordinators",
        json={"name": "Dana", "school_ids": ["sch_1"], "channels": {"webhook_url": url}},
        headers=bearer(ADMIN_TOKEN),
    )
    assert created.status_code == 201, created.text
    assert created.json()["channels"]["webhook_url"] == url


def test_http_to_this_machine_only_where_the_development_setting_allows() -> None:
    from wbl_registry.channels import webhook_url_problem

    for url in ("http://127.0.0.1:18000/hook", "http://localhost/hook", "http://[::1]:9/x"):
        assert webhook_url_problem(url, loopback_allowed=False) is not None
        assert webhook_url_problem(url, loopback_allowed=True) is None
    assert webhook_url_problem("http://hooks.example.org/", loopback_allowed=True) is not None
    assert webhook_url_problem("http://10.0.0.1/", loopback_allowed=True) is not None


# -- spreadsheet formulas ----------------------------------------------------------------

FORMULAS = ['=HYPERLINK("http://x.example")', "+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx"]


async def test_no_outcomes_csv_cell_starts_a_formula(
    http: httpx.AsyncClient, memory_store: InMemoryRegistryStore
) -> None:
    # Stored before school ids had to start with a letter or digit.
    for n, school in enumerate(FORMULAS):
        memory_store.students[f"stu_{n}"] = Student(f"stu_{n}", school, person(), PLAN)
    response = await http.get("/v1/reports/outcomes?format=csv", headers=bearer(ADMIN_TOKEN))
    rows = list(csv.reader(io.StringIO(response.text, newline="")))
    cells = [cell for row in rows for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    schools = {r["group"] for r in csv.DictReader(io.StringIO(response.text, newline=""))}
    assert {"'" + school for school in FORMULAS} <= schools


@pytest.mark.parametrize("school", ["-sch", "=sch", "+1", "@x", ".x", "_x", " x"])
async def test_a_school_id_starts_with_a_letter_or_digit_wherever_it_is_given(
    http: httpx.AsyncClient, employer_key: str, coordinator_token: str, school: str
) -> None:
    coordinator = await http.post(
        "/v1/coordinators", json={"name": "D", "school_ids": [school]}, headers=bearer(ADMIN_TOKEN)
    )
    assert problem_fields(coordinator) == ["school_ids.0"]
    student = await http.post(
        "/v1/students", json=student_body(school), headers=bearer(coordinator_token)
    )
    assert problem_fields(student) == ["school_id"]
    opening = await http.post(
        "/v1/openings",
        json=opening_body(hiring_preferences={"partner_schools": [school]}),
        headers=bearer(employer_key),
    )
    assert problem_fields(opening) == ["hiring_preferences.partner_schools.0"]


# -- languages ---------------------------------------------------------------------------


async def test_a_language_is_refused_as_a_hiring_preference_and_taken_as_a_requirement(
    http: httpx.AsyncClient, memory_store: InMemoryRegistryStore, employer_key: str
) -> None:
    preferred = await http.post(
        "/v1/openings",
        json=opening_body(hiring_preferences={"languages": ["es"]}),
        headers=bearer(employer_key),
    )
    assert problem_fields(preferred) == ["hiring_preferences"]
    assert "required_languages" in preferred.json()["errors"][0]["message"]
    assert memory_store.openings == {}
    required = await http.post(
        "/v1/openings",
        json=opening_body(required_languages=["es", "es"]),
        headers=bearer(employer_key),
    )
    assert required.status_code == 201, required.text
    assert required.json()["required_languages"] == ["es"]
    [event] = events_on(memory_store, OPENINGS)
    assert event.payload.required_languages == ("es",)  # type: ignore[attr-defined]
    assert "languages" not in event.payload.hiring_preferences.model_dump()  # type: ignore[attr-defined]

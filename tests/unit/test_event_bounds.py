"""Poison never stops the line: every list and string a request fills is bounded, so no
event the services publish can come near Kafka's 1 MiB message limit (issue 10, poison 6).

One employer's opening with 2,000 x 1,000-character hiring languages was accepted; its
2 MB event was refused by the broker and held the registry's outbox relay for good."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any, get_args

import httpx
import pytest
from fastapi import FastAPI

from tests.unit.registry.builders import opening_body, student_body
from tests.unit.registry.conftest import ADMIN_TOKEN, bearer, settings
from wbl_common.bus import serialize
from wbl_common.workers import InlineWorkers
from wbl_matcher.handlers import Matcher
from wbl_matcher.store import InMemoryMatcherStore
from wbl_registry.app import create_app
from wbl_registry.handlers import Registry
from wbl_registry.store import InMemoryRegistryStore
from wbl_schemas.envelope import Envelope
from wbl_schemas.events import (
    MAX_EVENT_BYTES,
    AgreementComplete,
    AgreementIssued,
    AgreementRef,
    AgreementSignature,
    AgreementSigned,
    AnyEvent,
    CoordinatorProfile,
    CoordinatorRegistered,
    EvaluationRef,
    EvaluationSubmitted,
    HiringPreferences,
    HoursEntry,
    HoursLogged,
    MainRoundRun,
    MatchProposed,
    NotificationChannels,
    OpeningPublished,
    OpeningSnapshot,
    OpeningUpdated,
    PermitRecorded,
    Place,
    PlacementClosed,
    PlacementCompleted,
    PlacementConfirmed,
    PlacementDecision,
    PlacementEnd,
    PlacementFact,
    SeasonScheduled,
    SeasonState,
    StudentMatchProfile,
    StudentRef,
    StudentRegistered,
    StudentUpdated,
    StudentWithdrawn,
    WeekRef,
    WeekVerified,
    parse_event,
)
from wbl_schemas.reference import load_reference
from wbl_schemas.topics import OPENINGS

pytestmark = pytest.mark.unit

DEFAULT_BODY_LIMIT = 5 * 1024 * 1024  # the registry's default: the seen body fits under it


@pytest.fixture
def store() -> InMemoryRegistryStore:
    return InMemoryRegistryStore()


@pytest.fixture
def registry_app(store: InMemoryRegistryStore) -> FastAPI:
    app = create_app(settings(max_body_bytes=DEFAULT_BODY_LIMIT))
    app.state.registry = Registry(store=store, reference=load_reference(), webhook_key="k" * 40)
    app.state.class_lists = InlineWorkers()
    return app


@pytest.fixture
async def http(registry_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(registry_app), base_url="http://registry"
    ) as client:
        yield client


async def employer_key(http: httpx.AsyncClient) -> str:
    created = await http.post("/v1/employers", json={"name": "Acme"}, headers=bearer(ADMIN_TOKEN))
    assert created.status_code == 201, created.text
    key: str = created.json()["api_key"]
    return key


async def test_the_opening_with_2000_long_required_languages_is_refused_naming_the_field(
    http: httpx.AsyncClient, store: InMemoryRegistryStore
) -> None:
    languages = [f"{n:04d}" + "x" * 996 for n in range(2000)]
    body = opening_body(required_languages=languages)
    response = await http.post("/v1/openings", json=body, headers=bearer(await employer_key(http)))
    assert response.status_code == 422, response.text[:300]
    assert response.headers["content-type"].startswith("application/problem+json")
    fields = {e["field"] for e in response.json()["errors"]}
    assert "required_languages" in fields, fields
    assert store.openings == {} and not [e for e in store.events if e.topic == OPENINGS]


# -- the largest valid requests, and every event they make ---------------------------------

# Fillers for free text: a 4-byte UTF-8 character, and a control character, which JSON
# writes as a 6-byte escape (the most bytes one character can cost).
FILLERS = {"4-byte UTF-8": "\U0001d538", "escaped control": "\x01"}
REFERENCE = load_reference()


def longest(kind: str, count: int, distinct: bool = False) -> list[str]:
    """`count` reference codes of `kind`, longest first; repeated where duplicates pass."""
    codes = sorted(REFERENCE.codes(kind), key=lambda c: (-len(c), c))
    if distinct:
        assert len(codes) >= count, f"the reference has only {len(codes)} {kind}"
        return codes[:count]
    return [codes[0]] * count


def school(n: int) -> str:
    return f"sch_{n:03d}_" + "s" * 56  # 64 characters, the most a school id may have


def email(tag: str) -> str:
    """A valid address of 254 characters (email-validator's limit), unique by tag."""
    local = f"{tag}.".ljust(64, "e")
    domain = ".".join(["d" * 63, "d" * 63, "d" * 53, "example"])
    address = f"{local}@{domain}"
    assert len(address) == 254, len(address)
    return address


def largest_coordinator(w: str, n: int) -> dict[str, Any]:
    return {
        "name": w * 200,
        "school_ids": [school(n * 100 + i) for i in range(50)],
        "channels": {
            "email": email(f"coo{n}"),
            "webhook_url": "https://hooks.example.org/" + "h" * (2000 - 26),
            "digest": "immediate",
        },
    }


def largest_opening(w: str) -> dict[str, Any]:
    far = {"town": w * 120, "lat": -45.123456789012345, "lon": -171.12345678901234}
    return opening_body(
        title=w * 200,
        career_field=longest("career_fields", 1)[0],
        seats=500,
        location=far,
        hours_per_week=40,
        required_credentials=longest("credentials", 20, distinct=True),
        required_languages=[w * 34 + str(n) for n in range(5)],
        hiring_preferences={
            "partner_programs": longest("programs", 20),
            "partner_schools": [school(i) for i in range(50)],  # ASCII: a letter or digit first
            "preferred_credentials": longest("credentials", 20),
        },
    )


def largest_student(w: str, school_id: str, tag: str, career_field: str) -> dict[str, Any]:
    fields = [career_field] + [f for f in longest("career_fields", 10, True) if f != career_field]
    return student_body(
        school_id,
        first_name=w * 100,
        last_name=w * 100,
        email=email(tag),
        program=longest("programs", 1)[0],
        career_fields=fields[:10],
        credentials=longest("credentials", 20, distinct=True) + longest("credentials", 10),
        languages=[w * 34 + str(n) for n in range(10)],  # speaks what the opening requires
        home={"town": w * 120, "lat": -45.123456789012345, "lon": -171.12345678901234},
        max_commute_km=499.99999999999994,
        hours_per_week=40,
        special_populations=[
            "economically-disadvantaged",
            "students-with-disabilities",
            "english-learners",
            "high-needs",
            "first-generation",
        ],
    )


async def succeeded(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    body: dict[str, Any] = response.json()
    return body


def measured(events: list[Envelope]) -> dict[str, int]:
    """Each event type's largest size as the outbox serializes it; each also parses back
    as its topic's consumers parse it."""
    sizes: dict[str, int] = {}
    for event in events:
        raw = serialize(event)
        assert parse_event(event.topic, raw) == event
        sizes[event.event_type] = max(sizes.get(event.event_type, 0), len(raw))
    return sizes


@pytest.mark.parametrize("w", list(FILLERS.values()), ids=list(FILLERS))
async def test_the_largest_valid_requests_make_events_under_the_maximum(
    http: httpx.AsyncClient, store: InMemoryRegistryStore, w: str
) -> None:
    admin = bearer(ADMIN_TOKEN)
    coordinator = await succeeded(
        await http.post("/v1/coordinators", json=largest_coordinator(w, 1), headers=admin), 201
    )
    revised = await succeeded(
        await http.patch(
            f"/v1/coordinators/{coordinator['id']}", json=largest_coordinator(w, 2), headers=admin
        )
    )
    gone = await succeeded(
        await http.post("/v1/coordinators", json=largest_coordinator(w, 3), headers=admin), 201
    )
    assert (await http.delete(f"/v1/coordinators/{gone['id']}", headers=admin)).status_code == 204
    coordinator_key = bearer(coordinator["token"])
    school_id = revised["school_ids"][0]

    employer = bearer(await employer_key(http))
    longest_url = {"webhook_url": "https://hooks.example.org/" + "h" * (2000 - 26)}
    await succeeded(await http.patch("/v1/employers/me", json=longest_url, headers=employer))
    rotate = "/v1/employers/me/webhook-secret/rotate"
    await succeeded(await http.post(rotate, headers=employer))
    opening_request = largest_opening(w)
    opening = await succeeded(
        await http.post("/v1/openings", json=opening_request, headers=employer), 201
    )
    await succeeded(
        await http.patch(f"/v1/openings/{opening['id']}", json={"seats": 499}, headers=employer)
    )
    field = opening_request["career_field"]
    students = [
        await succeeded(
            await http.post(
                "/v1/students",
                json=largest_student(w, school_id, "one", field),
                headers=coordinator_key,
            ),
            201,
        )
    ]
    await succeeded(
        await http.patch(
            f"/v1/students/{students[0]['id']}", json={"grade": 12}, headers=coordinator_key
        )
    )
    listed = await succeeded(
        await http.post(
            "/v1/students/bulk",
            json=[largest_student(w, school_id, tag, field) for tag in ("two", "three")],
            headers=coordinator_key,
        )
    )
    assert listed["errors"] == [] and len(listed["registered"]) == 2
    students += [
        await succeeded(await http.get(f"/v1/students/{r['id']}", headers=coordinator_key))
        for r in listed["registered"]
    ]

    # The matcher hears the registry's events as its consumers read them, and proposes.
    matcher_store = InMemoryMatcherStore()
    matcher = Matcher(store=matcher_store, related=REFERENCE.related_fields, seed=7)
    for event in list(store.events):
        parsed = parse_event(event.topic, serialize(event))
        if isinstance(parsed, OpeningPublished | OpeningUpdated):
            await matcher.on_opening_event(parsed)
        elif isinstance(parsed, StudentRegistered | StudentUpdated):
            await matcher.on_student_event(parsed)
    await matcher.run_round(None)
    proposals = [e for e in matcher_store.events if isinstance(e, MatchProposed)]
    assert {p.payload.student_id for p in proposals} == {s["id"] for s in students}

    registry: Registry = http._transport.app.state.registry  # type: ignore[attr-defined]
    for proposal in proposals:
        await registry.on_match_event(parse_event(proposal.topic, serialize(proposal)))
    by_student = {p.payload.student_id: p.payload.match_id for p in proposals}
    note = {"note": w * 500}
    confirm, decline, withdraw = (s["id"] for s in students)
    await succeeded(
        await http.post(
            f"/v1/matches/{by_student[confirm]}/confirm", json=note, headers=coordinator_key
        )
    )
    await succeeded(
        await http.post(
            f"/v1/matches/{by_student[decline]}/decline", json=note, headers=coordinator_key
        )
    )
    await succeeded(await http.post(f"/v1/students/{withdraw}/withdraw", headers=coordinator_key))
    [withdrawn] = [e for e in store.events if isinstance(e, StudentWithdrawn)]
    await matcher.on_student_event(withdrawn)
    assert (await http.delete(f"/v1/openings/{opening['id']}", headers=employer)).status_code == 204

    season = SeasonState(
        version=2**62, main_round_at=datetime.now(UTC), main_round_id=w * 64
    )  # the matcher's season events: fixed fields, the round id at its longest
    seasons = [
        SeasonScheduled(producer="matcher", payload=season),
        MainRoundRun(producer="matcher", payload=season),
    ]
    sizes = measured([*store.events, *matcher_store.events, *seasons, *placement_life(w)])
    print(f"\nlargest events ({w!r} filler), bytes:", sizes)
    assert set(sizes) == {cls.model_fields["event_type"].default for cls in get_args(AnyEvent)}
    assert max(sizes.values()) <= MAX_EVENT_BYTES, sizes


def placement_life(w: str) -> list[Envelope]:
    """A placement's life events at their largest: fixed fields and ids at their longest
    (registry's placement tests publish them through the real outbox)."""
    ids = {"match_id": w * 64, "student_id": w * 64, "school_id": w * 64}
    ref = AgreementRef(**ids, text_hash="f" * 64)
    return [
        AgreementIssued(producer="registry", payload=ref),
        AgreementSigned(
            producer="registry", payload=AgreementSignature(**ref.model_dump(), party="guardian")
        ),
        AgreementComplete(producer="registry", payload=ref),
        PermitRecorded(producer="registry", payload=PlacementFact(**ids)),
        HoursLogged(
            producer="registry", payload=HoursEntry(**ids, day=date(2027, 7, 5), version=2**62)
        ),
        WeekVerified(producer="registry", payload=WeekRef(**ids, week_of=date(2027, 7, 5))),
        EvaluationSubmitted(producer="registry", payload=EvaluationRef(**ids, kind="midpoint")),
        PlacementCompleted(producer="registry", payload=PlacementEnd(**ids, opening_id=w * 64)),
        PlacementClosed(producer="registry", payload=PlacementEnd(**ids, opening_id=w * 64)),
    ]


def code(prefix: str, n: int) -> str:
    return f"{prefix}-{n:02d}-".ljust(80, "x")  # 80 characters, the most a code may have


@pytest.mark.parametrize("w", list(FILLERS.values()), ids=list(FILLERS))
async def test_the_largest_events_the_schemas_allow_and_their_proposals_are_under_the_maximum(
    w: str,
) -> None:
    """At every bound the events allow (longer codes than the reference has, too), each
    event fits; so does the matcher's proposal, whose explanation names those codes."""
    field = code("field", 0)
    credentials = tuple(code("cred", n) for n in range(20))
    languages = tuple(w * 34 + str(n) for n in range(10))
    place = Place(town=w * 120, lat=-45.123456789012345, lon=-171.12345678901234)
    opening_id, school_id = w * 63 + "o", w * 63 + "s"
    snapshot = OpeningSnapshot(
        opening_id=opening_id,
        employer_id=w * 64,
        version=2**53,
        title=w * 200,
        career_field=field,
        seats=2**53,
        seats_remaining=2**53,
        location=place,
        starts_on=date(2027, 6, 1),
        ends_on=date(2027, 8, 31),
        hours_per_week=40,
        paid=True,
        min_age=14,
        required_credentials=credentials,
        required_languages=languages[:5],
        hiring_preferences=HiringPreferences(
            partner_programs=tuple(code("program", n) for n in range(20)),
            partner_schools=tuple(school(n) for n in range(50)),
            preferred_credentials=credentials,
        ),
    )
    profile = StudentMatchProfile(
        student_id=w * 64,
        school_id=school_id,
        version=2**53,
        program=code("other-program", 0),
        career_fields=(field, *(code("field", n) for n in range(1, 10))),
        credentials=credentials + tuple(code("extra", n) for n in range(10)),
        grade=14,
        age_band="21-or-over",
        languages=languages,
        home=place,
        max_commute_km=499.99999999999994,
        available_from=date(2027, 6, 1),
        available_to=date(2027, 8, 31),
        hours_per_week=40,
        favourites=(opening_id, *(w * 62 + f"{n:02d}" for n in range(19))),
    )
    store = InMemoryMatcherStore()
    matcher = Matcher(store=store, related={}, seed=7)
    published = OpeningPublished(producer="registry", payload=snapshot)
    registered = StudentRegistered(producer="registry", payload=profile)
    await matcher.on_opening_event(published)
    await matcher.on_student_event(registered)
    await matcher.run_round(None)
    ref = StudentRef(student_id=profile.student_id, school_id=school_id, version=2**53)
    await matcher.on_student_event(StudentWithdrawn(producer="registry", payload=ref))

    coordinator = CoordinatorRegistered(
        producer="registry",
        payload=CoordinatorProfile(
            coordinator_id=w * 64,
            version=2**53,
            school_ids=tuple(w * 62 + f"{n:02d}" for n in range(50)),
            channels=NotificationChannels(email=w * 254, webhook_url=w * 2000, digest="daily"),
        ),
    )
    ids = {k: w * 64 for k in ("match_id", "student_id", "school_id", "opening_id")}
    decision = PlacementDecision(**ids, coordinator_id=w * 64)
    confirmed = PlacementConfirmed(producer="registry", payload=decision)

    sizes = measured([published, registered, coordinator, confirmed, *store.events])
    [proposal] = [e for e in store.events if isinstance(e, MatchProposed)]
    longest_line = max(len(line) for line in proposal.payload.explanation)
    print(
        f"\nat the schemas' bounds ({w!r}): bytes {sizes}; "
        f"{len(proposal.payload.explanation)} explanation lines, the longest {longest_line} "
        "characters"
    )
    assert set(sizes) == {
        "CoordinatorRegistered",
        "PlacementConfirmed",
        "OpeningPublished",
        "StudentRegistered",
        "MatchProposed",
        "MatchWithdrawn",
    }
    assert max(sizes.values()) <= MAX_EVENT_BYTES, sizes


async def test_a_list_far_over_its_bound_is_one_error_not_one_per_item(
    http: httpx.AsyncClient, store: InMemoryRegistryStore
) -> None:
    created = await http.post(
        "/v1/coordinators",
        json={"name": "Dana", "school_ids": ["sch_1"]},
        headers=bearer(ADMIN_TOKEN),
    )
    body = student_body("sch_1", languages=["x"] * 200_000)  # each item also too short
    response = await http.post("/v1/students", json=body, headers=bearer(created.json()["token"]))
    assert response.status_code == 422, response.text[:300]
    assert response.json()["errors"] == [
        {"field": "languages", "message": "List should have at most 10 items, not 200000"}
    ]
    assert store.students == {}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/employers", {"name": "Acme"}, ""),
        ("/v1/coordinators", {"name": "Dana", "school_ids": ["sch_1"], "channels": {}}, "channels"),
    ],
)
async def test_a_body_of_a_hundred_thousand_unknown_fields_is_one_error(
    http: httpx.AsyncClient, path: str, body: dict[str, Any], field: str
) -> None:
    """extra="forbid" answers one error per unknown field; past 10 they are one error, so
    such a body neither holds the event loop nor is answered with megabytes."""
    unknown = {f"k{n}": 1 for n in range(100_000)}
    body = {**body, field: {**body[field], **unknown}} if field else {**body, **unknown}
    response = await http.post(path, json=body, headers=bearer(ADMIN_TOKEN))
    assert response.status_code == 422, response.text[:300]
    [error] = response.json()["errors"]
    assert error["field"] == field
    assert error["message"].startswith("100000 unknown fields, such as k0, k1, k2")
    assert len(response.content) < 1000

"""The roster: `GET /v1/students` says where each student stands in placement (confirmed,
offered, declined or none, with the opening and employer), filters by it, searches by name
or reference and orders by name; every role in the authorisation matrix."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.unit.registry.builders import TERMS, application, person, proposed
from tests.unit.registry.conftest import ADMIN_TOKEN, bearer
from wbl_registry.domain import Match, MatchStatus
from wbl_registry.handlers import Registry
from wbl_registry.roster import PlacementState, placement_of
from wbl_schemas.events import NotificationChannels

pytestmark = pytest.mark.unit


@dataclass
class School:
    token: str
    other_token: str
    employer_key: str
    ids: dict[str, str]  # first name -> student id


async def school_of_four(registry: Registry) -> School:
    """Ana placed, Ben offered, Cleo declined, Dev with no offer (all at sch_x)."""
    employer, key = await registry.create_employer("Acme Robotics")
    coordinator, token = await registry.create_coordinator("X", ("sch_x",), NotificationChannels())
    _, other = await registry.create_coordinator("Y", ("sch_y",), NotificationChannels())
    opening = await registry.post_opening(employer, TERMS)
    ids = {}
    for first, last in (("Dev", "Zane"), ("Ana", "Young"), ("Ben", "Xu"), ("Cleo", "Walsh")):
        a = application("sch_x")
        a = type(a)(a.school_id, person(first, last), a.plan)
        student = await registry.register_student(coordinator, "sch_x", a.person, a.plan)
        ids[first] = student.id
    matches = {
        f: proposed(ids[f], "sch_x", opening.id, employer.id) for f in ("Ana", "Ben", "Cleo")
    }
    for event in matches.values():
        await registry.on_match_event(event)
    await registry.confirm_match(coordinator, matches["Ana"].payload.match_id)
    await registry.decline_match(coordinator, matches["Cleo"].payload.match_id)
    return School(token, other, key, ids)


async def listed(http: httpx.AsyncClient, token: str, **params: Any) -> httpx.Response:
    response = await http.get("/v1/students", params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    return response


async def test_each_student_says_where_they_stand_and_at_which_opening(
    http: httpx.AsyncClient, app: Any
) -> None:
    school = await school_of_four(app.state.registry)
    body = (await listed(http, school.token, size=10)).json()
    by_name = {s["first_name"]: s["placement"] for s in body}
    assert {n: p["state"] for n, p in by_name.items()} == {
        "Ana": "confirmed",
        "Ben": "offered",
        "Cleo": "declined",
        "Dev": "none",
    }
    ana = by_name["Ana"]
    assert ana["opening_title"] == TERMS.title
    assert ana["employer_name"] == "Acme Robotics"
    assert ana["town"] == "Worcester" and ana["remote"] is False
    assert ana["decided_by"] is not None and ana["match_id"]
    assert by_name["Dev"] == {
        "state": "none",
        "match_id": None,
        "opening_id": None,
        "opening_title": None,
        "employer_name": None,
        "town": None,
        "remote": False,
        "expires_at": None,
        "decided_by": None,
    }
    one = await http.get(f"/v1/students/{school.ids['Ben']}", headers=bearer(school.token))
    assert one.status_code == 200 and one.json()["placement"]["state"] == "offered"


async def test_the_roster_filters_by_placement_searches_and_orders_by_name(
    http: httpx.AsyncClient, app: Any
) -> None:
    school = await school_of_four(app.state.registry)
    offered = await listed(http, school.token, placement="offered")
    assert [s["first_name"] for s in offered.json()] == ["Ben"]
    assert offered.headers["X-Total-Count"] == "1"
    none = await listed(http, school.token, placement="none")
    assert [s["id"] for s in none.json()] == [school.ids["Dev"]]

    # Any part of a name in any case, or the start of the reference.
    assert [s["first_name"] for s in (await listed(http, school.token, q="WALS")).json()] == [
        "Cleo"
    ]
    reference = school.ids["Dev"][:10]
    assert [s["first_name"] for s in (await listed(http, school.token, q=reference)).json()] == [
        "Dev"
    ]

    # By last name, paged: two a page, the next page in Link.
    first = await listed(http, school.token, order="name", size=2)
    assert [s["last_name"] for s in first.json()] == ["Walsh", "Xu"]
    assert first.headers["X-Total-Count"] == "4"
    assert 'rel="next"' in first.headers["Link"] and "page=2" in first.headers["Link"]
    second = await listed(http, school.token, order="name", size=2, page=2)
    assert [s["last_name"] for s in second.json()] == ["Young", "Zane"]
    assert "Link" not in second.headers


async def test_bad_roster_queries_are_refused_with_the_field_named(
    http: httpx.AsyncClient, app: Any
) -> None:
    school = await school_of_four(app.state.registry)
    for params in ({"placement": "placed"}, {"order": "age"}, {"q": "x" * 101}):
        response = await http.get("/v1/students", params=params, headers=bearer(school.token))
        assert response.status_code == 422, (params, response.text)


async def test_the_roster_in_the_authorisation_matrix(http: httpx.AsyncClient, app: Any) -> None:
    """Own school: the students; another school's coordinator: none of them, and 404 for one;
    an employer or the admin: 403; no or an unknown secret: 401."""
    school = await school_of_four(app.state.registry)
    ben = school.ids["Ben"]
    other = await listed(http, school.other_token, placement="offered")
    assert other.json() == [] and other.headers["X-Total-Count"] == "0"
    assert (await listed(http, school.other_token, q="Ben")).json() == []
    one = await http.get(f"/v1/students/{ben}", headers=bearer(school.other_token))
    assert one.status_code == 404
    for secret, status in ((school.employer_key, 403), (ADMIN_TOKEN, 403), ("nope", 401)):
        for path in ("/v1/students?placement=offered&q=Ben", f"/v1/students/{ben}"):
            assert (await http.get(path, headers=bearer(secret))).status_code == status
    assert (await http.get("/v1/students?order=name")).status_code == 401


def match(status: MatchStatus, match_id: str, expires_at: datetime | None = None) -> Match:
    return Match(match_id, "rnd", "stu", "sch", "opn", "emp", "f", status, expires_at=expires_at)


def test_a_placement_stands_over_an_offer_and_an_expired_offer_is_none() -> None:
    now = datetime(2027, 1, 1, tzinfo=UTC)
    later, earlier = now + timedelta(days=1), now - timedelta(seconds=1)
    confirmed = match(MatchStatus.CONFIRMED, "m2")
    assert placement_of([match(MatchStatus.PROPOSED, "m1"), confirmed], now).match == confirmed
    offered = placement_of(
        [match(MatchStatus.DECLINED, "m1"), match(MatchStatus.PROPOSED, "m3", later)], now
    )
    assert offered.state == PlacementState.OFFERED
    expired = placement_of([match(MatchStatus.PROPOSED, "m1", earlier)], now)
    assert expired.state == PlacementState.NONE
    withdrawn = placement_of([match(MatchStatus.WITHDRAWN, "m1")], now)
    assert withdrawn == placement_of([], now)

"""The outcomes report (issue 13): group names beside codes, every group of the reference data
(0 students when empty), withheld groups kept and marked with the reason, offers awaiting a
decision counted, a period with an as-of time, definitions, and a CSV a spreadsheet reads
(true/false, a filename)."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.unit.registry.builders import PLAN, person
from tests.unit.registry.conftest import ADMIN_TOKEN, bearer
from wbl_registry.domain import (
    DomainError,
    Match,
    MatchStatus,
    Outcome,
    OutcomeFacts,
    OutcomeRow,
    Student,
    Suppression,
    outcomes,
    suppress_small_groups,
)
from wbl_registry.handlers import Registry
from wbl_registry.report import choose_period, parse_school_year, school_year_of
from wbl_registry.store import InMemoryRegistryStore
from wbl_schemas.events import NotificationChannels

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 2, 16, 5, tzinfo=UTC)
SCHOOL = "sch_worcester_tech"  # listed in the reference data: it has a name


# -- the counting, pure -------------------------------------------------------------------


def facts(n: int, **changes: Any) -> OutcomeFacts:
    base = OutcomeFacts(f"s{n}", "a", "p-tech", "robotics", (), True)
    return replace(base, **changes)


def test_every_listed_group_has_a_row_and_an_empty_one_counts_zero() -> None:
    rows = outcomes([facts(1)], set(), groups={"program": ("p-tech", "early-college")})
    by = {(r.dimension, r.group): r for r in rows}
    assert (by[("program", "early-college")].students, by[("program", "p-tech")].students) == (0, 1)
    assert by[("program", "early-college")].placement_rate == 0.0


def test_an_offer_awaiting_a_decision_is_pending_and_a_placed_student_never_is() -> None:
    cohort = [facts(1), facts(2), facts(3)]
    [row] = [r for r in outcomes(cohort, {"s1"}, {"s1", "s2"}) if r.dimension == "school"]
    assert (row.students, row.placed, row.pending, row.not_placed) == (3, 1, 1, 1)


def test_an_empty_group_is_shown_and_a_small_one_is_withheld_with_its_reason() -> None:
    cohort = [facts(n, school_id="big") for n in range(12)] + [facts(99, school_id="tiny")]
    groups = {"school": ("big", "tiny", "empty")}
    rows = {r.group: r for r in suppress_small_groups(outcomes(cohort, set(), groups=groups), 10)}
    assert rows["tiny"].suppression == Suppression.SMALL_GROUP
    # The one other group with students goes too, else tiny = total - big; 0 stays shown.
    assert rows["big"].suppression == Suppression.COMPLEMENT
    assert not rows["empty"].suppressed and rows["empty"].students == 0


def test_with_only_empty_groups_beside_it_an_empty_one_hides_with_the_small_one() -> None:
    rows = suppress_small_groups(
        outcomes([facts(1)], set(), groups={"school": ("a", "b", "c")}), 10
    )
    hidden = {r.group: r.suppression for r in rows if r.dimension == "school" and r.suppressed}
    assert hidden == {"a": Suppression.SMALL_GROUP, "b": Suppression.COMPLEMENT}


def test_a_dimension_of_shown_groups_stays_shown() -> None:
    rows = [OutcomeRow("program", "x", 12, 3), OutcomeRow("program", "y", 0, 0)]
    assert suppress_small_groups(rows, 10) == rows


# -- the period -----------------------------------------------------------------------------


def test_the_default_period_is_the_school_year_of_today() -> None:
    year = school_year_of(date(2026, 12, 2))
    assert (year.start, year.end, year.school_year) == (
        date(2026, 7, 1),
        date(2027, 6, 30),
        "2026-27",
    )
    assert school_year_of(date(2027, 6, 30)).school_year == "2026-27"
    assert school_year_of(date(2027, 7, 1)).school_year == "2027-28"
    assert school_year_of(date(2026, 12, 2), start_month=9).start == date(2026, 9, 1)
    assert choose_period(None, None, None, date(2026, 12, 2)) == year


def test_a_period_holds_the_students_available_during_it() -> None:
    year = parse_school_year("2026-27")
    assert year.holds(date(2027, 6, 1), date(2027, 8, 31))  # overlaps its end
    assert year.holds(date(2026, 1, 1), date(2026, 7, 1))  # its first day
    assert not year.holds(date(2027, 7, 1), date(2027, 9, 1))
    assert not year.holds(date(2026, 1, 1), date(2026, 6, 30))


@pytest.mark.parametrize(
    ("start", "end", "year", "field"),
    [
        (date(2026, 9, 1), None, None, "query.to"),
        (None, date(2026, 9, 1), None, "query.from"),
        (date(2026, 9, 2), date(2026, 9, 1), None, "query.to"),
        (date(2000, 1, 1), date(2026, 1, 1), None, "query.to"),
        (date(2026, 9, 1), date(2026, 9, 2), "2026-27", "query.school_year"),
        (None, None, "2026-28", "query.school_year"),
        (None, None, "26-27", "query.school_year"),
    ],
)
def test_a_period_that_cannot_be_is_refused_by_field(
    start: date | None, end: date | None, year: str | None, field: str
) -> None:
    with pytest.raises(DomainError) as refused:
        choose_period(start, end, year, date(2026, 12, 2))
    assert refused.value.field == field


# -- over HTTP ------------------------------------------------------------------------------


@pytest.fixture
def registry(app: FastAPI) -> Registry:
    registry: Registry = app.state.registry
    registry.clock = lambda: NOW
    return registry


def enrol(
    store: InMemoryRegistryStore,
    name: str,
    *,
    school: str = SCHOOL,
    program: str = "chapter-74",
    flags: tuple[str, ...] = (),
    available: tuple[date, date] = (date(2026, 9, 1), date(2027, 1, 31)),
) -> str:
    student_id = f"stu_{name}"
    plan = replace(PLAN, program=program, available_from=available[0], available_to=available[1])
    store.students[student_id] = Student(
        student_id, school, person(name), plan, special_populations=flags
    )
    return student_id


def offer(
    store: InMemoryRegistryStore, student_id: str, school: str = SCHOOL, expires: datetime = NOW
) -> str:
    match_id = f"mat_{student_id}"
    store.matches[match_id] = Match(
        match_id, "rnd_1", student_id, school, "opn_1", "emp_1", PLAN.career_fields[0],
        MatchStatus.PROPOSED, expires_at=expires,
    )  # fmt: skip
    return match_id


def place(store: InMemoryRegistryStore, student_id: str) -> None:
    match_id = offer(store, student_id)
    store.placements[student_id] = match_id
    store.outcomes[match_id] = Outcome(match_id, MatchStatus.CONFIRMED, "coo_1")


async def coordinator_token(registry: Registry, *schools: str) -> str:
    _, token = await registry.create_coordinator("Dana", schools, NotificationChannels())
    return token


def cells(response: httpx.Response) -> dict[tuple[str, str], dict[str, Any]]:
    assert response.status_code == 200, response.text
    return {(r["dimension"], r["group"]): r for r in response.json()}


async def test_a_coordinator_sees_names_counts_pending_and_every_group(
    http: httpx.AsyncClient, registry: Registry, memory_store: InMemoryRegistryStore
) -> None:
    token = await coordinator_token(registry, SCHOOL)
    place(memory_store, enrol(memory_store, "Ana", flags=("english-learners",)))
    offer(memory_store, enrol(memory_store, "Ben"), expires=NOW + timedelta(days=3))
    offer(memory_store, enrol(memory_store, "Cy"), expires=NOW - timedelta(hours=1))  # expired
    enrol(memory_store, "Dee")
    response = await http.get("/v1/reports/outcomes", headers=bearer(token))
    report = cells(response)
    school = report[("school", SCHOOL)]
    assert school["group_name"] == "Worcester Technical High School"
    assert school["dimension_name"] == "School"
    assert {k: school[k] for k in ("students", "placed", "pending", "not_placed")} == {
        "students": 4,
        "placed": 1,
        "pending": 1,
        "not_placed": 2,
    }
    assert (school["placement_rate"], school["placement_percent"]) == (0.25, 25.0)
    program = report[("program", "chapter-74")]
    assert program["group_name"] == "Chapter 74 career/vocational technical program"
    learners = report[("special_population", "english-learners")]
    assert (learners["group_name"], learners["students"], learners["placed"]) == (
        "English learners",
        1,
        1,
    )
    # Every program and career field of the reference data, and no other school.
    empty = report[("program", "early-college")]
    assert (empty["students"], empty["placement_rate"], empty["suppressed"]) == (0, 0.0, False)
    assert len([c for c in report if c[0] == "career_field"]) == len(
        registry.reference.career_fields
    )
    assert [c[1] for c in report if c[0] == "school"] == [SCHOOL]
    # The period and the as-of time, and where the words are defined.
    assert response.headers["x-report-period-from"] == "2026-07-01"
    assert response.headers["x-report-period-to"] == "2027-06-30"
    assert response.headers["x-report-school-year"] == "2026-27"
    assert response.headers["x-report-as-of"] == "2026-12-02T16:05:00+00:00"
    assert "x-report-suppressed-below" not in response.headers  # exact figures
    assert response.headers["link"] == '</v1/reports/outcomes/definitions>; rel="describedby"'


async def test_the_period_counts_the_students_available_in_it(
    http: httpx.AsyncClient, registry: Registry, memory_store: InMemoryRegistryStore
) -> None:
    token = await coordinator_token(registry, SCHOOL)
    enrol(memory_store, "Ana")  # September 2026 to January 2027
    enrol(memory_store, "Ben", available=(date(2027, 9, 1), date(2028, 1, 31)))

    async def students(**query: str) -> int:
        response = await http.get("/v1/reports/outcomes", params=query, headers=bearer(token))
        return int(cells(response)[("school", SCHOOL)]["students"])

    assert await students() == 1
    assert await students(school_year="2027-28") == 1
    assert await students(**{"from": "2026-01-01", "to": "2028-12-31"}) == 2
    assert await students(**{"from": "2027-02-01", "to": "2027-08-31"}) == 0
    refused = await http.get(
        "/v1/reports/outcomes", params={"from": "2027-02-01"}, headers=bearer(token)
    )
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {"field": "query.to", "message": "give both from and to dates (or a school year)"}
    ]


async def test_withheld_groups_are_kept_and_say_why(
    http: httpx.AsyncClient, registry: Registry, memory_store: InMemoryRegistryStore
) -> None:
    for n in range(12):
        enrol(memory_store, f"big{n}", program="p-tech")
    for n in range(3):
        enrol(memory_store, f"small{n}", program="early-college", flags=("high-needs",))
    statewide = await http.get("/v1/reports/outcomes", headers=bearer(ADMIN_TOKEN))
    report = cells(statewide)
    assert statewide.headers["x-report-suppressed-below"] == "10"
    small = report[("program", "early-college")]
    assert (small["suppressed"], small["suppression"], small["students"]) == (
        True,
        "small-group",
        None,
    )
    assert small["suppressed_reason"] == (
        "fewer than 10 students: not shown, so no one can be singled out"
    )
    assert small["group_name"] == "Early College"
    complement = report[("program", "p-tech")]
    assert (complement["suppression"], complement["placed"]) == ("complement", None)
    assert "cannot be worked out" in complement["suppressed_reason"]
    assert report[("program", "certificate")]["students"] == 0  # empty: shown
    # Statewide figures are always withheld; a coordinator may ask for the version to share.
    exact = await http.get(
        "/v1/reports/outcomes", params={"suppress": "false"}, headers=bearer(ADMIN_TOKEN)
    )
    assert exact.status_code == 403
    token = await coordinator_token(registry, SCHOOL)
    own = cells(await http.get("/v1/reports/outcomes", headers=bearer(token)))
    assert own[("program", "early-college")]["students"] == 3
    shared = await http.get(
        "/v1/reports/outcomes", params={"suppress": "true"}, headers=bearer(token)
    )
    assert cells(shared)[("program", "early-college")]["suppressed"] is True
    assert shared.headers["x-report-suppressed-below"] == "10"


async def test_the_csv_reads_true_and_false_and_comes_with_a_filename(
    http: httpx.AsyncClient, registry: Registry, memory_store: InMemoryRegistryStore
) -> None:
    token = await coordinator_token(registry, SCHOOL)
    place(memory_store, enrol(memory_store, "Ana"))
    enrol(memory_store, "Ben")
    response = await http.get(
        "/v1/reports/outcomes",
        params={"format": "csv", "suppress": "true", "school_year": "2026-27"},
        headers=bearer(token),
    )
    assert response.headers["content-disposition"] == (
        'attachment; filename="wbl-outcomes-2026-07-01-2027-06-30-asof-2026-12-02.csv"'
    )
    rows = {(r["dimension"], r["group"]): r for r in csv.DictReader(io.StringIO(response.text))}
    hidden = rows[("school", SCHOOL)]
    assert (hidden["suppressed"], hidden["students"], hidden["placement_rate"]) == ("true", "", "")
    assert (hidden["period_from"], hidden["period_to"]) == ("2026-07-01", "2027-06-30")
    assert hidden["as_of"] == "2026-12-02T16:05:00+00:00"
    shown = rows[("program", "early-college")]
    assert (shown["suppressed"], shown["students"]) == ("false", "0")
    assert shown["placement_rate"] == "0.0"
    exact = await http.get("/v1/reports/outcomes", params={"format": "csv"}, headers=bearer(token))
    school = next(r for r in csv.DictReader(io.StringIO(exact.text)) if r["group"] == SCHOOL)
    assert (school["placement_rate"], school["placement_percent"]) == ("0.5", "50.0")
    assert float(school["placement_rate"]) == 0.5  # a number, not text


async def test_the_definitions_say_what_placed_and_pending_mean(
    http: httpx.AsyncClient, registry: Registry
) -> None:
    token = await coordinator_token(registry, SCHOOL)
    response = await http.get("/v1/reports/outcomes/definitions", headers=bearer(token))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["definitions"]["placed"].startswith("The student has a confirmed placement")
    assert "awaiting the coordinator's decision" in body["definitions"]["pending"]
    assert "final evaluation in" in body["definitions"]["completed"]
    assert "at least 54 hours" in body["definitions"]["wbl_participants"]  # the default
    assert "1 July" in body["definitions"]["period"]
    assert (body["min_group"], body["current_school_year"]) == (10, "2026-27")
    assert body["current_period"] == {"from": "2026-07-01", "to": "2027-06-30"}

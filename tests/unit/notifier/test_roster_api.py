"""`GET /v1/inbox/roster` through the real registry and matcher apps (in memory, in process):
the notifier asks each with the coordinator's own token, so each decides what this
coordinator may read; the roster says where each student stands, and why-not in words for
the unmatched. Every role in the authorisation matrix; the page itself is served."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI

from tests.unit.registry.builders import TERMS, application, person, proposed
from tests.unit.registry.conftest import WEBHOOK_KEY
from tests.unit.registry.conftest import settings as registry_settings
from wbl_common.directory import RegistryDirectory
from wbl_common.workers import InlineWorkers
from wbl_matcher.app import create_app as create_matcher
from wbl_matcher.config import MatcherSettings
from wbl_matcher.handlers import Matcher
from wbl_matcher.store import InMemoryMatcherStore
from wbl_matcher.why_not import WhyNotCache
from wbl_matcher.why_not_words import Names
from wbl_notifier.app import create_app as create_notifier
from wbl_notifier.config import NotifierSettings
from wbl_notifier.roster import MATCHING_DOWN, HttpRosterSources, roster_rows
from wbl_registry.app import create_app as create_registry
from wbl_registry.handlers import Registry
from wbl_registry.store import InMemoryRegistryStore
from wbl_schemas.events import NotificationChannels, OpeningPublished, StudentRegistered
from wbl_schemas.reference import load_reference

pytestmark = pytest.mark.unit

ADMIN = "admin-" + "a" * 30


class _VouchedScope:
    async def scope(self, coordinator_id: str, vouched: tuple[str, ...]) -> tuple[str, ...]:
        return vouched


@dataclass
class World:
    notifier: httpx.AsyncClient
    tokens: dict[str, str]
    ids: dict[str, str]
    app: FastAPI
    registry_http: httpx.AsyncClient


def client(app: FastAPI, name: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=f"http://{name}")


async def fill(registry: Registry, matcher: Matcher, store: InMemoryRegistryStore) -> World:
    """At sch_x: Ana offered (robotics), Dev unmatched (culinary arts: no opening), Eve just
    registered (matching has not heard of her yet)."""
    employer, key = await registry.create_employer("Acme Robotics")
    coordinator, token = await registry.create_coordinator("X", ("sch_x",), NotificationChannels())
    _, other = await registry.create_coordinator("Y", ("sch_y",), NotificationChannels())
    opening = await registry.post_opening(employer, TERMS)
    ids = {}
    for first, fields in (("Ana", None), ("Dev", ("culinary-arts",)), ("Eve", None)):
        a = application("sch_x")
        plan = replace(a.plan, career_fields=fields) if fields else a.plan
        ids[first] = (
            await registry.register_student(coordinator, "sch_x", person(first, "Tester"), plan)
        ).id
    for event in store.events:
        if isinstance(event, OpeningPublished):
            await matcher.on_opening_event(event)
        if isinstance(event, StudentRegistered) and event.payload.student_id != ids["Eve"]:
            await matcher.on_student_event(event)
    marks = await matcher.store.dirty_fields()
    await matcher.run_round(set(marks))
    await matcher.store.clear_dirty(marks)
    await registry.on_match_event(proposed(ids["Ana"], "sch_x", opening.id, employer.id))
    return World(
        notifier=httpx.AsyncClient(),
        tokens={"own": token, "other": other, "employer": key, "admin": ADMIN},
        ids=ids,
        app=FastAPI(),
        registry_http=httpx.AsyncClient(),
    )


@pytest.fixture
async def world() -> AsyncIterator[World]:
    store = InMemoryRegistryStore()
    registry_app = create_registry(registry_settings())
    registry = Registry(store=store, reference=load_reference(), webhook_key=WEBHOOK_KEY)
    registry_app.state.registry = registry
    registry_app.state.class_lists = InlineWorkers()
    matcher_store = InMemoryMatcherStore()
    matcher = Matcher(store=matcher_store, related={}, seed=7)
    matcher_app = create_matcher(MatcherSettings.model_validate({"WBL_ADMIN_TOKEN": ADMIN}))
    matcher_app.state.matcher = SimpleNamespace(
        store=matcher_store, related={}, why_not_cache=WhyNotCache()
    )
    matcher_app.state.names = Names.of(load_reference())
    notifier_app = create_notifier(
        NotifierSettings.model_validate({"WBL_WEBHOOK_KEY": "w" * 40, "link_secret": "l" * 40})
    )
    async with (
        client(registry_app, "registry") as registry_http,
        client(matcher_app, "matcher") as matcher_http,
        client(notifier_app, "notifier") as notifier_http,
    ):
        matcher_app.state.directory = RegistryDirectory(registry_http, 60)
        notifier_app.state.directory = RegistryDirectory(registry_http, 60)
        notifier_app.state.notifier = _VouchedScope()
        notifier_app.state.roster = HttpRosterSources(registry_http, matcher_http)
        built = await fill(registry, matcher, store)
        yield replace(built, notifier=notifier_http, app=notifier_app, registry_http=registry_http)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_the_roster_says_where_each_student_stands_in_words(world: World) -> None:
    response = await world.notifier.get("/v1/inbox/roster", headers=bearer(world.tokens["own"]))
    assert response.status_code == 200, response.text
    assert response.headers["X-Total-Count"] == "3"
    assert response.headers["Cache-Control"] == "no-store"
    rows = {r["name"]: r for r in response.json()}
    assert {n: r["state"] for n, r in rows.items()} == {
        "Ana Tester": "offered",
        "Dev Tester": "unmatched",
        "Eve Tester": "waiting",
    }
    assert rows["Ana Tester"]["summary"] == (
        "Offer awaiting your decision: Robotics intern at Acme Robotics · Worcester."
    )
    assert rows["Ana Tester"]["match_id"]
    assert rows["Dev Tester"]["summary"] == "No opening in Culinary Arts this season."
    assert rows["Dev Tester"]["changes"]
    assert "has not received the student" in rows["Eve Tester"]["summary"]


async def test_the_roster_filters_searches_and_pages(world: World) -> None:
    own = bearer(world.tokens["own"])
    offered = await world.notifier.get("/v1/inbox/roster?state=offered", headers=own)
    assert [r["name"] for r in offered.json()] == ["Ana Tester"]
    no_offer = await world.notifier.get("/v1/inbox/roster?state=no-offer", headers=own)
    assert {r["state"] for r in no_offer.json()} == {"unmatched", "waiting"}
    found = await world.notifier.get("/v1/inbox/roster?q=dev", headers=own)
    assert [r["student_id"] for r in found.json()] == [world.ids["Dev"]]
    first = await world.notifier.get("/v1/inbox/roster?size=1&state=no-offer", headers=own)
    assert first.headers["Link"] == '</v1/inbox/roster?size=1&page=2&state=no-offer>; rel="next"'
    for bad in ("state=placed", "size=101", "q=" + "x" * 101):
        refused = await world.notifier.get(f"/v1/inbox/roster?{bad}", headers=own)
        assert refused.status_code == 422, bad


async def test_the_roster_in_the_authorisation_matrix(world: World) -> None:
    """Own school: its students; another school's coordinator: none of them; an employer's
    key, the admin token, an unknown token or none: 401 (the notifier takes coordinators)."""
    other = await world.notifier.get("/v1/inbox/roster", headers=bearer(world.tokens["other"]))
    assert other.status_code == 200 and other.json() == []
    assert other.headers["X-Total-Count"] == "0"
    for who in ("employer", "admin"):
        refused = await world.notifier.get("/v1/inbox/roster", headers=bearer(world.tokens[who]))
        assert refused.status_code == 401, who
    assert (await world.notifier.get("/v1/inbox/roster")).status_code == 401
    # The matcher, asked directly with another school's token, says nothing of the student.
    dev = world.ids["Dev"]
    sources: HttpRosterSources = world.app.state.roster
    answer = await sources.why_not(world.tokens["other"], [dev])
    assert answer is not None and answer.body == []


async def test_without_the_matcher_the_roster_still_lists_and_says_so(world: World) -> None:
    def down(_: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("matcher is down")

    unreachable = httpx.AsyncClient(transport=httpx.MockTransport(down), base_url="http://m")
    world.app.state.roster = HttpRosterSources(world.registry_http, unreachable)
    response = await world.notifier.get("/v1/inbox/roster", headers=bearer(world.tokens["own"]))
    assert response.status_code == 200
    rows = {r["name"]: r for r in response.json()}
    assert rows["Ana Tester"]["state"] == "offered"
    assert rows["Dev Tester"]["summary"] == MATCHING_DOWN
    await unreachable.aclose()


async def test_the_students_page_is_served_in_the_workspace(world: World) -> None:
    page = await world.notifier.get("/students")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert '<a href="/students" aria-current="page">Students</a>' in page.text
    assert '<script src="/inbox/static/students.js" defer></script>' in page.text
    script = await world.notifier.get("/inbox/static/students.js")
    assert script.status_code == 200 and "innerHTML" not in script.text


def test_a_declined_offer_says_which_and_what_the_matcher_says_now() -> None:
    student = {
        "id": "stu_1",
        "first_name": "Ana",
        "last_name": "Souza",
        "placement": {
            "state": "declined",
            "match_id": "mat_1",
            "opening_title": "Robotics intern",
            "employer_name": "Acme",
            "town": None,
            "remote": True,
        },
    }
    words = {
        "state": "unmatched",
        "summary": "No opening in Robotics fits the student now.",
        "details": ["Robotics intern at Acme · remote: the coordinator declined this offer."],
        "changes": [],
    }
    (row,) = roster_rows([student], [{"student_id": "stu_1", "in_words": words}])
    assert (row.state, row.opening_text) == ("declined", "Robotics intern at Acme · remote")
    assert row.summary == (
        "You declined Robotics intern at Acme · remote. "
        "No opening in Robotics fits the student now."
    )
    assert row.details == tuple(words["details"])
    (unknown,) = roster_rows([{**student, "placement": {"state": "none"}}], [])
    assert unknown.state == "waiting" and "has not received" in unknown.summary

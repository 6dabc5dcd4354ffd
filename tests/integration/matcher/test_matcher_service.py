"""The matcher as a service: events in from the real broker, its view in the real
database, and only the differences published on wbl.matches."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry

from tests.support import eventually, read_topic, start_groups_at_the_end
from wbl_common.bus import KafkaBus, build_broker, publish_event
from wbl_common.config import KafkaSettings, MongoSettings
from wbl_matcher.app import create_app
from wbl_matcher.config import MatcherSettings
from wbl_matcher.handlers import Matcher
from wbl_matcher.store import MongoMatcherStore
from wbl_schemas.envelope import Envelope
from wbl_schemas.events import (
    MatchProposed,
    MatchWithdrawn,
    OpeningClosed,
    OpeningPublished,
    OpeningRef,
    OpeningSnapshot,
    Place,
    PlacementConfirmed,
    PlacementDecision,
    StudentMatchProfile,
    StudentRegistered,
    parse_event,
)

pytestmark = pytest.mark.integration

WORCESTER = Place(town="Worcester", lat=42.2626, lon=-71.8023)
FIELD = "hvac"


@dataclass
class Running:
    matcher: Matcher
    store: MongoMatcherStore
    bus: KafkaBus
    tag: str
    app: FastAPI
    admin_token: str


@contextlib.asynccontextmanager
async def matcher_service(
    kafka_bootstrap: str, mongo_uri: str, **settings: Any
) -> AsyncIterator[Running]:
    """A matcher app on its own database and consumer group, with a producer beside it."""
    tag = secrets.token_hex(4)
    consumer = f"matcher-test-{tag}"
    await start_groups_at_the_end(kafka_bootstrap, consumer)
    config = MatcherSettings(
        consumer_name=consumer,
        kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap),
        mongo=MongoSettings(uri=mongo_uri, database=f"test_matcher_{tag}"),
        admin_token=secrets.token_urlsafe(24),
        batch_window_ms=20,
        **settings,
    )
    app = create_app(config)
    producer: KafkaBroker = build_broker(config.kafka, "test-producer", CollectorRegistry())
    async with app.router.lifespan_context(app), producer:
        await producer.start()
        matcher: Matcher = app.state.matcher
        store = matcher.store
        assert isinstance(store, MongoMatcherStore)
        yield Running(
            matcher, store, KafkaBus(producer), tag, app, config.admin_token.get_secret_value()
        )
        await store.openings.database.client.drop_database(store.openings.database.name)


@pytest.fixture
async def running(kafka_bootstrap: str, mongo_uri: str) -> AsyncIterator[Running]:
    async with matcher_service(kafka_bootstrap, mongo_uri) as run:
        yield run


def opening(
    opening_id: str, seats: int = 1, version: int = 1, career_field: str = FIELD
) -> OpeningSnapshot:
    return OpeningSnapshot(
        opening_id=opening_id,
        employer_id="emp_hvac",
        version=version,
        title="HVAC apprentice",
        career_field=career_field,
        seats=seats,
        seats_remaining=seats,
        location=WORCESTER,
        starts_on=date(2027, 6, 1),
        ends_on=date(2027, 8, 31),
        hours_per_week=20,
        paid=True,
        min_age=16,
    )


def student(student_id: str, career_field: str = FIELD) -> StudentMatchProfile:
    return StudentMatchProfile(
        student_id=student_id,
        school_id="sch_hvac",
        version=1,
        program="chapter-74",
        career_fields=(career_field,),
        grade=12,
        age_band="16-17",
        home=WORCESTER,
        max_commute_km=30,
        available_from=date(2027, 6, 1),
        available_to=date(2027, 8, 31),
        hours_per_week=30,
    )


async def match_events(bootstrap: str, student_ids: set[str], count: int) -> list[Envelope]:
    """The wbl.matches events about `student_ids`, once at least `count` have arrived."""

    def mine(records: list[Any]) -> list[Envelope]:
        keyed = [r for r in records if r.key and r.key.decode() in student_ids]
        return [parse_event("wbl.matches", r.value) for r in keyed]

    records = await read_topic(bootstrap, "wbl.matches", lambda rs: len(mine(rs)) >= count)
    return mine(records)


async def test_a_new_opening_and_students_become_proposals_published_once(
    running: Running, kafka_bootstrap: str
) -> None:
    o1, s1, s2 = (f"{p}_{running.tag}" for p in ("opn_a", "stu_a", "stu_b"))
    await publish_event(
        running.bus, OpeningPublished(producer="test", payload=opening(o1, seats=2))
    )
    for sid in (s1, s2):
        await publish_event(running.bus, StudentRegistered(producer="test", payload=student(sid)))

    async def both_proposed() -> dict[str, Any]:
        found = await running.store.proposals([s1, s2])
        return found if len(found) == 2 else {}

    proposals = await eventually(both_proposed, what="two proposals in the matcher's view")
    assert {p.opening_id for p in proposals.values()} == {o1}

    await running.matcher.run_round(None)  # a full round with nothing new publishes nothing
    events = await match_events(kafka_bootstrap, {s1, s2}, 2)
    assert [type(e) for e in events] == [MatchProposed, MatchProposed]


async def test_a_confirmed_placement_takes_the_seat_from_later_rounds(
    running: Running, kafka_bootstrap: str
) -> None:
    o1, s1, s2 = (f"{p}_{running.tag}" for p in ("opn_c", "stu_c", "stu_d"))
    await publish_event(running.bus, OpeningPublished(producer="test", payload=opening(o1)))
    await publish_event(running.bus, StudentRegistered(producer="test", payload=student(s1)))
    [proposed] = await match_events(kafka_bootstrap, {s1}, 1)
    assert isinstance(proposed, MatchProposed)
    decision = PlacementDecision(
        match_id=proposed.payload.match_id,
        student_id=s1,
        school_id="sch_hvac",
        opening_id=o1,
        coordinator_id="coo_1",
    )
    await publish_event(running.bus, PlacementConfirmed(producer="test", payload=decision))
    await publish_event(running.bus, StudentRegistered(producer="test", payload=student(s2)))

    async def s2_known_and_s1_placed() -> bool:
        inputs = await running.store.inputs_for({FIELD})
        ids = {s.student_id for s in inputs.students}
        return s2 in ids and s1 not in ids and inputs.seats_taken.get(o1) == 1

    await eventually(s2_known_and_s1_placed, what="the placement and the new student in view")
    await running.matcher.run_round({FIELD})
    assert s2 not in await running.store.proposals([s2])


async def test_closing_an_opening_withdraws_its_proposal_exactly_once(
    running: Running, kafka_bootstrap: str
) -> None:
    o1, s1 = f"opn_e_{running.tag}", f"stu_e_{running.tag}"
    await publish_event(running.bus, OpeningPublished(producer="test", payload=opening(o1)))
    await publish_event(running.bus, StudentRegistered(producer="test", payload=student(s1)))
    await match_events(kafka_bootstrap, {s1}, 1)
    ref = OpeningRef(opening_id=o1, employer_id="emp_hvac", version=2)
    await publish_event(running.bus, OpeningClosed(producer="test", payload=ref))

    async def withdrawn() -> bool:
        return s1 not in await running.store.proposals([s1])

    await eventually(withdrawn, what="the proposal withdrawn in the matcher's view")
    await running.matcher.run_round(None)  # re-solving again must not withdraw twice
    # A later pair in another field: once its proposal is out, so is anything about s1.
    sentinel, other = f"stu_e2_{running.tag}", "plumbing"
    later = opening(f"{o1}_x", career_field=other)
    await publish_event(running.bus, OpeningPublished(producer="test", payload=later))
    await publish_event(
        running.bus, StudentRegistered(producer="test", payload=student(sentinel, other))
    )
    events = await match_events(kafka_bootstrap, {s1, sentinel}, 3)
    about_s1 = [type(e) for e in events if e.key() == s1]
    assert about_s1 == [MatchProposed, MatchWithdrawn]

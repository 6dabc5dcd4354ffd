"""Undo over real Kafka and FerretDB: a decision undone inside its window never reaches
wbl.placements; one left alone reaches it once; an undo racing the relay at the deadline
(and a second relay, as another replica's) ends one way or the other, never both or neither;
an undo racing a colleague's decision leaves one consistent outcome."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from tests.integration.registry.conftest import RunningRegistry, registry_app
from tests.integration.registry.test_api_flow import ours, publish
from tests.support import eventually, fresh_school, read_topic
from tests.unit.registry.builders import opening_body, proposed, student_body
from tests.unit.registry.conftest import bearer

pytestmark = pytest.mark.integration

WINDOW_S = 2.0


@pytest.fixture
async def undoable(kafka_bootstrap: str, mongo_uri: str) -> AsyncIterator[RunningRegistry]:
    async with registry_app(kafka_bootstrap, mongo_uri, undo_s=WINDOW_S) as app:
        yield app


@pytest.fixture
async def roomy(kafka_bootstrap: str, mongo_uri: str) -> AsyncIterator[RunningRegistry]:
    """A window that outlasts a test's decisions and undos on a loaded FerretDB."""
    async with registry_app(kafka_bootstrap, mongo_uri, undo_s=12) as app:
        yield app


async def proposals(
    running: RunningRegistry, bootstrap: str, school: str, count: int
) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """`count` proposed matches on one opening with a seat each; the match ids and the
    headers of two coordinators of the school."""
    employer = await running.employer("Undo Robotics")
    first = await running.coordinator(school)
    second = await running.coordinator(school)
    opening = await running.http.post(
        "/v1/openings", json=opening_body(seats=count), headers=bearer(employer["api_key"])
    )
    assert opening.status_code == 201, opening.text
    token = bearer(first["token"])
    events = []
    for n in range(count):
        created = await running.http.post(
            "/v1/students", json=student_body(school, f"Undo{n}"), headers=token
        )
        assert created.status_code == 201, created.text
        events.append(proposed(created.json()["id"], school, opening.json()["id"], employer["id"]))
    await publish(bootstrap, *events)

    async def stored() -> bool:
        listed = await running.http.get(f"/v1/matches?status=proposed&size={count}", headers=token)
        return len(listed.json()) == count

    await eventually(stored, within=60, what="proposals stored")
    return [e.payload.match_id for e in events], token, bearer(second["token"])


async def placements_of(bootstrap: str, match_ids: set[str], expected: set[str]) -> Counter[str]:
    """Distinct decision events on wbl.placements per match of `match_ids`, read until every
    match of `expected` has one and the outbox has nothing left for any of them."""

    def seen(records: list[Any]) -> set[str]:
        return {json.loads(r.value)["payload"]["match_id"] for r in records if ours(r)}

    records = await read_topic(
        bootstrap, "wbl.placements", lambda rs: expected <= seen(rs), within=60
    )
    by_match: dict[str, set[str]] = {}
    for r in records:
        if ours(r):
            event = json.loads(r.value)
            if event["payload"]["match_id"] in match_ids:
                by_match.setdefault(event["payload"]["match_id"], set()).add(event["event_id"])
    return Counter({m: len(ids) for m, ids in by_match.items()})


async def outbox_settled(running: RunningRegistry, match_ids: list[str]) -> None:
    keys = [f"matches/{m}" for m in match_ids]

    async def empty() -> bool:
        return await running.db["outbox"].count_documents({"key": {"$in": keys}}) == 0

    await eventually(empty, within=30, what="the held intents published or dropped")


async def test_an_undo_inside_the_window_never_reaches_the_topic(
    undoable: RunningRegistry, kafka_bootstrap: str
) -> None:
    [undone, kept], token, _ = await proposals(undoable, kafka_bootstrap, fresh_school("undo"), 2)
    for match_id in (undone, kept):
        answer = await undoable.http.post(f"/v1/matches/{match_id}/confirm", headers=token)
        assert answer.status_code == 200, answer.text
        assert answer.json()["undo_until"] is not None
    back = await undoable.http.post(f"/v1/matches/{undone}/undo", headers=token)
    assert back.status_code == 200, back.text
    assert back.json()["status"] == "proposed"
    await outbox_settled(undoable, [undone, kept])
    counts = await placements_of(kafka_bootstrap, {undone, kept}, {kept})
    assert counts == Counter({kept: 1})  # the kept one once; the undone one never
    late = await undoable.http.post(f"/v1/matches/{kept}/undo", headers=token)
    assert late.status_code == 409
    assert late.json()["detail"].startswith("already sent to Undo Robotics")
    proposed_now = await undoable.http.get("/v1/matches?status=proposed", headers=token)
    assert [m["match_id"] for m in proposed_now.json()] == [undone]


async def test_undo_racing_the_relays_at_the_deadline_ends_one_way_only(
    undoable: RunningRegistry, kafka_bootstrap: str
) -> None:
    """Each undo is sent around its decision's deadline while two relays (the app's own and
    a second one, as another replica's would be) publish what is due."""
    count = 16
    match_ids, token, _ = await proposals(undoable, kafka_bootstrap, fresh_school("undo"), count)
    decided = await asyncio.gather(
        *(undoable.http.post(f"/v1/matches/{m}/confirm", headers=token) for m in match_ids)
    )
    assert all(d.status_code == 200 for d in decided), [d.text for d in decided]
    deadlines = [datetime.fromisoformat(d.json()["undo_until"]).timestamp() for d in decided]
    relay = undoable.app.state.runtime.relay
    stop = asyncio.Event()

    async def second_relay() -> None:
        while not stop.is_set():
            await relay.publish_pending()

    async def undo(index: int, match_id: str) -> int:
        # Spread from 1.5 s before the decision's deadline to 0.5 s after (the registry's
        # clock is this one): a call takes some 0.1-1 s here, so some pass the deadline check
        # and reach the fate as the relays seal it.
        await asyncio.sleep(max(0.0, deadlines[index] - 1.5 + index * 0.125 - time.time()))
        answer = await undoable.http.post(f"/v1/matches/{match_id}/undo", headers=token)
        assert answer.status_code in (200, 409), answer.text
        return answer.status_code

    racer = asyncio.create_task(second_relay())
    statuses = await asyncio.gather(*(undo(i, m) for i, m in enumerate(match_ids)))
    stop.set()
    await racer
    undone = {m for m, s in zip(match_ids, statuses, strict=True) if s == 200}
    sent = set(match_ids) - undone
    await outbox_settled(undoable, match_ids)
    counts = await placements_of(kafka_bootstrap, set(match_ids), sent)
    assert set(counts) == sent and all(n == 1 for n in counts.values()), counts
    listed = await undoable.http.get(f"/v1/matches?size={count}", headers=token)
    status_of = {m["match_id"]: m["status"] for m in listed.json()}
    assert {m for m in match_ids if status_of[m] == "proposed"} == undone
    assert {m for m in match_ids if status_of[m] == "confirmed"} == sent
    print(f"undone {len(undone)}, sent {len(sent)} of {count}")


async def test_undo_racing_a_colleagues_decision_leaves_one_outcome(
    roomy: RunningRegistry, kafka_bootstrap: str
) -> None:
    undoable = roomy
    """The first coordinator confirms, then undoes while a colleague (a stale card) declines."""
    count = 8
    match_ids, mine, theirs = await proposals(
        undoable, kafka_bootstrap, fresh_school("undo"), count
    )
    for m in match_ids:
        answer = await undoable.http.post(f"/v1/matches/{m}/confirm", headers=mine)
        assert answer.status_code == 200, answer.text

    async def later(seconds: float, path: str, headers: dict[str, str]) -> Any:
        await asyncio.sleep(seconds)  # staggers the race, not a synchronisation
        return await undoable.http.post(path, headers=headers)

    async def both(index: int, m: str) -> tuple[int, int]:
        undo, decline = await asyncio.gather(
            undoable.http.post(f"/v1/matches/{m}/undo", headers=mine),
            later(index * 0.15, f"/v1/matches/{m}/decline", theirs),
        )
        assert undo.status_code == 200, undo.text  # well inside its window
        return undo.status_code, decline.status_code

    results = await asyncio.gather(*(both(i, m) for i, m in enumerate(match_ids)))
    declined = {m for m, (_, d) in zip(match_ids, results, strict=True) if d == 200}
    assert all(d in (200, 409) for _, d in results), results
    print(f"declined after the undo: {len(declined)} of {count}")
    await outbox_settled(undoable, match_ids)
    counts = await placements_of(kafka_bootstrap, set(match_ids), declined)
    assert set(counts) == declined and all(n == 1 for n in counts.values()), counts
    listed = await undoable.http.get(f"/v1/matches?size={count}", headers=mine)
    status_of = {m["match_id"]: m["status"] for m in listed.json()}
    for m in match_ids:
        assert status_of[m] == ("declined" if m in declined else "proposed"), (m, results)
    # Every seat was given back by the undone confirmations: each can be confirmed again.
    again = [m for m in match_ids if m not in declined]
    for m in again:
        answer = await undoable.http.post(f"/v1/matches/{m}/confirm", headers=mine)
        assert answer.status_code == 200, answer.text

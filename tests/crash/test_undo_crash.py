"""kill -9 of registry inside an undo window: after a restart with the project's scripts the
held decision is published once its window has ended, exactly once, and not before; a
decision undone after the restart (still inside its window) is never published."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from tests.crash.system import Infra, fleet_of, prepare
from tests.integration.registry.test_api_flow import ours
from tests.support import eventually, read_topic
from tests.unit.registry.builders import FIELD, student_body

pytestmark = [pytest.mark.crash, pytest.mark.timeout(300)]

UNDO_S = 60  # the default: room for the kill and a restart (20 s was too little) inside it


async def proposed_matches(
    http: httpx.AsyncClient, registry: str, bearer: dict[str, str], count: int
) -> list[dict[str, Any]]:
    listed = await http.get(f"{registry}/v1/matches?status=proposed", headers=bearer)
    found: list[dict[str, Any]] = listed.json() if listed.status_code == 200 else []
    return found if len(found) == count else []


async def test_a_kill_inside_the_window_still_sends_the_decision_once_when_due(
    crash_infra: Infra, tmp_path: Path
) -> None:
    extra = {"WBL_REGISTRY_UNDO_S": str(UNDO_S)}
    async with (
        fleet_of(crash_infra, tmp_path, replicas=1, extra=extra) as fleet,
        httpx.AsyncClient(timeout=30) as http,
    ):
        scenario = await prepare(fleet, http, coordinator_email=None)
        registry, bearer = scenario.registry(0), scenario.bearer
        for n in range(2):
            body = student_body(scenario.school, first=f"U{n}", career_fields=[FIELD])
            created = await http.post(f"{registry}/v1/students", json=body, headers=bearer)
            assert created.status_code == 201, created.text
        kept, undone = await eventually(
            lambda: proposed_matches(http, registry, bearer, 2), within=90, what="offers"
        )
        decided = {}
        for match in (kept, undone):
            answer = await http.post(
                f"{registry}/v1/matches/{match['match_id']}/confirm", headers=bearer
            )
            assert answer.status_code == 200, answer.text
            decided[match["match_id"]] = datetime.fromisoformat(answer.json()["undo_until"])

        replica = fleet.of("registry")[0]
        killed = time.monotonic()
        await asyncio.to_thread(fleet.kill, replica)  # SIGKILL, inside both windows
        await asyncio.to_thread(fleet.start, replica)
        print(f"registry killed and ready again in {time.monotonic() - killed:.1f} s")
        late = await http.post(f"{registry}/v1/matches/{undone['match_id']}/undo", headers=bearer)
        assert late.status_code == 200, late.text  # the window outlived the crash
        assert datetime.now(decided[undone["match_id"]].tzinfo) < decided[undone["match_id"]]

        def placements(records: list[Any]) -> list[dict[str, Any]]:
            ids = {kept["match_id"], undone["match_id"]}
            return [
                json.loads(r.value) | {"at_ms": r.timestamp}
                for r in records
                if ours(r) and json.loads(r.value)["payload"]["match_id"] in ids
            ]

        records = await read_topic(
            crash_infra.config.bootstrap_servers,
            "wbl.placements",
            lambda rs: bool(placements(rs)),
            within=UNDO_S + 60,
        )
        # Whatever the relay left, it has dealt with: then read everything again.
        await eventually(
            lambda: outbox_empty(
                fleet.env["WBL_REGISTRY_MONGO__DATABASE"], crash_infra, list(decided)
            ),
            within=30,
            what="the outbox settled",
        )
        records = await read_topic(
            crash_infra.config.bootstrap_servers,
            "wbl.placements",
            lambda rs: bool(placements(rs)),
        )
        [sent] = placements(records)  # once, and only the decision left alone
        assert sent["payload"]["match_id"] == kept["match_id"]
        assert sent["event_type"] == "PlacementConfirmed"
        due_ms = decided[kept["match_id"]].timestamp() * 1000
        assert sent["at_ms"] >= due_ms, (sent["at_ms"], due_ms)  # not before its window
        listed = await http.get(f"{registry}/v1/matches", headers=bearer)
        status = {m["match_id"]: m["status"] for m in listed.json()}
        assert status == {kept["match_id"]: "confirmed", undone["match_id"]: "proposed"}


async def outbox_empty(database: str, instance: Infra, match_ids: list[str]) -> bool:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        instance.config.mongo_url, tz_aware=True
    )
    try:
        keys = [f"matches/{m}" for m in match_ids]
        left = await client[database]["outbox"].count_documents({"key": {"$in": keys}})
    finally:
        await client.close()
    return left == 0

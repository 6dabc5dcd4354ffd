"""Access re-checked when a coordinator changes (issue 12, finding 4), against the three
services as processes: a live stream ends when its coordinator is removed, a stream ticket
opens one stream only and none once its coordinator is removed, and a coordinator moved to
another school stops seeing the old school's matches as soon as the notifier hears of it
(not when registry's answer about their token expires from the cache, 60 s later)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import System
from tests.e2e.test_inbox_page import register_student, setup_school
from tests.support import eventually, fresh_school
from wbl_common.web import PROBLEM

pytestmark = pytest.mark.e2e


async def ticket_of(http: httpx.AsyncClient, system: System, token: str) -> str:
    answer = await http.post(
        f"{system.notifier}/v1/inbox/stream-tickets",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 201, answer.text
    url: str = answer.json()["stream_url"]
    return url


async def events(stream: httpx.Response, within: float) -> list[str]:
    """The stream's event names until it ends, or until `within` seconds have passed."""
    names: list[str] = []
    try:
        async with asyncio.timeout(within):
            async for line in stream.aiter_lines():
                if line.startswith("event:"):
                    names.append(line.removeprefix("event:").strip())
    except TimeoutError:
        names.append("(still open)")
    return names


async def coordinator(http: httpx.AsyncClient, system: System, school: str) -> dict[str, Any]:
    created = await http.post(
        f"{system.registry}/v1/coordinators",
        json={"name": "Ines", "school_ids": [school]},
        headers=system.admin,
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


async def test_a_stream_ticket_opens_one_stream_only(system: System) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        who = await coordinator(http, system, fresh_school("tkt"))
        url = await ticket_of(http, system, who["token"])
        async with http.stream("GET", f"{system.notifier}{url}") as first:
            assert first.status_code == 200
        async with http.stream("GET", f"{system.notifier}{url}") as again:
            status, kind = again.status_code, again.headers["content-type"]
            detail = (await again.aread()).decode() if status != 200 else ""
    assert (status, kind) == (401, PROBLEM)
    assert "this ticket was already used" in detail


async def test_removing_a_coordinator_ends_their_stream_and_voids_their_tickets(
    system: System,
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        who = await coordinator(http, system, fresh_school("rm"))
        token = who["token"]
        unused = await ticket_of(http, system, token)
        live = await ticket_of(http, system, token)

        async def known_to_the_notifier() -> bool:  # its registration event has arrived
            inbox = await http.get(
                f"{system.notifier}/v1/inbox", headers={"Authorization": f"Bearer {token}"}
            )
            return inbox.status_code == 200

        await eventually(known_to_the_notifier, what="the notifier to know the coordinator")
        async with http.stream("GET", f"{system.notifier}{live}") as stream:
            assert stream.status_code == 200
            removed = await http.delete(
                f"{system.registry}/v1/coordinators/{who['id']}", headers=system.admin
            )
            assert removed.status_code == 204, removed.text
            seen = await events(stream, within=20)
        async with http.stream("GET", f"{system.notifier}{unused}") as stale:
            status = stale.status_code
            detail = (await stale.aread()).decode() if status != 200 else ""
        inbox = await http.get(
            f"{system.notifier}/v1/inbox", headers={"Authorization": f"Bearer {token}"}
        )
    assert seen == ["ready", "closed"]
    assert status == 401
    assert "this coordinator was removed" in detail
    assert inbox.status_code == 401


async def test_a_coordinator_moved_to_another_school_no_longer_sees_the_old_one(
    system: System,
) -> None:
    old_school = fresh_school("mv")
    async with httpx.AsyncClient(timeout=30) as http:
        setup = await setup_school(http, system, old_school)
        token = setup["token"]
        await register_student(http, system, token, old_school, "Tove")
        auth = {"Authorization": f"Bearer {token}"}

        async def inbox() -> list[dict[str, Any]]:
            answer = await http.get(f"{system.notifier}/v1/inbox", headers=auth)
            assert answer.status_code == 200, answer.text
            items: list[dict[str, Any]] = answer.json()
            return items

        listed = await eventually(inbox, within=60, what="the old school's match listed")
        me = (await http.get(f"{system.registry}/v1/coordinators/me", headers=auth)).json()
        moved = await http.patch(
            f"{system.registry}/v1/coordinators/{me['id']}",
            json={"school_ids": [fresh_school("new")]},
            headers=system.admin,
        )
        assert moved.status_code == 200, moved.text
        started = asyncio.get_running_loop().time()

        async def emptied() -> bool:
            return await inbox() == []

        await eventually(emptied, within=20, what="the old school's matches gone")
        took = asyncio.get_running_loop().time() - started
    assert {item["school_id"] for item in listed} == {old_school}
    assert took < 20  # well within the 60 s the notifier trusts registry's cached answer

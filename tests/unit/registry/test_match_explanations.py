"""`GET /v1/matches` gives the coordinator the explanation as the inbox does: the 3-5 plain
summary lines in `explanation`, the full detail in `explanation_detail`, never the marker."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.unit.registry.builders import TERMS, application, proposed
from wbl_registry.handlers import Registry
from wbl_schemas.events import EXPLANATION_DETAIL, NotificationChannels

pytestmark = pytest.mark.unit

SUMMARY = ("Ana fits: robotics is her first career field.", "It is 3 km from home.")
DETAIL = ("Career field: robotics (her 1st).", "Distance 3 km (limit 20 km).")


async def _match_with(registry: Registry, explanation: tuple[str, ...]) -> str:
    employer, _ = await registry.create_employer("Acme")
    coordinator, token = await registry.create_coordinator(
        "Dana", ("sch_worcester_tech",), NotificationChannels()
    )
    opening = await registry.post_opening(employer, TERMS)
    a = application("sch_worcester_tech")
    student = await registry.register_student(coordinator, a.school_id, a.person, a.plan)
    event = proposed(student.id, a.school_id, opening.id, employer.id)
    payload = event.payload.model_copy(update={"explanation": explanation})
    await registry.on_match_event(event.model_copy(update={"payload": payload}))
    return token


@pytest.mark.parametrize(
    ("explanation", "summary", "detail"),
    [
        ((*SUMMARY, EXPLANATION_DETAIL, *DETAIL), list(SUMMARY), list(DETAIL)),
        (SUMMARY, list(SUMMARY), []),  # an older explanation: all summary
    ],
    ids=["summary and detail", "summary only"],
)
async def test_matches_answer_the_summary_and_the_detail_apart(
    app: FastAPI,
    http: httpx.AsyncClient,
    explanation: tuple[str, ...],
    summary: list[str],
    detail: list[str],
) -> None:
    token = await _match_with(app.state.registry, explanation)
    [match] = (await http.get("/v1/matches", headers={"Authorization": f"Bearer {token}"})).json()
    assert match["explanation"] == summary
    assert match["explanation_detail"] == detail
    assert EXPLANATION_DETAIL not in match["explanation"] + match["explanation_detail"]

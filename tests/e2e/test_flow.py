"""HTTP → Kafka → MongoDB → inbox, across registry, matcher and notifier as processes."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import System
from tests.support import eventually, read_topic

pytestmark = pytest.mark.e2e

SCHOOL = "sch_e2e_lowell"


def opening_body(field: str, seats: int) -> dict[str, Any]:
    starts = date.today() + timedelta(days=40)
    return {
        "title": "Security operations intern",
        "career_field": field,
        "seats": seats,
        "location": {"town": "Lowell", "lat": 42.6334, "lon": -71.3162},
        "starts_on": starts.isoformat(),
        "ends_on": (starts + timedelta(days=60)).isoformat(),
        "hours_per_week": 16,
        "paid": True,
    }


def student_body(first: str, field: str) -> dict[str, Any]:
    start = date.today() + timedelta(days=40)
    return {
        "school_id": SCHOOL,
        "first_name": first,
        "last_name": "Tester",
        "email": f"{first.lower()}@students.example.org",
        "date_of_birth": "2009-01-15",
        "grade": 12,
        "program": "p-tech",
        "career_fields": [field],
        "home": {"town": "Lowell", "lat": 42.64, "lon": -71.31},
        "max_commute_km": 20,
        "available_from": start.isoformat(),
        "available_to": (start + timedelta(days=90)).isoformat(),
        "hours_per_week": 20,
    }


async def test_an_opening_and_two_students_become_inbox_notifications(system: System) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        employer = (
            await http.post(
                f"{system.registry}/v1/employers",
                json={"name": "Mill City Cyber"},
                headers=system.admin,
            )
        ).json()
        created = await http.post(
            f"{system.registry}/v1/coordinators",
            json={"name": "Lee", "school_ids": [SCHOOL]},
            headers=system.admin,
        )
        assert created.status_code == 201, created.text
        coordinator = created.json()
        posted = await http.post(
            f"{system.registry}/v1/openings",
            json=opening_body("cybersecurity", 2),
            headers={"Authorization": f"Bearer {employer['api_key']}"},
        )
        assert posted.status_code == 201, posted.text
        opening_id = posted.json()["id"]
        token = {"Authorization": f"Bearer {coordinator['token']}"}
        student_ids = set()
        for first in ("Ana", "Ben"):
            response = await http.post(
                f"{system.registry}/v1/students",
                json=student_body(first, "cybersecurity"),
                headers=token,
            )
            assert response.status_code == 201, response.text
            student_ids.add(response.json()["id"])

        async def inbox_for_opening() -> list[dict[str, Any]]:
            response = await http.get(f"{system.notifier}/v1/inbox", headers=token)
            assert response.status_code == 200, response.text
            items = [n for n in response.json() if n["opening_id"] == opening_id]
            return items if len(items) == 2 else []

        inbox = await eventually(inbox_for_opening, within=60, what="two inbox notifications")
        assert {n["student_id"] for n in inbox} == student_ids
        assert all(n["status"] == "proposed" and n["match_id"] for n in inbox)
        assert inbox[0]["created_at"] >= inbox[1]["created_at"]  # newest first

    # The bus carried the pseudonymous ids, never the names or emails.
    records = await read_topic(
        system.kafka_bootstrap,
        "wbl.students",
        lambda rs: student_ids <= {r.key.decode() for r in rs if r.key},
    )
    raw = b"".join(r.value or b"" for r in records)
    assert b"Tester" not in raw and b"students.example.org" not in raw


async def test_an_unknown_coordinator_token_is_refused_by_the_inbox(system: System) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(
            f"{system.notifier}/v1/inbox", headers={"Authorization": "Bearer coo_not-a-token"}
        )
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_every_service_reports_ready_and_serves_metrics(system: System) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        for url in (system.registry, system.matcher, system.notifier):
            ready = await http.get(f"{url}/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"mongodb": "ok", "kafka": "ok"}
            metrics = await http.get(f"{url}/metrics")
            assert metrics.status_code == 200
            assert "# TYPE" in metrics.text

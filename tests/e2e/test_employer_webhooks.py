"""An employer in the loop, through registry, matcher and notifier as processes: it sets its
webhook at registry, posts an opening, and its receiver hears "candidate proposed" and, once
the coordinator confirms, "placement confirmed", signed under the secret registry showed it
(checked as Standard Webhooks, by a verifier written from the specification)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import System
from tests.support import eventually, standard_webhooks_verifies

pytestmark = pytest.mark.e2e

SCHOOL = "sch_e2e_lowell"
FIELD = "marine-service-technology"  # no other end-to-end test posts openings in it


@dataclass
class Receiver:
    """An employer's webhook receiver on loopback: keeps each request as it came."""

    url: str = ""
    received: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw, _ in list(self.received)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            found.received.append((raw, dict(self.headers.items())))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/wbl"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()


def opening_body() -> dict[str, Any]:
    starts = date.today() + timedelta(days=40)
    return {
        "title": "Boatyard technician intern",
        "career_field": FIELD,
        "seats": 1,
        "location": {"town": "Lowell", "lat": 42.6334, "lon": -71.3162},
        "starts_on": starts.isoformat(),
        "ends_on": (starts + timedelta(days=60)).isoformat(),
        "hours_per_week": 16,
        "paid": True,
    }


def student_body() -> dict[str, Any]:
    start = date.today() + timedelta(days=40)
    return {
        "school_id": SCHOOL,
        "first_name": "Marina",
        "last_name": "Webhook",
        "email": f"marina.{start.isoformat()}@students.example.org",
        "date_of_birth": "2009-01-15",
        "grade": 12,
        "program": "chapter-74",
        "career_fields": [FIELD],
        "home": {"town": "Lowell", "lat": 42.64, "lon": -71.31},
        "max_commute_km": 20,
        "available_from": start.isoformat(),
        "available_to": (start + timedelta(days=90)).isoformat(),
        "hours_per_week": 20,
    }


async def test_an_employer_hears_the_candidate_then_the_confirmed_placement(
    system: System, receiver: Receiver
) -> None:
    async with httpx.AsyncClient(base_url=system.registry, timeout=10) as http:
        created = await http.post(
            "/v1/employers", json={"name": "Merrimack Marine"}, headers=system.admin
        )
        employer = {"Authorization": f"Bearer {created.json()['api_key']}"}
        hooked = await http.patch(
            "/v1/employers/me", json={"webhook_url": receiver.url}, headers=employer
        )
        assert hooked.status_code == 200, hooked.text
        secret = hooked.json()["webhook_secret"]
        coordinator = await http.post(
            "/v1/coordinators", json={"name": "Rae", "school_ids": [SCHOOL]}, headers=system.admin
        )
        token = {"Authorization": f"Bearer {coordinator.json()['token']}"}
        posted = await http.post("/v1/openings", json=opening_body(), headers=employer)
        assert posted.status_code == 201, posted.text
        opening_id = posted.json()["id"]
        student = await http.post("/v1/students", json=student_body(), headers=token)
        assert student.status_code == 201, student.text
        student_id = student.json()["id"]
        try:

            async def told(event_type: str) -> dict[str, Any]:
                found = [b for b in receiver.bodies() if b["event_type"] == event_type]
                return found[0] if found else {}

            proposed = await eventually(
                lambda: told("CandidateProposed"), within=60, what="the candidate's webhook"
            )
            match_id = proposed["match"]["match_id"]
            assert proposed["match"] == {
                "match_id": match_id,
                "opening_id": opening_id,
                "opening_title": "Boatyard technician intern",
                "status": "proposed",
            }

            async def registry_has_it() -> bool:
                # The webhook can come before registry's own consumer records the match.
                found = await http.get("/v1/matches", headers=token)
                return any(m["match_id"] == match_id for m in found.json())

            await eventually(registry_has_it, within=60, what="the match in registry")
            confirmed = await http.post(f"/v1/matches/{match_id}/confirm", headers=token)
            assert confirmed.status_code == 200, confirmed.text
            placed = await eventually(
                lambda: told("PlacementConfirmed"), within=60, what="the placement's webhook"
            )
            assert placed["match"]["match_id"] == match_id
            assert placed["match"]["status"] == "confirmed"
            # What the employer reads with its key says the same, and names the student now.
            [match] = [
                m
                for m in (await http.get("/v1/matches", headers=employer)).json()
                if m["match_id"] == match_id
            ]
            assert match["status"] == "confirmed" and match["student"]["first_name"] == "Marina"
        finally:
            await http.post(f"/v1/students/{student_id}/withdraw", headers=token)
            await http.delete(f"/v1/openings/{opening_id}", headers=employer)

    assert [b["event_type"] for b in receiver.bodies()] == [
        "CandidateProposed",
        "PlacementConfirmed",
    ]
    for raw, headers in receiver.received:
        assert standard_webhooks_verifies(secret, raw, headers), headers
        assert student_id.encode() not in raw and b"Marina" not in raw

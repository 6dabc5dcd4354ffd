"""Play a short scenario through the running system (`make up` first; `make demo` does both).

An employer posts an opening, a coordinator registers two students, and the match
notifications arrive in the coordinator's inbox — through the real Kafka broker and the
real MongoDB-protocol server. Each step is printed.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run_services  # a sibling script

SCHOOL = "sch_worcester_tech"


def step(text: str) -> None:
    print(f"\n== {text}")


def show(label: str, value: Any) -> None:
    print(f"   {label}: {value}")


def expect(response: httpx.Response, status: int) -> dict[str, Any]:
    if response.status_code != status:
        sys.exit(
            f"error: {response.request.method} {response.request.url} answered "
            f"{response.status_code}: {response.text}"
        )
    body: dict[str, Any] = response.json()
    return body


def student(
    first: str, last: str, born: date, fields: list[str], school: str = SCHOOL
) -> dict[str, Any]:
    start = date.today() + timedelta(days=30)
    return {
        "school_id": school,
        "first_name": first,
        "last_name": last,
        "email": f"{first.lower()}.{last.lower()}@students.example.org",
        "date_of_birth": born.isoformat(),
        "grade": 12,
        "program": "stem-tech-academy",
        "career_fields": fields,
        "credentials": ["osha-10-general"],
        "home": {"town": "Worcester", "lat": 42.2626, "lon": -71.8023},
        "max_commute_km": 25,
        "available_from": start.isoformat(),
        "available_to": (start + timedelta(days=120)).isoformat(),
        "hours_per_week": 20,
    }


def opening_body(seats: int) -> dict[str, Any]:
    starts = date.today() + timedelta(days=30)
    return {
        "title": "Robotics technician intern",
        "career_field": "robotics-and-automation-technology",
        "seats": seats,
        "location": {"town": "Worcester", "lat": 42.2745, "lon": -71.8063},
        "starts_on": starts.isoformat(),
        "ends_on": (starts + timedelta(days=90)).isoformat(),
        "hours_per_week": 15,
        "paid": True,
        "required_credentials": ["osha-10-general"],
        "hiring_preferences": {"partner_programs": ["stem-tech-academy"]},
    }


def main() -> int:
    env = dict(os.environ)
    admin = {"Authorization": f"Bearer {run_services.admin_token(env)}"}
    registry_url = run_services.SERVICES[0].url(env)
    notifier_url = run_services.SERVICES[2].url(env)
    with httpx.Client(timeout=10) as http:
        step("Admin registers an employer and a school's work-based learning coordinator")
        employer = expect(
            http.post(
                f"{registry_url}/v1/employers", json={"name": "Acme Robotics"}, headers=admin
            ),
            201,
        )
        show("employer", f"{employer['name']} ({employer['id']})")
        coordinator = expect(
            http.post(
                f"{registry_url}/v1/coordinators",
                json={"name": "Dana Rivera", "school_ids": [SCHOOL]},
                headers=admin,
            ),
            201,
        )
        show("coordinator", f"{coordinator['name']} ({coordinator['id']}) for {SCHOOL}")

        step("The employer posts an opening")
        opening = expect(
            http.post(
                f"{registry_url}/v1/openings",
                headers={"Authorization": f"Bearer {employer['api_key']}"},
                json=opening_body(seats=2),
            ),
            201,
        )
        show("opening", f"{opening['title']} ({opening['id']}), {opening['seats']} seats")

        step("The coordinator registers two students")
        token = {"Authorization": f"Bearer {coordinator['token']}"}
        for first, last, born in (
            ("Ana", "Souza", date(2008, 3, 14)),
            ("Ben", "Okafor", date(2008, 9, 2)),
        ):
            created = expect(
                http.post(
                    f"{registry_url}/v1/students",
                    headers=token,
                    json=student(first, last, born, ["robotics-and-automation-technology"]),
                ),
                201,
            )
            show("student", f"{first} {last} → pseudonymous id {created['id']}")

        step("Waiting for the matcher's proposals to reach the coordinator's inbox")
        deadline = time.monotonic() + 60
        inbox: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            response = http.get(f"{notifier_url}/v1/inbox", headers=token)
            inbox = [n for n in response.json() if n["opening_id"] == opening["id"]]
            if len(inbox) >= 2:
                break
            time.sleep(0.5)
        if len(inbox) < 2:
            sys.exit(
                f"error: only {len(inbox)} of 2 notifications arrived within 60 s; see `make logs`"
            )
        for item in inbox:
            show(
                "notification",
                f"match {item['match_id']}: student {item['student_id']} → "
                f"opening {item['opening_id']} [{item['status']}]",
            )
            for line in item["explanation"]:
                print(f"      · {line}")
    print("\nDone. The system is still running: `make down` stops it.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
